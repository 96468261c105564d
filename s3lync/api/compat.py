"""s3lync 0.4 call shapes: keyword names still accepted, positional calls refused loudly.

0.4's ``download(use_checksum, excludes, progress_mode, mirror)`` and this version's
``download(check_hash, force_sync, exclude_pattern)`` share their first position only, so a 0.4
call made positionally must fail with a TypeError naming the 0.4 call it looks like, never run with
an exclude list read as ``force_sync`` (which deletes). Every public entry point of both faces goes
through :func:`face_args`, which renames the 0.4 keywords, then checks the flags' types.
"""

from __future__ import annotations

import functools
import inspect
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

#: Where "Migrating from 0.4" is: the wheel does not ship CHANGELOG.md, so warnings give the URL.
MIGRATING_URL = "https://github.com/bestend/s3lync/blob/main/CHANGELOG.md#migrating-from-04"
MIGRATING = f"see 'Migrating from 0.4' in the changelog, {MIGRATING_URL}"

#: 0.4.2's parameters in their positional order (after ``self``), by the call they belong to.
SIGNATURES_04: dict[str, tuple[str, ...]] = {
    "S3Object": ("s3_uri", "local_path", "boto3_client", "excludes", "progress_mode"),
    "AsyncS3Object": (
        "s3_uri",
        "local_path",
        "boto3_client",
        "aioboto3_session",
        "excludes",
        "progress_mode",
    ),
    "download": ("use_checksum", "excludes", "progress_mode", "mirror"),
    "upload": ("use_checksum", "excludes", "progress_mode", "mirror"),
}

#: 0.4's progress_mode values (it lower-cased them, as we do).
PROGRESS_MODES_04 = ("compact", "disabled", "progress")


def _progress(mode: Any) -> Any:
    # 0.4: "progress" / "compact" draw a bar, "disabled" draws nothing; anything else was a
    # ValueError there, and is one here.
    if mode is None:
        return None
    if not isinstance(mode, str) or mode.lower() not in PROGRESS_MODES_04:
        raise ValueError(
            f"Invalid progress_mode {mode!r}. Must be one of: {', '.join(PROGRESS_MODES_04)} "
            "(the 0.4 name; now progress=True/False or a callback)"
        )
    return mode.lower() != "disabled"


def _same(value: Any) -> Any:
    return value


def _mirror(value: Any) -> Any:
    if not isinstance(value, bool):
        raise TypeError(f"mirror must be True or False, not {describe(value)}")
    return value


# old name -> (new name, value converter)
_RENAMES: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "boto3_client": ("client", _same),
    "use_checksum": ("check_hash", _same),
    "excludes": ("exclude_pattern", _same),
    "mirror": ("force_sync", _mirror),
    "progress_mode": ("progress", _progress),
}

#: 0.4 constructor arguments with no counterpart there: refused with what to do instead.
_REFUSED: dict[str, str] = {
    "aioboto3_session": (
        "AsyncS3Object runs boto3 in worker threads and takes no aioboto3 session: pass "
        "client= (a boto3 S3 client), or profile= / endpoint_url= / region_name="
    ),
    "excludes": "pass exclude_pattern= to each download() / upload()",
}
_CONSTRUCTORS = ("S3Object", "AsyncS3Object")


def describe(value: Any) -> str:
    """A short, safe description of a wrong argument (never a whole object's repr)."""
    if value is None or isinstance(value, (bool, int, float, str, list, tuple)):
        text = repr(value)
        return text if len(text) <= 60 else text[:57] + "..."
    kind = type(value)
    return f"a {kind.__module__}.{kind.__qualname__} object"


def _check_flag(name: str, value: Any) -> str | None:
    """What is wrong with a flag's value, or None."""
    if name == "check_hash":
        if isinstance(value, bool) or value == "strict":
            return None
        return f"check_hash must be True, False or 'strict', not {describe(value)}"
    if name in ("force_sync", "delete", "follow_symlinks"):
        if isinstance(value, bool):
            return None
        return f"{name} must be True or False, not {describe(value)}"
    if name == "progress":
        if value is None or isinstance(value, bool) or callable(value):
            return None
        return f"progress must be True, False or a callable, not {describe(value)}"
    if name == "region_name":
        if value is None or isinstance(value, str):
            return None
        return f"region_name must be a string or None, not {describe(value)}"
    return None


