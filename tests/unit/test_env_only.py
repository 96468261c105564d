"""The resolution without botocore's session (on a plain endpoint) against botocore's session.

Where ``resolve.plain_resolution`` answers, its credentials, region, CA bundle, max_attempts and
scoped profile must be botocore's session's answers for the same environment and files, and the
clients built from it must be set up as the session's would be (s3 section, retry mode,
attempts, endpoint); wherever anything else could change botocore's answer (a profile, a role or
credential process in the default profile, an S3 setting, a proxy, another AWS_* variable, a file
that does not parse), it must not answer at all. A no-op download then imports no botocore
session, with or without a config file, with the endpoint in AWS_ENDPOINT_URL and with the keys
in ``~/.aws/credentials`` (a subprocess shows it).
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from s3lync.errors import ConfigError
from s3lync.settings import Settings
from s3lync.store import clients, locate, resolve
from s3lync.store.sigv4 import Credentials

ENDPOINT = "http://127.0.0.1:9"
KEYS = {"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG"}
KEY_NAMES = (
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_session_token",
    "aws_security_token",
)


def _write(path: Path, text: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


def _config(text: str, **env: str) -> Callable[[Path], dict[str, str]]:
    """A case with ``text`` as the config file (AWS_CONFIG_FILE) and ``env`` added."""
    return lambda home: {"AWS_CONFIG_FILE": _write(home / "cfg", text), **env}


def _home_config(text: str, **env: str) -> Callable[[Path], dict[str, str]]:
    """A case with ``text`` as ~/.aws/config, found through HOME as botocore finds it."""
    return lambda home: {"_": _write(home / ".aws" / "config", text), **env}


def _credentials(text: str, config: str = "") -> Callable[[Path], dict[str, str]]:
    """A case with ``text`` as ~/.aws/credentials (and ``config`` as ~/.aws/config)."""

    def case(home: Path) -> dict[str, str]:
        if config:
            _write(home / ".aws" / "config", config)
        return {"_": _write(home / ".aws" / "credentials", text)}

    return case


# Each case: what to add to the environment (a callable gets the home folder and writes files).
ANSWERED: dict[str, Any] = {
    "keys": {},
    "region": {"AWS_DEFAULT_REGION": "eu-west-3"},
    "empty region": {"AWS_DEFAULT_REGION": ""},
    "AWS_REGION only": {"AWS_REGION": "ap-south-1"},
    "session token": {"AWS_SESSION_TOKEN": "tok1"},
    "security token": {"AWS_SECURITY_TOKEN": "tok2"},
    "empty session token": {"AWS_SESSION_TOKEN": "", "AWS_SECURITY_TOKEN": "tok3"},
    "both tokens": {"AWS_SESSION_TOKEN": "tok4", "AWS_SECURITY_TOKEN": "tok5"},
    "empty security token": {"AWS_SECURITY_TOKEN": "", "AWS_SESSION_TOKEN": "tok6"},
    "max attempts": {"AWS_MAX_ATTEMPTS": "7"},
    "zero attempts": {"AWS_MAX_ATTEMPTS": "0"},
    "ca bundle": {"AWS_CA_BUNDLE": "/etc/ssl/certs/ca-certificates.crt"},
    "config file /dev/null": {"AWS_CONFIG_FILE": os.devnull},
    "missing config file": {"AWS_CONFIG_FILE": "/nonexistent/s3lync/config"},
    "configured endpoint": {"AWS_ENDPOINT_URL_S3": "http://127.0.0.1:1"},
    "retry mode": {"AWS_RETRY_MODE": "adaptive"},
    # With files: the default profile holds only what is read here or changes nothing.
    "config region": _config("[default]\nregion = us-west-2\n"),
    "config region under AWS_DEFAULT_REGION": _config(
        "[default]\nregion = us-west-2\n", AWS_DEFAULT_REGION="eu-west-3"
    ),
    # botocore takes a variable that is set, even empty, over the file.
    "config region under an empty AWS_DEFAULT_REGION": _config(
        "[default]\nregion = us-west-2\n", AWS_DEFAULT_REGION=""
    ),
    "config region and AWS_REGION": _config(
        "[default]\nregion = us-west-2\n", AWS_REGION="ap-south-1"
    ),
    "empty config region": _config("[default]\nregion =\n"),
    "~/.aws/config region": _home_config("[default]\nregion = us-west-2\n"),
    "config output": _config("[default]\noutput = json\ncli_pager =\n"),
    "aws-cli keys": _config(
        "[default]\ncli_timestamp_format = iso8601\ncli_follow_urlparam = false\n"
        "cli_binary_format = raw-in-base64-out\ncli_auto_prompt = off\ncli_history = enabled\n"
    ),
    "config ca bundle": _config("[default]\nca_bundle = /etc/ssl/cert.pem\n"),
    "config ca bundle under AWS_CA_BUNDLE": _config(
        "[default]\nca_bundle = /etc/ssl/cert.pem\n", AWS_CA_BUNDLE="/etc/ssl/other.pem"
    ),
    "config max attempts": _config("[default]\nmax_attempts = 5\n"),
    "config max attempts under AWS_MAX_ATTEMPTS": _config(
        "[default]\nmax_attempts = 5\n", AWS_MAX_ATTEMPTS="7"
    ),
    # The variable wins, so botocore never converts the file's value.
    "odd config max attempts under AWS_MAX_ATTEMPTS": _config(
        "[default]\nmax_attempts = five\n", AWS_MAX_ATTEMPTS="7"
    ),
    "config retry mode": _config("[default]\nretry_mode = adaptive\n"),
    "config retry mode under AWS_RETRY_MODE": _config(
        "[default]\nretry_mode = adaptive\n", AWS_RETRY_MODE="legacy"
    ),
    "config endpoint": _config("[default]\nendpoint_url = http://127.0.0.1:1\n"),
    "s3 transfer settings": _home_config(
        "[default]\nregion = us-east-1\ns3 =\n    max_concurrent_requests = 64\n"
        "    max_queue_size = 1000\n    multipart_threshold = 64MB\n"
        "    multipart_chunksize = 16MB\n    max_bandwidth = 50MB/s\n"
    ),
    "keys in the credentials file": _credentials(
        "[default]\naws_access_key_id = AKIDFILE\naws_secret_access_key = filesecret\n"
        "aws_session_token = filetoken\n"
    ),
    "keys in the config file": _config(
        "[default]\naws_access_key_id = AKIDFILE\naws_secret_access_key = filesecret\n"
        "aws_security_token = filetoken\n"
    ),
    # botocore merges the credentials file's sections over the config file's profiles.
    "credentials file region over the config's": _credentials(
        "[default]\nregion = eu-north-1\n", config="[default]\nregion = us-west-2\n"
    ),
    "other profiles": _home_config(
        "[default]\nregion = us-west-2\n"
        "[profile dev]\nrole_arn = arn:aws:iam::1:role/r\nsource_profile = default\n"
        "[profile sso]\nsso_session = corp\n[sso-session corp]\nsso_region = us-east-1\n"
        "[services local]\ns3 =\n  endpoint_url = http://127.0.0.1:2\n[plugins]\ncli = x\n"
    ),
    "another profile in the credentials file": _credentials(
        "[dev]\ncredential_process = /bin/false\n"
    ),
    # build_profile_map: [profile default] is the default profile too; the later section wins.
    "[profile default]": _config("[profile default]\nregion = us-west-2\n"),
    "[default] after [profile default]": _config(
        "[profile default]\ncredential_process = /bin/false\n[default]\nregion = us-west-2\n"
    ),
    "[profile default] after [default]": _config(
        "[default]\ncredential_process = /bin/false\n[profile default]\nregion = us-west-2\n"
    ),
    # A section name shlex cannot split names no profile.
    '[profile "default]': _config('[profile "default]\ncredential_process = /bin/false\n'),
    # configparser's [DEFAULT] section lends its values to every section.
    "[DEFAULT] values": _config("[DEFAULT]\nregion = ap-east-1\n[default]\noutput = json\n"),
    "[DEFAULT] alone": _config("[DEFAULT]\ncredential_process = /bin/false\n"),
}


def _settings(env: dict[str, str], home: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("HOME", str(home))
    # botocore reads these from the live environment, whatever the snapshot says.
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "BOTOCORE_EXPERIMENTAL__PLUGINS"):
        monkeypatch.delenv(name, raising=False)
    return Settings.from_env({"HOME": str(home), "PATH": os.environ.get("PATH", ""), **env})


def _case_env(case: Any, home: Path) -> dict[str, str]:
    extra = case(home) if callable(case) else case
    return {k: v for k, v in {**KEYS, **extra}.items() if not k.startswith("_")}


def _botocore(settings: Settings, profile: str | None = None) -> dict[str, Any]:
    session = resolve.botocore_session(profile, None, settings)
    frozen = session.get_credentials().get_frozen_credentials()
    attempts = session.get_config_variable("max_attempts")
    scoped = session.get_scoped_config()
    return {
        "credentials": (frozen.access_key, frozen.secret_key, frozen.token),
        "region": session.get_config_variable("region") or None,
        "ca_bundle": session.get_config_variable("ca_bundle") or None,
        "max_attempts": int(attempts) if attempts else None,
        "scoped": {k: v for k, v in scoped.items() if k not in KEY_NAMES},
    }


def _answer(found: resolve.PlainResolution) -> dict[str, Any]:
    """What plain_resolution answered, shaped as _botocore shapes the session's answer."""
    creds = found.credentials
    return {
        "credentials": (creds.access_key, creds.secret_key, creds.token),
        "region": found.region,
        "ca_bundle": found.ca_bundle,
        "max_attempts": found.max_attempts,
        "scoped": dict(found.scoped),
    }


