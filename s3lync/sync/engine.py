"""The one entry both faces use: snapshot both sides of a mapping, plan, execute."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Executor as FuturesExecutor
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

from s3lync.errors import (
    EndpointDownError,
    LocalPathNotFoundError,
    LockedError,
    RemoteNotFoundError,
    S3lyncError,
    S3ObjectError,
    SyncError,
    UnsafeKeyError,
)
from s3lync.hashing import Digest, Layout, digest_file
from s3lync.localfs import scan as local
from s3lync.localfs.hashcache import HashCache, migrate_legacy_state, racily_clean
from s3lync.localfs.tempfiles import TempRegistry
from s3lync.mapping import Direction, Mapping
from s3lync.settings import Settings
from s3lync.store.clients import open_remote
from s3lync.store.evidence import Evidence
from s3lync.store.objects import ObjectInfo, RemoteObject
from s3lync.store.remote import Remote
from s3lync.sync import integrity, lockfile, planner
from s3lync.sync import shard as sharding
from s3lync.sync.breaker import Breaker
from s3lync.sync.executor import Executor, Subscriber, fill_digest, learn_layout
from s3lync.sync.lockfile import LockDriftError, LockedMapping, LockFile
from s3lync.sync.plan import Comparison, MappingPlan, Plan, Problem, writes_into
from s3lync.sync.policy import ApplyPolicy
from s3lync.sync.results import MappingResult
from s3lync.sync.shard import Shard
from s3lync.uri import S3Uri, parse_s3_uri

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

        With ``self.shard`` set, only the paths that shard owns are hashed, compared and planned.

        A download source holding nothing raises RemoteNotFoundError unless ``missing_ok``; then it
        is a problem that blocks the mapping, or only a note when the mapping allows a missing
        source or ``fed_by`` names an earlier mapping of the same run that writes it.
        """
        rules = policy or self.policy  # a per-call policy (S3Object's) wins over the engine's
        mapping = rules.strict(mapping)
        allow_empty_source = allow_empty_source or rules.allow_empty_source
        uri = parse_s3_uri(mapping.s3_uri)
        remote = self.remote(mapping)
        local_root = local.as_abs(mapping.local)
        problems: list[Problem] = []
        evidence: dict[str, Evidence] = {}
        objects: list[RemoteObject]

        if mapping.direction is Direction.DOWNLOAD:
            pinned = self.lock.find(mapping) if self.lock is not None else None
            if pinned is not None and (pinned.versioned or mapping in self._lock_verified):
                # Versioned: each pinned version is fetched by VersionId, whatever the prefix
                # holds now. Unversioned: verify_lock already compared the listing.
                listed = pinned.pinned()
            else:
                listed = list(remote.list_objects(uri.bucket, uri.key))
                if pinned is not None:
                    self._check_pinned(mapping, pinned, listed)
                    listed = pinned.pinned()
            if uri.is_prefix:
                is_dir, root_key, objects = True, uri.key, listed
            else:
                exact = [o for o in listed if o.key == uri.key]
                children = [o for o in listed if o.key.startswith(uri.key + "/")]
                if children:
                    is_dir, root_key, objects = True, uri.key + "/", children
                    if exact:
                        problems.append(
                            Problem(
                                key=uri.key,
                                message=f"s3://{uri.bucket}/{uri.key} is both an object and a "
                                "prefix; syncing the prefix (add a trailing '/' to say so)",
                                fatal=False,
                            )
                        )
                else:
                    is_dir, root_key, objects = False, uri.key, exact
            if not objects:
                if not missing_ok:
                    raise RemoteNotFoundError(f"download {uri}: no such object or prefix")
                problems.append(_missing_source(mapping, uri, is_dir, fed_by, allow_empty_source))
            if not is_dir:
                local_root = single_target(mapping.local, uri.key)
        else:
            st = local.stat_path(local_root)
            if st is None:
                raise LocalPathNotFoundError(
                    f"upload to {uri}: local path {local_root} does not exist"
                )
            is_dir = os.path.isdir(local_root)
            if is_dir:
                root_key = uri.dir_prefix
                objects = list(remote.list_objects(uri.bucket, root_key))
            else:
                root_key = uri.key + os.path.basename(local_root) if uri.is_prefix else uri.key
                objects = []
                info = remote.head_or_none(uri.bucket, root_key)
                if info is not None:
                    objects = [RemoteObject(root_key, info.size, info.etag)]
                    evidence[""] = info.evidence()

        if is_dir and os.path.exists(local_root) and not os.path.isdir(local_root):
            raise S3ObjectError(
                f"{mapping.direction.value} {uri}: local path {local_root} is a file, but the "
                "remote side is a folder"
            )
        # Before the scan's stats: a file stamped within a clock tick of this is not cached.
        scanned_at = time.time_ns()
        snap = local.scan(
            local_root,
            planner.exclude_matcher(mapping) if is_dir else None,
            follow_outside=mapping.follow_symlinks,
            skip=self.temps.registered_under(local_root) if is_dir else frozenset(),
        )
        pairing = planner.pair(mapping, uri.bucket, root_key, is_dir, snap, objects)
        pairing.problems.extend(problems)
        shard = self.shard if self.shard is not None and self.shard.total > 1 else None
        holders: frozenset[str] = frozenset()
        if shard is not None:
            # Before any digest or HEAD: a shard hashes and compares only its own paths.
            source_nonempty, holders = sharding.restrict(pairing, shard)
            # A shard whose share of a non-empty source is empty is not an empty source.
            allow_empty_source = allow_empty_source or source_nonempty
        layouts = self.cache.layouts()
        digests = self._digests(pairing, layouts, scanned_at)
        for rel in pairing.needs_digest():
            d = digests.get(rel)
            if rel not in evidence and d is not None and pairing.remote[rel].etag == d.md5:
                continue  # a plain-MD5 ETag equal to the local MD5 decides alone
            ev = evidence.get(rel) or pairing.evidence(rel, layouts)
            if ev.layout is None and rel in evidence:
                known = pairing.evidence(rel, layouts).layout
                ev = ev.with_layout(known) if known is not None else ev
            evidence[rel] = ev
            if rel in digests:
                self._complete(pairing, rel, digests[rel], ev)
        self._learn_layouts(remote, pairing, digests, evidence)
        mplan = planner.decide(
            pairing,
            digests,
            evidence=evidence,
            allow_empty_source=allow_empty_source,
            verbose=verbose,
        )
        if mplan.comparison is Comparison.SIZE_AND_TIME and mapping not in self._warned_no_etag:
            self._warned_no_etag.add(mapping)
            log.warning(
                "%s: the store gives no ETags, so content comparison is off: files are compared "
                "by size and modification time instead (downloads keep the object's "
                "LastModified as their mtime; an upload is current when its object is not older "
                "than the file), and transfers cannot be verified by an ETag",
                mapping.s3_uri,
            )
        return sharding.finish(mplan, shard, holders) if shard is not None else mplan

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
            self._check_pinned(m, pinned, list(self.remote(m).list_objects(uri.bucket, uri.key)))
            self._lock_verified.add(self.policy.strict(m))

    def _check_pinned(
        self, mapping: Mapping, pinned: LockedMapping, listed: list[RemoteObject]
    ) -> None:
        assert self.lock is not None
        current = lockfile.scope(parse_s3_uri(mapping.s3_uri), listed, mapping.rules)
        changed, removed, added = lockfile.drift(pinned, current)
        if changed or removed:
            raise LockDriftError(lockfile.drift_message(self.lock, pinned, changed, removed))
        if added:
            log.info(
                "%s: %d object(s) added since %s are not pinned and are ignored",
                mapping.label,
                len(added),
                self.lock.path.name,
            )

    def _complete(self, pairing: planner.Pairing, rel: str, digest: Digest, ev: Evidence) -> None:
        """Compute what judging ``ev`` still needs (a capped layout, a checksum)."""
        fill_digest(pairing.local[rel].path, digest, integrity.needs(digest, ev))

    def _learn_layouts(
        self,
        remote: Remote,
        pairing: planner.Pairing,
        digests: dict[str, Digest],
        evidence: dict[str, Evidence],
    ) -> None:
        """One concurrent ``HEAD ?partNumber=1`` per multipart object no layout explains.

        The layout is cached per ETag (it never changes), so a later plan pays nothing.
        """
        todo = planner.undecided(pairing, digests, evidence)
        if not todo:
            return
        log.debug("learning the part layout of %d multipart object(s)", len(todo))

        def learn(rel: str) -> tuple[str, Layout | None, ObjectInfo | None]:
            ro = pairing.remote[rel]
            try:
                info = remote.head(pairing.bucket, ro.key, part_number=1)
            except S3lyncError as exc:
                log.debug("HEAD ?partNumber=1 of %s failed: %s", ro.key, exc)
                return rel, None, None
            layout = learn_layout(remote, pairing.bucket, ro.key, evidence[rel], first=info)
            return rel, layout, info

        workers = min(len(todo), self.max_workers)
        if workers > 1:
            with ThreadPoolExecutor(workers, thread_name_prefix="s3lync-head") as pool:
                learned = list(pool.map(learn, todo))
        else:
            learned = [learn(r) for r in todo]
        for rel, layout, info in learned:
            ev = evidence[rel]
            if info is not None and info.metadata_md5:
                ev = replace(ev, metadata_md5=info.metadata_md5)
            if layout is not None and ev.etag is not None:
                self.cache.put_layout(ev.etag, layout)
                ev = ev.with_layout(layout)
            evidence[rel] = ev
            self._complete(pairing, rel, digests[rel], ev)

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

    def _digests(
        self,
        pairing: planner.Pairing,
        layouts: dict[str, Layout] | None = None,
        scanned_at: int = 0,
    ) -> dict[str, Digest]:
        """Digests of the local files that need comparing: from the cache, else hashed once.

        ``scanned_at`` (``time.time_ns()`` before the files were stat'ed): a digest of a file whose
        mtime is that recent is used but not cached (racily clean, see hashcache).
        """
        need = pairing.needs_digest(layouts)
        out: dict[str, Digest] = {}
        if len(need) > 1:
            self.cache.preload(pairing.local_root)
        misses: list[tuple[str, list[int]]] = []
        for rel, parts in need.items():
            lf = pairing.local[rel]
            d = self.cache.get(lf.path, lf.fingerprint)
            if d is not None and all(ps in d.etags for ps in parts):
                out[rel] = d
            else:
                misses.append((rel, parts))
        if not misses:
            return out
        log.debug("hashing %d local file(s)", len(misses))

        def work(item: tuple[str, list[int]]) -> tuple[str, Digest]:
            rel, parts = item
            return rel, digest_file(pairing.local[rel].path, parts)

        workers = min(len(misses), os.cpu_count() or 2, 8)
        try:
            if workers > 1:
                with ThreadPoolExecutor(workers, thread_name_prefix="s3lync-hash") as pool:
                    computed = list(pool.map(work, misses))
            else:
                computed = [work(m) for m in misses]
        except OSError as exc:
            raise S3ObjectError(f"cannot read local file: {exc}") from exc
        rows = []
        for rel, d in computed:
            old = self.cache.get(pairing.local[rel].path, pairing.local[rel].fingerprint)
            if old is not None:
                d.seen_etags = list(old.seen_etags)
            out[rel] = d
            lf = pairing.local[rel]
            if not racily_clean(lf.fingerprint, scanned_at):
                rows.append((lf.path, lf.fingerprint, d))
        self.cache.put_many(rows)
        return out

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


