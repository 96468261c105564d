"""What the library face asks the store directly, without a plan: does it exist, is it an
object, delete it (``S3Object.exists()``, ``open()``, ``delete()``; nothing local changes).

``remote`` is the engine's Remote for the object's endpoint (``Engine.remote``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from s3lync.errors import RemoteNotFoundError, S3ObjectError, SyncError
from s3lync.uri import S3Uri

log = logging.getLogger(__name__)


def exists(remote: Any, uri: S3Uri) -> bool:
    """True when the object, or anything under the prefix, exists."""
    b, k = uri.bucket, uri.key
    if not uri.is_prefix:
        try:
            remote.head(b, k)
            return True
        except RemoteNotFoundError:
            pass
    remote.bucket_exists(b)
    return _any(remote.list_objects(b, uri.dir_prefix, read_ahead=False))


def is_object(remote: Any, uri: S3Uri, mode: str, label: str) -> bool:
    """True when the key is an object; False when missing; S3ObjectError for a prefix."""
    b, k = uri.bucket, uri.key
    if not uri.is_prefix and remote.head_or_none(b, k) is not None:
        return True
    if uri.is_prefix or _any(remote.list_objects(b, k + "/", read_ahead=False)):
        raise S3ObjectError(
            f"open({mode!r}) needs an object, not a prefix: {label} is a folder "
            "(use download() for folders)"
        )
    return False


def _any(listing: Iterable[Any]) -> bool:
    # The first listed object answers: no need to list (page through) the rest.
    return any(True for _ in listing)


def delete(remote: Any, uri: S3Uri, label: str) -> bool:
    """Delete the object ``uri`` names, or every object under its prefix (batched); True when
    anything was deleted. A key that is both an object and a prefix deletes the object only.

    ``label``: the URI as the caller wrote it, for messages.
    """
    b, k = uri.bucket, uri.key
    listed = list(remote.list_objects(b, k))
    if uri.is_prefix:
        keys = [o.key for o in listed]
    else:
        exact = [o.key for o in listed if o.key == k]
        under = [o.key for o in listed if o.key.startswith(k + "/")]
        if exact and under:
            log.warning(
                "s3://%s/%s is both an object and a prefix; deleting the object only "
                "(add a trailing '/' to delete the prefix)",
                b,
                k,
            )
        keys = exact or under
    if not keys:
        return False
    failed = remote.delete_many(b, keys)
    if failed:
        first = next(iter(failed.items()))
        raise SyncError(
            f"delete {label}: {len(failed)} of {len(keys)} key(s) not deleted, "
            f"e.g. {first[0]}: {first[1]}"
        )
    if uri.is_prefix or keys != [k]:
        delete_emptied_folders(remote, uri, k if uri.is_prefix else k + "/", label)
    return True


def delete_emptied_folders(remote: Any, uri: S3Uri, prefix: str, label: str) -> None:
    """Delete the ``dir/`` markers a store shows for folders our deletes emptied.

    Stores over a file system (MinIO's layer, the JuiceFS gateway) keep an emptied folder
    and list it as an empty ``dir/`` object; deleting it may empty its parent in turn.
    """
    seen: set[str] = set()
    while True:
        markers = [
            o.key
            for o in remote.list_objects(uri.bucket, prefix)
            # (Their listed size may be the folder's, e.g. 4096.)
            if o.key.endswith("/") and o.key not in seen
        ]
        if not markers:
            return
        seen.update(markers)
        failed = remote.delete_many(uri.bucket, sorted(markers, key=len, reverse=True))
        if failed:
            first = next(iter(failed.items()))
            raise SyncError(f"delete {label}: {first[0]}: {first[1]}")
