"""Bad input: arbitrary URIs fail with InvalidURIError only; awkward keys round-trip byte-exact or are
reported (named in the error), on both servers.

Manifest fuzzing lives in tests/unit/test_manifest.py and is not repeated here.
"""

from __future__ import annotations

import logging
import os
import uuid
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from s3lync import S3lyncError, S3Object
from s3lync.cli.main import cli
from s3lync.errors import InvalidURIError, S3ObjectError
from s3lync.uri import parse_s3_uri

from .helpers import BOTH_SERVERS, MOTO_ONLY, put_objects, remote_tree, tree, write_manifest

# --------------------------------------------------------------------------- URIs (no server)

_BUCKET_CHARS = "abcxyz019.-_ABZ/:?#%@ \t\x00é"
_KEY_CHARS = st.characters(blacklist_categories=("Cs",))

uris = st.one_of(
    st.text(),
    st.text().map(lambda t: "s3://" + t),
    st.builds(
        lambda b, sep, k: f"s3://{b}{sep}{k}",
        st.text(alphabet=_BUCKET_CHARS, max_size=70),
        st.sampled_from(["/", "", "//", "/./", "/../"]),
        st.text(alphabet=_KEY_CHARS, max_size=1100),
    ),
    st.builds(lambda k: f"s3://bucket/{k}", st.text(alphabet=_KEY_CHARS, min_size=1000)),
    st.sampled_from(
        ["S3://bucket/k", "s3:/bucket/k", "s3:bucket", "s3://", "s3:///k", " s3://b/k"]
    ),
)


@settings(max_examples=300, deadline=None)
@given(uris)
@example("s3://ab/k")  # bucket too short
@example("s3://" + "a" * 64 + "/k")  # bucket too long
@example("s3://bucket/" + "k" * 1025)  # key too long
@example("s3://bucket/k\x00")
def test_any_string_uri_is_accepted_or_raises_invalid_uri_error_only(uri: str) -> None:
    explicit = "/nonexistent/s3lync-test/x"  # the constructor never touches it
    try:
        parsed = parse_s3_uri(uri)
    except InvalidURIError as exc:
        assert isinstance(exc, ValueError) and isinstance(exc, S3lyncError)
        with pytest.raises(InvalidURIError):
            S3Object(uri, explicit)
        return
    assert uri.startswith("s3://")
    assert 3 <= len(parsed.bucket) <= 63
    assert len(parsed.key.encode("utf-8")) <= 1024 and "\x00" not in parsed.key
    assert S3Object(uri, explicit).local_path


@settings(max_examples=300, deadline=None)
@given(uris)
@example("s3://bucket/.")
def test_any_string_uri_with_default_local_path_raises_invalid_uri_error_only(uri: str) -> None:
    try:
        obj = S3Object(uri)
    except InvalidURIError:
        return
    assert obj.local_path


@pytest.mark.parametrize(
    "value",
    [None, b"s3://bucket/key", 42, Path("s3://bucket/key"), ["s3://bucket/k"]],
    ids=["none", "bytes", "int", "path", "list"],
)
def test_non_string_uri_raises_invalid_uri_error(value: Any) -> None:
    with pytest.raises(InvalidURIError):
        S3Object(value)


@pytest.mark.parametrize(
    "uri", ["s3://bucket/\udcff", "s3://bucket/a/\ud800b"], ids=["low-surrogate", "high-surrogate"]
)
def test_surrogate_in_key_raises_invalid_uri_error(uri: str) -> None:
    with pytest.raises(InvalidURIError):
        S3Object(uri)


# --------------------------------------------------------------------------- round trips (servers)


