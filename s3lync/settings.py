"""Settings and Config: the one place s3lync reads its environment variables and derives its defaults."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping as EnvMapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from s3lync.upload_args import check_extra_args

_TRUE = {"1", "true", "yes", "on"}
_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

DEFAULT_MAX_WORKERS = 16
DEFAULT_MULTIPART_THRESHOLD = 8 * 1024 * 1024
DEFAULT_MULTIPART_CHUNKSIZE = 8 * 1024 * 1024
# botocore's standard retry mode makes 3 attempts; with the timeouts below, an endpoint that
# accepts connections and never answers fails a request in about 3 x 10 s.
DEFAULT_MAX_ATTEMPTS = 3
DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_READ_TIMEOUT = 10.0


_SIZE_RE = re.compile(r"(\d+)\s*([kmgt]i?b|b)?", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


# Variables botocore reads from the live environment whatever s3lync's snapshot says (its
# ConfiguredEndpointProvider, its client plugins): compared with the snapshot where it matters.
BOTOCORE_LIVE = ("BOTOCORE_EXPERIMENTAL__PLUGINS", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3")


def botocore_live() -> dict[str, str]:
    """The BOTOCORE_LIVE variables as botocore will read them now (the live environment)."""
    return {name: os.environ[name] for name in BOTOCORE_LIVE if name in os.environ}


def parse_size(text: str) -> int:
    """Bytes in ``8388608``, ``64MB`` or ``64MiB``: as in the aws cli, KB/MB/GB/TB are powers of 1024."""
    match = _SIZE_RE.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"not a size: {text!r} (e.g. 8388608, 64MB or 64MiB)")
    return int(match.group(1)) * _SIZE_UNITS[(match.group(2) or "")[:1].lower()]


# Values set in code (Config.set_*); an environment variable, when set, still wins.
_overrides: dict[str, Any] = {}


def _warn_ignored(name: str, raw: str, why: str) -> None:
    logging.getLogger("s3lync").warning("ignoring %s=%r: %s", name, raw, why)


def _size_env(env: EnvMapping[str, str], name: str, default: int, minimum: int = 1) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = parse_size(raw)
    except ValueError:
        _warn_ignored(name, raw, "not a size (e.g. 8388608, 64MB or 64MiB)")
        return default
    return max(minimum, value)


def _int_env(env: EnvMapping[str, str], name: str) -> int | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    try:
        return max(1, int(raw))
    except ValueError:
        _warn_ignored(name, raw, "not a whole number")
        return None


def _whole(name: str, value: int, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        from s3lync.errors import ConfigError

        raise ConfigError(f"Config.set_{name}: expected a whole number >= {minimum}, got {value!r}")
    return value


def _seconds_env(env: EnvMapping[str, str], name: str) -> float | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):
        _warn_ignored(name, raw, "not a positive number of seconds")
        return None
    return value


def _log_level(env: EnvMapping[str, str], debug: bool) -> tuple[str, bool]:
    """The level and whether it was asked for (env, code or debug) rather than defaulted."""
    raw = env.get("S3LYNC_LOG_LEVEL", "").strip()
    level = "WARNING" if raw.upper() == "WARN" else raw.upper()
    if level in _LEVELS:
        return level, True
    if raw:
        _warn_ignored("S3LYNC_LOG_LEVEL", raw, "not one of " + ", ".join(_LEVELS))
    if "log_level" in _overrides:
        return str(_overrides["log_level"]), True
    return ("DEBUG", True) if debug else ("WARNING", False)


#: ``S3LYNC_PROGRESS`` values (``--progress`` takes the same).
PROGRESS_MODES = ("auto", "bar", "plain", "none")


def _progress(env: EnvMapping[str, str]) -> str:
    raw = env.get("S3LYNC_PROGRESS", "").strip()
    if raw and raw.lower() not in PROGRESS_MODES:
        _warn_ignored("S3LYNC_PROGRESS", raw, "not one of " + ", ".join(PROGRESS_MODES))
        return ""
    return raw.lower()


def _region(env: EnvMapping[str, str]) -> str | None:
    return env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or _overrides.get("aws_region")


def _debug(env: EnvMapping[str, str]) -> bool:
    raw = env.get("S3LYNC_DEBUG", "").strip().lower()
    return raw in _TRUE if raw else bool(_overrides.get("debug", False))


def _workers(env: EnvMapping[str, str]) -> int:
    return _int_env(env, "S3LYNC_MAX_WORKERS") or int(
        _overrides.get("max_workers", DEFAULT_MAX_WORKERS)
    )


def _processes(env: EnvMapping[str, str]) -> int:
    raw = env.get("S3LYNC_PROCESSES", "").strip().lower()
    return 0 if raw in ("", "auto") else (_int_env(env, "S3LYNC_PROCESSES") or 0)


def _threshold(env: EnvMapping[str, str]) -> int:
    default = _overrides.get("multipart_threshold", DEFAULT_MULTIPART_THRESHOLD)
    return _size_env(env, "S3LYNC_MULTIPART_THRESHOLD", default)


def _chunksize(env: EnvMapping[str, str]) -> int:
    default = _overrides.get("multipart_chunksize", DEFAULT_MULTIPART_CHUNKSIZE)
    return _size_env(env, "S3LYNC_MULTIPART_CHUNKSIZE", default)


def _attempts_env(env: EnvMapping[str, str]) -> int | None:
    return _int_env(env, "S3LYNC_MAX_ATTEMPTS") or _int_env(env, "AWS_MAX_ATTEMPTS")


def _cache_dir(env: EnvMapping[str, str]) -> Path:
    xdg = env.get("XDG_CACHE_HOME", "").strip()
    # The XDG spec says a relative value is invalid and must be ignored.
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "s3lync"
    if "cache_dir" in _overrides:
        return Path(_overrides["cache_dir"])
    return Path.home() / ".cache" / "s3lync"


def state_dir_in(env: EnvMapping[str, str]) -> Path:
    """s3lync's state folder under ``env`` (as ``Settings.from_env(env).state_dir``, without
    reading or warning about anything else)."""
    return _cache_dir(env) / "state"


# The configuration-related variables whose values key the shared S3 clients: changing
# credentials, endpoints or proxies then gets fresh clients rather than stale ones.
CLIENT_ENV_KEYS = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_MAX_ATTEMPTS",
    "AWS_RETRY_MODE",
    "AWS_CA_BUNDLE",
    "REQUESTS_CA_BUNDLE",
    "AWS_USE_FIPS_ENDPOINT",
    "AWS_USE_DUALSTACK_ENDPOINT",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "S3LYNC_MAX_ATTEMPTS",
    "S3LYNC_CONNECT_TIMEOUT",
    "S3LYNC_READ_TIMEOUT",
    "S3LYNC_LEAN",
    "AWS_SECURITY_TOKEN",
)


def environ_snapshot() -> EnvMapping[str, str]:
    """A read-only copy of the process environment (for ``${VAR}`` in a manifest)."""
    return MappingProxyType(dict(os.environ))


@dataclass(frozen=True)
class Settings:
    """Every setting s3lync reads from its environment, read once and passed down.

    Build it with :meth:`from_env` (the environment, folded over ``Config.set_*`` values),
    or directly in code; :meth:`with_` gives a copy with some fields changed. Nothing below
    the entry points reads ``os.environ``: a variable set after a Settings was built does
    not change what that Settings says.
    """

    aws_region: str | None = None
    debug: bool = False
    log_level: str = "WARNING"
    # True when the level was asked for (environment, code, debug) rather than defaulted.
    log_level_set: bool = False
    cache_dir: Path = field(default_factory=lambda: Path.home() / ".cache" / "s3lync")
    max_workers: int = DEFAULT_MAX_WORKERS
    multipart_threshold: int = DEFAULT_MULTIPART_THRESHOLD
    multipart_chunksize: int = DEFAULT_MULTIPART_CHUNKSIZE
    # Attempts per request when neither the environment nor the AWS config file says.
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    # S3LYNC_MAX_ATTEMPTS / AWS_MAX_ATTEMPTS: win over the AWS config file's max_attempts.
    max_attempts_env: int | None = None
    # S3LYNC_CONNECT_TIMEOUT / S3LYNC_READ_TIMEOUT: win over a manifest's defaults.
    connect_timeout_env: float | None = None
    read_timeout_env: float | None = None
    aws_profile: str | None = None
    aws_config_file: str = "~/.aws/config"
    aws_retry_mode: str | None = None
    lean: bool = True
    progress: str = ""
    # S3LYNC_PROGRESS_INTERVAL: seconds between plain progress lines.
    progress_interval: float = 5.0
    # The variables of CLIENT_ENV_KEYS, in that order ("=value" when set, "-" when unset).
    client_env: tuple[str, ...] = ()
    # Upload arguments for every upload (see UPLOAD_ARGS); a mapping's or an object's own win.
    extra_args: tuple[tuple[str, str], ...] = ()
    # S3LYNC_PROCESSES: processes that share a large batch of small transfers (0 or 1: this
    # process only, on its transfer loop).
    processes: int = 0
    # A read-only snapshot of the whole environment, for ${VAR} in manifests and the CI
    # scheduler's shard variables.
    environ: EnvMapping[str, str] = field(
        default_factory=lambda: MappingProxyType({}), compare=False, repr=False
    )

    @classmethod
    def from_env(cls, environ: EnvMapping[str, str] | None = None) -> Settings:
        """Settings from ``environ`` (default ``os.environ``) over the values set in code."""
        env: EnvMapping[str, str] = MappingProxyType(
            dict(os.environ if environ is None else environ)
        )
        debug = _debug(env)
        level, level_set = _log_level(env, debug)
        return cls(
            aws_region=_region(env),
            debug=debug,
            log_level=level,
            log_level_set=level_set,
            cache_dir=_cache_dir(env),
            max_workers=_workers(env),
            multipart_threshold=_threshold(env),
            multipart_chunksize=_chunksize(env),
            max_attempts=_overrides.get("max_attempts", DEFAULT_MAX_ATTEMPTS),
            max_attempts_env=_attempts_env(env),
            connect_timeout_env=_seconds_env(env, "S3LYNC_CONNECT_TIMEOUT"),
            read_timeout_env=_seconds_env(env, "S3LYNC_READ_TIMEOUT"),
            # botocore's order: AWS_DEFAULT_PROFILE before AWS_PROFILE.
            aws_profile=env.get("AWS_DEFAULT_PROFILE") or env.get("AWS_PROFILE") or None,
            aws_config_file=env.get("AWS_CONFIG_FILE", "~/.aws/config"),
            aws_retry_mode=env.get("AWS_RETRY_MODE") or None,
            lean=env.get("S3LYNC_LEAN", "1").strip().lower() not in ("0", "false", "no", "off"),
            progress=_progress(env),
            progress_interval=_seconds_env(env, "S3LYNC_PROGRESS_INTERVAL") or 5.0,
            # Set (even empty) and unset differ: AWS_CA_BUNDLE="" means certifi, unset the file's.
            client_env=tuple("=" + env[k] if k in env else "-" for k in CLIENT_ENV_KEYS),
            processes=_processes(env),
            environ=env,
        )

    def __reduce__(self) -> tuple[Any, ...]:
        # For a worker process (sync/fanout.py): the environment's read-only view cannot be
        # pickled, a plain copy of it can.
        state = {f.name: getattr(self, f.name) for f in fields(self)}
        state["environ"] = dict(self.environ)
        return (_settings_from_state, (state,))

    def with_(self, **changes: Any) -> Settings:
        """A copy with ``changes`` applied (``dataclasses.replace``)."""
        return replace(self, **changes)

    def __post_init__(self) -> None:
        # Accept a dict in code (Settings(extra_args={...})); keep a hashable, checked tuple.
        extra = self.extra_args
        if isinstance(extra, dict) or extra:
            object.__setattr__(self, "extra_args", check_extra_args(dict(extra), "Settings"))

    def attempts(self, configured: int | None = None) -> int:
        """Attempts per request: the environment's, else ``configured`` (the AWS config file's), else ours."""
        if self.max_attempts_env:
            return self.max_attempts_env
        return configured if configured and configured > 0 else self.max_attempts

    def connect_timeout(self, configured: float | None = None) -> float:
        """Connect timeout: ``S3LYNC_CONNECT_TIMEOUT``, else ``configured`` (a manifest's), else 5 s."""
        return self.connect_timeout_env or configured or DEFAULT_CONNECT_TIMEOUT

    def read_timeout(self, configured: float | None = None) -> float:
        """Read timeout: ``S3LYNC_READ_TIMEOUT``, else ``configured`` (a manifest's), else 10 s."""
        return self.read_timeout_env or configured or DEFAULT_READ_TIMEOUT

    @property
    def objects_dir(self) -> Path:
        """Where default local paths go: ``<cache>/objects/<bucket>/<key>``."""
        return self.cache_dir / "objects"

    @property
    def state_dir(self) -> Path:
        """s3lync's own files (hash cache, temporaries registry, locks): ``<cache>/state``."""
        return self.cache_dir / "state"


class Config:
    """Settings from the environment (``S3LYNC_*``, ``AWS_*``, ``XDG_CACHE_HOME``) or set in code.

    Each ``set_*`` stores a value used when its environment variable is not set: the
    environment still wins, so a CI job can override what a script sets. ``reset()`` forgets
    every value set in code (for tests).
    """

    @staticmethod
    def get_aws_region() -> str | None:
        """``AWS_REGION``, else ``AWS_DEFAULT_REGION``, else ``set_aws_region``, else None (boto3 decides)."""
        return _region(os.environ)

    @staticmethod
    def is_debug_enabled() -> bool:
        """True when ``S3LYNC_DEBUG`` is 1/true/yes (or, when it is unset, after ``set_debug(True)``)."""
        return _debug(os.environ)

    @staticmethod
    def get_log_level() -> str:
        """``S3LYNC_LOG_LEVEL`` (DEBUG..CRITICAL), else ``set_log_level``; DEBUG when debug is on; WARNING otherwise."""
        return _log_level(os.environ, _debug(os.environ))[0]

    @staticmethod
    def get_cache_dir() -> Path:
        """``$XDG_CACHE_HOME/s3lync``, else ``set_cache_dir``, else ``~/.cache/s3lync``, on every platform."""
        return _cache_dir(os.environ)

    @staticmethod
    def get_objects_dir() -> Path:
        """Where default local paths go: ``<cache>/objects/<bucket>/<key>``."""
        return Config.get_cache_dir() / "objects"

    @staticmethod
    def get_state_dir() -> Path:
        """s3lync's own files (hash cache, temporaries registry, locks): ``<cache>/state``.

        Kept apart from ``objects/``, so no bucket name (``locks``, ``state``) can land on them.
        """
        return Config.get_cache_dir() / "state"

    @staticmethod
    def get_state_path() -> Path:
        """The SQLite hash cache, ``<cache>/state/hashes.sqlite3``."""
        return Config.get_state_dir() / "hashes.sqlite3"

    @staticmethod
    def get_temporaries_path() -> Path:
        """The registry of download temporaries s3lync created (see tempreg)."""
        return Config.get_state_dir() / "temporaries.sqlite3"

    @staticmethod
    def get_lock_dir() -> Path:
        """The run locks of ``s3lync apply``, ``<cache>/state/locks``."""
        return Config.get_state_dir() / "locks"

    @staticmethod
    def get_max_workers() -> int:
        """Concurrent transfers: ``S3LYNC_MAX_WORKERS``, default 16."""
        return _workers(os.environ)

    @staticmethod
    def get_multipart_threshold() -> int:
        """Size from which transfers go multipart: ``S3LYNC_MULTIPART_THRESHOLD`` (``64MB``), 8 MiB."""
        return _threshold(os.environ)

    @staticmethod
    def get_multipart_chunksize() -> int:
        """Multipart part size: ``S3LYNC_MULTIPART_CHUNKSIZE``, default 8 MiB (S3's minimum is 5 MiB)."""
        return _chunksize(os.environ)

    @staticmethod
    def get_max_attempts(configured: int | None = None) -> int:
        """Total attempts per S3 request (first try included): ``S3LYNC_MAX_ATTEMPTS``, else
        ``AWS_MAX_ATTEMPTS``, else ``configured`` (the AWS config file's), else the value set in
        code, else 3."""
        default = int(_overrides.get("max_attempts", DEFAULT_MAX_ATTEMPTS))
        return Settings(max_attempts=default, max_attempts_env=_attempts_env(os.environ)).attempts(
            configured
        )

    @staticmethod
    def get_connect_timeout(configured: float | None = None) -> float:
        """Seconds to wait for a TCP/TLS connection: ``S3LYNC_CONNECT_TIMEOUT``, else
        ``configured`` (the manifest's ``defaults.connect_timeout``), else 5."""
        return Settings(
            connect_timeout_env=_seconds_env(os.environ, "S3LYNC_CONNECT_TIMEOUT")
        ).connect_timeout(configured)

    @staticmethod
    def get_read_timeout(configured: float | None = None) -> float:
        """Seconds to wait for each read of an answer: ``S3LYNC_READ_TIMEOUT``, else
        ``configured`` (the manifest's ``defaults.read_timeout``), else 10."""
        return Settings(
            read_timeout_env=_seconds_env(os.environ, "S3LYNC_READ_TIMEOUT")
        ).read_timeout(configured)

    # -- set in code (the environment still wins) ----------------------------------------

    @staticmethod
    def set_aws_region(region: str | None) -> None:
        """Region to use when ``AWS_REGION``/``AWS_DEFAULT_REGION`` are unset (None: forget it)."""
        _set("aws_region", region or None)

    @staticmethod
    def set_debug(enabled: bool) -> None:
        """Debug logging when ``S3LYNC_DEBUG`` is unset."""
        _set("debug", bool(enabled))
        _set_level()

    @staticmethod
    def set_log_level(level: str) -> None:
        """The ``s3lync`` logger's level (DEBUG..CRITICAL) when ``S3LYNC_LOG_LEVEL`` is unset."""
        name = str(level).strip().upper()
        if name not in _LEVELS:
            from s3lync.errors import ConfigError

            raise ConfigError(f"Config.set_log_level: {level!r} is not one of {', '.join(_LEVELS)}")
        _set("log_level", name)
        _set_level()

    @staticmethod
    def set_cache_dir(path: str | os.PathLike[str] | None) -> None:
        """The s3lync cache folder when ``XDG_CACHE_HOME`` is unset (None: forget it)."""
        _set("cache_dir", os.path.abspath(os.path.expanduser(path)) if path else None)

    @staticmethod
    def set_max_workers(n: int) -> None:
        """Concurrent transfers when ``S3LYNC_MAX_WORKERS`` is unset."""
        _set("max_workers", _whole("max_workers", n))

    @staticmethod
    def set_multipart_threshold(n: int) -> None:
        """Bytes from which transfers go multipart when ``S3LYNC_MULTIPART_THRESHOLD`` is unset."""
        _set("multipart_threshold", _whole("multipart_threshold", n))

    @staticmethod
    def set_multipart_chunksize(n: int) -> None:
        """Multipart part size in bytes when ``S3LYNC_MULTIPART_CHUNKSIZE`` is unset."""
        _set("multipart_chunksize", _whole("multipart_chunksize", n))

    @staticmethod
    def set_max_attempts(n: int) -> None:
        """Attempts per request when ``S3LYNC_MAX_ATTEMPTS``/``AWS_MAX_ATTEMPTS`` are unset."""
        _set("max_attempts", _whole("max_attempts", n))

    @staticmethod
    def reset() -> None:
        """Forget every value set in code (tests call this between cases)."""
        _overrides.clear()
        logging.getLogger("s3lync").setLevel(logging.NOTSET)
        configure_logging()


def _set(name: str, value: Any) -> None:
    if value is None:
        _overrides.pop(name, None)
    else:
        _overrides[name] = value


def _set_level() -> None:
    # The level only: handlers are the application's (the CLI installs one; cli/logs.py).
    logging.getLogger("s3lync").setLevel(Config.get_log_level())


def configure_logging(settings: Settings | None = None) -> None:
    """Apply ``S3LYNC_LOG_LEVEL``/``S3LYNC_DEBUG`` to the ``s3lync`` logger (never to the root)."""
    logger = logging.getLogger("s3lync")
    settings = settings or Settings.from_env()
    if settings.log_level_set:
        logger.setLevel(settings.log_level)


def _settings_from_state(state: dict[str, Any]) -> Settings:
    state["environ"] = MappingProxyType(state["environ"])
    return Settings(**state)
