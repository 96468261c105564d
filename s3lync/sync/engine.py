"""The one entry both faces use: ``plan(mappings, options)`` then ``apply(plan, options)``.

The engine holds what runs share (Remotes, the hash cache, the temporaries registry); each run's
options and state are its :class:`~s3lync.sync.run.RunOptions`. Planning one mapping runs the
stages of ``stages.py`` in order; executing it is the Executor's (``executor.py``).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import threading
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Executor as FuturesExecutor
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

from s3lync.errors import (
    EndpointDownError,
    LockedError,
    RemoteNotFoundError,
    S3lyncError,
    S3ObjectError,
    SyncError,
    UnsafeKeyError,
)
from s3lync.localfs import scan as local
from s3lync.localfs.hashcache import HashCache, migrate_legacy_state
from s3lync.localfs.tempfiles import TempRegistry
from s3lync.mapping import Direction, Mapping
from s3lync.settings import Settings
from s3lync.store.clients import open_remote
from s3lync.store.remote import Remote
from s3lync.sync import gcpause, planner, stages
from s3lync.sync import shard as sharding
from s3lync.sync.digests import complete, gather_evidence, learn_layouts, local_digests
from s3lync.sync.executor import Executor
from s3lync.sync.pairing import pair
from s3lync.sync.plan import Comparison, MappingPlan, Plan, writes_into
from s3lync.sync.results import MappingResult
from s3lync.sync.run import RunOptions
from s3lync.uri import parse_s3_uri

log = logging.getLogger(__name__)


class Engine:
    """What runs share: clients (one Remote per endpoint), the hash cache, the temporaries
    registry and the worker count. A run's own options and state are its RunOptions (run.py);
    the engine has no attribute a caller sets (``__slots__``)."""

    __slots__ = (
        "_cache",
        "_client",
        "_lock",
        "_override",
        "_remotes",
        "_temps",
        "max_workers",
        "pool",
        "settings",
    )

    def __init__(
        self,
        *,
        client: Any = None,
        max_workers: int | None = None,
        cache: HashCache | None = None,
        region: str | None = None,
        endpoint_url: str | None = None,
        profile: str | None = None,
        pool: FuturesExecutor | None = None,
        settings: Settings | None = None,
    ) -> None:
        # Read once here and passed down: nothing below reads the environment.
        self.settings = settings or Settings.from_env()
        self.max_workers = max_workers or self.settings.max_workers
        # A transfer pool shared with other engines (the async face's); None: one per run.
        self.pool = pool
        self._client = client
        self._cache = cache
        self._temps: TempRegistry | None = None
        self._remotes: dict[tuple[Any, ...], Remote] = {}
        self._lock = threading.Lock()
        # Overrides (CLI --region/--endpoint-url/--profile) win over each mapping's own settings.
        self._override = (region, endpoint_url, profile)

    # -- shared resources ---------------------------------------------------------------

    @property
    def cache(self) -> HashCache:
        """The persistent hash cache (opened on first use)."""
        with self._lock:  # the scan-ahead thread may open it first
            if self._cache is None:
                state = self.settings.state_dir / "hashes.sqlite3"
                migrate_legacy_state(self.settings.cache_dir, state)
                self._cache = HashCache(state)
            return self._cache

    @property
    def temps(self) -> TempRegistry:
        """The registry of download temporaries s3lync created (opened on first use)."""
        with self._lock:  # the scan-ahead thread may open it first
            if self._temps is None:
                self._temps = TempRegistry(self.settings.state_dir / "temporaries.sqlite3")
            return self._temps

    def remote(self, mapping: Mapping) -> Remote:
        """One Remote per (region, endpoint, profile), reused across mappings."""
        region = self._override[0] or mapping.region or self.settings.aws_region
        endpoint = self._override[1] or mapping.endpoint_url
        profile = self._override[2] or mapping.profile
        timeouts = (mapping.connect_timeout, mapping.read_timeout)
        key = (region, endpoint, profile, timeouts)
        with self._lock:
            r = self._remotes.get(key)
            if r is None:
                if self._client is not None:
                    # A caller's own client carries its own settings: use it for everything.
                    r = Remote(self._client, self.max_workers, settings=self.settings)
                else:
                    workers = self.max_workers
                    settings = self.settings
                    r = open_remote(region, endpoint, profile, workers, timeouts, settings)
                self._remotes[key] = r
            return r

    def close(self) -> None:
        """Release transfer threads and the cache connection."""
        for r in self._remotes.values():
            r.close()
        self._remotes.clear()
        if self._cache is not None:
            self._cache.close()
            self._cache = None
        if self._temps is not None:
            self._temps.close()
            self._temps = None

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- planning -----------------------------------------------------------------------

    def plan_mapping(
        self, mapping: Mapping, options: RunOptions, *, fed_by: str | None = None
    ) -> MappingPlan:
        """Snapshot both sides of one mapping and diff them into a plan (changes nothing).

        The stages, in order (stages.py): list (a lock pins the listing) -> scan -> pair
        (include/exclude) -> shard -> digests and layouts -> decide. With ``options.shard``,
        only the paths that shard owns are hashed, compared and planned.

        A download source holding nothing is a problem that blocks the mapping, or only a note
        when the mapping or the policy allows a missing source or ``fed_by`` names an earlier
        mapping of the same run that writes it (RemoteNotFoundError instead with
        ``options.missing_source_raises``).
        """
        with gcpause.paused():
            return self._plan_mapping(mapping, options, fed_by)

    def _plan_mapping(
        self, mapping: Mapping, options: RunOptions, fed_by: str | None
    ) -> MappingPlan:
        """The stages of :meth:`plan_mapping`, in order."""
        mapping = options.policy.strict(mapping)
        allow_empty_source = options.policy.allow_empty_source
        remote = self.remote(mapping)
        ahead = self._scan_ahead(mapping)
        try:
            listing = self._list(remote, mapping, options, fed_by)
        except BaseException:
            if ahead is not None:
                # Done with the cache and the temporaries' registry before the caller closes
                # the engine (a thread still reading would open them again on a closed engine).
                ahead.wait()
            raise
        scanned = ahead.result(listing) if ahead is not None else None
        warmed = scanned is not None and ahead is not None and ahead.warmed
        if scanned is None:
            skip = (
                self.temps.registered_under(listing.local_root) if listing.is_dir else frozenset()
            )
            scanned = stages.scan(listing, mapping, skip)
        snap, scanned_at = scanned
        pairing = pair(
            mapping, listing.uri.bucket, listing.root_key, listing.is_dir, snap, listing.objects
        )
        pairing.problems.extend(listing.problems)
        shard = options.planned_shard
        holders: frozenset[str] = frozenset()
        if shard is not None:
            # Before any digest or HEAD: a shard hashes and compares only its own paths.
            source_nonempty, holders = sharding.restrict(pairing, shard)
            # A shard whose share of a non-empty source is empty is not an empty source.
            allow_empty_source = allow_empty_source or source_nonempty
        layouts = self.cache.layouts()
        digests = local_digests(pairing, self.cache, layouts, scanned_at, preloaded=warmed)
        evidence = gather_evidence(pairing, digests, layouts, listing.heads)
        complete(pairing, digests, evidence)
        learn_layouts(remote, self.cache, pairing, digests, evidence, self.max_workers)
        mplan = planner.decide(
            pairing,
            digests,
            evidence=evidence,
            allow_empty_source=allow_empty_source,
            verbose=options.verbose,
        )
        _warn_no_etags(mplan, options)
        return sharding.finish(mplan, shard, holders) if shard is not None else mplan

    def _scan_ahead(self, mapping: Mapping) -> stages.ScanAhead | None:
        """The scan stage started beside the listing where the listing cannot move it: a no-op
        re-sync then waits for the store or for its disk, not for both one after the other."""
        try:
            uri = parse_s3_uri(mapping.s3_uri)
            target = stages.scan_target(mapping, uri)
        except Exception:  # the list stage reports a bad URI or local path in its own words
            return None
        if target is None:
            return None
        return stages.ScanAhead(
            uri, target, mapping, lambda root: self.temps.registered_under(root), self._warm
        )

    def _warm(self, root: str) -> None:
        """Read the hash cache's rows under ``root`` and its layouts (the digest stage's reads)."""
        self.cache.preload(root)
        self.cache.layouts()

    def _list(
        self, remote: Remote, mapping: Mapping, options: RunOptions, fed_by: str | None
    ) -> stages.Listing:
        """The list stage: the remote side, a missing download source judged."""
        uri = parse_s3_uri(mapping.s3_uri)
        if mapping.direction is not Direction.DOWNLOAD:
            return stages.list_upload(remote, mapping, uri)
        verified = options.state.lock_verified
        listed = stages.list_download(remote, mapping, uri, options.lock, verified)
        listing = stages.locate_download(mapping, uri, listed)
        if listing.objects:
            return listing
        allow_empty = options.policy.allow_empty_source
        if options.missing_source_raises and not allow_empty:
            raise RemoteNotFoundError(f"download {uri}: no such object or prefix")
        missing = stages.missing_source(mapping, uri, listing.is_dir, fed_by, allow_empty)
        return replace(listing, problems=(*listing.problems, missing))

    def verify_lock(self, mappings: Iterable[Mapping], options: RunOptions) -> None:
        """List every unversioned mapping ``options.lock`` pins and raise LockDriftError on drift.

        Run before anything changes, so a drifted second mapping cannot leave the first applied;
        the run's plans then take the pinned objects without listing again.
        """
        lock = options.lock
        if lock is None:
            return
        for m in mappings:
            pinned = lock.find(m)
            if m.direction is not Direction.DOWNLOAD or pinned is None or pinned.versioned:
                continue
            uri = parse_s3_uri(m.s3_uri)
            listed = list(self.remote(m).list_objects(uri.bucket, uri.key))
            stages.check_pinned(lock, m, pinned, listed)
            options.state.lock_verified.add(options.policy.strict(m))

    def plan(
        self, mappings: Iterable[Mapping], options: RunOptions, *, manifest: str | None = None
    ) -> Plan:
        """Plan several mappings (each listing once, in order) into one Plan, changing nothing."""
        todo = list(mappings)
        plans = tuple(
            self.plan_mapping(m, options, fed_by=feeder(todo[:i], m)) for i, m in enumerate(todo)
        )
        return Plan(
            mappings=plans,
            manifest=manifest,
            created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            meta=options.meta,
        )

    # -- execution ----------------------------------------------------------------------

    def execute(self, mplan: MappingPlan, options: RunOptions) -> MappingResult:
        """Execute one mapping's plan under the run's options (``options.cancel`` stops it).

        A plan with a blocking problem is refused as a whole; one the policy forbids (too many
        deletions, counting the run's earlier ones) raises ApplyRefusedError before anything
        changes.
        """
        if mplan.blocking:
            return MappingResult(plan=mplan)
        options.check_deletes(mplan)
        mplan = replace(mplan, mapping=options.policy.strict(mplan.mapping))
        ex = Executor(
            self.remote(mplan.mapping),
            self.cache,
            max_workers=self.max_workers,
            subscribers=options.subscribers,
            temps=self.temps,
            pool=self.pool,
            cancel=options.cancel,
            create_only=options.create_only,
            breaker=options.breaker,
        )
        result = ex.execute(mplan)
        options.spend(result.deleted)
        return result

    def apply(self, plan: Plan, options: RunOptions) -> list[MappingResult]:
        """Execute a plan's mappings in order under one run's options (its deletion budget)."""
        return [self.execute(mp, options) for mp in plan.mappings]


def _warn_no_etags(mplan: MappingPlan, options: RunOptions) -> None:
    """Say once per mapping and run that its store gives no ETags (content comparison is off)."""
    mapping = mplan.mapping
    warned = options.state.warned_no_etag
    if mplan.comparison is not Comparison.SIZE_AND_TIME or mapping in warned:
        return
    warned.add(mapping)
    log.warning(
        "%s: the store gives no ETags, so content comparison is off: files are compared "
        "by size and modification time instead (downloads keep the object's "
        "LastModified as their mtime; an upload is current when its object is not older "
        "than the file), and transfers cannot be verified by an ETag",
        mapping.s3_uri,
    )


def feeder(earlier: Sequence[Mapping], mapping: Mapping) -> str | None:
    """The label of the last of ``earlier`` whose target is ``mapping``'s source, if any."""
    for m in reversed(earlier):
        if writes_into(m, mapping):
            return m.label
    return None


@contextlib.contextmanager
def run_lock(source: str, timeout: float = 0.0, settings: Settings | None = None) -> Iterator[None]:
    """Hold the one-run-at-a-time lock for ``source`` (a manifest path), or raise LockedError.

    A lock that cannot be created (an unusable cache folder) is an error, never skipped: a
    second apply could otherwise run alongside this one.
    """
    digest = hashlib.sha256(os.path.abspath(source).encode()).hexdigest()[:16]
    settings = settings or Settings.from_env()
    path = str(settings.state_dir / "locks" / f"{digest}.lock")
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(local.FileLock(path, timeout))
        except local.LockBusyError as exc:
            raise LockedError(
                f"another s3lync apply holds the lock for {source} ({exc.holder or 'unknown'}, "
                f"lock file {exc.path}); wait for it or pass --lock-timeout SECONDS"
            ) from None
        except OSError as exc:
            raise S3ObjectError(
                f"cannot create the run lock {path}: {exc.strerror or exc}; the cache folder "
                f"{settings.cache_dir} is unusable (check XDG_CACHE_HOME)"
            ) from exc
        yield


def raise_for_result(result: MappingResult, action: str) -> None:
    """Raise a mapping run's failures as one exception naming every failed or refused key.

    A single failed operation is re-raised as it was; otherwise the first failure's class is used
    (refused keys alone give UnsafeKeyError), and the message names failures and refusals both.
    """
    failed = result.failed
    fatal = [p for p in result.plan.problems if p.fatal]
    if not failed and not fatal:
        return
    if result.halted is not None:
        # One message for a dead endpoint, not one per file.
        skipped = len(result.not_tried)
        tried = [r for r in failed if r.error_type != "EndpointDownError"]
        example = f"; e.g. {tried[0].op.key}: {tried[0].error}" if tried else ""
        raise EndpointDownError(
            f"{action}: {result.halted}; {skipped} of {len(result.results)} operation(s) not "
            f"tried, {len(tried)} failed{example}"
        ) from (tried[0].exception if tried else None)
    first = failed[0].exception if failed else None
    if len(failed) == 1 and not fatal and isinstance(first, S3lyncError):
        raise first
    parts = [f"{r.op.key}: {r.error}" for r in failed[:5]]
    if len(failed) > 5:
        parts.append(f"(+{len(failed) - 5} more failed)")
    parts += [f"refused {p.key!r}: {p.text('policy=ApplyPolicy({}=True)')}" for p in fatal[:5]]
    if len(fatal) > 5:
        parts.append(f"(+{len(fatal) - 5} more refused)")
    cls: type[S3lyncError]
    if isinstance(first, SyncError | S3ObjectError):
        cls = type(first)
    elif failed:
        cls = SyncError
    else:
        cls = UnsafeKeyError if all("refused" in p.message for p in fatal) else S3ObjectError
    counts = []
    if failed:
        counts.append(f"{len(failed)} of {len(result.results)} operation(s) failed")
    if fatal:
        counts.append(f"{len(fatal)} key(s) refused")
    raise cls(f"{action}: {' and '.join(counts)}: " + "; ".join(parts)) from first