def _missing_source(
    mapping: Mapping, uri: S3Uri, is_dir: bool, fed_by: str | None, allow_empty: bool
) -> Problem:
    """A download source that holds nothing: an error unless allowed or written earlier."""
    what = "nothing found at" if is_dir else "no such object:"
    if fed_by is not None:
        return Problem(
            key=uri.key,
            message=f"{what} {uri} yet; mapping {fed_by!r} writes it earlier in this run",
            fatal=False,
        )
    if mapping.allow_missing or allow_empty:
        # --allow-empty-source says an empty source is expected (and may even mirror deletions).
        why = "allow_missing: true" if mapping.allow_missing else "--allow-empty-source"
        return Problem(key=uri.key, message=f"{what} {uri} ({why})", fatal=False)
    return Problem(
        key=uri.key,
        message=f"the source is missing: {what} {uri}; check the bucket and prefix, or set "
        "`allow_missing: true` on the mapping (sync: --allow-missing) if that is expected",
        blocks=True,
    )


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


def single_target(local_path: str, key: str) -> str:
    """Where one downloaded object lands: inside ``local_path`` when that is a folder or ends in ``/``.

    As for ``aws s3 cp``: ``models/`` (or an existing folder ``models``) means ``models/<name>``.
    """
    into = local_path.endswith(("/", os.sep)) or os.path.isdir(local_path)
    target = local.as_abs(local_path)
    return os.path.join(target, key.rsplit("/", 1)[-1]) if into else target


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
