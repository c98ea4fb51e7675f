"""Simulation: 1,000 render boxes and 100,000 live sessions placed by the cluster's own policy.

    .venv/bin/python -m tests.bench.sim_cluster [--boxes 1000] [--sessions 100000] [--seed 19]

A discrete-event simulation (a heap of timed events, one seeded RNG, no Ray) of the cluster of
issue 19 in steady state: Poisson arrivals, lognormal session lengths, departures, boxes that
fail (an MTBF per box, plus one rack lost at once) and come back after a repair, and a rolling
upgrade that drains 5% of the boxes in batches. Every placement decision is made by
`webapi.cluster.placement.Placement`, the very object the directory actor holds, so what is
reported is what that policy does: slots are reserved, committed, cancelled, ended and dropped
exactly as the directory does it.

What is modelled around the policy (docs/SCALE.md gives the figures each default came from):
- a page that loses its box notices after the 2 s no-frames rule (plus the page's check
  interval), then re-sends its offer with its session id through any front (a random pick by
  the load balancer); the directory's health loop (every 0.5 s, 1 s ping timeout) drops a dead
  box, and a resume that finds its box not yet dropped pays the quick ping (1 s at most);
- the directory is ONE actor: every call (reserve, commit, cancel, end, join, leave, drain)
  queues behind the others with a fixed service time, so its queueing shows in the reconnect
  times and its op rate is reported (its load reports and health pings are counted
  analytically: one of each per box every second / half second);
- an open placed on a box that died but is not dropped yet fails at the node call (1 s), is
  cancelled and retried once on another box (the spec's "retried once when nothing was set up");
- a drained box takes no new sessions; what is still on it after the drain timeout is ended by
  the worker and its pages move to other boxes under the same id.

A box here is one machine of the capacity model (its worker processes summed into one box of
their slots: see docs/SCALE.md, "The simulation", for why and what it changes). Prints a report;
asserts nothing (tests/unit/test_sim_cluster.py runs a small one and checks its books).
"""

from __future__ import annotations

import argparse
import heapq
import math
import random
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from typing import Any

from webapi.cluster.placement import NoCapacity, Placement, Ticket

STORM_S = 30.0  # a refusal within this long after a box failure counts as "during a storm"
SAMPLE_S = 10.0  # utilisation (and, with check=True, the books) are looked at this often


@dataclass(frozen=True)
class Config:
    boxes: int = 1000
    sessions: int = 100_000  # concurrent sessions in steady state (the arrival rate follows)
    gpu_share: float = 0.2  # share of boxes that are GPU boxes
    cpu_slots: int = 120  # docs/SCALE.md: a 128-vCPU llvmpipe box
    gpu_slots: int = 128  # docs/SCALE.md: an 8-GPU box (estimated, not measured)
    fronts: int = 20
    minutes: float = 30.0  # simulated time after the steady-state fill
    session_minutes: float = 45.0  # mean session length
    session_sigma: float = 1.0  # lognormal shape of session lengths
    mtbf_hours: float = 48.0  # mean time between failures, per box
    repair_minutes: float = 30.0  # a failed box is back after about this (lognormal)
    rack_size: int = 20  # boxes lost together once (a rack or a zone's switch); 0: none
    rack_minute: float = 20.0
    drain_share: float = 0.05  # the rolling upgrade drains this share of the boxes
    drain_batch: int = 10  # boxes drained at once
    drain_minute: float = 5.0  # the upgrade starts
    drain_timeout_s: float = 120.0  # `digigami worker --drain-timeout`
    restart_s: float = 90.0  # an upgraded worker is back after this
    detect_s: float = 2.0  # the page's no-frames rule
    detect_jitter_s: float = 0.25  # the page's check interval
    client_rtt_ms: float = 60.0  # browser <-> front (and browser <-> worker), median
    setup_ms: float = 150.0  # a node sets a session up and answers (median; unmeasured)
    dir_op_ms: float = 0.3  # one directory actor call, Placement's work included
    health_s: float = 0.5  # the directory's health loop period
    ping_timeout_s: float = 1.0
    retry_s: float = 2.0  # a refused reconnect offers again after this
    give_up_s: float = 30.0  # ... until this long after its box was lost: then it failed
    seed: int = 19
    check: bool = False  # check the books at every sample (tests)


