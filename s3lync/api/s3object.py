"""S3Object: the seed library API, a thin face over the engine."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import IO, Any, Literal, overload

from s3lync.api import direct
from s3lync.api import progress as progress_mod
from s3lync.api.compat import face_args
from s3lync.errors import (
    InvalidURIError,
    ObjectExistsError,
    PlanStaleError,
    RemoteNotFoundError,
    S3ObjectError,
    SyncError,
    UnsafeKeyError,
)
from s3lync.filters import INCLUDE, glob_reading, regex_problem
from s3lync.localfs import scan as local
from s3lync.mapping import Direction, Mapping
from s3lync.settings import Settings
from s3lync.sync.engine import Engine, raise_for_result
from s3lync.sync.plan import MappingPlan, OpKind
from s3lync.sync.policy import ApplyPolicy
from s3lync.sync.results import MappingResult, SyncResult
from s3lync.sync.run import RunOptions
from s3lync.sync.stages import single_target
from s3lync.upload_args import check_extra_args
from s3lync.uri import S3Uri, check_rel, parse_s3_uri

#: ``exclude_pattern`` / ``include_pattern``: one regex, or a list of them. Excludes are read
#: first, then includes; the last that matches a path decides (as ``aws s3 sync``'s filters).
ExcludePattern = str | Sequence[str] | None

log = logging.getLogger(__name__)

#: open() modes by what the file reads and writes (the overloads' types; the sets below say what
#: each mode does).
TextMode = Literal["r", "rt", "w", "wt", "x", "xt", "a", "at", "r+", "a+", "w+"]
BinaryMode = Literal["rb", "wb", "xb", "ab", "rb+", "r+b", "ab+", "a+b", "wb+", "w+b"]

_READ_MODES = {"r", "rb", "rt"}
_WRITE_MODES = {"w", "wb", "wt", "x", "xb", "xt"}
_UPDATE_MODES = {"a", "ab", "at", "r+", "rb+", "r+b", "a+", "ab+", "a+b", "w+", "wb+", "w+b"}


class S3Object:
    """An S3 object or prefix paired with a local file or folder."""

    @face_args("S3Object", "boto3_client", "progress_mode")
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
        progress: bool | progress_mod.ProgressCallback = False,
        policy: ApplyPolicy | None = None,
        settings: Settings | None = None,
        extra_args: dict[str, str] | None = None,
    ) -> None:
        # The environment is read here, once, and passed down to every transfer.
        self.settings = settings or Settings.from_env()
        # The engine enforces it on every download/upload (e.g. ApplyPolicy(max_delete=10)).
        self.policy = policy or ApplyPolicy()
        self._uri: S3Uri = parse_s3_uri(s3_uri)
        self.s3_uri = s3_uri
        # "models/" (or an existing folder) means "inside it" for a single object, as for aws s3 cp.
        self._into = False
        if local_path is None:
            key = self._uri.key.rstrip("/")
            default = self.settings.objects_dir / self._uri.bucket
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
        else:
            self._into = os.fspath(local_path).endswith(("/", os.sep))
        self._local_path = local.as_abs(local_path)
        self.region_name = region_name or self.settings.aws_region
        self.endpoint_url = endpoint_url
        self.profile = profile
        self._client = client
        self._max_workers = max_workers
        self.follow_symlinks = follow_symlinks
        # Checked now, so a bad key fails at construction, not at the first upload.
        self.extra_args = check_extra_args(extra_args, f"S3Object({s3_uri!r})")
        self.progress = progress
        # What the last download()/upload() did; set even when it then raised.
        self.last_result: SyncResult | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.s3_uri!r}, local_path={self.local_path!r})"

    def __str__(self) -> str:
        """The S3 URI, as in 0.4 (``print(obj)``, f-strings, logs)."""
        return self.s3_uri

    def __fspath__(self) -> str:
        """The local path: ``open(obj)``, ``pd.read_csv(obj)`` and ``os.path`` take the object.

        Nothing is synced by this: call ``download()`` first (or use ``obj.open()``).
        """
        return self.local_path

    @property
    def bucket(self) -> str:
        """The bucket name."""
        return self._uri.bucket

    @property
    def key(self) -> str:
        """The key (or prefix, ending in ``/``) in the bucket; empty for a whole bucket."""
        return self._uri.key

    @property
    def local_path(self) -> str:
        """The local file or folder this object syncs with.

        A single object whose ``local_path`` ends in ``/`` lives inside that folder; one whose
        ``local_path`` is an existing folder is known to be inside it once downloaded or opened
        (until then the key could still be a prefix).
        """
        if self._into and not self._uri.is_prefix and not os.path.isdir(self._local_path):
            return single_target(self._local_path + os.sep, self._uri.key)
        return self._local_path

    @contextlib.contextmanager
    def _engine_scope(self) -> Iterator[Engine]:
        """The engine for one call (the async face overrides this with its shared one)."""
        with Engine(
            client=self._client, max_workers=self._max_workers, settings=self.settings
        ) as engine:
            yield engine

    def _mapping(
        self,
        direction: Direction,
        check_hash: bool | str,
        force_sync: bool,
        exclude: tuple[str, ...] = (),
        delete: bool = False,
        include: tuple[str, ...] = (),
    ) -> Mapping:
        into = self._into or (direction is Direction.DOWNLOAD and os.path.isdir(self._local_path))
        strict = check_hash == "strict"
        if not isinstance(check_hash, bool) and not strict:
            raise TypeError(f"check_hash must be True, False or 'strict', not {check_hash!r}")
        return Mapping(
            s3_uri=self.s3_uri,
            # The engine reads a trailing separator as "the object goes inside this folder".
            local=self._local_path + (os.sep if into else ""),
            direction=direction,
            exclude=exclude,
            # After the excludes: an include takes back what they left out (the last match wins).
            filters=tuple((INCLUDE, p) for p in include),
            force_sync=force_sync,
            delete=delete,
            check_hash=bool(check_hash),
            require_verified=strict,
            follow_symlinks=self.follow_symlinks,
            region=self.region_name,
            endpoint_url=self.endpoint_url,
            profile=self.profile,
            extra_args=self.extra_args,
        )

    def _sync(
        self,
        mapping: Mapping,
        action: str,
        *,
        progress: bool | progress_mod.ProgressCallback | None = None,
        cancel: threading.Event | None = None,
        create_only: bool = False,
        base: _Base | None = None,
    ) -> MappingResult:
        """Plan and execute one mapping; ``base``: the upload may replace only that version."""
        counter = progress_mod.for_library(self.progress if progress is None else progress)
        # Set before anything can raise: a refused or failed call leaves what it did (nothing,
        # or the counts below), never the previous call's result.
        self.last_result = SyncResult()
        # One call is one run: the policy's deletion limit, the breaker and the cancel event
        # are this call's alone, also on the async face's shared engine.
        options = RunOptions(
            policy=self.policy,
            cancel=cancel,
            subscribers=(counter,) if counter is not None else (),
            missing_source_raises=True,
            create_only=create_only,
        )
        with self._engine_scope() as engine:
            plan = engine.plan([mapping], options)
            mplan = plan.mappings[0]
            self.last_result = SyncResult(unchanged=mplan.unchanged)
            if base is not None:
                self._check_base(mplan, base)
            elif create_only and [o.kind for o in mplan.operations] != [OpKind.CREATE]:
                # The store may ignore If-None-Match (rclone does): the plan's HEAD saw it.
                raise ObjectExistsError(f"open('x'): {self.s3_uri} already exists")
            if cancel is not None and cancel.is_set():
                raise_cancelled(action, self.s3_uri)
            if counter is not None:
                counter.begin(len(mplan.operations), mplan.bytes_to_transfer)
            try:
                (result,) = engine.apply(plan, options)
            finally:
                if counter is not None:
                    counter.finish()
        for p in result.plan.problems:
            if not p.fatal:
                log.warning("%s", p.message)
        self.last_result = SyncResult.of(result)
        self._raise_for(result, action, base, create_only)
        log.info(
            "%s %s: %d transferred (%d unverified), %d deleted, %d unchanged",
            action,
            self.s3_uri,
            result.transferred,
            len(result.unverified),
            result.deleted,
            result.plan.unchanged,
        )
        return result

    def _raise_for(
        self, result: MappingResult, action: str, base: _Base | None, create_only: bool
    ) -> None:
        """Raise the run's failures; a conditional write another writer beat says so."""
        try:
            raise_for_result(result, f"{action} {self.s3_uri}")
        except (SyncError, PlanStaleError) as exc:
            conflict = isinstance(exc, PlanStaleError) or "PreconditionFailed" in str(exc)
            if base is not None and conflict:
                # The HEAD just before the PUT, or the store's If-Match / If-None-Match, saw
                # another writer's version: the upload was refused, the local copy kept.
                raise base.conflict(self.s3_uri, "the upload was refused", None) from exc
            if create_only and "PreconditionFailed" in str(exc):
                raise ObjectExistsError(f"open('x'): {self.s3_uri} already exists") from exc
            raise

    def _check_base(self, mplan: MappingPlan, base: _Base) -> None:
        """Refuse (PlanStaleError) an upload that would replace a version other than ``base``."""
        ops = mplan.transfers
        if not ops:
            return  # the store already holds exactly these bytes: nothing to upload, nothing lost
        now = ops[0].target_etag  # None: no object there now
        if now != base.etag:
            raise base.conflict(self.s3_uri, "nothing was uploaded", now, deleted=now is None)

    @face_args("download", "use_checksum", "excludes", "mirror", "progress_mode")
    def download(
        self,
        check_hash: bool | str = True,
        force_sync: bool = False,
        exclude_pattern: ExcludePattern = "",
        *,
        delete: bool = False,
        progress: bool | progress_mod.ProgressCallback | None = None,
        cancel: threading.Event | None = None,
        include_pattern: ExcludePattern = "",
    ) -> str:
        """Bring the local side up to date with S3 (only what differs); returns the local path.

        For a single object that is the file's path, also when ``local_path`` is a folder.
        ``delete=True`` mirrors: local files missing from S3 are deleted, unchanged files are still
        skipped (``force_sync`` transfers everything). ``last_result`` says what was done.
        ``check_hash``: True verifies every transfer and warns when one cannot be verified;
        ``"strict"`` makes that an :class:`UnverifiedError`; False skips verification.
        """
        mapping = self._mapping(
            Direction.DOWNLOAD,
            check_hash,
            force_sync,
            _patterns(exclude_pattern),
            delete,
            _patterns(include_pattern, "include"),
        )
        result = self._sync(mapping, "download", progress=progress, cancel=cancel)
        if not result.plan.is_dir:
            # From now on this object is known to be a file: local_path says where it is.
            self._local_path = single_target(mapping.local, self._uri.key)
            self._into = False
        return self._local_path

    @face_args("upload", "use_checksum", "excludes", "mirror", "progress_mode")
    def upload(
        self,
        check_hash: bool | str = True,
        exclude_pattern: ExcludePattern = "",
        force_sync: bool = False,
        *,
        delete: bool = False,
        progress: bool | progress_mod.ProgressCallback | None = None,
        cancel: threading.Event | None = None,
        include_pattern: ExcludePattern = "",
    ) -> str:
        """Bring S3 up to date with the local side (only what differs); returns the S3 URI.

        ``delete=True`` mirrors: objects missing locally are deleted, unchanged files are still
        skipped. ``last_result`` says what was done.
        """
        mapping = self._mapping(
            Direction.UPLOAD,
            check_hash,
            force_sync,
            _patterns(exclude_pattern),
            delete,
            _patterns(include_pattern, "include"),
        )
        self._sync(mapping, "upload", progress=progress, cancel=cancel)
        return self.s3_uri

    def _object_path(self) -> str:
        """The local file of this (single) object: inside local_path when that is a folder."""
        path = single_target(self._mapping(Direction.DOWNLOAD, True, False).local, self._uri.key)
        self._local_path, self._into = path, False
        return path

    @overload
    def open(
        self, mode: TextMode = "r", encoding: str | None = "utf-8"
    ) -> contextlib.AbstractContextManager[IO[str]]: ...
    @overload
    def open(
        self, mode: BinaryMode, encoding: str | None = "utf-8"
    ) -> contextlib.AbstractContextManager[IO[bytes]]: ...
    @overload
    def open(
        self, mode: str, encoding: str | None = "utf-8"
    ) -> contextlib.AbstractContextManager[IO[Any]]: ...
    def open(
        self, mode: str = "r", encoding: str | None = "utf-8"
    ) -> contextlib.AbstractContextManager[IO[Any]]:
        """Open the local copy: read modes download first, write modes upload on a clean exit.

        Typed by mode, as the built-in ``open``: ``"r"``/``"w"``/... give ``IO[str]``,
        ``"rb"``/``"wb"``/... ``IO[bytes]``.
        """
        return self._open(mode, encoding)

    @contextlib.contextmanager
    def _open(self, mode: str, encoding: str | None) -> Iterator[IO[Any]]:
        if mode not in _READ_MODES | _WRITE_MODES | _UPDATE_MODES:
            raise S3ObjectError(f"unsupported open mode {mode!r}")
        if self._uri.is_prefix:
            raise S3ObjectError(f"open() needs an object, not a prefix: {self.s3_uri}")
        create_only = mode.startswith("x")
        base: _Base | None = None
        if not mode.startswith("w"):
            with self._engine_scope() as engine:
                remote = engine.remote(self._mapping(Direction.DOWNLOAD, True, False))
                exists = direct.is_object(remote, self._uri, mode, self.s3_uri)
            if create_only:
                if exists:
                    raise ObjectExistsError(f"open({mode!r}): {self.s3_uri} already exists")
            elif exists:
                got = self._sync(self._mapping(Direction.DOWNLOAD, True, False), "download")
                if not got.plan.is_dir:
                    self._local_path = single_target(got.plan.mapping.local, self._uri.key)
                    self._into = False
                    # The version the local copy holds: downloaded now (its GET carried
                    # If-Match with this ETag) or found equal to it. The upload may replace
                    # only that one.
                    base = _Base(got.plan.remote_etag, mode, self._local_path)
            elif mode.startswith("r"):
                raise RemoteNotFoundError(f"open({mode!r}) {self.s3_uri}: no such object")
            elif mode not in _READ_MODES:
                # Appending to nothing: the upload may only create (If-None-Match: *).
                base = _Base(None, mode, self._object_path())
        path = self._object_path()
        local.ensure_parent(path)
        enc = None if "b" in mode else encoding
        with open(path, mode, encoding=enc) as f:
            yield f
        # Reached only when the with-block did not raise: a failed block uploads nothing.
        if mode not in _READ_MODES:
            mapping = self._mapping(Direction.UPLOAD, True, False)
            only_create = create_only or (base is not None and base.etag is None)
            self._sync(mapping, "upload", create_only=only_create, base=base)

    def exists(self) -> bool:
        """True when the object, or anything under the prefix, exists."""
        with self._engine_scope() as engine:
            remote = engine.remote(self._mapping(Direction.DOWNLOAD, True, False))
            return direct.exists(remote, self._uri)

    def delete(self) -> bool:
        """Delete the object, or every object under the prefix (batched); local files stay."""
        with self._engine_scope() as engine:
            remote = engine.remote(self._mapping(Direction.DOWNLOAD, True, False))
            return direct.delete(remote, self._uri, self.s3_uri)


