"""Include and exclude filters (manifest, library, `sync`), the aws rule "in order, the last match
wins", nothing deleted that the filters leave out, and glob hints that work as pasted."""

from __future__ import annotations

import re
import shlex
import textwrap
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from s3lync import S3ObjectError
from s3lync.cli.main import cli

FILES = {"a.csv": b"a", "b.txt": b"b", "d/c.csv": b"c", "d/e.log": b"e", "x.tmp": b"t"}


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def _src(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    for rel, data in FILES.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(data)
    return src


def test_sync_filters_in_order_last_match_wins_and_nothing_left_out_is_deleted(
    s3_server: Any, s3: Any, bucket: str, tmp_path: Path, remote_keys: Any
) -> None:
    src = _src(tmp_path)
    s3.put_object(Bucket=bucket, Key="p/old.txt", Body=b"o")  # left out: must survive --delete
    s3.put_object(Bucket=bucket, Key="p/gone.csv", Body=b"g")  # included, target-only: deleted
    ep = ("--endpoint-url", s3_server.endpoint_url)
    # aws s3 sync --exclude '*' --include '*.csv': only CSV files.
    args = ["sync", str(src), f"s3://{bucket}/p/", "--exclude-glob", "*", "--include-glob"]
    code, out, err = run(*args, "*.csv", "--delete", "--yes", *ep)
    assert code == 0, out + err
    assert remote_keys(bucket, "p/") == ["p/a.csv", "p/d/c.csv", "p/old.txt"]
    # The other order: the exclude comes last and wins for every path.
    code, out, err = run(
        "sync", str(src), f"s3://{bucket}/q/", "--include", r"\.csv$", "--exclude", ".", *ep
    )
    assert code == 0, out + err
    assert remote_keys(bucket, "q/") == []
    # A regex exclude, then a regex include back in.
    code, out, err = run(
        "sync", str(src), f"s3://{bucket}/r/", "--exclude", "^d/", "--include", r"\.log$", *ep
    )
    assert code == 0, out + err
    assert remote_keys(bucket, "r/") == ["r/a.csv", "r/b.txt", "r/d/e.log", "r/x.tmp"]


def test_manifest_include_glob_and_include_in_key_order(
    s3_server: Any, s3: Any, bucket: str, tmp_path: Path, remote_keys: Any
) -> None:
    for rel, data in FILES.items():
        s3.put_object(Bucket=bucket, Key=f"data/{rel}", Body=data)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "mine.txt").write_bytes(b"local only, left out by the filters")
    manifest = tmp_path / "s3lync.yaml"
    manifest.write_text(
        textwrap.dedent(
            f"""\
            version: 1
            defaults:
              endpoint_url: {s3_server.endpoint_url}
              exclude_glob: '*'
            mappings:
              - s3: s3://{bucket}/data/
                local: out
                direction: download
                delete: true
                include_glob: '*.csv'
                include: '\\.log$'
            """
        )
    )
    code, out, err = run("-f", str(manifest), "apply", "--yes")
    assert code == 0, out + err
    got = sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*"))
    assert got == ["a.csv", "d", "d/c.csv", "d/e.log", "mine.txt"]


def test_library_include_pattern_takes_back_what_excludes_left_out(
    bucket: str, make_obj: Any, tmp_path: Path, remote_keys: Any
) -> None:
    src = _src(tmp_path)
    make_obj(f"s3://{bucket}/lib/", src).upload(exclude_pattern=".", include_pattern=r"\.csv$")
    assert remote_keys(bucket, "lib/") == ["lib/a.csv", "lib/d/c.csv"]
    with pytest.raises(S3ObjectError, match=r"invalid include_pattern: .*r\".\*\\.csv\$\""):
        make_obj(f"s3://{bucket}/lib/", src).upload(include_pattern="*.csv")


