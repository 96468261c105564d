"""Shell completion as the README documents it, for bash, zsh and fish."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _documented() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    after = text.split("<!-- docs-test: completion -->\n", 1)[1]
    block = re.match(r"```bash\n(.*?)```", after, re.S)
    assert block
    return [line.split("  #", 1)[0].strip() for line in block.group(1).splitlines()]


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", **extra}


def test_the_readme_documents_bash_zsh_and_fish() -> None:
    lines = _documented()
    shells = [re.findall(r"=(\w+)_source", line) for line in lines]
    assert shells == [["bash"], ["zsh"], ["fish"]]


@pytest.mark.parametrize(
    ("shell", "marker"),
    [
        ("bash", "complete -o nosort -F _s3lync_completion s3lync"),
        ("zsh", "#compdef s3lync"),
        ("fish", "complete --no-files --command s3lync"),
    ],
)
def test_each_shell_gets_a_completion_script(shell: str, marker: str) -> None:
    out = subprocess.run(
        ["s3lync"],
        env=_env(_S3LYNC_COMPLETE=f"{shell}_source"),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert marker in out


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash")
def test_bash_completes_commands_and_options_with_the_documented_line() -> None:
    line = _documented()[0]
    script = (
        f"{line}\n"
        "complete -p s3lync\n"
        "COMP_WORDS=(s3lync pl); COMP_CWORD=1; COMPREPLY=(); _s3lync_completion s3lync\n"
        'echo "commands: ${COMPREPLY[*]}"\n'
        "COMP_WORDS=(s3lync apply --pro); COMP_CWORD=2; COMPREPLY=(); _s3lync_completion s3lync\n"
        'echo "options: ${COMPREPLY[*]}"\n'
        "COMP_WORDS=(s3lync apply --progress ''); COMP_CWORD=3; COMPREPLY=(); _s3lync_completion s3lync\n"
        'echo "choices: ${COMPREPLY[*]}"\n'
    )
    out = subprocess.run(
        ["bash", "-c", script], env=_env(), capture_output=True, text=True, timeout=60, check=True
    ).stdout
    assert "complete -o nosort -F _s3lync_completion s3lync" in out
    assert "commands: plan" in out
    options = re.search(r"^options: (.*)$", out, re.M)
    assert options and "--progress" in options.group(1).split()
    assert "choices: auto bar plain none" in out


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_zsh_and_fish_protocols_answer(shell: str) -> None:
    # What their scripts ask s3lync (the shells themselves are not installed here).
    words = {"COMP_WORDS": "s3lync pl", "COMP_CWORD": "pl" if shell == "fish" else "1"}
    out = subprocess.run(
        ["s3lync"],
        env=_env(_S3LYNC_COMPLETE=f"{shell}_complete", **words),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    # zsh: type, value, help on separate lines; fish: "plain,plan<TAB>help".
    assert "plan" in re.split(r"[\s,]+", out)
