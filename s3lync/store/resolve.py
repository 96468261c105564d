"""Where an endpoint's credentials and settings come from: botocore's session, or read without it.

botocore resolves configuration and credentials (profiles, config and credentials files, SSO,
assume-role, the whole config chain) through its session, built over the environment snapshot the
Settings captured. Importing that session costs about a third of a no-op run's start-up, so where
the outcome is known without it (:func:`plain_resolution`: static keys, an S3-compatible endpoint
passed or configured, and a profile holding only settings read here or that change nothing for
such an endpoint), the environment and the files, parsed by botocore's own parser, are read
directly. tests/unit/test_env_only.py holds each answer to the session's.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from s3lync.errors import ConfigError
from s3lync.settings import Settings, botocore_live
from s3lync.store.sigv4 import Credentials


@dataclass(frozen=True)
class PlainResolution:
    """What botocore's session resolves for a plain endpoint (see :func:`plain_resolution`).

    ``scoped`` is the default profile as the session's ``get_scoped_config()`` gives it, less its
    key names and secrets: the rest of the client's set-up (its ``s3`` section, ``retry_mode``)
    is then built from the same values on both paths.
    """

    credentials: Credentials
    region: str | None
    ca_bundle: str | None
    max_attempts: int | None
    # The caller's endpoint, else the one AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL or the profile sets.
    endpoint_url: str | None = None
    scoped: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    # The files as parsed for this answer (botocore's ``full_config``): a session built later for
    # the same endpoint starts from them, so a file edited meanwhile cannot split the two.
    full_config: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)


# The AWS_* variables plain_resolution reads itself, as botocore reads them (AWS_REGION: botocore
# ignores it, s3lync's Settings read it); any other one present sends the resolution through
# botocore's session. tests/unit/test_env_only.py holds both to the same answers.
PLAIN_ENV_VARS = frozenset(
    {
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_SECURITY_TOKEN",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_CONFIG_FILE",
        "AWS_SHARED_CREDENTIALS_FILE",
        "AWS_MAX_ATTEMPTS",
        "AWS_RETRY_MODE",
        "AWS_CA_BUNDLE",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3",
        "AWS_EC2_METADATA_DISABLED",
    }
)

# botocore's "profile" configuration variable, in its order.
_PROFILE_VARS = ("AWS_DEFAULT_PROFILE", "AWS_PROFILE")

# Static keys in the profile: botocore's EnvProvider comes first in its credential chain, so with
# keys in the environment these are never read.
_PROFILE_KEY_NAMES = frozenset(
    {"aws_access_key_id", "aws_secret_access_key", "aws_session_token", "aws_security_token"}
)
# The default profile's keys that leave the answer known without the session. Any other key (a
# role, a credential process, SSO, FIPS, a services section, defaults_mode...) could change what
# botocore does, and sends the resolution through it.
_PLAIN_PROFILE_KEYS = _PROFILE_KEY_NAMES | {
    # Read here, each after its environment variable, as botocore's config chain does.
    "region",
    "ca_bundle",
    "max_attempts",
    # Carried in ``scoped``: the client's retry mode is built from it on both paths.
    "retry_mode",
    # The explicit endpoint wins over a configured one, in botocore and in s3lync.
    "endpoint_url",
    # The AWS CLI's own settings: botocore reads none of them.
    "output",
    "cli_pager",
    "cli_timestamp_format",
    "cli_follow_urlparam",
    "cli_binary_format",
    "cli_auto_prompt",
    "cli_history",
}
# The AWS CLI's transfer settings, the only keys allowed in the profile's ``s3`` section: botocore
# ignores them, and s3lync has its own (S3LYNC_MAX_WORKERS, S3LYNC_MULTIPART_*).
_PLAIN_S3_KEYS = frozenset(
    {
        "max_concurrent_requests",
        "max_queue_size",
        "multipart_threshold",
        "multipart_chunksize",
        "max_bandwidth",
    }
)


def plain_resolution(
    profile: str | None, endpoint_url: str | None, settings: Settings
) -> PlainResolution | None:
    """botocore's answer for a plain endpoint, read without its session; None where it must decide.

    Importing botocore's session costs about a third of a no-op run's start-up. With static keys
    (the environment's, else the profile's in the AWS files: :func:`_credentials`), an endpoint
    (the caller's, else AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL or the profile's ``endpoint_url``,
    in botocore's order), no proxy, no other AWS_* variable, and a profile (``profile``, else
    AWS_DEFAULT_PROFILE or AWS_PROFILE, else the default one; config and credentials files
    merged as botocore merges them) holding only the keys of _PLAIN_PROFILE_KEYS, botocore's
    answer is known without it. Anything else, a profile named but missing, or a file that does
    not parse: None, and the session resolves (AWS's own endpoints are always read off a
    botocore client).
    """
    env = settings.environ
    if any(k.startswith("AWS_") and k not in PLAIN_ENV_VARS for k in env):
        return None
    # botocore's "profile" variable: the first of these set, even empty.
    named = profile or next((env[v] for v in _PROFILE_VARS if v in env), None)
    if named == "":
        return None
    files = _parsed_files(env)
    if files is None:
        return None
    full = files.full
    if named is not None and named not in full["profiles"]:
        return None  # the session's ProfileNotFound becomes s3lync's ConfigError
    name = named or "default"
    found: dict[str, Any] = full["profiles"].get(name, {})
    if not _is_plain(found):
        return None
    # A profile the caller passes (Session(profile=...)) takes botocore's chain past the
    # environment's keys; one named by a variable does not.
    credentials = _credentials(env, files, name, use_env=not profile)
    if credentials is None:
        return None
    # botocore's ConfiguredEndpointProvider: the service variable, the global one, the profile
    # (a ``services`` section or AWS_IGNORE_CONFIGURED_ENDPOINT_URLS never get this far).
    endpoint_url = (
        endpoint_url
        or env.get("AWS_ENDPOINT_URL_S3")
        or env.get("AWS_ENDPOINT_URL")
        or found.get("endpoint_url")
    )
    if endpoint_url:
        if proxies_for(endpoint_url, env):
            return None
    elif not _aws_rules_hold(env) or _setting(env, "AWS_DEFAULT_REGION", found, "region") == "":
        return None  # AWS itself is located by locate.aws_target: only where its rules hold
    attempts = _setting(env, "AWS_MAX_ATTEMPTS", found, "max_attempts")
    if attempts is not None and not (attempts.isascii() and attempts.isdigit()):
        return None  # botocore's int() decides what such a value means
    return PlainResolution(
        credentials=credentials,
        region=_setting(env, "AWS_DEFAULT_REGION", found, "region") or None,
        ca_bundle=_setting(env, "AWS_CA_BUNDLE", found, "ca_bundle") or None,
        max_attempts=(int(attempts) or None) if attempts else None,
        endpoint_url=endpoint_url,
        scoped={k: v for k, v in found.items() if k not in _PROFILE_KEY_NAMES},
        full_config=full,
    )


# What botocore's session resolves credentials from (SSO, roles, processes, web identity, the
# container and instance metadata): who signs, never where a request goes.
_CREDENTIAL_PROFILE_KEYS = frozenset(
    {
        "sso_session",
        "sso_account_id",
        "sso_role_name",
        "sso_region",
        "sso_start_url",
        "sso_registration_scopes",
        "role_arn",
        "source_profile",
        "credential_source",
        "role_session_name",
        "external_id",
        "mfa_serial",
        "duration_seconds",
        "credential_process",
        "web_identity_token_file",
    }
)
_CREDENTIAL_ENV_VARS = frozenset(
    {
        "AWS_ROLE_ARN",
        "AWS_ROLE_SESSION_NAME",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
        "AWS_CREDENTIAL_EXPIRATION",
        "AWS_METADATA_SERVICE_TIMEOUT",
        "AWS_METADATA_SERVICE_NUM_ATTEMPTS",
    }
)


def aws_by_default_rules(session: Any, env: Mapping[str, str]) -> bool:
    """True when botocore's default endpoint rules alone decide where AWS requests go.

    For a session (credentials from SSO, a role, a process...): its profile holds only
    credential settings and those plain_resolution reads, the environment no AWS_* variable
    beyond those, no proxy applies and no models of one's own replace botocore's rules. Then
    locate.aws_target answers as a botocore client would, without building one (~0.1 s).
    """
    allowed = PLAIN_ENV_VARS | _CREDENTIAL_ENV_VARS
    if any(k.startswith("AWS_") and k not in allowed for k in env) or not _aws_rules_hold(env):
        return False
    if env.get("AWS_ENDPOINT_URL") or env.get("AWS_ENDPOINT_URL_S3"):
        return False
    if session.get_config_variable("region") == "":
        return False  # botocore cannot build an S3 client for it: its error, not us-east-1
    scoped = session.get_scoped_config()
    credential = {k: v for k, v in scoped.items() if k in _CREDENTIAL_PROFILE_KEYS}
    rest = {k: v for k, v in scoped.items() if k not in _CREDENTIAL_PROFILE_KEYS}
    return (
        "endpoint_url" not in rest
        and _is_plain(rest)
        and all(isinstance(v, str) for v in credential.values())
    )


def _aws_rules_hold(env: Mapping[str, str]) -> bool:
    """True when nothing in the environment stands between botocore's default endpoint rules and
    AWS's own endpoints: no proxy variable (none to reckon with per bucket host), no models of
    one's own in ~/.aws/models, nothing botocore reads live that differs from the snapshot."""
    return not (_proxy_variables(env) or _custom_models(env) or _botocore_reads_live(env))


