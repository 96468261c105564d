"""s3lync 0.4 keyword names, still accepted with a DeprecationWarning where the meaning is the same."""

from __future__ import annotations

import functools
import inspect
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


def _progress(mode: Any) -> Any:
    # 0.4: "progress" / "compact" draw a bar, "disabled" draws nothing.
    return mode != "disabled" if isinstance(mode, str) else mode


def _excludes(value: Any) -> Any:
    # 0.4 took one regex or a list of them: a list becomes one alternation of the same regexes.
    if isinstance(value, (list, tuple)):
        return "|".join(f"(?:{p})" for p in value if p)
    return value


# old name -> (new name, value converter)
_RENAMES: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "boto3_client": ("client", lambda v: v),
    "use_checksum": ("check_hash", lambda v: v),
    "excludes": ("exclude_pattern", _excludes),
    "mirror": ("force_sync", bool),
    "progress_mode": ("progress", _progress),
}


def accepts_04_names(*names: str) -> Callable[[F], F]:
    """Let a function take these 0.4 keyword names, warning and passing them on under the new ones."""
    table = {n: _RENAMES[n] for n in names}

    def wrap(fn: F) -> F:
        accepted = set(inspect.signature(fn).parameters)

        @functools.wraps(fn)
        def inner(*args: Any, **kwargs: Any) -> Any:
            for old in table.keys() & kwargs.keys():
                new, convert = table[old]
                if new in kwargs:
                    raise TypeError(f"{fn.__qualname__}() got both {old!r} (0.4) and {new!r}")
                warnings.warn(
                    f"{fn.__qualname__}({old}=...) is the s3lync 0.4 name; use {new}= "
                    "(see 'Migrating from 0.4' in CHANGELOG.md)",
                    DeprecationWarning,
                    stacklevel=2,
                )
                value = convert(kwargs.pop(old))
                if new in accepted:
                    kwargs[new] = value
                elif new != "progress":  # 0.4's progress display is cosmetic: dropped if absent
                    raise TypeError(f"{fn.__qualname__}() takes no {new!r} (0.4: {old!r})")
            return fn(*args, **kwargs)

        return inner  # type: ignore[return-value]

    return wrap