def round_trip(url: str, bucket: str, files: dict[str, bytes], base: Path) -> dict[str, Any]:
    """Upload ``files`` under a fresh prefix, download them into a fresh folder, and check that each
    file either came back byte-exact or was named in the upload/download error."""
    prefix = f"rt-{uuid.uuid4().hex[:8]}/"
    src, dst = base / prefix / "src", base / prefix / "dst"
    for rel, data in files.items():
        p = src / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    up_err = down_err = ""
    try:
        S3Object(f"s3://{bucket}/{prefix}", src, endpoint_url=url).upload()
    except S3lyncError as exc:
        up_err = str(exc)
    stored = remote_tree(_client(url), bucket, prefix)
    synced = {}
    for rel, data in files.items():
        key = prefix + rel
        if key in stored:
            assert stored[key] == data, f"{key!r} stored with other bytes"
            synced[rel] = data
        else:
            assert named(key, up_err), f"{key!r} neither uploaded nor reported: {up_err!r}"
    assert set(stored) == {prefix + r for r in synced}, "unexpected keys stored"
    try:
        S3Object(f"s3://{bucket}/{prefix}", dst, endpoint_url=url).download()
    except S3lyncError as exc:
        down_err = str(exc)
    got = tree(dst)
    for rel, data in synced.items():
        if rel in got:
            assert got[rel] == data, f"{rel!r} downloaded with other bytes"
        else:
            assert named(prefix + rel, down_err), f"{rel!r} neither downloaded nor reported"
    assert set(got) <= set(synced), "unexpected local files"
    return {"synced": set(got), "upload_error": up_err, "download_error": down_err}


def named(key: str, message: str) -> bool:
    """True when an error message names ``key`` (as is, or as its repr)."""
    return key in message or repr(key)[1:-1] in message


_CLIENTS: dict[str, Any] = {}


def _client(url: str) -> Any:
    if url not in _CLIENTS:
        import boto3
        from botocore.config import Config as BotoConfig

        _CLIENTS[url] = boto3.session.Session().client(
            "s3", endpoint_url=url, config=BotoConfig(s3={"addressing_style": "path"})
        )
    return _CLIENTS[url]


AWKWARD = [
    "with space.txt",
    "plus+sign.txt",
    "pct%20encoded.txt",
    "100%.txt",
    "hash#tag.txt",
    "question?mark.txt",
    "amp&eq=.txt",
    "semi;colon,comma.txt",
    "tilde~'quote\".txt",
    "br[1]{2}(3)<4>|.txt",
    "star*colon:.txt",
    " leading space.txt",
    "trailing space.txt ",
    "dots...",
    "~",
    "-dash",
    "ünïcødé/日本語.txt",
    "emoji😀.bin",
    "nfd-e\u0301.txt",
    "nfc-\u00e9.txt",
    "tab\tchar.txt",
    "ctl\x01char.txt",
    "newline\nchar.txt",
    "deep/er/and/deeper/x.txt",
]


@pytest.mark.integration
@BOTH_SERVERS
def test_awkward_keys_round_trip_or_are_reported(
    s3_server: Any, bucket: str, tmp_path: Path
) -> None:
    files = {name: f"content of {name!r}".encode() for name in AWKWARD}
    result = round_trip(s3_server.endpoint_url, bucket, files, tmp_path)
    # Everything printable must make it; only control characters may be refused by a server.
    assert {n for n in AWKWARD if n.isprintable() or "/" in n} <= result["synced"]


@pytest.mark.integration
@BOTH_SERVERS
def test_keys_differing_only_in_case_stay_distinct(
    s3_server: Any, bucket: str, tmp_path: Path
) -> None:
    files = {"Readme.md": b"1", "README.md": b"2", "readme.md": b"3", "Dir/a": b"4", "dir/a": b"5"}
    result = round_trip(s3_server.endpoint_url, bucket, files, tmp_path)
    assert result["synced"] == set(files)