@dataclass(frozen=True)
class _Base:
    """The version ``open("a")``/``open("r+")`` read: its upload may replace only that one.

    ``etag`` is None when the object did not exist (then the upload may only create it).
    """

    etag: str | None
    mode: str
    local_path: str

    def conflict(
        self, uri: str, outcome: str, now: str | None = None, *, deleted: bool = False
    ) -> PlanStaleError:
        """The error for another writer's version found where ``etag`` was expected."""
        if self.etag is None:
            what = "another writer created it after open() found no object"
        elif deleted:
            what = f"it was deleted after s3lync downloaded it (ETag {self.etag})"
        else:
            seen = f", now {now}" if now else ""
            what = f"another writer replaced it after s3lync downloaded it (ETag {self.etag}{seen})"
        return PlanStaleError(
            f"open({self.mode!r}) {uri}: {what}; {outcome}, so their version stays in the "
            f"bucket and yours is kept in {self.local_path} (merge them and upload again)"
        )


def raise_cancelled(action: str, uri: str) -> None:
    """Raise the error a cancelled run ends with."""
    from s3lync.errors import TransferCancelledError

    raise TransferCancelledError(f"{action} {uri}: cancelled")


def _patterns(pattern: ExcludePattern, key: str = "exclude") -> tuple[str, ...]:
    """One regex or a list of them, each checked now so a typo fails before any transfer (a
    glob-looking one gets the regex it means as a hint, or a warning when it is a valid regex)."""
    if not pattern:
        return ()
    patterns = (pattern,) if isinstance(pattern, str) else tuple(pattern)
    for p in patterns:
        if not isinstance(p, str):
            raise S3ObjectError(f"{key}_pattern: expected a regex string, got {p!r}")
        problem = regex_problem(p, key, style="python")
        if problem is not None:
            raise S3ObjectError(f"invalid {key}_pattern: {problem}")
        if (reading := glob_reading(p, key, style="python")) is not None:
            log.warning("%s_pattern: %s", key, reading)
    return tuple(p for p in patterns if p)