def _botocore_reads_live(env: Mapping[str, str]) -> bool:
    """True when something botocore reads from the live environment, not the Settings' snapshot,
    could change where requests go: plugins it loads into every client, or an endpoint variable
    set since the snapshot (its ConfiguredEndpointProvider reads ``os.environ``)."""
    live = botocore_live()
    if live.get("BOTOCORE_EXPERIMENTAL__PLUGINS") or env.get("BOTOCORE_EXPERIMENTAL__PLUGINS"):
        return True
    return any(
        live.get(n, "") != env.get(n, "") for n in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3")
    )


def _setting(env: Mapping[str, str], var: str, profile: Mapping[str, Any], key: str) -> str | None:
    """One setting as botocore's config chain reads it: the variable when set, even empty, else
    the profile's."""
    if var in env:
        return env[var]
    found: str | None = profile.get(key)
    return found


def _is_plain(profile: Mapping[str, Any]) -> bool:
    """True when the profile holds only keys that leave botocore's answer known (see above)."""
    for key, value in profile.items():
        if key == "s3":
            if not isinstance(value, dict) or not value.keys() <= _PLAIN_S3_KEYS:
                return False
        elif key not in _PLAIN_PROFILE_KEYS:
            return False
        elif not isinstance(value, str):
            return False  # a nested block where a value belongs
    return True


