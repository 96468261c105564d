"""The environment-only resolution (no botocore session on a plain endpoint) against botocore's.

Where ``_env_only`` answers, its credentials, region, CA bundle and max_attempts must be
botocore's session's answers for the same environment; wherever anything else could change
botocore's answer (a profile, a config or credentials file, a proxy, another AWS_* variable), it
must not answer at all. A no-op download then imports no botocore (a subprocess shows it).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from s3lync.settings import Settings
from s3lync.store import resolve

ENDPOINT = "http://127.0.0.1:9"
KEYS = {"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG"}

ANSWERED = {
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
    "configured endpoint": {"AWS_ENDPOINT_URL_S3": "http://127.0.0.1:1"},
    "retry mode": {"AWS_RETRY_MODE": "adaptive"},
}


def _settings(env: dict[str, str], home: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("HOME", str(home))
    return Settings.from_env({"HOME": str(home), "PATH": os.environ.get("PATH", ""), **env})


def _botocore(settings: Settings, profile: str | None = None) -> dict[str, Any]:
    session = resolve.botocore_session(profile, None, settings)
    frozen = session.get_credentials().get_frozen_credentials()
    attempts = session.get_config_variable("max_attempts")
    return {
        "credentials": (frozen.access_key, frozen.secret_key, frozen.token),
        "region": session.get_config_variable("region") or None,
        "ca_bundle": session.get_config_variable("ca_bundle") or None,
        "max_attempts": int(attempts) if attempts else None,
    }


@pytest.mark.parametrize("extra", list(ANSWERED.values()), ids=list(ANSWERED))
def test_where_it_answers_it_gives_botocores_answer(
    extra: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings({**KEYS, **extra}, tmp_path, monkeypatch)
    found = resolve.env_only(None, ENDPOINT, settings)
    assert found is not None
    ours = {
        "credentials": (
            found.credentials.access_key,
            found.credentials.secret_key,
            found.credentials.token,
        ),
        "region": found.region,
        "ca_bundle": found.ca_bundle,
        "max_attempts": found.max_attempts,
    }
    assert ours == _botocore(settings)


def _write(path: Path, text: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


# Each case: what to add to the environment (a callable gets the home folder), and why botocore
# could answer differently.
DECLINED: dict[str, Any] = {
    "a profile": {"AWS_PROFILE": "dev"},
    "a default profile": {"AWS_DEFAULT_PROFILE": "dev"},
    "a config file": lambda home: {
        "AWS_CONFIG_FILE": _write(home / "cfg", "[default]\nregion = us-west-2\n")
    },
    "the default config file": lambda home: {
        "_touch": _write(home / ".aws" / "config", "[default]\ns3 =\n  addressing_style = path\n")
    },
    "a credentials file": lambda home: {
        "_touch": _write(home / ".aws" / "credentials", "[default]\nregion = us-west-2\n")
    },
    "a proxy": {"HTTPS_PROXY": "http://127.0.0.1:3128", "HTTP_PROXY": "http://127.0.0.1:3128"},
    "no secret": {"AWS_SECRET_ACCESS_KEY": ""},
    "no keys": {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""},
    "expiring keys": {"AWS_CREDENTIAL_EXPIRATION": "2030-01-01T00:00:00Z"},
    "FIPS": {"AWS_USE_FIPS_ENDPOINT": "true"},
    "web identity": {"AWS_WEB_IDENTITY_TOKEN_FILE": "/x", "AWS_ROLE_ARN": "arn:aws:iam::1:role/r"},
    "odd attempts": {"AWS_MAX_ATTEMPTS": " 3"},
}


@pytest.mark.parametrize("case", list(DECLINED), ids=list(DECLINED))
def test_where_anything_else_could_matter_it_leaves_it_to_botocore(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    extra = DECLINED[case]
    extra = extra(tmp_path) if callable(extra) else extra
    env = {k: v for k, v in {**KEYS, **extra}.items() if not k.startswith("_")}
    settings = _settings(env, tmp_path, monkeypatch)
    assert resolve.env_only(None, ENDPOINT, settings) is None
    # And the same environment answers with its plain keys when nothing is added.
    assert resolve.env_only(None, ENDPOINT, _settings(KEYS, tmp_path / "h2", monkeypatch))


def test_a_named_profile_or_no_endpoint_is_left_to_botocore(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings(KEYS, tmp_path, monkeypatch)
    assert resolve.env_only("dev", ENDPOINT, settings) is None
    assert resolve.env_only(None, None, settings) is None


def test_a_no_op_download_on_a_plain_endpoint_imports_no_botocore(
    rclone_server: Any, tmp_path: Path
) -> None:
    rclone_server.client().create_bucket(Bucket="envonly")
    rclone_server.client().put_object(Bucket="envonly", Key="p/a.txt", Body=b"a")
    script = (
        "import sys\n"
        "from s3lync import S3Object\n"
        f"o = S3Object('s3://envonly/p/', {str(tmp_path / 'data')!r}, "
        f"endpoint_url={rclone_server.endpoint_url!r})\n"
        "o.download()\n"
        "o.download()\n"
        "print(sorted(m for m in sys.modules if m.startswith(('botocore', 'boto3'))))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID=rclone_server.access_key,
        AWS_SECRET_ACCESS_KEY=rclone_server.secret_key,
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        HOME=str(tmp_path),
        XDG_CACHE_HOME=str(tmp_path / "cache"),
    )
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    assert (tmp_path / "data" / "a.txt").read_bytes() == b"a"
    assert out.stdout.strip() == "[]", out.stdout
