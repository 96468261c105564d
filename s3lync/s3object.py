"""S3Object: the seed library API, a thin face over the engine."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from typing import IO, Any

from . import local
from .compat import accepts_04_names
from .config import Config, configure_logging
from .engine import Engine, raise_for_result
from .errors import (
    InvalidURIError,
    RemoteNotFoundError,
    S3ObjectError,
    SyncError,
    UnsafeKeyError,
)
from .plan import Direction, Mapping
from .results import SyncResult
from .uri import S3Uri, check_rel, parse_s3_uri

log = logging.getLogger(__name__)

_READ_MODES = {"r", "rb", "rt"}
_WRITE_MODES = {"w", "wb", "wt", "x", "xb", "xt"}
_UPDATE_MODES = {"a", "ab", "at", "r+", "rb+", "r+b", "a+", "ab+", "a+b", "w+", "wb+", "w+b"}


class S3Object:
    """An S3 object or prefix paired with a local file or folder."""

    @accepts_04_names("boto3_client")
    def __init__(
        self,
        s3_uri: str,
        local_path: str | os.PathLike[str] | None = None,
        region_name: str | None = None,
        *,
        endpoint_url: str | None = None,
        profile: str | None = None,
        client: Any = None,
        max_workers: int | None = None,
        follow_symlinks: bool = False,
    ) -> None:
        configure_logging()
        self._uri: S3Uri = parse_s3_uri(s3_uri)
        self.s3_uri = s3_uri
        if local_path is None:
            key = self._uri.key.rstrip("/")
            default = Config.get_objects_dir() / self._uri.bucket
            if key:
                # The key becomes a path under the cache: the same rules as any synced key, so
                # 's3://b//etc/passwd' or '../' segments can never point outside the cache.
                try:
                    check_rel(key, self._uri.key)
                except UnsafeKeyError as exc:
                    raise InvalidURIError(
                        f"{s3_uri!r} cannot name a local file under the cache ({exc}); "
                        "pass local_path"
                    ) from exc
            local_path = default / key if key else default
        self._local_path = local.as_abs(local_path)
        self.region_name = region_name or Config.get_aws_region()
        self.endpoint_url = endpoint_url
        self.profile = profile
        self._client = client
        self._max_workers = max_workers
        self.follow_symlinks = follow_symlinks
        # What the last download()/upload() did; set even when it then raised.
        self.last_result: SyncResult | None = None

    def __repr__(self) -> str:
        return f"S3Object({self.s3_uri!r}, local_path={self._local_path!r})"

    @property
    def local_path(self) -> str:
        """The local file or folder this object syncs with."""
        return self._local_path

    def _engine(self) -> Engine:
        return Engine(client=self._client, max_workers=self._max_workers)

    def _mapping(
        self,
        direction: Direction,
        check_hash: bool,
        force_sync: bool,
        exclude: str = "",
        delete: bool = False,
    ) -> Mapping:
        return Mapping(
            s3_uri=self.s3_uri,
            local=self._local_path,
            direction=direction,
            exclude=(exclude,) if exclude else (),
            force_sync=force_sync,
            delete=delete,
            check_hash=check_hash,
            follow_symlinks=self.follow_symlinks,
            region=self.region_name,
            endpoint_url=self.endpoint_url,
            profile=self.profile,
        )

    def _sync(self, mapping: Mapping, action: str) -> None:
        with self._engine() as engine:
            result = engine.sync(mapping)
        for p in result.plan.problems:
            if not p.fatal:
                log.warning("%s", p.message)
        self.last_result = SyncResult.of(result)
        raise_for_result(result, f"{action} {self.s3_uri}")
        log.info(
            "%s %s: %d transferred, %d deleted, %d unchanged",
            action,
            self.s3_uri,
            result.transferred,
            result.deleted,
            result.plan.unchanged,
        )

    @accepts_04_names("use_checksum", "excludes", "mirror", "progress_mode")
    def download(
        self, check_hash: bool = True, force_sync: bool = False, *, delete: bool = False
    ) -> str:
        """Bring the local side up to date with S3 (only what differs); returns the local path.

        ``delete=True`` mirrors: local files missing from S3 are deleted, unchanged files are still
        skipped (``force_sync`` transfers everything). ``last_result`` says what was done.
        """
        self._sync(
            self._mapping(Direction.DOWNLOAD, check_hash, force_sync, delete=delete), "download"
        )
        return self._local_path

    @accepts_04_names("use_checksum", "excludes", "mirror", "progress_mode")
    def upload(
        self,
        check_hash: bool = True,
        exclude_pattern: str = "",
        force_sync: bool = False,
        *,
        delete: bool = False,
    ) -> str:
        """Bring S3 up to date with the local side (only what differs); returns the S3 URI.

        ``delete=True`` mirrors: objects missing locally are deleted, unchanged files are still
        skipped. ``last_result`` says what was done.
        """
        if exclude_pattern:
            import re

            try:
                re.compile(exclude_pattern)
            except re.error as exc:
                raise S3ObjectError(f"invalid exclude_pattern {exclude_pattern!r}: {exc}") from exc
        self._sync(
            self._mapping(Direction.UPLOAD, check_hash, force_sync, exclude_pattern, delete),
            "upload",
        )
        return self.s3_uri

    @contextlib.contextmanager
    def open(self, mode: str = "r", encoding: str | None = "utf-8") -> Iterator[IO[Any]]:
        """Open the local copy: read modes download first, write modes upload on a clean exit."""
        if mode in _READ_MODES:
            self.download()
        elif mode in _UPDATE_MODES:
            if not mode.startswith("w"):
                try:
                    self.download()
                except RemoteNotFoundError:
                    if mode.startswith("r"):
                        raise
        elif mode not in _WRITE_MODES:
            raise S3ObjectError(f"unsupported open mode {mode!r}")
        local.ensure_parent(self._local_path)
        enc = None if "b" in mode else encoding
        with open(self._local_path, mode, encoding=enc) as f:
            yield f
        # Reached only when the with-block did not raise: a failed block uploads nothing.
        if mode not in _READ_MODES:
            self.upload()

    def exists(self) -> bool:
        """True when the object, or anything under the prefix, exists."""
        with self._engine() as engine:
            remote = engine.remote(self._mapping(Direction.DOWNLOAD, True, False))
            b, k = self._uri.bucket, self._uri.key
            if not self._uri.is_prefix:
                try:
                    remote.head(b, k)
                    return True
                except RemoteNotFoundError:
                    pass
            remote.bucket_exists(b)
            return any(True for _ in _first(remote.list_objects(b, self._uri.dir_prefix)))

    def delete(self) -> bool:
        """Delete the object, or every object under the prefix (batched); local files stay."""
        with self._engine() as engine:
            remote = engine.remote(self._mapping(Direction.DOWNLOAD, True, False))
            b, k = self._uri.bucket, self._uri.key
            listed = list(remote.list_objects(b, k))
            if self._uri.is_prefix:
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
                    f"delete {self.s3_uri}: {len(failed)} of {len(keys)} key(s) not deleted, "
                    f"e.g. {first[0]}: {first[1]}"
                )
            return True


def _first(it: Iterator[Any]) -> Iterator[Any]:
    for x in it:
        yield x
        return