def _credentials(
    env: Mapping[str, str], files: _Files, profile: str, *, use_env: bool
) -> Credentials | None:
    """The keys botocore's credential chain finds for ``profile``, where they are static.

    Its order: the environment (EnvProvider, unless ``use_env`` is false; AWS_SECURITY_TOKEN
    before AWS_SESSION_TOKEN), then the credentials file's ``[profile]`` section
    (SharedCredentialProvider), then the config file's profile (ConfigProvider); a plain profile
    holds nothing the providers between them read. None where botocore would fail (a key
    without its secret, an empty value) or look further (container, instance metadata): the
    session then decides.
    """
    key = env.get("AWS_ACCESS_KEY_ID", "") if use_env else ""
    if key:
        secret = env.get("AWS_SECRET_ACCESS_KEY", "")
        token = env.get("AWS_SECURITY_TOKEN") or env.get("AWS_SESSION_TOKEN") or None
        return Credentials(key, secret, token) if secret else None
    for section in (files.credentials.get(profile), files.config_profiles.get(profile)):
        if section and "aws_access_key_id" in section:
            values = [section.get(k) for k in ("aws_access_key_id", "aws_secret_access_key")]
            tokens = [
                section[k] for k in ("aws_security_token", "aws_session_token") if k in section
            ]
            if not all(values) or (tokens and not tokens[0]):
                return None
            return Credentials(values[0], values[1], tokens[0] if tokens else None)
    return None