def _suggested(message: str) -> str:
    """The regex a hint suggests, exactly as printed (quotes included)."""
    found = re.search(r"did you mean the regex ('(?:[^']|'')*')\?", message)
    assert found, message
    return found.group(1)


def test_the_manifest_hint_works_when_pasted_into_single_quoted_yaml(
    s3_server: Any, s3: Any, bucket: str, tmp_path: Path
) -> None:
    for rel, data in FILES.items():
        s3.put_object(Bucket=bucket, Key=f"data/{rel}", Body=data)
    manifest = tmp_path / "s3lync.yaml"
    body = (
        f"version: 1\ndefaults:\n  endpoint_url: {s3_server.endpoint_url}\nmappings:\n"
        f"  - s3: s3://{bucket}/data/\n    local: out\n    direction: download\n"
        "    exclude: {}\n"
    )
    manifest.write_text(body.format("'*.tmp'"))
    code, _, err = run("-f", str(manifest), "validate")
    assert code == 1
    pasted = _suggested(err)
    assert pasted == "'.*\\.tmp$'"  # one backslash, as the README writes regexes
    manifest.write_text(body.format(pasted))
    code, out, err = run("-f", str(manifest), "plan")
    assert code == 0, out + err
    assert "+ a.csv" in out and "x.tmp" not in out


def test_the_cli_hint_works_when_pasted_into_a_shell(
    s3_server: Any, bucket: str, tmp_path: Path, remote_keys: Any
) -> None:
    src = _src(tmp_path)
    base = ["sync", str(src), f"s3://{bucket}/p/", "--endpoint-url", s3_server.endpoint_url]
    code, out, err = run(*base, "--exclude", "*.tmp")
    # A usage error before anything is listed, with the regex the glob means.
    assert code == 2, out + err
    assert "Invalid value for '--exclude': invalid regular expression '*.tmp'" in err
    pasted = _suggested(err)
    code, out, err = run(*base, "--exclude", *shlex.split(pasted))
    assert code == 0, out + err
    assert "p/x.tmp" not in remote_keys(bucket, "p/") and "p/a.csv" in remote_keys(bucket, "p/")


def test_a_glob_looking_valid_regex_warns_naming_the_glob_reading(
    s3_server: Any, s3: Any, bucket: str, tmp_path: Path
) -> None:
    s3.put_object(Bucket=bucket, Key="data/build/x.o", Body=b"o")
    manifest = tmp_path / "s3lync.yaml"
    manifest.write_text(
        f"version: 1\ndefaults:\n  endpoint_url: {s3_server.endpoint_url}\nmappings:\n"
        f"  - s3: s3://{bucket}/data/\n    local: out\n    direction: download\n"
        "    exclude: 'build/*'\n"
    )
    for command in ("validate", "plan"):
        code, out, err = run("-f", str(manifest), command)
        assert code == 0, out + err
        assert (
            "mappings[0].exclude: 'build/*' is read as a regex, where '*' and '?' repeat the "
            "character before them; did you mean the regex '^build/'?"
        ) in err, (command, err)
    code, out, err = run(
        "sync", f"s3://{bucket}/data/", str(tmp_path / "o2"), "--exclude", "build/*",
        "--dry-run", "--endpoint-url", s3_server.endpoint_url,
    )  # fmt: skip
    assert code == 0
    assert "warning: --exclude: 'build/*' is read as a regex" in err
    assert "--exclude-glob 'build/*' takes the glob as it is" in err


def test_async_include_pattern(
    s3_server: Any, bucket: str, tmp_path: Path, remote_keys: Any
) -> None:
    import asyncio

    from s3lync import AsyncS3Object

    src = _src(tmp_path)
    obj = AsyncS3Object(f"s3://{bucket}/aio/", src, endpoint_url=s3_server.endpoint_url)
    asyncio.run(obj.upload(exclude_pattern=".", include_pattern=r"\.log$"))
    assert remote_keys(bucket, "aio/") == ["aio/d/e.log"]