def _looks_like_04(call: str, given: int) -> str:
    """``; this looks like the 0.4 call X(a, b): b is now c=`` for ``given`` positional arguments."""
    old = SIGNATURES_04.get(call)
    if old is None or given > len(old):
        return ""
    moved = []
    for name in old[:given]:
        if call in _CONSTRUCTORS and name in _REFUSED:
            moved.append(f"{name}: {_REFUSED[name]}")
        elif _RENAMES.get(name, (name,))[0] != name:
            moved.append(f"{name} is now {_RENAMES[name][0]}=")
    if not moved:
        return ""
    return (
        f"; this looks like the s3lync 0.4 call {call}({', '.join(old[:given])}): "
        f"{'; '.join(moved)}; pass them by keyword ({MIGRATING})"
    )


def face_args(call: str, *renamed: str) -> Callable[[F], F]:
    """Check one public entry point's arguments before it runs.

    ``call`` names it as 0.4 did (``"download"``, ``"S3Object"``), for the positional hint;
    ``renamed`` lists the 0.4 keyword names it still takes (warning, passed on under the new
    ones). The flags (``check_hash``, ``force_sync``, ``delete``, ...) must be booleans.
    """
    table = {n: _RENAMES[n] for n in renamed}
    refused = _REFUSED if call in _CONSTRUCTORS else {}

    def wrap(fn: F) -> F:
        sig = inspect.signature(fn)
        accepted = set(sig.parameters)
        positional = [
            p.name
            for p in sig.parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ][1:]  # without self
        owner = fn.__qualname__.split(".")[0]
        shown = f"{owner}()" if fn.__name__ == "__init__" else f"{fn.__qualname__}()"

        def check(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
            for old in sorted(kwargs.keys() & refused.keys()):
                raise TypeError(f"{shown} takes no {old!r} (s3lync 0.4): {refused[old]}")
            for old in sorted(table.keys() & kwargs.keys()):
                new, convert = table[old]
                if new in kwargs:
                    raise TypeError(f"{shown} got both {old!r} (0.4) and {new!r}")
                warnings.warn(
                    f"{shown[:-2]}({old}=...) is the s3lync 0.4 name; use {new}= ({MIGRATING})",
                    DeprecationWarning,
                    stacklevel=3,
                )
                value = convert(kwargs.pop(old))
                if new in accepted:
                    kwargs[new] = value
                elif new != "progress":  # 0.4's progress display is cosmetic: dropped if absent
                    raise TypeError(f"{shown} takes no {new!r} (0.4: {old!r})")
            given = len(args) - 1
            if given > len(positional):
                raise TypeError(
                    f"{shown} takes at most {len(positional)} positional argument(s) "
                    f"({', '.join(positional)}), got {given}{_looks_like_04(call, given)}"
                )
            for i, name in enumerate(positional):
                value = args[i + 1] if i < given else kwargs.get(name, sig.parameters[name].default)
                problem = _check_flag(name, value)
                if problem is not None:
                    hint = _looks_like_04(call, given) if i < given else ""
                    raise TypeError(f"{shown}: {problem}{hint}")
            for name, value in kwargs.items():
                if name not in positional:
                    problem = _check_flag(name, value)
                    if problem is not None:
                        raise TypeError(f"{shown}: {problem}")

        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            # Checked at the call, also for a coroutine function: the error and the warnings
            # name the caller's line, before anything is awaited.
            check(args, kwargs)
            return fn(*args, **kwargs)

        if inspect.iscoroutinefunction(fn) and hasattr(inspect, "markcoroutinefunction"):
            inspect.markcoroutinefunction(run)  # Python 3.12+
        return run  # type: ignore[return-value]

    return wrap