def _both_ways(
    settings: Settings,
    endpoint: str | None,
    profile: str | None,
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[clients.Clients, clients.Clients]:
    """Clients set up without botocore's session, and the same set up through it."""
    region = settings.aws_region
    fast = clients._create(region, endpoint, profile, 4, (None, None), settings)
    with monkeypatch.context() as m:
        m.setattr(clients, "plain_resolution", lambda *args: None)
        full = clients._create(region, endpoint, profile, 4, (None, None), settings)
    assert fast.static is not None and full.static is None
    assert _set_up(fast) == _set_up(full)
    return fast, full


@pytest.mark.parametrize("case", list(ANSWERED), ids=list(ANSWERED))
def test_where_it_answers_it_gives_botocores_answer(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings(_case_env(ANSWERED[case], tmp_path), tmp_path, monkeypatch)
    found = resolve.plain_resolution(None, ENDPOINT, settings)
    assert found is not None
    assert _answer(found) == _botocore(settings)


def _set_up(c: clients.Clients) -> dict[str, Any]:
    """What a Clients uses to send requests, whichever way it was resolved."""
    creds = c.credentials()
    keywords = dict(c.config_factory.keywords)
    return {
        "credentials": creds and (creds.access_key, creds.secret_key, creds.token),
        "endpoint": c.endpoint_url,
        "region": c.default_region(),
        "ca_bundle": c.ca_bundle(),
        "attempts": c.attempts,
        "s3_config": c.s3_config,
        "config": keywords,
        "plain": locate._plain_endpoint(c),
    }


@pytest.mark.parametrize("case", list(ANSWERED), ids=list(ANSWERED))
def test_clients_resolved_without_the_session_are_set_up_as_with_it(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings(_case_env(ANSWERED[case], tmp_path), tmp_path, monkeypatch)
    fast, _ = _both_ways(settings, ENDPOINT, None, monkeypatch)
    assert _set_up(fast)["plain"]


def test_a_session_built_later_reads_the_files_as_they_were_resolved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A long-running process: the fast path resolved from the files, then the file changes, then
    # something needs botocore's client (S3LYNC_LEAN=0, a bucket only botocore serves...).
    cfg = tmp_path / "cfg"
    cfg.write_text("[default]\nregion = us-west-2\n")
    settings = _settings({**KEYS, "AWS_CONFIG_FILE": str(cfg)}, tmp_path, monkeypatch)
    c = clients._create(None, ENDPOINT, None, 4, (None, None), settings)
    assert c.static is not None and c.default_region() == "us-west-2"
    cfg.write_text("[default]\nregion = eu-central-1\nca_bundle = /nowhere.pem\n")
    assert c.session.get_config_variable("region") == c.default_region() == "us-west-2"
    assert c.session.get_config_variable("ca_bundle") is None
    assert c.client.meta.region_name == "us-west-2"


def test_clients_are_keyed_by_every_token_and_by_set_against_unset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def key(extra: dict[str, str]) -> tuple[str, ...]:
        return _settings({**KEYS, **extra}, tmp_path, monkeypatch).client_env

    # AWS_SECURITY_TOKEN wins over AWS_SESSION_TOKEN: another one must mean other clients.
    assert key({"AWS_SECURITY_TOKEN": "tok1"}) != key({"AWS_SECURITY_TOKEN": "tok2"})
    # AWS_CA_BUNDLE="" (certifi) is not an unset AWS_CA_BUNDLE (the config file's ca_bundle).
    assert key({"AWS_CA_BUNDLE": ""}) != key({})


# Each case: as ANSWERED, and why botocore could answer differently.
DECLINED: dict[str, Any] = {
    "a profile": {"AWS_PROFILE": "dev"},
    "a default profile": {"AWS_DEFAULT_PROFILE": "dev"},
    # botocore requires a named profile to exist, even "default".
    "AWS_PROFILE=default": {"AWS_PROFILE": "default"},
    "a proxy": {"HTTPS_PROXY": "http://127.0.0.1:3128", "HTTP_PROXY": "http://127.0.0.1:3128"},
    "no secret": {"AWS_SECRET_ACCESS_KEY": ""},
    "no keys": {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""},
    "expiring keys": {"AWS_CREDENTIAL_EXPIRATION": "2030-01-01T00:00:00Z"},
    "FIPS": {"AWS_USE_FIPS_ENDPOINT": "true"},
    "web identity": {"AWS_WEB_IDENTITY_TOKEN_FILE": "/x", "AWS_ROLE_ARN": "arn:aws:iam::1:role/r"},
    "odd attempts": {"AWS_MAX_ATTEMPTS": " 3"},
    "credential_process": _config("[default]\ncredential_process = /bin/false\n"),
    "role_arn": _config(
        "[default]\nrole_arn = arn:aws:iam::1:role/r\nsource_profile = base\n"
        "[profile base]\naws_access_key_id = A\naws_secret_access_key = B\n"
    ),
    "sso_session": _config(
        "[default]\nsso_session = corp\n[sso-session corp]\nsso_region = us-east-1\n"
    ),
    "services": _config("[default]\nservices = local\n[services local]\ns3 =\n  region = x\n"),
    "FIPS in the file": _config("[default]\nuse_fips_endpoint = true\n"),
    "defaults_mode": _config("[default]\ndefaults_mode = standard\n"),
    "odd config max attempts": _config("[default]\nmax_attempts = 5.0\n"),
    "nested region": _config("[default]\nregion =\n  a = b\n"),
    "s3 path style": _home_config("[default]\ns3 =\n  addressing_style = path\n"),
    "s3 virtual style": _home_config("[default]\ns3 =\n  addressing_style = virtual\n"),
    "s3 accelerate": _config("[default]\ns3 =\n  use_accelerate_endpoint = true\n"),
    "s3 beside transfer settings": _config(
        "[default]\ns3 =\n  max_concurrent_requests = 4\n  payload_signing_enabled = true\n"
    ),
    "s3 signature version": _config("[default]\ns3 =\n  signature_version = s3\n"),
    "s3 not a section": _config("[default]\ns3 = path\n"),
    "credential_process in the credentials file": _credentials(
        "[default]\ncredential_process = /bin/false\n", config="[default]\nregion = us-west-2\n"
    ),
    "[profile default] with a role": _config(
        "[default]\nregion = us-west-2\n[profile default]\nrole_arn = arn:aws:iam::1:role/r\n"
    ),
    "[DEFAULT] lending a process": _config(
        "[DEFAULT]\ncredential_process = /bin/false\n[default]\nregion = us-west-2\n"
    ),
    "an unparsable config file": _config("region = us-west-2\n"),
    "an unparsable subsection": _config("[default]\ns3 =\n  max_concurrent_requests\n"),
    "an unparsable credentials file": _credentials("aws_access_key_id = A\n"),
}


@pytest.mark.parametrize("case", list(DECLINED), ids=list(DECLINED))
def test_where_anything_else_could_matter_it_leaves_it_to_botocore(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings(_case_env(DECLINED[case], tmp_path), tmp_path, monkeypatch)
    assert resolve.plain_resolution(None, ENDPOINT, settings) is None
    # And the same environment answers with its plain keys when nothing is added.
    assert resolve.plain_resolution(None, ENDPOINT, _settings(KEYS, tmp_path / "h2", monkeypatch))


def test_a_missing_profile_is_left_to_botocore_and_no_endpoint_means_aws(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings(KEYS, tmp_path, monkeypatch)
    assert resolve.plain_resolution("dev", ENDPOINT, settings) is None
    found = resolve.plain_resolution(None, None, settings)
    assert found is not None and found.endpoint_url is None  # AWS: locate.aws_target
    proxied = _settings({**KEYS, "HTTPS_PROXY": "http://127.0.0.1:3128"}, tmp_path, monkeypatch)
    assert resolve.plain_resolution(None, None, proxied) is None
    # Models of one's own in ~/.aws/models may replace botocore's endpoint rules for AWS.
    _write(tmp_path / ".aws" / "models" / "s3" / "2006-03-01" / "endpoint-rule-set-1.json", "{}")
    assert resolve.plain_resolution(None, None, settings) is None
    assert resolve.plain_resolution(None, ENDPOINT, settings) is not None


# No keys in the environment: each case keeps them where `aws configure` does (or in the config
# file), and botocore's chain takes the environment, then the credentials file's [default], then
# the config file's default profile.
FILE_KEYS: dict[str, Any] = {
    "credentials file": _credentials(
        "[default]\naws_access_key_id = AKIDFILE\naws_secret_access_key = filesecret\n"
    ),
    "credentials file with a session token": _credentials(
        "[default]\naws_access_key_id = AKIDFILE\naws_secret_access_key = filesecret\n"
        "aws_session_token = filetoken\n"
    ),
    "credentials file with both tokens": _credentials(
        "[default]\naws_access_key_id = AKIDFILE\naws_secret_access_key = filesecret\n"
        "aws_session_token = tok1\naws_security_token = tok2\n"
    ),
    "config file": _config(
        "[default]\nregion = us-west-2\naws_access_key_id = AKIDCFG\n"
        "aws_secret_access_key = cfgsecret\naws_session_token = cfgtoken\n"
    ),
    "config file [profile default]": _config(
        "[profile default]\naws_access_key_id = AKIDCFG\naws_secret_access_key = cfgsecret\n"
    ),
    "the credentials file over the config file": _credentials(
        "[default]\naws_access_key_id = AKIDFILE\naws_secret_access_key = filesecret\n",
        config="[default]\naws_access_key_id = AKIDCFG\naws_secret_access_key = cfgsecret\n",
    ),
    "a credentials file without a key id, then the config file": _credentials(
        "[default]\naws_secret_access_key = filesecret\n",
        config="[default]\naws_access_key_id = AKIDCFG\naws_secret_access_key = cfgsecret\n",
    ),
    # EnvProvider needs AWS_ACCESS_KEY_ID: a secret or a token alone there is not read at all.
    "a secret and a token alone in the environment": lambda home: {
        **_credentials(
            "[default]\naws_access_key_id = AKIDFILE\naws_secret_access_key = filesecret\n"
        )(home),
        "AWS_SECRET_ACCESS_KEY": "envsecret",
        "AWS_SESSION_TOKEN": "envtoken",
    },
    "keys from a file, the endpoint from AWS_ENDPOINT_URL": lambda home: {
        **_credentials(
            "[default]\naws_access_key_id = AKIDFILE\naws_secret_access_key = filesecret\n"
        )(home),
        "AWS_ENDPOINT_URL": "http://127.0.0.1:1",
    },
}


def _file_env(case: Any, home: Path) -> dict[str, str]:
    return {k: v for k, v in case(home).items() if not k.startswith("_")}


@pytest.mark.parametrize("case", list(FILE_KEYS), ids=list(FILE_KEYS))
def test_keys_in_the_aws_files_are_read_as_botocores_chain_reads_them(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings(_file_env(FILE_KEYS[case], tmp_path), tmp_path, monkeypatch)
    found = resolve.plain_resolution(None, ENDPOINT, settings)
    assert found is not None
    creds = found.credentials
    ours = (creds.access_key, creds.secret_key, creds.token)
    assert ours == _botocore(settings)["credentials"]
    _both_ways(
        settings, None if "AWS_ENDPOINT_URL" in settings.environ else ENDPOINT, None, monkeypatch
    )


# As FILE_KEYS, where botocore fails or looks further (a container, instance metadata).
FILE_KEYS_DECLINED: dict[str, Any] = {
    "no keys anywhere": _config("[default]\nregion = us-west-2\n"),
    "a key id without its secret": _credentials("[default]\naws_access_key_id = AKIDFILE\n"),
    "a key id without its secret in the config file": _config(
        "[default]\naws_access_key_id = AKIDCFG\n"
    ),
    "an empty key id": _credentials(
        "[default]\naws_access_key_id =\naws_secret_access_key = filesecret\n"
    ),
    "an empty token": _credentials(
        "[default]\naws_access_key_id = AKIDFILE\naws_secret_access_key = filesecret\n"
        "aws_session_token =\n"
    ),
    # The credentials file names profiles without the "profile " prefix: this is no default.
    "[profile default] in the credentials file": _credentials(
        "[profile default]\naws_access_key_id = AKIDFILE\naws_secret_access_key = filesecret\n"
    ),
    "an account id beside the keys": _credentials(
        "[default]\naws_access_key_id = AKIDFILE\naws_secret_access_key = filesecret\n"
        "aws_account_id = 123456789012\n"
    ),
    "a key id alone in the environment": lambda home: {
        **_credentials(
            "[default]\naws_access_key_id = AKIDFILE\naws_secret_access_key = filesecret\n"
        )(home),
        "AWS_ACCESS_KEY_ID": "AKIDENV",
    },
}


@pytest.mark.parametrize("case", list(FILE_KEYS_DECLINED), ids=list(FILE_KEYS_DECLINED))
def test_where_the_files_keys_are_not_plain_it_leaves_them_to_botocore(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings(_file_env(FILE_KEYS_DECLINED[case], tmp_path), tmp_path, monkeypatch)
    assert resolve.plain_resolution(None, ENDPOINT, settings) is None


def _files(credentials: str, config: str, **env: str) -> Callable[[Path], dict[str, str]]:
    """A case with both AWS files under ~/.aws and ``env`` (no keys in the environment)."""

    def case(home: Path) -> dict[str, str]:
        _write(home / ".aws" / "credentials", credentials)
        _write(home / ".aws" / "config", config)
        return dict(env)

    return case


MINIO_CREDS = "[minio]\naws_access_key_id = AKIDMINIO\naws_secret_access_key = miniosecret\n"
MINIO_CONFIG = "[profile minio]\nregion = eu-west-1\nendpoint_url = http://127.0.0.1:7\n"

# A profile named by a variable or passed by the caller (the manifest's `profile:`, --profile):
# (the case, the profile passed). botocore drops the environment's keys only for a passed one.
NAMED: dict[str, tuple[Any, str | None]] = {
    "AWS_PROFILE": (_files(MINIO_CREDS, MINIO_CONFIG, AWS_PROFILE="minio"), None),
    "AWS_DEFAULT_PROFILE over AWS_PROFILE": (
        _files(
            MINIO_CREDS + "[other]\naws_access_key_id = AKIDOTHER\naws_secret_access_key = o\n",
            MINIO_CONFIG + "[profile other]\nregion = us-west-1\n",
            AWS_DEFAULT_PROFILE="minio",
            AWS_PROFILE="other",
        ),
        None,
    ),
    "passed": (_files(MINIO_CREDS, MINIO_CONFIG), "minio"),
    "passed over AWS_PROFILE": (
        _files(MINIO_CREDS, MINIO_CONFIG + "[profile other]\nregion = x\n", AWS_PROFILE="other"),
        "minio",
    ),
    "the environment's keys over a profile a variable names": (
        _files(MINIO_CREDS, MINIO_CONFIG, AWS_PROFILE="minio", **KEYS),
        None,
    ),
    "a passed profile's keys over the environment's": (
        _files(MINIO_CREDS, MINIO_CONFIG, **KEYS),
        "minio",
    ),
    "keys in the config file's profile": (
        _files(
            "",
            MINIO_CONFIG + "aws_access_key_id = AKIDCFG\naws_secret_access_key = cfgsecret\n",
            AWS_PROFILE="minio",
        ),
        None,
    ),
    "AWS_PROFILE=default that exists": (
        _files(
            "[default]\naws_access_key_id = A\naws_secret_access_key = B\n",
            "",
            AWS_PROFILE="default",
            AWS_ENDPOINT_URL="http://127.0.0.1:1",
        ),
        None,
    ),
    # Only the chosen profile matters: the default one may use anything.
    "beside a default profile with a role": (
        _files(
            MINIO_CREDS,
            MINIO_CONFIG + "[default]\nrole_arn = arn:aws:iam::1:role/r\nsource_profile = minio\n",
            AWS_PROFILE="minio",
        ),
        None,
    ),
    "the region variable over the profile's": (
        _files(MINIO_CREDS, MINIO_CONFIG, AWS_DEFAULT_REGION="ap-south-1"),
        "minio",
    ),
}


@pytest.mark.parametrize("case", list(NAMED), ids=list(NAMED))
def test_a_named_profile_is_read_as_botocore_reads_it(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make, passed = NAMED[case]
    settings = _settings(_file_env(make, tmp_path), tmp_path, monkeypatch)
    found = resolve.plain_resolution(passed, None, settings)
    assert found is not None
    session = resolve.botocore_session(passed, None, settings)
    assert found.endpoint_url == resolve.configured_endpoint(session, settings.environ)
    assert _answer(found) == _botocore(settings, passed)
    _both_ways(settings, None, passed, monkeypatch)


NAMED_DECLINED: dict[str, tuple[Any, str | None]] = {
    "a profile that does not exist": (_files(MINIO_CREDS, MINIO_CONFIG, AWS_PROFILE="nope"), None),
    "a passed profile that does not exist": (_files(MINIO_CREDS, MINIO_CONFIG), "nope"),
    "an empty AWS_PROFILE": (_files(MINIO_CREDS, MINIO_CONFIG, AWS_PROFILE=""), None),
    "a role in the named profile": (
        _files(
            MINIO_CREDS, MINIO_CONFIG + "role_arn = arn:aws:iam::1:role/r\n", AWS_PROFILE="minio"
        ),
        None,
    ),
    "keys only in the default profile": (
        _files("[default]\naws_access_key_id = A\naws_secret_access_key = B\n", MINIO_CONFIG),
        "minio",
    ),
    # A passed profile takes botocore past the environment's keys, and this one holds none.
    "a passed profile without keys, keys in the environment": (
        _files("", MINIO_CONFIG, **KEYS),
        "minio",
    ),
}


@pytest.mark.parametrize("case", list(NAMED_DECLINED), ids=list(NAMED_DECLINED))
def test_where_a_named_profile_needs_botocore_it_is_left_to_botocore(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make, passed = NAMED_DECLINED[case]
    settings = _settings(_file_env(make, tmp_path), tmp_path, monkeypatch)
    assert resolve.plain_resolution(passed, ENDPOINT, settings) is None


# No endpoint passed: each case sets one the way a user does (the quickstart exports
# AWS_ENDPOINT_URL), and botocore's ConfiguredEndpointProvider picks one in its own order.
CONFIGURED: dict[str, Any] = {
    "AWS_ENDPOINT_URL": {"AWS_ENDPOINT_URL": "http://127.0.0.1:1"},
    "empty variables: AWS itself": {"AWS_ENDPOINT_URL": "", "AWS_ENDPOINT_URL_S3": ""},
    "AWS_ENDPOINT_URL_S3": {"AWS_ENDPOINT_URL_S3": "http://127.0.0.1:2"},
    "the S3 variable over the global one": {
        "AWS_ENDPOINT_URL": "http://127.0.0.1:1",
        "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:2",
    },
    "an empty S3 variable falls through": {
        "AWS_ENDPOINT_URL": "http://127.0.0.1:1",
        "AWS_ENDPOINT_URL_S3": "",
    },
    "the profile's endpoint_url": _config("[default]\nendpoint_url = http://127.0.0.1:3\n"),
    "a variable over the profile's": _config(
        "[default]\nendpoint_url = http://127.0.0.1:3\n", AWS_ENDPOINT_URL="http://127.0.0.1:1"
    ),
    "an empty variable, then the profile's": _config(
        "[default]\nendpoint_url = http://127.0.0.1:3\n", AWS_ENDPOINT_URL=""
    ),
    "endpoint_url in the credentials file": _credentials(
        "[default]\nendpoint_url = http://127.0.0.1:4\n", config="[default]\nregion = eu-west-1\n"
    ),
    "with a region and a CA bundle": _config(
        "[default]\nregion = us-west-2\nca_bundle = /etc/ssl/cert.pem\n",
        AWS_ENDPOINT_URL_S3="https://s3.example.test",
    ),
}


@pytest.mark.parametrize("case", list(CONFIGURED), ids=list(CONFIGURED))
def test_an_endpoint_configured_for_botocore_is_read_as_botocore_reads_it(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings(_case_env(CONFIGURED[case], tmp_path), tmp_path, monkeypatch)
    found = resolve.plain_resolution(None, None, settings)
    assert found is not None
    session = resolve.botocore_session(None, None, settings)
    assert found.endpoint_url == resolve.configured_endpoint(session, settings.environ)
    # An endpoint passed by the caller still wins, as it does in botocore.
    passed = resolve.plain_resolution(None, ENDPOINT, settings)
    assert passed is not None and passed.endpoint_url == ENDPOINT
    # And clients set up from it are set up as the session's are.
    fast, _ = _both_ways(settings, None, None, monkeypatch)
    assert _set_up(fast)["endpoint"] == found.endpoint_url


# As CONFIGURED, where botocore must decide (no endpoint at all is AWS: test_aws_endpoints_...).
CONFIGURED_DECLINED: dict[str, Any] = {
    "configured endpoints ignored": {
        "AWS_ENDPOINT_URL": "http://127.0.0.1:1",
        "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true",
    },
    "ignored in the profile": _config(
        "[default]\nendpoint_url = http://127.0.0.1:3\nignore_configured_endpoint_urls = true\n"
    ),
    "a services section": _config(
        "[default]\nservices = local\n[services local]\ns3 =\n  endpoint_url = http://127.0.0.1:5\n"
    ),
    "a proxy for the configured endpoint": {
        "AWS_ENDPOINT_URL": "http://store.example.test:9000",
        "HTTP_PROXY": "http://127.0.0.1:3128",
    },
}


@pytest.mark.parametrize("case", list(CONFIGURED_DECLINED), ids=list(CONFIGURED_DECLINED))
def test_where_botocore_must_pick_the_endpoint_it_is_left_to_botocore(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings(_case_env(CONFIGURED_DECLINED[case], tmp_path), tmp_path, monkeypatch)
    assert resolve.plain_resolution(None, None, settings) is None


def _no_op_download_modules(
    server: Any,
    bucket: str,
    home: Path,
    env_extra: dict[str, str],
    *,
    endpoint_in_env: bool = False,
    keys_in_env: bool = True,
    profile: str | None = None,
) -> list[str]:
    """The botocore/boto3 modules a process doing two downloads of one file has imported.

    ``endpoint_in_env``: the endpoint comes from AWS_ENDPOINT_URL, not ``endpoint_url=``;
    without ``keys_in_env`` the keys are in ``~/.aws/credentials``, as `aws configure` writes them.
    ``profile``: keys and endpoint in that profile of the AWS files, passed as ``profile=``.
    """
    server.client().create_bucket(Bucket=bucket)
    server.client().put_object(Bucket=bucket, Key="p/a.txt", Body=b"a")
    passed = "" if endpoint_in_env else f", endpoint_url={server.endpoint_url!r}"
    if endpoint_in_env:
        env_extra = {**env_extra, "AWS_ENDPOINT_URL": server.endpoint_url}
    if profile is not None:
        passed = f", profile={profile!r}"
        _write(
            home / ".aws" / "config",
            f"[profile {profile}]\nregion = us-east-1\nendpoint_url = {server.endpoint_url}\n",
        )
    script = (
        "import sys\n"
        "from s3lync import S3Object\n"
        f"o = S3Object('s3://{bucket}/p/', {str(home / 'data')!r}{passed})\n"
        "o.download()\n"
        "o.download()\n"
        "print(sorted(m for m in sys.modules if m.startswith(('botocore', 'boto3'))))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    if keys_in_env:
        env.update(AWS_ACCESS_KEY_ID=server.access_key, AWS_SECRET_ACCESS_KEY=server.secret_key)
    else:
        _write(
            home / ".aws" / "credentials",
            f"[{profile or 'default'}]\naws_access_key_id = {server.access_key}\n"
            f"aws_secret_access_key = {server.secret_key}\n",
        )
    env.update(
        HOME=str(home),
        XDG_CACHE_HOME=str(home / "cache"),
        **env_extra,
    )
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    assert (home / "data" / "a.txt").read_bytes() == b"a"
    modules: list[str] = ast.literal_eval(out.stdout.strip())
    return modules


def _assert_no_session(modules: list[str]) -> None:
    """Nothing of botocore's session, a client or its credential chain was imported."""
    heavy = {"botocore.session", "botocore.client", "botocore.credentials", "botocore.config"}
    assert not (heavy | {"boto3", "botocore.loaders"}) & set(modules), modules


def test_a_no_op_download_on_a_plain_endpoint_imports_no_botocore(
    rclone_server: Any, tmp_path: Path
) -> None:
    env = {"AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}
    assert _no_op_download_modules(rclone_server, "envonly", tmp_path, env) == []


def test_with_a_usual_aws_config_a_no_op_download_imports_no_botocore_session(
    rclone_server: Any, tmp_path: Path
) -> None:
    _write(
        tmp_path / ".aws" / "config",
        "[default]\nregion = us-east-1\ns3 =\n    max_concurrent_requests = 32\n",
    )
    modules = _no_op_download_modules(rclone_server, "envconfig", tmp_path, {})
    # botocore's config parser read the file; nothing of the session, a client or credentials.
    assert "botocore.configloader" in modules
    _assert_no_session(modules)


def test_with_the_endpoint_in_aws_endpoint_url_a_no_op_download_imports_no_botocore_session(
    rclone_server: Any, tmp_path: Path
) -> None:
    # The quickstart's way: AWS_ENDPOINT_URL exported, nothing passed.
    _write(tmp_path / ".aws" / "config", "[default]\nregion = us-east-1\n")
    modules = _no_op_download_modules(rclone_server, "envurl", tmp_path, {}, endpoint_in_env=True)
    _assert_no_session(modules)


def test_with_a_named_profile_a_no_op_download_imports_no_botocore_session(
    rclone_server: Any, tmp_path: Path
) -> None:
    # `aws configure --profile store` plus an endpoint_url: keys and endpoint from the profile.
    modules = _no_op_download_modules(
        rclone_server, "profiled", tmp_path, {}, keys_in_env=False, profile="store"
    )
    _assert_no_session(modules)


def test_with_keys_from_aws_configure_a_no_op_download_imports_no_botocore_session(
    rclone_server: Any, tmp_path: Path
) -> None:
    _write(tmp_path / ".aws" / "config", "[default]\nregion = us-east-1\noutput = json\n")
    modules = _no_op_download_modules(
        rclone_server, "filekeys", tmp_path, {}, endpoint_in_env=True, keys_in_env=False
    )
    _assert_no_session(modules)


# AWS itself (no endpoint set): bucket names botocore's endpoint rules place in different ways.
AWS_BUCKETS = [
    "my-bucket",
    "abc",
    "a" * 63,
    "123-data",
    "with.dots",
    "a.b-c.d",
    "1.2.3.4",
    "Upper-Case",
    "under_score",
    "ab",
    "-leading",
    "trailing-",
    "a..b",
    "xn--punycode",
    "data-s3alias",
    "express--use1-az4--x-s3",
    "access--use1-az4--xa-s3",
    "outposts--op-s3",
]


class _Sent(Exception):
    """Raised by a before-send handler with the request botocore was about to send."""


def _sent(client: Any, bucket: str) -> tuple[str, str, str, str]:
    """Where botocore sends a HEAD of ``bucket`` and the region it signs for (nothing is sent)."""
    from urllib.parse import urlsplit

    def stop(request: Any, **_: Any) -> None:
        raise _Sent(request)

    client.meta.events.register("before-send.s3.HeadObject", stop)
    try:
        client.head_object(Bucket=bucket, Key=locate._PROBE_KEY)
    except _Sent as sent:
        request = sent.args[0]
    finally:
        client.meta.events.unregister("before-send.s3.HeadObject", stop)
    parts = urlsplit(request.url)
    scope = request.headers["Authorization"].decode().split("Credential=")[1].split("/")
    return parts.scheme, parts.netloc, parts.path, scope[2]


def _aws_regions() -> list[str | None]:
    import botocore.session

    found = botocore.session.get_session().get_available_regions("s3")
    return [None, *sorted(found), "eu-south-9", "aws-global", "cn-north-1", "us-gov-west-1"]


@pytest.mark.parametrize("region", _aws_regions())
def test_aws_endpoints_without_a_botocore_client_are_botocores(
    region: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {**KEYS, **({"AWS_DEFAULT_REGION": region} if region else {})}
    settings = _settings(env, tmp_path, monkeypatch)
    fast, full = _both_ways(settings, None, None, monkeypatch)
    assert fast.endpoint_url is None
    from botocore.httpsession import ProxyConfiguration

    client = full.client
    answered = 0
    for bucket in AWS_BUCKETS:
        ours = locate.aws_target(bucket, fast.default_region())
        if ours is None:
            continue
        answered += 1
        scheme, netloc, path, signed_for = _sent(client, bucket)
        assert (ours.origin.scheme, ours.origin.netloc) == (scheme, netloc), bucket
        assert f"{ours.base_path}/{locate._PROBE_KEY}" == path, bucket
        assert ours.region == signed_for, bucket
        # The session's way (a botocore client at hand) finds the same: the regional host
        # botocore sends to, not the global one its presigned URLs name.
        assert locate._bucket_target(client, bucket, ProxyConfiguration()) == ours, bucket
    if region is None or locate._AWS_REGION.fullmatch(region):
        assert answered == 7  # the plain names of the aws partition are answered here
    else:
        assert answered == 0


def test_a_no_op_on_aws_builds_no_botocore_client_for_a_plain_bucket(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings({**KEYS, "AWS_DEFAULT_REGION": "eu-west-1"}, tmp_path, monkeypatch)
    c = clients._create(settings.aws_region, None, None, 4, (None, None), settings)
    wire = locate.make_fast(c, settings)
    assert wire is not None
    target = wire._targets.get("my-bucket")
    assert target is not None and target.origin.netloc == "my-bucket.s3.eu-west-1.amazonaws.com"
    assert c._client is None and c._session is None
    # A bucket the plain rules leave (an S3 Express name) is located by a botocore client.
    wire._targets.get("express--euw1-az1--x-s3")
    assert c._client is not None


@pytest.mark.parametrize(
    "bucket", ["ab--use1-az4--x-s3", "ab--use1-az4--xa-s3", "ab--op-s3", "arn:aws:s3:::x"]
)
def test_buckets_only_botocore_serves_are_located_without_a_request(
    bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An S3 Express name makes botocore open a session (CreateSession) before any HEAD: a probe
    # of it would go out over the network. The fast path leaves such names to botocore.
    settings = _settings({**KEYS, "AWS_DEFAULT_REGION": "us-east-1"}, tmp_path, monkeypatch)
    with monkeypatch.context() as m:
        m.setattr(clients, "plain_resolution", lambda *args: None)
        c = clients._create(settings.aws_region, None, None, 4, (None, None), settings)
    from botocore.httpsession import ProxyConfiguration

    client = c.client
    sent: list[str] = []
    client.meta.events.register("before-send.s3", lambda request, **_: sent.append(request.url))
    assert locate._bucket_target(client, bucket, ProxyConfiguration()) is None
    assert locate.aws_target(bucket, "us-east-1") is None
    assert sent == []


def test_clients_are_ready_for_probes_before_anyone_sends_on_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Registering a handler while another thread sends on the same client can lose it in
    # botocore's emitter: s3lync's clients get theirs when they are built.
    settings = _settings({**KEYS, "AWS_DEFAULT_REGION": "eu-west-1"}, tmp_path, monkeypatch)
    c = clients._create(settings.aws_region, None, None, 4, (None, None), settings)
    assert c.client in locate._probed_clients
    assert locate._regional(c, "us-west-2") in locate._probed_clients


def test_keys_rotated_in_the_credentials_file_are_picked_up_by_a_long_running_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A notebook kernel: `aws configure` writes new keys while s3lync's clients are cached.
    creds = tmp_path / ".aws" / "credentials"
    _write(creds, "[default]\naws_access_key_id = AKIDOLD\naws_secret_access_key = old\n")
    env = {"AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_CONFIG_FILE": os.devnull}
    settings = _settings(env, tmp_path, monkeypatch)
    first = clients._resolved(None, None, None, 4, (None, None), settings)
    assert first.credentials() == Credentials("AKIDOLD", "old", None)
    assert clients._resolved(None, None, None, 4, (None, None), settings) is first
    _write(creds, "[default]\naws_access_key_id = AKIDNEW\naws_secret_access_key = newer\n")
    again = clients._resolved(None, None, None, 4, (None, None), settings)
    assert again.credentials() == Credentials("AKIDNEW", "newer", None)


def _process_profile(home: Path, extra: str = "") -> dict[str, str]:
    """A default profile whose keys come from a credential process (no network), plus ``extra``."""
    script = home / "creds.sh"
    script.write_text(
        '#!/bin/sh\necho \'{"Version": 1, "AccessKeyId": "AKIDPROC", "SecretAccessKey": "s"}\'\n'
    )
    script.chmod(0o755)
    cfg = f"[default]\nregion = eu-west-1\ncredential_process = {script}\n{extra}"
    return {"AWS_CONFIG_FILE": _write(home / "cfg", cfg), "AWS_SHARED_CREDENTIALS_FILE": os.devnull}


def test_aws_through_a_session_is_located_by_the_rules_without_a_client(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # SSO, a role or a process: botocore's session signs, but where requests go is its default
    # endpoint rules' answer, read without building an S3 client.
    settings = _settings(_process_profile(tmp_path), tmp_path, monkeypatch)
    c = clients._create(settings.aws_region, None, None, 4, (None, None), settings)
    assert c.static is None
    wire = locate.make_fast(c, settings)
    assert wire is not None
    target = wire._targets.get("my-bucket")
    assert c._client is None
    assert c.credentials() == Credentials("AKIDPROC", "s", None)
    assert target is not None
    scheme, netloc, path, signed_for = _sent(c.client, "my-bucket")
    assert (target.origin.scheme, target.origin.netloc, target.region) == (
        scheme,
        netloc,
        signed_for,
    )
    assert f"{target.base_path}/{locate._PROBE_KEY}" == path
    assert netloc == "my-bucket.s3.eu-west-1.amazonaws.com"


@pytest.mark.parametrize(
    "extra, env",
    [
        ("", {"BOTOCORE_EXPERIMENTAL__PLUGINS": "ds=some_plugin"}),
        ("", {"AWS_DEFAULT_REGION": ""}),
        ("use_fips_endpoint = true\n", {}),
        ("use_dualstack_endpoint = true\n", {}),
        ("defaults_mode = in-region\n", {}),
        ("s3 =\n  us_east_1_regional_endpoint = regional\n", {}),
        ("", {"AWS_USE_FIPS_ENDPOINT": "true"}),
        ("", {"AWS_S3_US_EAST_1_REGIONAL_ENDPOINT": "regional"}),
        ("", {"HTTPS_PROXY": "http://127.0.0.1:3128"}),
    ],
)
def test_aws_settings_only_botocore_reads_leave_locating_to_a_client(
    extra: str, env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings({**_process_profile(tmp_path, extra), **env}, tmp_path, monkeypatch)
    c = clients._create(settings.aws_region, None, None, 4, (None, None), settings)
    assert not resolve.aws_by_default_rules(c.session, settings.environ)


def test_what_botocore_reads_live_or_cannot_use_leaves_aws_to_botocore(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings({**_process_profile(tmp_path)}, tmp_path, monkeypatch)
    c = clients._create(settings.aws_region, None, None, 4, (None, None), settings)
    assert resolve.aws_by_default_rules(c.session, settings.environ)
    # An endpoint exported after the snapshot: botocore's client would still go there.
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "https://s3.example.internal")
    assert not resolve.aws_by_default_rules(c.session, settings.environ)
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3")
    keys = _settings(KEYS, tmp_path, monkeypatch)
    assert resolve.plain_resolution(None, None, keys) is not None
    for extra in ({"AWS_DEFAULT_REGION": ""}, {"BOTOCORE_EXPERIMENTAL__PLUGINS": "ds=plug"}):
        declined = _settings({**KEYS, **extra}, tmp_path, monkeypatch)
        assert resolve.plain_resolution(None, None, declined) is None, extra
    # A value with a line break is no region or bucket name of AWS's.
    assert locate.aws_target("my-bucket", "eu-west-1\n") is None
    assert locate.aws_target("my-bucket\n", "eu-west-1") is None


@pytest.mark.parametrize(
    ("env", "named", "origin"),
    [
        ({"AWS_PROFILE": "nope"}, "nope", "AWS_PROFILE"),
        ({"AWS_DEFAULT_PROFILE": "gone", "AWS_PROFILE": "minio"}, "gone", "AWS_DEFAULT_PROFILE"),
        ({"AWS_DEFAULT_PROFILE": "", "AWS_PROFILE": "minio"}, "", "AWS_DEFAULT_PROFILE"),
    ],
)
def test_a_missing_profile_names_the_variable_botocore_read(
    env: dict[str, str], named: str, origin: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings(
        {**_files(MINIO_CREDS, MINIO_CONFIG)(tmp_path), **env}, tmp_path, monkeypatch
    )
    with pytest.raises(ConfigError) as info:
        resolve.botocore_session(None, None, settings)
    assert f"AWS profile '{named}' (from {origin})" in str(info.value)
