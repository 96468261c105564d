"""Config: the one place s3lync reads its environment variables and derives its defaults."""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any

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


def parse_size(text: str) -> int:
    """Bytes in ``8388608``, ``64MB`` or ``64MiB``: as in the aws cli, KB/MB/GB/TB are powers of 1024."""
    match = _SIZE_RE.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"not a size: {text!r} (e.g. 8388608, 64MB or 64MiB)")
    return int(match.group(1)) * _SIZE_UNITS[(match.group(2) or "")[:1].lower()]


def _size_env(name: str, default: int, minimum: int = 1) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = parse_size(raw)
    except ValueError:
        logging.getLogger("s3lync").warning(
            "ignoring %s=%r: not a size (e.g. 8388608, 64MB or 64MiB)", name, raw
        )
        return default
    return max(minimum, value)


# Values set in code (Config.set_*); an environment variable, when set, still wins.
_overrides: dict[str, Any] = {}


def _int_env(name: str, default: int, minimum: int = 1) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        logging.getLogger("s3lync").warning("ignoring %s=%r: not a whole number", name, raw)
        return default
    return max(minimum, value)


def _whole(name: str, value: int, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        from s3lync.errors import ConfigError

        raise ConfigError(f"Config.set_{name}: expected a whole number >= {minimum}, got {value!r}")
    return value


def _seconds_env(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):
        logging.getLogger("s3lync").warning(
            "ignoring %s=%r: not a positive number of seconds", name, raw
        )
        return default
    return value


class Config:
    """Settings from the environment (``S3LYNC_*``, ``AWS_*``, ``XDG_CACHE_HOME``) or set in code.

    Each ``set_*`` stores a value used when its environment variable is not set: the
    environment still wins, so a CI job can override what a script sets. ``reset()`` forgets
    every value set in code (for tests).
    """

    @staticmethod
    def get_aws_region() -> str | None:
        """``AWS_REGION``, else ``AWS_DEFAULT_REGION``, else ``set_aws_region``, else None (boto3 decides)."""
        return (
            os.environ.get("AWS_REGION")
            or os.environ.get("AWS_DEFAULT_REGION")
            or _overrides.get("aws_region")
            or None
        )

    @staticmethod
    def is_debug_enabled() -> bool:
        """True when ``S3LYNC_DEBUG`` is 1/true/yes (or, when it is unset, after ``set_debug(True)``)."""
        raw = os.environ.get("S3LYNC_DEBUG", "").strip().lower()
        if raw:
            return raw in _TRUE
        return bool(_overrides.get("debug", False))

    @staticmethod
    def get_log_level() -> str:
        """``S3LYNC_LOG_LEVEL`` (DEBUG..CRITICAL), else ``set_log_level``; DEBUG when debug is on; WARNING otherwise."""
        raw = os.environ.get("S3LYNC_LOG_LEVEL", "").strip()
        level = "WARNING" if raw.upper() == "WARN" else raw.upper()
        if level in _LEVELS:
            return level
        if raw:
            logging.getLogger("s3lync").warning(
                "ignoring S3LYNC_LOG_LEVEL=%r: not one of %s", raw, ", ".join(_LEVELS)
            )
        if "log_level" in _overrides:
            return str(_overrides["log_level"])
        return "DEBUG" if Config.is_debug_enabled() else "WARNING"

    @staticmethod
    def get_cache_dir() -> Path:
        """``$XDG_CACHE_HOME/s3lync``, else ``set_cache_dir``, else ``~/.cache/s3lync``, on every platform."""
        xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
        # The XDG spec says a relative value is invalid and must be ignored.
        if xdg and os.path.isabs(xdg):
            return Path(xdg) / "s3lync"
        if "cache_dir" in _overrides:
            return Path(_overrides["cache_dir"])
        return Path.home() / ".cache" / "s3lync"

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
        return _int_env("S3LYNC_MAX_WORKERS", _overrides.get("max_workers", DEFAULT_MAX_WORKERS))

    @staticmethod
    def get_multipart_threshold() -> int:
        """Size from which transfers go multipart: ``S3LYNC_MULTIPART_THRESHOLD`` (``64MB``), 8 MiB."""
        return _size_env(
            "S3LYNC_MULTIPART_THRESHOLD",
            _overrides.get("multipart_threshold", DEFAULT_MULTIPART_THRESHOLD),
        )

    @staticmethod
    def get_multipart_chunksize() -> int:
        """Multipart part size: ``S3LYNC_MULTIPART_CHUNKSIZE``, default 8 MiB (S3's minimum is 5 MiB)."""
        return _size_env(
            "S3LYNC_MULTIPART_CHUNKSIZE",
            _overrides.get("multipart_chunksize", DEFAULT_MULTIPART_CHUNKSIZE),
        )

    @staticmethod
    def get_max_attempts(configured: int | None = None) -> int:
        """Total attempts per S3 request (first try included): ``S3LYNC_MAX_ATTEMPTS``, else
        ``AWS_MAX_ATTEMPTS``, else ``configured`` (the AWS config file's), else the value set in
        code, else 3."""
        default = _overrides.get("max_attempts", DEFAULT_MAX_ATTEMPTS)
        fallback = configured if configured and configured > 0 else default
        return _int_env("S3LYNC_MAX_ATTEMPTS", _int_env("AWS_MAX_ATTEMPTS", fallback))

    @staticmethod
    def get_connect_timeout(configured: float | None = None) -> float:
        """Seconds to wait for a TCP/TLS connection: ``S3LYNC_CONNECT_TIMEOUT``, else
        ``configured`` (the manifest's ``defaults.connect_timeout``), else 5."""
        return _seconds_env("S3LYNC_CONNECT_TIMEOUT", configured or DEFAULT_CONNECT_TIMEOUT)

    @staticmethod
    def get_read_timeout(configured: float | None = None) -> float:
        """Seconds to wait for each read of an answer: ``S3LYNC_READ_TIMEOUT``, else
        ``configured`` (the manifest's ``defaults.read_timeout``), else 10."""
        return _seconds_env("S3LYNC_READ_TIMEOUT", configured or DEFAULT_READ_TIMEOUT)

    # -- set in code (the environment still wins) ----------------------------------------

    @staticmethod
    def set_aws_region(region: str | None) -> None:
        """Region to use when ``AWS_REGION``/``AWS_DEFAULT_REGION`` are unset (None: forget it)."""
        _set("aws_region", region or None)

    @staticmethod
    def set_debug(enabled: bool) -> None:
        """Debug logging when ``S3LYNC_DEBUG`` is unset."""
        _set("debug", bool(enabled))
        configure_logging()

    @staticmethod
    def set_log_level(level: str) -> None:
        """The ``s3lync`` logger's level (DEBUG..CRITICAL) when ``S3LYNC_LOG_LEVEL`` is unset."""
        name = str(level).strip().upper()
        if name not in _LEVELS:
            from s3lync.errors import ConfigError

            raise ConfigError(f"Config.set_log_level: {level!r} is not one of {', '.join(_LEVELS)}")
        _set("log_level", name)
        configure_logging()

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


def configure_logging() -> None:
    """Apply ``S3LYNC_LOG_LEVEL``/``S3LYNC_DEBUG`` to the ``s3lync`` logger (never to the root)."""
    logger = logging.getLogger("s3lync")
    level = Config.get_log_level()
    if os.environ.get("S3LYNC_LOG_LEVEL") or Config.is_debug_enabled() or "log_level" in _overrides:
        logger.setLevel(level)