def _long_rel(total_key_bytes: int, prefix_len: int, seg: str) -> str:
    """A relative path whose key (prefix + rel) is exactly ``total_key_bytes`` long, segments <= 250 B."""
    parts, left = [], total_key_bytes - prefix_len
    while left > 0:
        take = min(250, left) if left - min(250, left) != 1 else 249  # never end on a bare "/"
        unit = len(seg.encode())
        n = max(1, take // unit)
        part = seg * n
        if left - len(part.encode()) > 0:
            parts.append(part)
            left -= len(part.encode()) + 1
        else:
            parts.append(part + "x" * (left - len(part.encode())))
            left = 0
    rel = "/".join(parts)
    return rel


@pytest.mark.integration
@BOTH_SERVERS
@pytest.mark.parametrize("seg", ["k", "é"], ids=["ascii", "two-byte"])
def test_1024_byte_key_round_trips_and_1025_is_synced_or_reported(
    s3_server: Any, bucket: str, tmp_path: Path, seg: str
) -> None:
    prefix_len = len("rt-00000000/")
    ok = _long_rel(1024, prefix_len, seg)
    too_long = ok + "y"
    assert len(ok.encode()) + prefix_len == 1024
    result = round_trip(s3_server.endpoint_url, bucket, {ok: b"1024", too_long: b"1025"}, tmp_path)
    assert ok in result["synced"]


@pytest.mark.integration
@BOTH_SERVERS
def test_undecodable_local_name_is_reported_and_the_rest_uploaded(
    s3: Any, s3_server: Any, bucket: str, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "fine.txt").write_bytes(b"fine")
    with open(os.path.join(os.fsencode(src), b"bad\xffname.txt"), "wb") as f:
        f.write(b"bad")

    with pytest.raises(S3lyncError) as info:
        S3Object(f"s3://{bucket}/u/", src, endpoint_url=s3_server.endpoint_url).upload()

    assert "bad" in str(info.value) and "name.txt" in str(info.value)
    assert remote_tree(s3, bucket) == {"u/fine.txt": b"fine"}


_SEGMENT = st.text(
    alphabet=st.sampled_from(
        [*"abcXYZ09 +%#?&=;,~'\"[](){}<>|*:!$@^`.-_", "é", "ü", "ß", "日", "本", "😀", "\t"]
    ),
    min_size=1,
    max_size=12,
).filter(lambda s: s not in (".", "..") and ".s3lync-tmp-" not in s)
_REL = st.lists(_SEGMENT, min_size=1, max_size=3).map("/".join)


def _no_file_dir_clash(rels: list[str]) -> bool:
    files = set(rels)
    return not any(
        "/".join(r.split("/")[:i]) in files for r in rels for i in range(1, r.count("/") + 1)
    )


@pytest.mark.integration
@BOTH_SERVERS
@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(rels=st.lists(_REL, min_size=1, max_size=5, unique=True).filter(_no_file_dir_clash))
def test_fuzzed_keys_round_trip_or_are_reported(
    s3_server: Any, bucket: str, tmp_path: Path, rels: list[str]
) -> None:
    files = {r: f"<{r}>".encode() for r in rels}
    round_trip(s3_server.endpoint_url, bucket, files, tmp_path)


@pytest.mark.integration
@BOTH_SERVERS
def test_backslash_key_is_refused_on_download_and_reported(
    s3_server: Any, bucket: str, tmp_path: Path
) -> None:
    result = round_trip(
        s3_server.endpoint_url, bucket, {"a\\b.txt": b"bs", "ok.txt": b"ok"}, tmp_path
    )
    assert result["synced"] == {"ok.txt"}
    assert "backslash" in result["download_error"]


# --------------------------------------------------------------------------- file/folder conflicts


@pytest.mark.integration
@MOTO_ONLY
def test_key_that_is_also_a_prefix_is_reported_and_the_folder_synced(
    s3: Any, s3_server: Any, bucket: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    put_objects(s3, bucket, {"p/a": b"file a", "p/a/b": b"file a/b", "p/c": b"c"})
    dest = tmp_path / "out"
    with caplog.at_level(logging.WARNING, logger="s3lync"):
        S3Object(f"s3://{bucket}/p/", dest, endpoint_url=s3_server.endpoint_url).download()
    assert tree(dest) == {"a/b": b"file a/b", "c": b"c"}
    assert "'p/a' is both a file and a folder prefix" in caplog.text

    caplog.clear()
    single = tmp_path / "single"
    with caplog.at_level(logging.WARNING, logger="s3lync"):
        S3Object(f"s3://{bucket}/p/a", single, endpoint_url=s3_server.endpoint_url).download()
    assert tree(single) == {"b": b"file a/b"}
    assert "both an object and a prefix" in caplog.text


@pytest.mark.integration
@BOTH_SERVERS
def test_local_file_where_remote_has_folder_is_reported_and_left_alone(
    s3: Any, s3_server: Any, bucket: str, tmp_path: Path
) -> None:
    put_objects(s3, bucket, {"p/d/x.txt": b"x", "p/ok.txt": b"ok"})
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "d").write_bytes(b"a local file named d")

    with pytest.raises(S3lyncError) as info:
        S3Object(f"s3://{bucket}/p/", dest, endpoint_url=s3_server.endpoint_url).download()

    assert "p/d" in str(info.value)
    # A mapping with a local file where a folder must be is refused as a whole.
    assert tree(dest) == {"d": b"a local file named d"}


@pytest.mark.integration
@BOTH_SERVERS
def test_local_folder_where_remote_has_file_is_reported_and_left_alone(
    s3: Any, s3_server: Any, bucket: str, tmp_path: Path
) -> None:
    put_objects(s3, bucket, {"p/f": b"remote file f", "p/ok.txt": b"ok"})
    dest = tmp_path / "out"
    (dest / "f").mkdir(parents=True)
    (dest / "f" / "mine.txt").write_bytes(b"mine")

    with pytest.raises(S3ObjectError) as info:
        S3Object(f"s3://{bucket}/p/", dest, endpoint_url=s3_server.endpoint_url).download()

    assert "p/f" in str(info.value)
    assert tree(dest) == {"f/mine.txt": b"mine"}  # refused as a whole, nothing downloaded


@pytest.mark.integration
@MOTO_ONLY
def test_refused_key_is_still_reported_when_another_operation_fails(
    s3: Any, s3_server: Any, bucket: str, tmp_path: Path
) -> None:
    put_objects(s3, bucket, {"p/d/x.txt": b"x", "p/f": b"remote file f", "p/ok.txt": b"ok"})
    dest = tmp_path / "out"
    (dest / "f").mkdir(parents=True)
    (dest / "d").write_bytes(b"a local file named d")

    with pytest.raises(S3lyncError) as info:
        S3Object(f"s3://{bucket}/p/", dest, endpoint_url=s3_server.endpoint_url).download()

    assert "p/d" in str(info.value)
    assert "p/f" in str(info.value)


@pytest.mark.integration
@MOTO_ONLY
def test_user_file_named_like_a_temporary_is_neither_deleted_nor_skipped(
    s3: Any, s3_server: Any, bucket: str, tmp_path: Path
) -> None:
    proj = tmp_path / "proj"
    mine = {"notes.s3lync-tmp-draft.txt": b"user data", "ok.txt": b"ok"}
    for rel, data in mine.items():
        (proj / "src").mkdir(parents=True, exist_ok=True)
        (proj / "src" / rel).write_bytes(data)
    m = {"s3": f"s3://{bucket}/u/", "local": "src", "direction": "upload"}
    manifest = write_manifest(proj / "s3lync.yaml", [m])
    base = ["-f", str(manifest), "--endpoint-url", s3_server.endpoint_url]

    plan = CliRunner().invoke(cli, [*base, "plan"])
    assert plan.exit_code == 0, plan.stderr
    assert tree(proj / "src") == mine  # plan is read-only

    applied = CliRunner().invoke(cli, [*base, "apply"])
    assert applied.exit_code == 0, applied.stderr
    assert tree(proj / "src") == mine
    assert remote_tree(s3, bucket) == {f"u/{k}": v for k, v in mine.items()}
