"""The one entry both faces use: snapshot both sides of a mapping, plan, execute."""

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
from s3lync.sync import planner, stages
from s3lync.sync import shard as sharding
from s3lync.sync.breaker import Breaker
from s3lync.sync.digests import complete, gather_evidence, learn_layouts, local_digests
from s3lync.sync.executor import Executor, Subscriber
from s3lync.sync.lockfile import LockFile
from s3lync.sync.pairing import pair
from s3lync.sync.plan import Comparison, MappingPlan, Plan, writes_into
from s3lync.sync.policy import ApplyPolicy
from s3lync.sync.results import MappingResult
from s3lync.sync.shard import Shard
from s3lync.uri import parse_s3_uri

log = logging.getLogger(__name__)


class Engine:
    """Plans and executes mappings over shared clients, one hash cache and one worker count."""

    def __init__(
        self,
        *,
        client: Any = None,
        max_workers: int | None = None,
        cache: HashCache | None = None,
        subscribers: Sequence[Subscriber] = (),
        region: str | None = None,
        endpoint_url: str | None = None,
        profile: str | None = None,
        pool: FuturesExecutor | None = None,
        policy: ApplyPolicy | None = None,
        settings: Settings | None = None,
    ) -> None:
        # Read once here and passed down: nothing below reads the environment.
        self.settings = settings or Settings.from_env()
        self.max_workers = max_workers or self.settings.max_workers
        # The safety rules every execute honours; ``deleted`` counts this engine's deletions so
        # a count limit holds across the mappings of one run.
        self.policy = policy or ApplyPolicy()
        self.deleted = 0
        # A transfer pool shared with other engines (the async face's); None: one per run.
        self.pool = pool
        self.subscribers = list(subscribers)
        self._client = client
        self._cache = cache
        self._temps: TempRegistry | None = None
        self._remotes: dict[tuple[Any, ...], Remote] = {}
        self._lock = threading.Lock()
        # Overrides (CLI --region/--endpoint-url/--profile) win over each mapping's own settings.
        self._override = (region, endpoint_url, profile)
        # With a shard, every plan covers only the paths that shard owns (see shard.py).
        self.shard: Shard | None = None
        # With a lock, download mappings it pins sync exactly the pinned objects (lockfile.py).
        self.lock: LockFile | None = None
        self._lock_verified: set[Mapping] = set()
        # Mappings already warned about that their store gives no ETags (once per run).
        self._warned_no_etag: set[Mapping] = set()
        # One breaker for a whole run (the CLI sets it); None: a fresh one per execute(), so a
        # library call never inherits an earlier call's verdict on an endpoint.
        self.breaker: Breaker | None = None

    # -- shared resources ---------------------------------------------------------------

    @property
    def cache(self) -> HashCache:
        """The persistent hash cache (opened on first use)."""
        if self._cache is None:
            state = self.settings.state_dir / "hashes.sqlite3"
            migrate_legacy_state(self.settings.cache_dir, state)
            self._cache = HashCache(state)
        return self._cache

    @property
    def temps(self) -> TempRegistry:
        """The registry of download temporaries s3lync created (opened on first use)."""
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
        self,
        mapping: Mapping,
        *,
        missing_ok: bool = True,
        allow_empty_source: bool = False,
        verbose: bool = False,
        fed_by: str | None = None,
        policy: ApplyPolicy | None = None,
    ) -> MappingPlan:
        """Snapshot both sides of one mapping and diff them into a plan (changes nothing).

        The stages, in order (stages.py): list (a lock pins the listing) -> scan -> pair
        (include/exclude) -> shard -> digests and layouts -> decide. With ``self.shard`` set,
        only the paths that shard owns are hashed, compared and planned.

        A download source holding nothing raises RemoteNotFoundError unless ``missing_ok``; then it
        is a problem that blocks the mapping, or only a note when the mapping allows a missing
        source or ``fed_by`` names an earlier mapping of the same run that writes it.
        """
        rules = policy or self.policy  # a per-call policy (S3Object's) wins over the engine's
        mapping = rules.strict(mapping)
        allow_empty_source = allow_empty_source or rules.allow_empty_source
        remote = self.remote(mapping)
        listing = self._list(remote, mapping, missing_ok, fed_by, allow_empty_source)
        skip = self.temps.registered_under(listing.local_root) if listing.is_dir else frozenset()
        snap, scanned_at = stages.scan(listing, mapping, skip)
        pairing = pair(
            mapping, listing.uri.bucket, listing.root_key, listing.is_dir, snap, listing.objects
        )
        pairing.problems.extend(listing.problems)
        shard = self.shard if self.shard is not None and self.shard.total > 1 else None
        holders: frozenset[str] = frozenset()
        if shard is not None:
            # Before any digest or HEAD: a shard hashes and compares only its own paths.
            source_nonempty, holders = sharding.restrict(pairing, shard)
            # A shard whose share of a non-empty source is empty is not an empty source.
            allow_empty_source = allow_empty_source or source_nonempty
        layouts = self.cache.layouts()
        digests = local_digests(pairing, self.cache, layouts, scanned_at)
        evidence = gather_evidence(pairing, digests, layouts, listing.heads)
        complete(pairing, digests, evidence)
        learn_layouts(remote, self.cache, pairing, digests, evidence, self.max_workers)
        mplan = planner.decide(
            pairing,
            digests,
            evidence=evidence,
            allow_empty_source=allow_empty_source,
            verbose=verbose,
        )
        self._warn_no_etags(mplan)
        return sharding.finish(mplan, shard, holders) if shard is not None else mplan

    def _list(
        self,
        remote: Remote,
        mapping: Mapping,
        missing_ok: bool,
        fed_by: str | None,
        allow_empty_source: bool,
    ) -> stages.Listing:
        """The list stage: the remote side, a missing download source judged."""
        uri = parse_s3_uri(mapping.s3_uri)
        if mapping.direction is not Direction.DOWNLOAD:
            return stages.list_upload(remote, mapping, uri)
        listed = stages.list_download(remote, mapping, uri, self.lock, self._lock_verified)
        listing = stages.locate_download(mapping, uri, listed)
        if listing.objects:
            return listing
        if not missing_ok:
            raise RemoteNotFoundError(f"download {uri}: no such object or prefix")
        missing = stages.missing_source(mapping, uri, listing.is_dir, fed_by, allow_empty_source)
        return replace(listing, problems=(*listing.problems, missing))

    def _warn_no_etags(self, mplan: MappingPlan) -> None:
        """Say once per mapping that its store gives no ETags (content comparison is off)."""
        mapping = mplan.mapping
        if mplan.comparison is not Comparison.SIZE_AND_TIME or mapping in self._warned_no_etag:
            return
        self._warned_no_etag.add(mapping)
        log.warning(
            "%s: the store gives no ETags, so content comparison is off: files are compared "
            "by size and modification time instead (downloads keep the object's "
            "LastModified as their mtime; an upload is current when its object is not older "
            "than the file), and transfers cannot be verified by an ETag",
            mapping.s3_uri,
        )

    def verify_lock(self, mappings: Iterable[Mapping]) -> None:
        """List every unversioned mapping the lock pins and raise LockDriftError on drift.

        Run before anything changes, so a drifted second mapping cannot leave the first applied.
        """
        if self.lock is None:
            return
        for m in mappings:
            pinned = self.lock.find(m)
            if m.direction is not Direction.DOWNLOAD or pinned is None or pinned.versioned:
                continue
            uri = parse_s3_uri(m.s3_uri)
            listed = list(self.remote(m).list_objects(uri.bucket, uri.key))
            stages.check_pinned(self.lock, m, pinned, listed)
            self._lock_verified.add(self.policy.strict(m))

    def plan(
        self,
        mappings: Iterable[Mapping],
        *,
        manifest: str | None = None,
        allow_empty_source: bool = False,
        verbose: bool = False,
    ) -> Plan:
        """Plan several mappings (each listing once, in order) into one Plan, changing nothing."""
        todo = list(mappings)
        plans = tuple(
            self.plan_mapping(
                m,
                missing_ok=True,
                allow_empty_source=allow_empty_source,
                verbose=verbose,
                fed_by=feeder(todo[:i], m),
            )
            for i, m in enumerate(todo)
        )
        return Plan(
            mappings=plans,
            manifest=manifest,
            created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            meta={
                **({"shard": self.shard.label} if self.shard is not None else {}),
                **({"lock": str(self.lock.path)} if self.lock is not None else {}),
            },
        )

    # -- execution ----------------------------------------------------------------------

    def execute(
        self,
        mplan: MappingPlan,
        *,
        cancel: threading.Event | None = None,
        create_only: bool = False,
        subscribers: Sequence[Subscriber] = (),
        policy: ApplyPolicy | None = None,
    ) -> MappingResult:
        """Execute one mapping's plan; setting ``cancel`` stops it (nothing new starts).

        ``subscribers`` hear this run only, besides the engine's own. A plan with a blocking
        problem is refused as a whole; one the policy (``policy``, else the engine's) forbids
        raises ApplyRefusedError before anything changes.
        """
        if mplan.blocking:
            return MappingResult(plan=mplan)
        rules = policy or self.policy
        self.check_policy(mplan, policy)
        mplan = replace(mplan, mapping=rules.strict(mplan.mapping))
        ex = Executor(
            self.remote(mplan.mapping),
            self.cache,
            max_workers=self.max_workers,
            subscribers=[*self.subscribers, *subscribers],
            temps=self.temps,
            pool=self.pool,
            cancel=cancel,
            create_only=create_only,
            breaker=self.breaker,
        )
        result = ex.execute(mplan)
        self.deleted += result.deleted
        return result

    def check_policy(self, mplan: MappingPlan, policy: ApplyPolicy | None = None) -> None:
        """Refuse (ApplyRefusedError, nothing done) a plan the policy forbids: too many deletions."""
        if policy is not None:
            # A per-call policy limits that call alone (an async pool's engine is shared).
            policy.check_deletes(mplan)
        else:
            self.policy.check_deletes(mplan, self.deleted)

    def sync(self, mapping: Mapping, *, missing_ok: bool = False) -> MappingResult:
        """Plan and execute one mapping (what ``S3Object.download``/``upload`` do)."""
        return self.execute(self.plan_mapping(mapping, missing_ok=missing_ok))


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