# What a caller may ask for: (least, most). A size past these would not be a simulation of a
# cluster but a way to exhaust this machine's memory or time.
LIMITS: dict[str, tuple[float, float]] = {
    "boxes": (1, 20_000),
    "sessions": (0, 1_000_000),
    "gpu_share": (0.0, 1.0),
    "cpu_slots": (1, 10_000),
    "gpu_slots": (1, 10_000),
    "fronts": (1, 1_000),
    "minutes": (0.1, 24 * 60),
    "session_minutes": (0.1, 24 * 60),
    "session_sigma": (0.0, 3.0),
    "mtbf_hours": (0.01, 1e6),
    "repair_minutes": (0.0, 7 * 24 * 60),
    "rack_size": (0, 20_000),
    "rack_minute": (0.0, 24 * 60),
    "drain_share": (0.0, 1.0),
    "drain_batch": (1, 20_000),
    "drain_minute": (0.0, 24 * 60),
    "drain_timeout_s": (0.0, 24 * 3600),
    "restart_s": (0.0, 24 * 3600),
    "detect_s": (0.0, 60.0),
    "detect_jitter_s": (0.0, 60.0),
    "client_rtt_ms": (0.0, 10_000.0),
    "setup_ms": (0.0, 60_000.0),
    "dir_op_ms": (0.0, 1_000.0),
    "health_s": (0.01, 60.0),
    "ping_timeout_s": (0.0, 60.0),
    "retry_s": (0.01, 600.0),
    "give_up_s": (0.0, 3600.0),
    "seed": (0, 2**63 - 1),
}


def validate(cfg: Config) -> None:
    """Refuse a configuration outside LIMITS, naming every bad field at once."""
    bad = []
    for f in fields(cfg):
        if f.name not in LIMITS:
            continue
        value = getattr(cfg, f.name)
        low, high = LIMITS[f.name]
        if isinstance(value, float) and not math.isfinite(value):
            bad.append(f"{f.name} must be a finite number (got {value})")
        elif not low <= value <= high:
            bad.append(f"{f.name} must be within {low:g}..{high:g} (got {value})")
    if bad:
        raise ValueError("; ".join(bad))


@dataclass
class Flow:
    """One offer on its way: a new session, or a page reconnecting under its id."""

    sid: str
    kind: str  # "new", "failure" (its box died) or "drain" (its box was upgraded)
    lost_at: float = 0.0  # when its box was lost (reconnects)
    retried: bool = False  # an open that hit a dead box is retried once


@dataclass
class Result:
    cfg: Config
    placement: Placement
    counts: Counter[str]
    reconnect_s: dict[str, list[float]]  # kind -> seconds from losing the box to streaming
    front_offers: list[Counter[int]]  # per front: second -> offers
    dir_ops: Counter[int]  # second -> directory calls
    dir_wait_s: list[float]
    utilisation: list[float]
    min_free: int
    live: set[str]
    reconnecting: set[str]
    in_flight: Counter[str]  # kind -> reconnects still under way when the clock stopped
    opening: int  # new sessions still being opened when the clock stopped
    violations: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    placement_s: float = 0.0  # this process's own time inside Placement's reserve calls
    reserves: int = 0


