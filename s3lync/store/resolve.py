"""Where an endpoint's credentials and settings come from: botocore's session, or the environment alone.

botocore resolves configuration and credentials (profiles, config and credentials files, SSO,
assume-role, the whole config chain) through its session, built over the environment snapshot the
Settings captured. Importing that session costs about a third of a no-op run's start-up, so where
the environment alone decides (:func:`env_only`), its answer is read without it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from s3lync.errors import ConfigError
from s3lync.settings import Settings
from s3lync.store.sigv4 import Credentials


@dataclass(frozen=True)
class EnvOnly:
    """What botocore's session resolves when the environment alone decides (see _env_only)."""

    credentials: Credentials
    region: str | None
    ca_bundle: str | None
    max_attempts: int | None


# The AWS_* variables _env_only reads itself, as botocore reads them (AWS_REGION: botocore
# ignores it, s3lync's Settings read it); any other one present sends the resolution through
# botocore's session. tests/unit/test_env_only.py holds both to the same answers.
ENV_ONLY_VARS = frozenset(
    {
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
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


def env_only(profile: str | None, endpoint_url: str | None, settings: Settings) -> EnvOnly | None:
    """Credentials and settings for a plain endpoint read from the environment alone, or None.

    Importing botocore's session costs about a third of a no-op run's start-up. Where the
    environment decides everything (keys in AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, an explicit
    endpoint, no profile, no AWS config or credentials file, no proxy, no other AWS_* variable),
    botocore's answer is known without it. Anything else: None, and the session resolves.
    """
    env = settings.environ
    if profile or not endpoint_url:
        return None
    if any(k.startswith("AWS_") and k not in ENV_ONLY_VARS for k in env):
        return None
    key, secret = env.get("AWS_ACCESS_KEY_ID", ""), env.get("AWS_SECRET_ACCESS_KEY", "")
    if not key or not secret:
        return None
    for name, default in (
        ("AWS_CONFIG_FILE", "~/.aws/config"),
        ("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials"),
    ):
        path = os.path.expandvars(os.path.expanduser(env.get(name, default)))
        # botocore reads profiles from both files; an empty or absent one holds none.
        if os.path.isfile(path) and os.path.getsize(path) > 0:
            return None
    if proxies_for(endpoint_url, env):
        return None
    attempts = env.get("AWS_MAX_ATTEMPTS")
    if attempts is not None and not (attempts.isascii() and attempts.isdigit()):
        return None  # botocore's int() decides what such a value means
    # botocore's EnvProvider reads AWS_SECURITY_TOKEN first: it wins when both are set.
    token = env.get("AWS_SECURITY_TOKEN") or env.get("AWS_SESSION_TOKEN") or None
    return EnvOnly(
        credentials=Credentials(key, secret, token),
        region=env.get("AWS_DEFAULT_REGION") or None,
        ca_bundle=env.get("AWS_CA_BUNDLE") or None,
        max_attempts=(int(attempts) or None) if attempts else None,
    )


def botocore_session(profile: str | None, region: str | None, settings: Settings) -> Any:
    """A botocore session for ``profile`` (else AWS_PROFILE...); an unknown profile is ConfigError.

    It reads the environment the Settings captured, never the live one: a variable changed after
    an object was built does not change what it does (its endpoint, credentials, region...).
    """
    import botocore.exceptions as bex
    import botocore.session

    session = botocore.session.Session(profile=profile or None)
    read_env_from(session, settings.environ)
    if region:
        session.set_config_variable("region", region)
    try:
        session.get_scoped_config()
    except bex.ProfileNotFound as exc:
        name = profile or getattr(exc, "kwargs", {}).get("profile") or settings.aws_profile
        origin = "--profile/profile:" if profile else "AWS_PROFILE"
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
    proxies = {}
    for name, value in environ.items():
        lower = name.lower()
        if value and lower.endswith("_proxy") and lower != "no_proxy":
            proxies[lower[: -len("_proxy")]] = value
    no_proxy = environ.get("no_proxy") or environ.get("NO_PROXY")
    host = urlsplit(url).hostname or ""
    if no_proxy and proxies:
        # urllib.request costs a few ms to import: only where a proxy may be bypassed.
        from urllib.request import proxy_bypass_environment  # type: ignore[attr-defined]

        if proxy_bypass_environment(host, {"no": no_proxy}):
            return {}
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