class _Files(NamedTuple):
    """The AWS files as botocore parses them."""

    # As botocore's session merges them (``full_config``): the credentials file's sections are
    # profiles by their bare names, its values over the config file's.
    full: dict[str, Any]
    # The config file alone (ConfigProvider's view) and the credentials file's raw sections
    # (SharedCredentialProvider's).
    config_profiles: dict[str, Any]
    credentials: dict[str, Any]


def _parsed_files(env: Mapping[str, str]) -> _Files | None:
    """The config and credentials files as botocore reads them; None when one does not parse."""
    config = env.get("AWS_CONFIG_FILE", "~/.aws/config")
    creds = env.get("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials")
    if not (_holds_something(config) or _holds_something(creds)):
        # botocore's configloader (~8 ms to import) finds nothing either.
        return _Files({"profiles": {}}, {}, {})
    from botocore.configloader import build_profile_map, raw_config_parse
    from botocore.exceptions import ConfigNotFound

    def parse(path: str) -> dict[str, Any]:
        try:
            sections: dict[str, Any] = raw_config_parse(path)
        except ConfigNotFound:
            return {}
        return sections

    try:
        alone: dict[str, Any] = build_profile_map(parse(config))
        credentials = parse(creds)
    except Exception:  # a file that does not parse: the session reports it, in its words
        return None
    full = {**alone, "profiles": {name: dict(v) for name, v in alone["profiles"].items()}}
    for name, values in credentials.items():
        full["profiles"].setdefault(name, {}).update(values)
    return _Files(full, alone["profiles"], credentials)


def _custom_models(env: Mapping[str, str]) -> bool:
    """True when ``~/.aws/models`` (botocore's first data path) holds anything."""
    home = env.get("HOME") or os.path.expanduser("~")
    try:
        return any(os.scandir(os.path.join(home, ".aws", "models")))
    except OSError:
        return False


def _holds_something(path: str) -> bool:
    """True for a non-empty regular file (botocore's parser finds nothing in anything else)."""
    # expandvars before expanduser, as botocore's raw_config_parse does.
    full = os.path.expanduser(os.path.expandvars(path))
    return os.path.isfile(full) and os.path.getsize(full) > 0


def botocore_session(
    profile: str | None,
    region: str | None,
    settings: Settings,
    full_config: Mapping[str, Any] | None = None,
) -> Any:
    """A botocore session for ``profile`` (else AWS_PROFILE...); an unknown profile is ConfigError.

    It reads the environment the Settings captured, never the live one: a variable changed after
    an object was built does not change what it does (its endpoint, credentials, region...).
    ``full_config``: the AWS files as :func:`plain_resolution` parsed them, used instead of
    reading them again.
    """
    import copy

    import botocore.exceptions as bex
    import botocore.session

    session = botocore.session.Session(profile=profile or None)
    if full_config is not None:
        # botocore keeps the parsed files here (Session.full_config) and reads them only if unset.
        session._config = copy.deepcopy(dict(full_config))
    read_env_from(session, settings.environ)
    if region:
        session.set_config_variable("region", region)
    try:
        session.get_scoped_config()
    except bex.ProfileNotFound:
        # botocore's "profile" variable: AWS_DEFAULT_PROFILE first, even set but empty.
        var = next((v for v in _PROFILE_VARS if v in settings.environ), "AWS_PROFILE")
        origin = "--profile/profile:" if profile else var
        name = profile if profile else settings.environ.get(var, "")
        files = settings.aws_config_file
        raise ConfigError(
            f"AWS profile '{name}' (from {origin}) is not in {files} or the credentials file; "
            "check the name or create it with 'aws configure --profile NAME'"
        ) from None
    session.register_component("data_loader", _data_loader(session))
    return session