class Sim:
    def __init__(self, cfg: Config) -> None:
        validate(cfg)
        self.cfg = cfg
        self.rng = random.Random(cfg.seed)
        self.placement = Placement()
        self.heap: list[tuple[float, int, Callable[..., None], tuple[Any, ...]]] = []
        self.seq = 0
        self.now = 0.0
        self.end_at = cfg.minutes * 60.0
        self.dir_free = 0.0  # when the directory actor is next idle
        self.slots: dict[str, int] = {}
        self.dead: set[str] = set()  # boxes whose worker is gone, until they join again
        self.drop_at: dict[str, float] = {}  # when the health loop drops a dead box
        self.live: set[str] = set()  # sessions committed on a box
        self.reconnecting: dict[str, Flow] = {}
        self.ends: dict[str, float] = {}  # when each user leaves, wherever their session is
        self.storm_until = -1.0
        self.counts: Counter[str] = Counter()
        self.reconnect_s: dict[str, list[float]] = {"failure": [], "drain": []}
        self.front_offers: list[Counter[int]] = [Counter() for _ in range(cfg.fronts)]
        self.dir_ops: Counter[int] = Counter()
        self.dir_wait: list[float] = []
        self.utilisation: list[float] = []
        self.min_free = 1 << 62
        self.violations: list[str] = []
        self.next_id = 0
        self.placement_s = 0.0
        self.reserves = 0
        mean = cfg.session_minutes * 60.0
        self.mu = math.log(mean) - cfg.session_sigma**2 / 2  # lognormal with that mean
        self.rate = cfg.sessions / mean  # arrivals a second that keep `sessions` in steady state

    # --- the event loop ---------------------------------------------------------------------

    def at(self, t: float, fn: Callable[..., None], *args: Any) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (t, self.seq, fn, args))

    def run(self) -> Result:
        started = time.perf_counter()
        self._build()
        self._fill()
        self.at(self.rng.expovariate(self.rate) if self.rate else math.inf, self._arrive)
        self._schedule_failures()
        self._schedule_upgrade()
        self.at(SAMPLE_S, self._sample)
        while self.heap and self.heap[0][0] <= self.end_at:
            t, _, fn, args = heapq.heappop(self.heap)
            self.now = t
            fn(*args)
        if self.cfg.check:
            self._check()
        return Result(
            cfg=self.cfg,
            placement=self.placement,
            counts=self.counts,
            reconnect_s=self.reconnect_s,
            front_offers=self.front_offers,
            dir_ops=self.dir_ops,
            dir_wait_s=self.dir_wait,
            utilisation=self.utilisation,
            min_free=self.min_free,
            live=set(self.live),
            reconnecting=set(self.reconnecting),
            in_flight=Counter(f.kind for f in self.reconnecting.values()),
            opening=len(set(self.ends) - self.live - set(self.reconnecting)),
            violations=self.violations,
            wall_s=time.perf_counter() - started,
            placement_s=self.placement_s,
            reserves=self.reserves,
        )

    def directory(self, cost_ops: int = 1) -> float:
        """One call reaches the directory actor now: when it is answered (it queues)."""
        start = max(self.now, self.dir_free)
        self.dir_free = start + cost_ops * self.cfg.dir_op_ms / 1000.0
        self.dir_wait.append(start - self.now)
        self.dir_ops[int(self.now)] += cost_ops
        return self.dir_free

    # --- set-up -----------------------------------------------------------------------------

    def _build(self) -> None:
        gpus = round(self.cfg.boxes * self.cfg.gpu_share)
        for i in range(self.cfg.boxes):
            gpu = i < gpus
            box = f"{'gpu' if gpu else 'cpu'}-{i:05d}"
            self.slots[box] = self.cfg.gpu_slots if gpu else self.cfg.cpu_slots
            self.placement.join(box, f"node-{i:05d}", self.slots[box])

    def _length(self) -> float:
        return self.rng.lognormvariate(self.mu, self.cfg.session_sigma)

    def _fill(self) -> None:
        """The sessions already live when the clock starts: each placed by the policy, each
        with the rest of a length drawn as a session in progress is (longer ones are more
        likely to be in progress: the length-biased lognormal), so departures are steady."""
        sigma = self.cfg.session_sigma
        for _ in range(self.cfg.sessions):
            sid = self._new_id()
            try:
                ticket = self._reserve(sid, resume=False)
            except NoCapacity:
                self.counts["fill refused"] += 1
                continue
            self.placement.commit(ticket)
            self.live.add(sid)
            biased = self.rng.lognormvariate(self.mu + sigma**2, sigma)
            self.ends[sid] = self.rng.random() * biased
            self.at(self.ends[sid], self._depart, sid)
            self.counts["initial"] += 1
        for box in self.placement.boxes:
            self._report(box)

    def _new_id(self) -> str:
        self.next_id += 1
        return f"s{self.next_id:07d}"

    def _reserve(self, sid: str, *, resume: bool) -> Ticket:
        t = time.perf_counter()
        try:
            return self.placement.reserve(sid, resume=resume)
        finally:
            self.placement_s += time.perf_counter() - t
            self.reserves += 1

    def _report(self, box: str) -> None:
        # A worker reports its CPU load every second; a box's load follows its sessions, so
        # the report is applied when they change (the calls are counted in the report).
        b = self.placement.boxes.get(box)
        if b is not None:
            self.placement.report(box, (b.used + b.pending) / b.slots)

    # --- arrivals, departures ---------------------------------------------------------------

    def _arrive(self) -> None:
        sid = self._new_id()
        self.counts["arrivals"] += 1
        self.ends[sid] = self.now + self._length()
        self.at(self.ends[sid], self._depart, sid)
        self._offer(Flow(sid, "new"))
        self.at(self.now + self.rng.expovariate(self.rate), self._arrive)

    def _depart(self, sid: str) -> None:
        if self.ends.pop(sid, None) is None:
            return  # refused, or its reconnect failed: nothing is left to end
        if sid in self.live:
            self.live.discard(sid)
            self.at(self.now + self._one_way(), self._end, sid)
            self.counts["departures"] += 1
        elif sid in self.reconnecting:  # the user left while their page was reconnecting
            flow = self.reconnecting.pop(sid)
            self.counts[f"{flow.kind}: left while reconnecting"] += 1
        else:  # still being opened: the open's own steps see `ends` gone and stop
            self.counts["left while opening"] += 1

    def _end(self, sid: str) -> None:
        box = self.placement.where.get(sid)
        self.directory()
        self.placement.end(sid)
        if box is not None:
            self._report(box)

    # --- signaling ---------------------------------------------------------------------------

    def _rtt(self) -> float:
        return self.rng.lognormvariate(math.log(max(self.cfg.client_rtt_ms, 1e-3) / 1000.0), 0.4)

    def _one_way(self) -> float:
        return 0.0005  # inside the data centre: front <-> head <-> worker

    def _offer(self, flow: Flow) -> None:
        """The page sends its offer: to one front (the load balancer's pick), which asks the
        directory for a slot."""
        front = self.rng.randrange(self.cfg.fronts)
        self.front_offers[front][int(self.now)] += 1
        self.at(self.now + self._rtt() / 2 + self._one_way(), self._place, flow)

    def _gone(self, flow: Flow) -> bool:
        return flow.sid not in self.ends  # the user left meanwhile

    def _place(self, flow: Flow) -> None:
        if self._gone(flow):
            return
        resume = flow.kind != "new"
        held = self.placement.where.get(flow.sid) if resume else None
        if held is not None and held in self.dead and held in self.placement.boxes:
            # The directory pings the box that holds the id (1 s timeout) unless its health
            # loop drops the box first; then it places the session elsewhere.
            when = min(self.now + self.cfg.ping_timeout_s, self.drop_at[held])
            self.at(when, self._drop, held)
            self.at(when, self._place, flow)
            return
        done = self.directory()
        try:
            ticket = self._reserve(flow.sid, resume=resume)
        except NoCapacity:
            self._refused(flow)
            return
        self._report(ticket.box)
        setup = self.rng.lognormvariate(math.log(max(self.cfg.setup_ms, 1e-3) / 1000.0), 0.5)
        if ticket.box in self.dead:
            # The node call fails (the actor is gone, not yet known to the directory): the
            # front cancels, the box is dropped, and the open is retried once elsewhere.
            self.at(done + self.cfg.ping_timeout_s, self._failed_open, flow, ticket)
            return
        self.at(done + self._one_way() + setup + self._one_way(), self._commit, flow, ticket)

    def _failed_open(self, flow: Flow, ticket: Ticket) -> None:
        self.directory(2)  # cancel + leave
        self.placement.cancel(ticket)
        self._drop(ticket.box)
        if self._gone(flow):
            return
        self.counts["opens retried on another box"] += 1
        if flow.retried:
            self._refused(flow, dead=True)
            return
        flow.retried = True
        self._place(flow)

    def _refused(self, flow: Flow, *, dead: bool = False) -> None:
        if flow.kind == "new":
            self.counts["new refused (dead box twice)" if dead else "new refused (NoCapacity)"] += 1
            if not dead and self.now <= self.storm_until:
                self.counts["new refused during failure storms"] += 1
            self.ends.pop(flow.sid, None)  # the page says busy; this visitor does not stream
            return
        self.counts[f"{flow.kind}: reconnect refused, retrying"] += 1
        if self.now + self.cfg.retry_s - flow.lost_at > self.cfg.give_up_s:
            self.reconnecting.pop(flow.sid, None)
            self.ends.pop(flow.sid, None)
            self.counts[f"{flow.kind}: reconnect failed"] += 1
            return
        self.at(self.now + self.cfg.retry_s, self._offer, flow)

    def _commit(self, flow: Flow, ticket: Ticket) -> None:
        self.directory()
        if ticket.box in self.dead or ticket.box not in self.placement.boxes:
            # The box went while it set the session up: as a failed node call.
            self.at(self.now, self._failed_open, flow, ticket)
            return
        if self._gone(flow):  # the user left while it was set up: the slot goes back
            self.placement.cancel(ticket)
            self._report(ticket.box)
            return
        self.placement.commit(ticket)
        self._report(ticket.box)
        self.live.add(flow.sid)
        rtt = self._rtt()
        # The answer goes back through the front; then ICE checks and DTLS (about two round
        # trips to the worker) and the first keyframe.
        streaming = self.now + self._one_way() + rtt / 2 + 2 * rtt + self.rng.uniform(0.03, 0.08)
        if flow.kind == "new":
            self.counts["new placed"] += 1
        else:
            self.reconnecting.pop(flow.sid, None)
            self.counts[f"{flow.kind}: reconnected"] += 1
            self.reconnect_s[flow.kind].append(streaming - flow.lost_at)

    # --- failures -----------------------------------------------------------------------------

    def _schedule_failures(self) -> None:
        rate = self.cfg.boxes / (self.cfg.mtbf_hours * 3600.0)
        t = self.rng.expovariate(rate)
        while t <= self.end_at:
            self.at(t, self._fail_random)
            t += self.rng.expovariate(rate)
        if self.cfg.rack_size and self.cfg.rack_minute * 60.0 <= self.end_at:
            self.at(self.cfg.rack_minute * 60.0, self._fail_rack)

    def _fail_random(self) -> None:
        up = [b for b in self.placement.boxes if b not in self.dead]
        if up:
            self._fail(self.rng.choice(sorted(up)), rejoin=True)

    def _fail_rack(self) -> None:
        up = sorted(b for b in self.placement.boxes if b not in self.dead)
        start = self.rng.randrange(max(1, len(up) - self.cfg.rack_size + 1))
        for box in up[start : start + self.cfg.rack_size]:
            self._fail(box, rejoin=True)
        self.counts["rack failures"] += 1

    def _fail(self, box: str, *, rejoin: bool) -> None:
        """The box dies: its pages stop receiving frames now; the directory notices at its
        next health round (the ping times out after 1 s)."""
        self.dead.add(box)
        self.counts["box failures"] += 1
        self.storm_until = self.now + STORM_S
        drop = self.now + self.rng.uniform(0, self.cfg.health_s) + self.cfg.ping_timeout_s
        self.drop_at[box] = drop
        self.at(drop, self._drop, box)
        for sid in sorted(self.placement.boxes[box].sessions):
            self._lose(
                sid,
                "failure",
                detect=self.cfg.detect_s + self.rng.uniform(0, self.cfg.detect_jitter_s),
            )
        if rejoin:
            repair = self.rng.lognormvariate(
                math.log(max(self.cfg.repair_minutes, 1e-3) * 60.0), 0.5
            )
            self.at(drop + repair, self._rejoin, box)

    def _lose(self, sid: str, kind: str, *, detect: float) -> None:
        if sid not in self.live:
            return
        self.live.discard(sid)
        flow = Flow(sid, kind, lost_at=self.now)
        self.reconnecting[sid] = flow
        self.counts[f"{kind}: sessions lost"] += 1
        self.at(self.now + detect, self._offer, flow)

    def _drop(self, box: str) -> None:
        if box in self.placement.boxes and box in self.dead:
            self.directory()
            self.placement.leave(box)

    def _rejoin(self, box: str) -> None:
        if box in self.placement.boxes:  # still listed: the health loop drops it first
            self._drop(box)
        self.directory()
        self.dead.discard(box)
        self.drop_at.pop(box, None)
        self.placement.join(box, f"node-{box}", self.slots[box])
        self.counts["boxes back"] += 1

    # --- rolling upgrade ------------------------------------------------------------------------

    def _schedule_upgrade(self) -> None:
        count = round(self.cfg.boxes * self.cfg.drain_share)
        if not count:
            return
        boxes = sorted(self.placement.boxes)
        chosen = self.rng.sample(boxes, count)
        step = self.cfg.drain_timeout_s + self.cfg.restart_s + 10.0
        for i in range(0, count, self.cfg.drain_batch):
            when = self.cfg.drain_minute * 60.0 + (i // self.cfg.drain_batch) * step
            self.at(when, self._drain, chosen[i : i + self.cfg.drain_batch])

    def _drain(self, boxes: list[str]) -> None:
        """SIGTERM to these workers: no new sessions; after the drain timeout the worker ends
        what is left (its pages move under the same id) and leaves; the new version joins."""
        for box in boxes:
            if box in self.dead or box not in self.placement.boxes:
                continue
            self.directory()
            self.placement.drain(box)
            self.counts["boxes drained"] += 1
            self.at(self.now + self.cfg.drain_timeout_s, self._drained, box)

    def _drained(self, box: str) -> None:
        if box in self.dead or box not in self.placement.boxes:
            return  # it failed meanwhile
        for sid in sorted(self.placement.boxes[box].sessions):
            # The worker ends the session: the page sees its peer close at once.
            self._lose(sid, "drain", detect=self.rng.uniform(0.05, 0.3))
        self.dead.add(box)
        self.drop_at[box] = self.now
        self._drop(box)
        self.at(self.now + self.cfg.restart_s, self._rejoin, box)

    # --- figures and books ------------------------------------------------------------------------

    def _sample(self) -> None:
        # Over every box listed, draining ones included (their sessions count too).
        cap = sum(b.slots for b in self.placement.boxes.values())
        used = self.placement.used()
        self.utilisation.append(used / cap if cap else 1.0)
        free = sum(b.free for b in self.placement.boxes.values() if not b.draining)
        self.min_free = min(self.min_free, free)
        if self.cfg.check:
            self._check()
        self.at(self.now + SAMPLE_S, self._sample)

    def _check(self) -> None:
        """The placement's books against the simulation's own: a box never over its slots,
        counts that match the sessions listed, no session on two boxes, no box that is gone."""
        seen: dict[str, str] = {}
        for b in self.placement.boxes.values():
            if b.used + b.pending > b.slots or b.pending < 0 or b.used != len(b.sessions):
                self.violations.append(
                    f"t={self.now:.1f} {b.id}: used {b.used} pending {b.pending} "
                    f"sessions {len(b.sessions)} slots {b.slots}"
                )
            for sid in b.sessions:
                if sid in seen:
                    self.violations.append(f"t={self.now:.1f} {sid} on {seen[sid]} and {b.id}")
                seen[sid] = b.id
        if set(self.placement.where) != set(seen):
            self.violations.append(
                f"t={self.now:.1f} where lists {len(self.placement.where)} sessions, boxes {len(seen)}"
            )
        # A session the simulation holds live is on a box (ends reach the directory 0.5 ms
        # after the user leaves, so the directory may hold a few more, never fewer).
        missing = self.live - set(seen)
        if missing:
            self.violations.append(
                f"t={self.now:.1f} {len(missing)} live sessions on no box, e.g. {min(missing)}"
            )


# --- the report ----------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


def simulate(cfg: Config) -> Result:
    return Sim(cfg).run()


def report(r: Result) -> str:
    cfg, c = r.cfg, r.counts
    secs = cfg.minutes * 60.0
    gpus = round(cfg.boxes * cfg.gpu_share)
    slots = gpus * cfg.gpu_slots + (cfg.boxes - gpus) * cfg.cpu_slots
    lines = [
        f"cluster: {cfg.boxes} boxes ({cfg.boxes - gpus} CPU x {cfg.cpu_slots} slots, "
        f"{gpus} GPU x {cfg.gpu_slots}) = {slots:,} slots; {cfg.fronts} fronts; seed {cfg.seed}",
        f"load: {cfg.sessions:,} concurrent sessions, mean {cfg.session_minutes:g} min "
        f"(lognormal sigma {cfg.session_sigma:g}): {cfg.sessions / (cfg.session_minutes * 60):.1f} "
        f"arrivals/s; {cfg.minutes:g} min simulated after the fill",
        f"failures: MTBF {cfg.mtbf_hours:g} h a box, repair ~{cfg.repair_minutes:g} min, a rack of "
        f"{cfg.rack_size} at minute {cfg.rack_minute:g}; rolling upgrade of "
        f"{cfg.drain_share:.0%} in batches of {cfg.drain_batch} (drain timeout "
        f"{cfg.drain_timeout_s:g} s, restart {cfg.restart_s:g} s)",
        "",
        "placement",
        f"  initial sessions placed       {c['initial']:,} (refused {c['fill refused']:,})",
        f"  new sessions                  {c['arrivals']:,} arrived, {c['new placed']:,} placed",
        f"  refused (NoCapacity)          {c['new refused (NoCapacity)']:,} "
        f"({c['new refused (NoCapacity)'] / max(1, c['arrivals']):.3%}); during failure storms "
        f"(30 s after a failure): {c['new refused during failure storms']:,}",
        f"  opens on a dead box, retried  {c['opens retried on another box']:,} "
        f"(refused after the retry: {c['new refused (dead box twice)']:,})",
        f"  departures                    {c['departures']:,}",
        f"  box failures                  {c['box failures']:,} ({c['rack failures']} rack), "
        f"back after repair {c['boxes back']:,} (upgrades included)",
        f"  boxes drained (upgrade)       {c['boxes drained']:,}",
        "",
        "reconnects (box lost -> streaming again, s)",
    ]
    for kind in ("failure", "drain"):
        times = r.reconnect_s[kind]
        lines.append(
            f"  {kind:8s} lost {c[f'{kind}: sessions lost']:,}; reconnected "
            f"{c[f'{kind}: reconnected']:,}, failed {c[f'{kind}: reconnect failed']:,}, the user "
            f"left meanwhile {c[f'{kind}: left while reconnecting']:,}, still reconnecting at "
            f"the end {r.in_flight[kind]:,}"
        )
        if times:
            lines.append(
                f"           p50 {percentile(times, 50):.2f}  p95 {percentile(times, 95):.2f}  "
                f"p99 {percentile(times, 99):.2f}  max {max(times):.2f}  "
                f"(within 10 s: {sum(t <= 10 for t in times) / len(times):.2%})"
            )
        refused = c[f"{kind}: reconnect refused, retrying"]
        if refused:
            lines.append(
                f"           refused once or more (NoCapacity, retried every {cfg.retry_s:g} s): {refused:,}"
            )
    lines += ["", "signaling per front (offers/s: new + reconnects)"]
    per_front = [sum(f.values()) / secs for f in r.front_offers]
    peaks = [max(f.values(), default=0) for f in r.front_offers]
    lines.append(
        f"  mean {sum(per_front) / len(per_front):.2f}/s a front (min {min(per_front):.2f}, "
        f"max {max(per_front):.2f}); peak second: {max(peaks)} on the busiest front, "
        f"median front's peak {sorted(peaks)[len(peaks) // 2]}"
    )
    total = Counter[int]()
    for f in r.front_offers:
        total.update(f)
    lines.append(
        f"  all fronts: mean {sum(total.values()) / secs:.1f}/s, peak {max(total.values(), default=0)}/s"
    )
    ops = r.dir_ops
    busiest = max(ops.values(), default=0)
    lines += [
        "",
        "directory (one actor)",
        f"  reserve+commit+end and the rest: mean {sum(ops.values()) / secs:.1f} ops/s, peak "
        f"{busiest} ops/s; at {cfg.dir_op_ms:g} ms an op: busy {sum(ops.values()) * cfg.dir_op_ms / 1000 / secs:.1%} "
        f"on average, {busiest * cfg.dir_op_ms / 1000:.1%} in the peak second",
        f"  queue wait p99 {percentile(r.dir_wait_s, 99) * 1000:.2f} ms, max "
        f"{max(r.dir_wait_s, default=0) * 1000:.2f} ms",
        f"  besides: load reports {cfg.boxes}/s and health pings {cfg.boxes / cfg.health_s:.0f}/s "
        "(one a box each second / health round)",
        f"  Placement.reserve in this process: {r.placement_s / max(1, r.reserves) * 1e6:.0f} us a call "
        f"over {r.reserves:,} calls ({cfg.boxes} boxes: it looks at every box)",
        "",
        "utilisation (sessions + pending over the slots of the boxes up, every 10 s)",
        f"  mean {sum(r.utilisation) / max(1, len(r.utilisation)):.1%}, max "
        f"{max(r.utilisation, default=0):.1%}; fewest free slots (boxes taking sessions) {r.min_free:,}",
        f"  at the end: {len(r.live):,} live, {len(r.reconnecting):,} reconnecting; Placement holds "
        f"{sum(b.used for b in r.placement.boxes.values()):,} sessions, "
        f"{sum(b.pending for b in r.placement.boxes.values()):,} pending",
        f"simulated in {r.wall_s:.1f} s of wall time",
    ]
    if r.violations:
        lines.append(f"BOOKS DO NOT ADD UP: {len(r.violations)} findings, first: {r.violations[0]}")
    return "\n".join(lines)


def parse(argv: list[str] | None = None) -> Config:
    """The command line's sizes as a Config; anything out of LIMITS exits with its reason."""
    parser = argparse.ArgumentParser(
        prog="python -m tests.bench.sim_cluster",
        description="Discrete-event simulation of the Ray cluster's placement (docs/SCALE.md).",
    )
    defaults = Config()
    for f in fields(Config):
        if f.name == "check":
            continue
        value = getattr(defaults, f.name)
        parser.add_argument(
            "--" + f.name.replace("_", "-"),
            type=type(value),
            default=value,
            metavar=type(value).__name__.upper(),
            help=f"default {value}",
        )
    args = parser.parse_args(argv)
    cfg = replace(
        defaults, **{f.name: getattr(args, f.name) for f in fields(Config) if f.name != "check"}
    )
    try:
        validate(cfg)
    except ValueError as e:
        parser.error(str(e))
    return cfg


def main(argv: list[str] | None = None) -> int:
    print(report(simulate(parse(argv))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
