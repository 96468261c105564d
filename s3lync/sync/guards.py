"""The last check before a write: the target is still what the plan saw.

A plan records each target's state (``Operation.target_*``): the local file's size, mtime_ns and
inode, or the remote object's ETag. A saved plan may be hours old, and another writer may act while a
run is under way, so just before s3lync overwrites or deletes a target it looks again: a fresh
``stat`` locally; remotely a HEAD, and the write itself then carries ``If-Match`` with the planned
ETag, which closes the gap between the HEAD and the write on stores that honour it (AWS, moto;
``rclone serve s3`` ignores it). A target that changed is left as it was and the operation fails with
:class:`PlanStaleError`, unless it already holds exactly the bytes about to be written.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from s3lync.errors import PlanStaleError, S3lyncError
from s3lync.hashing import Digest, digest_file
from s3lync.store.remote import Remote
from s3lync.sync.plan import Operation


def check_local_target(op: Operation, incoming: Digest | None = None) -> None:
    """Raise unless ``op.local_path`` is as planned (or already holds ``incoming``'s bytes)."""
    try:
        st = os.stat(op.local_path)
    except FileNotFoundError:
        # Gone since the plan: writing it loses nothing, and a deletion has nothing left to do.
        return
    planned = (op.target_size, op.target_mtime_ns, op.target_inode)
    if planned == (st.st_size, st.st_mtime_ns, st.st_ino):
        return
    if (
        incoming is not None
        and stat.S_ISREG(st.st_mode)
        and st.st_size == incoming.size
        and digest_file(op.local_path).md5 == incoming.md5
    ):
        return  # e.g. a concurrent download of the same object got there first
    why = "the local file appeared" if op.target_size is None else "the local file changed"
    raise PlanStaleError.target_changed(op.kind.value, op.local_path, why)


def check_remote_target(remote: Remote, bucket: str, op: Operation) -> str | None:
    """HEAD ``op.key`` and raise unless it is as planned; returns the ETag to send as If-Match.

    Only targets that existed are checked (an object created meanwhile by another writer is not:
    that would cost a HEAD per new object). None means "send no condition": nothing was planned
    there, or the object is gone (a conditional write would then fail for nothing).
    """
    if op.target_etag is None:
        return None
    info = remote.head_or_none(bucket, op.key)
    if info is None:
        return None
    if info.etag != op.target_etag:
        raise PlanStaleError.target_changed(
            op.kind.value, f"s3://{bucket}/{op.key}", "the remote object was replaced"
        )
    return op.target_etag


def delete_conditions(
    remote: Remote, bucket: str, deletes: Sequence[Operation], workers: int
) -> dict[str, str | S3lyncError]:
    """Per key: the ETag its deletion is conditional on ("" for none), or why it is refused."""

    def check(op: Operation) -> tuple[str, str | S3lyncError]:
        try:
            return op.key, check_remote_target(remote, bucket, op) or ""
        except S3lyncError as exc:
            return op.key, exc

    workers = min(workers, len(deletes))
    if workers <= 1:
        return dict(map(check, deletes))
    with ThreadPoolExecutor(workers, thread_name_prefix="s3lync-check") as pool:
        return dict(pool.map(check, deletes))