# botocore's data loader per AWS_DATA_PATH: the parsed service models and endpoint rules (~12 MB
# for S3) are the same for every session, which would otherwise each parse them again.
_loaders: dict[str | None, Any] = {}
_loaders_lock = threading.Lock()


def _data_loader(session: Any) -> Any:
    """The process's botocore data loader for the session's AWS_DATA_PATH (created on first use)."""
    import botocore.loaders

    path = session.get_config_variable("data_path")
    with _loaders_lock:
        loader = _loaders.get(path)
        if loader is None:
            loader = _loaders[path] = botocore.loaders.create_loader(path)
        return loader


def read_env_from(session: Any, environ: Mapping[str, str]) -> None:
    """Make ``session``'s configuration chain and credential providers read ``environ``.

    botocore lets each provider take the mapping it reads (``environ=``); the session builds
    them from ``os.environ``, so the same chains are built again over the snapshot.
    """
    import botocore.configprovider as cp
    import botocore.credentials

    chain = cp.ConfigChainFactory(session=session, environ=environ)

    def mapping(variables: Mapping[str, Any]) -> dict[str, Any]:
        return {
            name: chain.create_config_chain(
                instance_name=name,
                env_var_names=var[1],
                config_property_names=var[0],
                default=var[2],
                conversion_func=var[3],
            )
            for name, var in variables.items()
        }

    store = mapping(cp.BOTOCORE_DEFAUT_SESSION_VARIABLES)
    store["s3"] = cp.SectionConfigProvider("s3", session, mapping(cp.DEFAULT_S3_CONFIG_VARS))
    store["proxies_config"] = cp.SectionConfigProvider(
        "proxies_config", session, mapping(cp.DEFAULT_PROXIES_CONFIG_VARS)
    )
    session._components.register_component("config_store", cp.ConfigValueStore(mapping=store))

    def resolver() -> Any:
        made = botocore.credentials.create_credential_resolver(
            session, region_name=session._last_client_region_used
        )
        for provider in made.providers:
            # EnvProvider keeps ``environ``; the file-reading ones ``_environ``.
            for attr in ("environ", "_environ"):
                if isinstance(getattr(provider, attr, None), MutableMapping):
                    setattr(provider, attr, dict(environ))
        return made

    session._components.lazy_register_component("credential_provider", resolver)


def proxies_for(url: str, environ: Mapping[str, str]) -> dict[str, str]:
    """The proxies ``HTTP(S)_PROXY``/``NO_PROXY`` in ``environ`` give for ``url`` (as botocore)."""
    proxies = _proxy_variables(environ)
    no_proxy = environ.get("no_proxy") or environ.get("NO_PROXY")
    host = urlsplit(url).hostname or ""
    if no_proxy and proxies:
        # urllib.request costs a few ms to import: only where a proxy may be bypassed.
        from urllib.request import proxy_bypass_environment  # type: ignore[attr-defined]

        if proxy_bypass_environment(host, {"no": no_proxy}):
            return {}
    return proxies


def _proxy_variables(environ: Mapping[str, str]) -> dict[str, str]:
    """Scheme -> proxy of every non-empty ``*_proxy`` variable (``NO_PROXY`` aside)."""
    proxies = {}
    for name, value in environ.items():
        lower = name.lower()
        if value and lower.endswith("_proxy") and lower != "no_proxy":
            proxies[lower[: -len("_proxy")]] = value
    return proxies


def configured_endpoint(session: Any, environ: Mapping[str, str]) -> str | None:
    """The endpoint_url the config file or AWS_ENDPOINT_URL(_S3) sets for S3, as botocore reads it."""
    from botocore.configprovider import ConfiguredEndpointProvider

    if session.get_config_variable("ignore_configured_endpoint_urls"):
        return None
    found: str | None = ConfiguredEndpointProvider(
        full_config=session.full_config,
        scoped_config=session.get_scoped_config(),
        client_name="s3",
        environ=environ,
    ).provide()
    return found or None
