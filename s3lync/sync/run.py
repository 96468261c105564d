"""RunOptions: everything one run decides or learns, kept out of the long-lived engine.

An :class:`~s3lync.sync.engine.Engine` holds what runs share (clients, the hash cache, the
temporaries registry, worker counts); a run is ``engine.plan(mappings, options)`` then
``engine.apply(plan, options)``, and everything particular to it travels in ``options``: the
safety policy, the shard, the lock, the cancel event, the progress subscribers. What the run
learns as it goes -- deletions so far (``max_delete`` as a count holds across its mappings), the
circuit breaker's verdict on each endpoint, which pinned listings were already checked, which
mappings were already warned about -- is its :class:`RunState`, made fresh with each new
RunOptions: a new RunOptions is a new run, while ``dataclasses.replace(options, ...)`` derives
options for the same run (the CLI adds its progress bar so, after its pre-flight checks).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from s3lync.mapping import Mapping
from s3lync.sync.breaker import Breaker
from s3lync.sync.events import Subscriber
from s3lync.sync.plan import MappingPlan
from s3lync.sync.policy import ApplyPolicy
from s3lync.sync.shard import Shard

if TYPE_CHECKING:
    from s3lync.sync.lockfile import LockFile


@dataclass(eq=False)
class RunState:
    """What one run learns as it goes; owned by its RunOptions, never shared between runs."""

    # One breaker for the whole run: an endpoint that stopped answering gets no new transfer,
    # in this mapping or the next ones (breaker.py).
    breaker: Breaker = field(default_factory=Breaker)
    # Files deleted by the mappings applied so far: a count limit spans the run.
    deleted: int = 0
    # Mappings whose pinned listing was already compared with the lock (Engine.verify_lock).
    lock_verified: set[Mapping] = field(default_factory=set)
    # Mappings already warned about that their store gives no ETags (once per run).
    warned_no_etag: set[Mapping] = field(default_factory=set)


@dataclass(frozen=True)
class RunOptions:
    """What one run decides, frozen for its length.

    ``policy``: the safety rules (deletion limit, empty source, strict verification).
    ``shard``: plan only the paths this shard owns. ``lock``: download mappings it pins sync
    exactly the pinned objects. ``cancel``: set it to stop the run (nothing new starts).
    ``subscribers``: hear every operation's progress. ``verbose``: plans name unchanged paths.
    ``missing_source_raises``: a download source holding nothing raises RemoteNotFoundError
    (the library's way) unless the policy allows an empty source, instead of being a problem
    in the plan (the CLI's way). ``create_only``: uploads only create (``open("x")``).
    """

    policy: ApplyPolicy = field(default_factory=ApplyPolicy)
    shard: Shard | None = None
    lock: LockFile | None = None
    cancel: threading.Event | None = None
    subscribers: tuple[Subscriber, ...] = ()
    verbose: bool = False
    missing_source_raises: bool = False
    create_only: bool = False
    state: RunState = field(default_factory=RunState, compare=False, repr=False)

    @property
    def breaker(self) -> Breaker:
        """This run's circuit breaker."""
        return self.state.breaker

    @property
    def planned_shard(self) -> Shard | None:
        """The shard that restricts planning: None for none, or for a shard of one."""
        return self.shard if self.shard is not None and self.shard.total > 1 else None

    @property
    def meta(self) -> dict[str, str]:
        """What a plan made under these options records about them (its shard and lock)."""
        return {
            **({"shard": self.shard.label} if self.shard is not None else {}),
            **({"lock": str(self.lock.path)} if self.lock is not None else {}),
        }

    def check_deletes(self, mplan: MappingPlan) -> None:
        """Refuse (ApplyRefusedError) a plan whose deletions, with this run's so far, the policy
        forbids."""
        self.policy.check_deletes(mplan, self.state.deleted)

    def spend(self, deleted: int) -> None:
        """Count ``deleted`` files against the run's deletion budget."""
        self.state.deleted += deleted
