"""open()'s overloads type every mode it accepts: text modes IO[str], binary modes IO[bytes]."""

from __future__ import annotations

from typing import get_args

from s3lync.api import s3object


def test_the_overloads_cover_exactly_the_modes_open_accepts() -> None:
    text, binary = set(get_args(s3object.TextMode)), set(get_args(s3object.BinaryMode))
    accepted = s3object._READ_MODES | s3object._WRITE_MODES | s3object._UPDATE_MODES
    assert text | binary == accepted
    assert not text & binary
    assert all("b" not in m for m in text) and all("b" in m for m in binary)
