"""Deleting keys: DeleteObjects in batches of 1000 (one DeleteObject per key where a store does not
implement it), then one listing that checks what the store said it deleted is gone.

A store may answer 200 and delete nothing (a proxy, a gateway that keeps "dir/" keys): a key still
listed afterwards is deleted once more key by key, and reported as failed if it stays.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from s3lync.errors import PlanStaleError, S3lyncError, SyncError
from s3lync.store.objects import RemoteObject
from s3lync.store.retry import answer_behind

log = logging.getLogger(__name__)

BATCH = 1000  # S3's DeleteObjects limit


class Deleter:
    """Deletes keys over a Remote's request path (see the module docstring)."""

    def __init__(
        self,
        send: Callable[..., Any],
        describe: Callable[[BaseException, str, str, str | None], S3lyncError],
        list_objects: Callable[[str, str], Iterator[RemoteObject]],
        where: Callable[[], str],
    ) -> None:
        self._send = send
        self._describe = describe
        self._list = list_objects
        self._where = where

    def delete_many(
        self, bucket: str, keys: list[str], etags: Mapping[str, str] | None = None
    ) -> dict[str, str]:
        """Delete keys in batches of 1000; returns {key: error} for the ones that failed.

        A key with an entry in ``etags`` is deleted only if its ETag still matches, on stores
        that honour DeleteObjects' per-object ``ETag`` (AWS); moto and rclone ignore it.
        DeleteObjects carries ``Content-MD5`` (MinIO-family stores refuse it without); a store
        that answers ``NotImplemented`` gets one DeleteObject per key. Then one listing checks
        that what the store said it deleted is gone: a key still listed is reported as failed.
        """
        failed: dict[str, str] = {}
        etags = etags or {}
        per_key = False
        for i in range(0, len(keys), BATCH):
            batch = keys[i : i + BATCH]
            if not per_key:
                try:
                    failed.update(self._delete_batch(bucket, batch, etags))
                    continue
                except _NotImplemented:
                    log.info(
                        "%s does not implement DeleteObjects; deleting one key at a time",
                        self._where(),
                    )
                    per_key = True
            for k in batch:
                msg = self._delete_one(bucket, k, etags.get(k))
                if msg:
                    failed[k] = msg
        left = self._still_there(bucket, [k for k in keys if k not in failed])
        if left and not per_key and all(not isinstance(v, _ListingFailed) for v in left.values()):
            # Some stores answer DeleteObjects for a "dir/" key and keep it (the JuiceFS
            # gateway); DeleteObject removes it. Once more, key by key, then look again.
            log.debug(
                "%d key(s) still listed after DeleteObjects; deleting them one by one", len(left)
            )
            for k in list(left):
                msg = self._delete_one(bucket, k, etags.get(k))
                if msg:
                    failed[k] = msg
                    del left[k]
            left = self._still_there(bucket, list(left))
        failed.update({k: str(v) for k, v in left.items()})
        return failed

    def _delete_batch(
        self, bucket: str, batch: list[str], etags: Mapping[str, str]
    ) -> dict[str, str]:
        objects = [(k, etags.get(k) or None) for k in batch]
        try:
            errors = self._send("delete", bucket, None, lambda w: w.delete_objects(bucket, objects))
        except SyncError as exc:
            answer = answer_behind(exc)
            if answer is not None and (answer.code == "NotImplemented" or answer.status == 501):
                raise _NotImplemented from exc
            err: S3lyncError = exc
            if len(batch) == 1:
                err = self._describe(exc.__cause__ or exc, "delete", bucket, batch[0])
            return dict.fromkeys(batch, str(err))
        failed: dict[str, str] = {}
        for key, code, message in errors:
            if code == "PreconditionFailed":
                failed[key] = str(_replaced("delete", bucket, key))
            else:
                failed[key] = f"{code}: {message}".strip()
        return failed

    def _delete_one(self, bucket: str, key: str, etag: str | None) -> str | None:
        """One DeleteObject (conditional on ``etag`` where the store honours it); the error or None."""
        try:
            self._send("delete", bucket, key, lambda w: w.delete_object(bucket, key, etag))
        except SyncError as exc:
            answer = answer_behind(exc)
            if etag and answer is not None and answer.code == "PreconditionFailed":
                return str(_replaced("delete", bucket, key))
            return str(exc)
        return None

    def _still_there(self, bucket: str, deleted: list[str]) -> dict[str, str]:
        """{key: why} for keys the store said it deleted that one listing still shows."""
        if not deleted:
            return {}
        prefix = _common_prefix(deleted)
        if prefix in deleted:
            # A store over a file system lists "dir/" under its parent, not under itself.
            prefix = prefix[: prefix.rstrip("/").rfind("/") + 1]
        wanted = set(deleted)
        try:
            left = [o.key for o in self._list(bucket, prefix) if o.key in wanted]
        except S3lyncError as exc:
            why = _ListingFailed(f"deleted, but checking that it is gone failed: {exc}")
            return dict.fromkeys(deleted, why)
        if left:
            log.debug("%d deleted key(s) still listed, e.g. %s", len(left), left[0])
        return {
            k: f"delete s3://{bucket}/{k}: the store ({self._where()}) answered that it was "
            "deleted, but it is still listed"
            for k in left
        }


class _ListingFailed(str):
    """Why a deletion could not be checked (the listing after it failed)."""


class _NotImplemented(Exception):
    """The store answered DeleteObjects with NotImplemented (501)."""


def _replaced(verb: str, bucket: str, key: str) -> PlanStaleError:
    return PlanStaleError.target_changed(
        verb, f"s3://{bucket}/{key}", "the remote object was replaced"
    )


def _common_prefix(keys: list[str]) -> str:
    """The longest string every key starts with (character by character, as S3 prefixes are)."""
    first, last = min(keys), max(keys)
    n = 0
    while n < min(len(first), len(last)) and first[n] == last[n]:
        n += 1
    return first[:n]
