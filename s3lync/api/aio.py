"""AsyncS3Object: the S3Object API, awaitable, on the same engine run in worker threads.

There is one engine and no second implementation: each call runs the synchronous engine in a
thread of a process-wide :class:`TransferPool`, so the event loop never blocks. Every object of
one worker count shares that pool's threads, its engines (one Remote and one connection pool per
endpoint) and the process's transfer scheduler and so a bounded number of connections: ``max_workers``
transfer threads plus ``max_workers`` planning threads, within the client pools' ``2 * w + 4``.

Cancelling a task stops the run: nothing new starts, streams stop at their next chunk and remove
their temporaries, and the caller gets ``CancelledError`` once the workers have let go (or after
:data:`CANCEL_GRACE` seconds, for a worker stuck in a socket read, whose temporary is removed
when the read returns). Only whole, verified files are ever left in place.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import sys
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import IO, Any, TypeVar, overload

from s3lync.api import progress as progress_mod
from s3lync.api.compat import face_args
from s3lync.api.s3object import BinaryMode, ExcludePattern, S3Object, TextMode
from s3lync.errors import TransferCancelledError
from s3lync.settings import Settings
from s3lync.sync.engine import Engine
from s3lync.sync.policy import ApplyPolicy

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Seconds a cancelled call waits for its workers to stop before raising CancelledError.
CANCEL_GRACE = 10.0


class TransferPool:
    """Threads and engines shared by every AsyncS3Object with the same worker count."""

    def __init__(self, max_workers: int) -> None:
        self.max_workers = max_workers
        # Transfers of every object queue here: at most max_workers move bytes at once.
        self.transfers = ThreadPoolExecutor(max_workers, thread_name_prefix="s3lync-aio")
        # Planning (listing, HEADs) and each call's driver: bounded too, never waited on by
        # transfers, so the two pools cannot deadlock.
        self.drivers = ThreadPoolExecutor(max_workers, thread_name_prefix="s3lync-aio-plan")
        self._engines: dict[tuple[int, Settings], tuple[Engine, Any]] = {}
        self._users: dict[tuple[int, Settings], int] = {}
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def engine(self, client: Any, settings: Settings) -> Iterator[Engine]:
        """The shared engine for this client and these settings (made on first use)."""
        key = (id(client) if client is not None else 0, settings)
        with self._lock:
            entry = self._engines.get(key)
            if entry is None:
                self._close_idle()
                entry = (
                    Engine(
                        client=client,
                        max_workers=self.max_workers,
                        pool=self.transfers,
                        settings=settings,
                    ),
                    client,  # kept so id(client) names this client while the entry lives
                )
                # Opened now, under the lock: concurrent first calls then share one connection
                # to the hash cache and one to the temporaries registry.
                _ = entry[0].cache, entry[0].temps
                self._engines[key] = entry
            self._users[key] = self._users.get(key, 0) + 1
        try:
            yield entry[0]
        finally:
            with self._lock:
                self._users[key] -= 1

    def engines(self) -> list[Engine]:
        """The engines made so far (for tests and diagnostics)."""
        with self._lock:
            return [e for e, _ in self._engines.values()]

    def _close_idle(self) -> None:
        # A new cache location (a test's own XDG_CACHE_HOME, another client) retires engines
        # nobody is using, so their SQLite connections and transfer managers do not pile up.
        for key in [k for k, n in self._users.items() if n == 0]:
            engine, _ = self._engines.pop(key)
            del self._users[key]
            engine.close()

    def submit(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> Future[T]:
        """Run a blocking call on a planning thread."""
        return self.drivers.submit(functools.partial(fn, *args, **kwargs))


_pools: dict[int, TransferPool] = {}
_pools_lock = threading.Lock()


def shared_pool(max_workers: int | None = None, settings: Settings | None = None) -> TransferPool:
    """The process-wide pool for ``max_workers`` (default: the settings' ``max_workers``)."""
    workers = max_workers or (settings or Settings.from_env()).max_workers
    with _pools_lock:
        pool = _pools.get(workers)
        if pool is None:
            pool = _pools[workers] = TransferPool(workers)
        return pool


class _PooledObject(S3Object):
    """An S3Object whose calls use the shared pool's engine instead of one of their own."""

    def __init__(self, *args: Any, pool: TransferPool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pool = pool

    @contextlib.contextmanager
    def _engine_scope(self) -> Iterator[Engine]:
        with self.pool.engine(self._client, self.settings) as engine:
            yield engine


class AsyncS3Object:
    """:class:`~s3lync.S3Object` for asyncio: same constructor, awaitable methods."""

    @face_args("AsyncS3Object", "boto3_client", "progress_mode")
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
        settings = settings or Settings.from_env()
        self._pool = shared_pool(max_workers, settings)
        self._obj = _PooledObject(
            s3_uri,
            local_path,
            region_name,
            endpoint_url=endpoint_url,
            profile=profile,
            client=client,
            max_workers=self._pool.max_workers,
            follow_symlinks=follow_symlinks,
            progress=progress,
            policy=policy,
            settings=settings,
            extra_args=extra_args,
            pool=self._pool,
        )

    def __repr__(self) -> str:
        return f"AsyncS3Object({self.s3_uri!r}, local_path={self.local_path!r})"

    def __str__(self) -> str:
        """The S3 URI, as in 0.4."""
        return self._obj.s3_uri

    def __fspath__(self) -> str:
        """The local path (nothing is synced by this: ``await obj.download()`` first)."""
        return self._obj.local_path

    @property
    def s3_uri(self) -> str:
        """The S3 URI this object names."""
        return self._obj.s3_uri

    @property
    def bucket(self) -> str:
        """The bucket name."""
        return self._obj.bucket

    @property
    def key(self) -> str:
        """The key (or prefix, ending in ``/``) in the bucket; empty for a whole bucket."""
        return self._obj.key

    @property
    def local_path(self) -> str:
        """The local file or folder this object syncs with."""
        return self._obj.local_path

    @property
    def last_result(self) -> Any:
        """What the last download()/upload() did (a SyncResult), as for S3Object."""
        return self._obj.last_result

    @property
    def pool(self) -> TransferPool:
        """The shared transfer pool this object's calls run on."""
        return self._pool

    async def _run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a blocking call on the pool; a read-only call is simply abandoned on cancel."""
        return await asyncio.wrap_future(self._pool.submit(fn, *args, **kwargs))

    async def _run_cancellable(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a transfer on the pool; on cancel, stop it and wait for its workers to let go."""
        cancel = threading.Event()
        cf = self._pool.submit(fn, *args, cancel=cancel, **kwargs)
        fut = asyncio.wrap_future(cf)
        try:
            return await asyncio.shield(fut)
        except asyncio.CancelledError:
            cancel.set()
            cf.cancel()  # not started yet: it never will be
            done, _ = await asyncio.wait({fut}, timeout=CANCEL_GRACE)
            if not done:
                log.warning(
                    "%s: cancelled; a transfer is still stopping (it removes its temporary "
                    "when its read returns)",
                    self.s3_uri,
                )
            elif not fut.cancelled() and fut.exception() is not None:
                exc = fut.exception()
                if not isinstance(exc, TransferCancelledError):
                    log.debug("%s: cancelled run ended with %r", self.s3_uri, exc)
            raise

    @face_args("download", "use_checksum", "excludes", "mirror", "progress_mode")
    async def download(
        self,
        check_hash: bool | str = True,
        force_sync: bool = False,
        exclude_pattern: ExcludePattern = "",
        *,
        delete: bool = False,
        progress: bool | progress_mod.ProgressCallback | None = None,
        include_pattern: ExcludePattern = "",
    ) -> str:
        """Bring the local side up to date with S3; returns the local path."""
        return await self._run_cancellable(
            self._obj.download,
            check_hash,
            force_sync,
            exclude_pattern,
            delete=delete,
            progress=progress,
            include_pattern=include_pattern,
        )

    @face_args("upload", "use_checksum", "excludes", "mirror", "progress_mode")
    async def upload(
        self,
        check_hash: bool | str = True,
        exclude_pattern: ExcludePattern = "",
        force_sync: bool = False,
        *,
        delete: bool = False,
        progress: bool | progress_mod.ProgressCallback | None = None,
        include_pattern: ExcludePattern = "",
    ) -> str:
        """Bring S3 up to date with the local side; returns the S3 URI."""
        return await self._run_cancellable(
            self._obj.upload,
            check_hash,
            exclude_pattern,
            force_sync,
            delete=delete,
            progress=progress,
            include_pattern=include_pattern,
        )

    async def exists(self) -> bool:
        """True when the object, or anything under the prefix, exists."""
        return await self._run(self._obj.exists)

    async def delete(self) -> bool:
        """Delete the object, or every object under the prefix; local files stay."""
        return await self._run(self._obj.delete)

    @overload
    def open(
        self, mode: TextMode = "r", encoding: str | None = "utf-8"
    ) -> contextlib.AbstractAsyncContextManager[IO[str]]: ...
    @overload
    def open(
        self, mode: BinaryMode, encoding: str | None = "utf-8"
    ) -> contextlib.AbstractAsyncContextManager[IO[bytes]]: ...
    @overload
    def open(
        self, mode: str, encoding: str | None = "utf-8"
    ) -> contextlib.AbstractAsyncContextManager[IO[Any]]: ...
    def open(
        self, mode: str = "r", encoding: str | None = "utf-8"
    ) -> contextlib.AbstractAsyncContextManager[IO[Any]]:
        """``async with obj.open(mode) as f``: download on enter, upload on a clean exit.

        The yielded file is an ordinary local file (its reads and writes are local disk I/O),
        typed by mode: ``IO[str]`` for text modes, ``IO[bytes]`` for ``"rb"``/``"wb"``/...
        """
        return self._open(mode, encoding)

    @contextlib.asynccontextmanager
    async def _open(self, mode: str, encoding: str | None) -> AsyncIterator[IO[Any]]:
        cm = self._obj.open(mode, encoding)
        f = await self._run(cm.__enter__)
        try:
            yield f
        except BaseException:
            # The block failed: the sync context manager closes the file and uploads nothing.
            exc_info = sys.exc_info()
            await self._run(cm.__exit__, *exc_info)
            raise
        await self._run(cm.__exit__, None, None, None)
