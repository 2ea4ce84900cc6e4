"""The standing fault suite (issue 10): points, stations check-ins and notify under faults.

On a private Kafka and store (never the shared ones), partners send events with a real Kafka
client while:

1. each consuming service (points, then stations, then notify) is SIGKILLed twice mid-stream
   and restarted at once;
2. every service replays every topic from the start under a new consumer group;
3. the store is frozen (SIGSTOP of its JVM) for 45 s while events keep arriving;
4. the Kafka broker is stopped and started again with a backlog in flight.

Then the invariants are checked once, each test below reporting one family of them: balances
equal the ledger and the expected awards (every award exactly once), one announcement per
check-in, one inbox item per notifying event and channel, nothing in any DLQ, and a replay
changes nothing. Recovery times are measured at each fault. ``make chaos`` runs it and writes
the results into ``docs/reliability.md``; ``make test-slow`` runs it too. Sizes: ``CHAOS_*``
variables (see ``harness.ChaosConfig``).
"""

from __future__ import annotations

import asyncio
import atexit
import shutil
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient

from common.events import parse_envelope
from common.testing import unique_name
from tests.chaos.harness import (
    POLL,
    SERVICES,
    STATION_ID,
    ChaosConfig,
    Effects,
    Fleet,
    Groups,
    Outcome,
    Partners,
    PrivateInfra,
    Recovery,
    Sent,
    Workload,
    dlq_reasons,
    interleave,
    log,
    notifying,
    operator_headers,
    read_all,
    topics_of_run,
    wait_for,
    write_report,
)

pytestmark = [pytest.mark.slow, pytest.mark.chaos, pytest.mark.timeout(3600)]

STATION = {
    "station_id": STATION_ID,
    "name": "霞浦集卡司机之家",
    "kind": "drivers_home",
    "operator_org": "北仑区交通运输行业党委",
    "address": "宁波市北仑区霞浦街道",
    "location": {"lat": 29.8880, "lng": 121.8450},
    "hours": {"always_open": True},
    "capacity": {"beds": 10, "parking": 20, "showers": 4},
    "services": [{"code": c} for c in ("rest", "shower", "meals")],
    "kiosk_partners": ["station-kiosk"],
}

# aiokafka's default session.timeout.ms, which the services keep.
CONSUMER_SESSION_TIMEOUT_S = 10.0


class Scenario:
    def __init__(
        self, config: ChaosConfig, infra: PrivateInfra, fleet: Fleet, effects: Effects, run: str
    ) -> None:
        self.config = config
        self.infra = infra
        self.fleet = fleet
        self.effects = effects
        self.run = run
        self.workload = Workload(run, config)
        self.outcome = Outcome(config)
        self.timeout = config.wait_timeout

    # -------------------------------------------------------------------------- the run
    async def play(self) -> Outcome:
        started = time.monotonic()
        n, m = self.config.events, self.config.wave
        w = self.workload
        points_wave = w.partner_wave(n)
        kiosk_drivers, stations_wave = w.kiosk_wave(n)
        notify_wave = w.partner_wave(n)
        freeze_drivers, freeze_kiosk = w.kiosk_wave(m)
        freeze_points = w.partner_wave(m)
        broker_drivers, broker_kiosk = w.kiosk_wave(m)
        broker_points = w.partner_wave(m)
        w.register([*w.points_drivers, *kiosk_drivers, *freeze_drivers, *broker_drivers])

        log(f"run {self.run}: starting points, stations and notify")
        self.fleet.startup_s = await self.fleet.start_all()
        log(f"services ready in {self.fleet.startup_s:.1f}s")
        await self.open_station()
        await self.register_drivers()

        await self.kill_phase("points", points_wave, lambda s: s.award, self.points_progress)
        await self.kill_phase(
            "stations", stations_wave, lambda s: s.checkin or "", self.stations_progress
        )
        await self.kill_phase("notify", notify_wave, lambda s: s.inbox, self.notify_progress)
        await self.settle("after the SIGKILL phases")

        before, balances = await self.snapshot()
        await self.replay()
        after, balances_after = await self.snapshot()
        for key, value in before.items():
            self.outcome.check("replay", f"{key} unchanged by the replay", value, after[key])
        self.outcome.check(
            "replay",
            "accounts whose balance the replay changed",
            0,
            sum(balances_after.get(d) != b for d, b in balances.items()),
        )

        await self.freeze_phase(interleave(freeze_points, freeze_kiosk))
        await self.broker_phase(interleave(broker_points, broker_kiosk))
        await self.settle("at the end")

        await self.check_invariants()
        self.outcome.duration_s = time.monotonic() - started
        return self.outcome

    # -------------------------------------------------------------------------- set-up
    async def open_station(self) -> None:
        async with httpx.AsyncClient(base_url=self.fleet.processes["stations"].url) as http:
            answer = await http.post("/v1/stations", json=STATION, headers=operator_headers())
        assert answer.status_code == 201, answer.text

    async def register_drivers(self) -> None:
        events = self.workload.registrations
        async with Partners(self.infra.bootstrap) as producer:
            await asyncio.gather(
                *(producer.send(self.workload.topic("registry.events"), e) for e in events)
            )
        took = await wait_for(
            "drivers known to points, stations and notify",
            lambda: self.effects.registered(self.workload),
            timeout=self.timeout,
            fleet=self.fleet,
        )
        log(f"{len(events)} drivers registered in {took:.1f}s")

    # -------------------------------------------------------------------------- probes
    async def points_progress(self, ids: Sequence[str], done: bool) -> int:
        return await self.effects.entries(ids, done=done)

    async def stations_progress(self, ids: Sequence[str], done: bool) -> int:
        return await self.effects.checkins(ids, done=done)

    async def notify_progress(self, ids: Sequence[str], done: bool) -> int:
        return await self.effects.inbox(ids)

    async def first_effect_after(
        self, targets: Sequence[tuple[str, Sequence[str]]], moment: datetime
    ) -> float | None:
        firsts = [await self.effects.first_after(t, ids, moment) for t, ids in targets]
        found = [f for f in firsts if f is not None]
        return (min(found) - moment).total_seconds() if found else None

    # -------------------------------------------------------------------------- faults
    async def kill_phase(
        self,
        target: str,
        items: Sequence[Sent],
        effect_of: Callable[[Sent], str],
        progress: Callable[[Sequence[str], bool], Awaitable[int]],
    ) -> None:
        """Partners send ``items`` at a steady pace; ``target`` is SIGKILLed when a third and
        when two thirds of its effects are there, and started again at once.

        A restarted member gets partitions only once the group has dropped the killed one
        (its session times out), so a restart takes start-up plus that timeout; the stream
        lasts at least four such restarts, so the second kill still finds events coming in.
        """
        ids = [effect_of(s) for s in items]
        restart = self.fleet.startup_s + CONSUMER_SESSION_TIMEOUT_S
        rate = min(self.config.rate, len(items) / (4 * restart))
        log(f"{target}: {len(items)} events at {rate:.1f}/s, two SIGKILLs mid-stream")
        async with Partners(self.infra.bootstrap) as partners:
            producing = asyncio.create_task(partners.paced(items, rate))
            try:
                for kill, fraction in enumerate((1 / 3, 2 / 3), start=1):
                    goal = int(len(ids) * fraction)

                    async def short(goal: int = goal) -> dict[str, int]:
                        done = await progress(ids, False)
                        return {"effects short of the goal": max(0, goal - done)}

                    await wait_for(f"{target} at {goal}", short, timeout=self.timeout)
                    reached = await progress(ids, False)
                    assert reached < len(ids), (
                        f"{target} finished the stream before kill #{kill}: raise CHAOS_EVENTS "
                        "or lower CHAOS_RATE"
                    )
                    killed_at, t0 = datetime.now(UTC), time.monotonic()
                    self.fleet.kill(target)
                    self.fleet.start(target)

                    async def lagging() -> dict[str, int]:
                        # Caught up: every event sent more than a second ago has its effect.
                        due = [
                            effect_of(s)
                            for s in items
                            if (s.sent_at or 1e18) < time.monotonic() - 1
                        ]
                        return {"due effects": len(due) - await progress(due, True)}

                    resumed = await self.wait_first_effect([(target, ids)], killed_at)
                    await wait_for(
                        f"{target} after kill #{kill}",
                        lagging,
                        timeout=self.timeout,
                        fleet=self.fleet,
                    )
                    caught_up = time.monotonic() - t0
                    note = f"killed with {reached} of {len(ids)} effects done"
                    self.outcome.recoveries.append(
                        Recovery(f"SIGKILL #{kill} mid-stream", target, resumed, caught_up, note)
                    )
                    log(
                        f"{target}: kill #{kill} at {reached}/{len(ids)}: resumed after "
                        f"{resumed:.1f}s, caught up after {caught_up:.1f}s"
                    )
                await producing
            finally:
                producing.cancel()

    async def wait_first_effect(
        self, targets: Sequence[tuple[str, Sequence[str]]], moment: datetime
    ) -> float:
        """Seconds from ``moment`` to the first effect written after it (the services' clock)."""
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            self.fleet.check_alive()
            first = await self.first_effect_after(targets, moment)
            if first is not None:
                return first
            await asyncio.sleep(POLL)
        raise AssertionError(f"no effect within {self.timeout:.0f}s of {moment:%H:%M:%S}")

    async def freeze_phase(self, items: Sequence[Sent]) -> None:
        """Half the wave is a backlog being worked on when the store stops answering; the other
        half arrives while it is frozen."""
        seconds = self.config.freeze_seconds
        half = len(items) // 2
        log(f"store freeze: {len(items)} events, SIGSTOP for {seconds:g}s")
        async with Partners(self.infra.bootstrap) as partners:
            await partners.burst(items[:half])
            await asyncio.sleep(0.3)  # the services are at work on the backlog
            frozen = time.monotonic()
            self.infra.freeze_store()
            try:
                rate = max(self.config.rate, (len(items) - half) / max(1.0, seconds * 0.7))
                await partners.paced(items[half:], rate)
                await asyncio.sleep(max(0.0, seconds - (time.monotonic() - frozen)))
            finally:
                self.infra.thaw_store()
        thawed_at, t0 = datetime.now(UTC), time.monotonic()
        self.fleet.check_alive()
        await self.recovered(
            "store frozen (SIGSTOP), then SIGCONT",
            items,
            thawed_at,
            t0,
            f"frozen {seconds:g} s; {len(items)} events in flight",
        )

    async def broker_phase(self, items: Sequence[Sent]) -> None:
        """A backlog is in flight when the broker stops; it is started again at once. The rest
        of the wave is sent once it is back."""
        half = len(items) // 2
        log(f"broker restart: {len(items)} events, half of them in flight")
        async with Partners(self.infra.bootstrap) as partners:
            await partners.burst(items[:half])
        await asyncio.sleep(0.3)  # the services are at work on the backlog
        stopping = time.monotonic()
        await asyncio.to_thread(self.infra.stop_kafka)
        started_at, t0 = datetime.now(UTC), time.monotonic()
        await asyncio.to_thread(self.infra.start_kafka)
        ready = time.monotonic() - t0
        self.fleet.check_alive()
        await self.recovered(
            "Kafka broker restarted",
            items[:half],
            started_at,
            t0,
            f"stopping took {t0 - stopping:.1f} s, then ready {ready:.1f} s after its start; "
            f"{half} events in flight",
        )
        async with Partners(self.infra.bootstrap) as partners:
            await partners.paced(items[half:], self.config.rate)
        await self.settle("after the broker restart")

    async def recovered(
        self, fault: str, items: Sequence[Sent], moment: datetime, t0: float, note: str
    ) -> None:
        await wait_for(
            f"everything after: {fault}",
            lambda: self.effects.missing(self.workload, items),
            timeout=self.timeout,
            fleet=self.fleet,
        )
        caught_up = time.monotonic() - t0
        targets = [
            ("points", [s.award for s in items]),
            ("stations", [s.checkin for s in items if s.checkin]),
            ("notify", [s.inbox for s in items]),
        ]
        resumed = await self.wait_first_effect(targets, moment)
        self.outcome.recoveries.append(Recovery(fault, "all three", resumed, caught_up, note))
        log(f"{fault}: resumed after {resumed:.1f}s, caught up after {caught_up:.1f}s")

    async def replay(self) -> None:
        """Every service restarted under a new consumer group: a full replay of every topic."""
        groups = Groups(self.infra.bootstrap)
        old = await groups.committed(f"{self.run}.")
        self.fleet.stop_all()
        self.fleet.group = "replay"
        wanted: dict[str, dict[str, list[Any]]] = {s: {} for s in SERVICES}
        for group, offsets in old.items():
            service, _, suffix = group.removeprefix(f"{self.run}.").partition(".")
            if service in wanted:
                new = f"{self.run}.{service}-replay.{suffix}"
                wanted[service][new] = list(offsets)
        ends = await groups.end_offsets(
            {tp for per in wanted.values() for parts in per.values() for tp in parts}
        )
        log("replay: every service under a new consumer group, from the earliest offsets")
        t0 = time.monotonic()
        for name in SERVICES:
            self.fleet.start(name)
        pending = set(SERVICES)
        deadline = t0 + self.timeout
        while pending and time.monotonic() < deadline:
            self.fleet.check_alive()
            committed = await groups.committed(f"{self.run}.")
            for service in list(pending):
                behind = sum(
                    max(0, ends[tp] - committed.get(group, {}).get(tp, 0))
                    for group, parts in wanted[service].items()
                    for tp in parts
                )
                if behind == 0:
                    pending.discard(service)
                    records = sum(ends[tp] for parts in wanted[service].values() for tp in parts)
                    took = time.monotonic() - t0
                    self.outcome.recoveries.append(
                        Recovery(
                            "full replay, new consumer group",
                            service,
                            None,
                            took,
                            f"{records} records re-read (process start included)",
                        )
                    )
                    log(f"replay: {service} re-read {records} records in {took:.1f}s")
            await asyncio.sleep(1.0)
        assert not pending, f"replay not finished within {self.timeout:.0f}s: {sorted(pending)}"
        await self.settle("after the replay")

    # -------------------------------------------------------------------------- checks
    def sent(self, before: float | None = None) -> list[Sent]:
        """What the partners have sent (the workload is planned ahead), optionally only
        what was sent before a moment (monotonic clock)."""
        return [
            s
            for s in self.workload.sent
            if s.sent_at is not None and (before is None or s.sent_at <= before)
        ]

    async def settle(self, when: str) -> None:
        took = await wait_for(
            f"every effect {when}",
            lambda: self.effects.missing(self.workload, self.sent()),
            timeout=self.timeout,
            fleet=self.fleet,
        )
        log(f"settled {when} ({took:.1f}s)")

    async def snapshot(self) -> tuple[dict[str, object], dict[str, int]]:
        e = self.effects
        balances = {
            d["_id"]: d["balance"] async for d in e.points["accounts"].find({}, {"balance": 1})
        }
        announced = await self.distinct_ids("stations.events")
        awarded = await self.distinct_ids("points.events")
        counts: dict[str, object] = {
            "ledger entries": await e.points["ledger"].count_documents({}),
            "sum of balances": sum(balances.values()),
            "check-ins": await e.stations["checkins"].count_documents({}),
            "distinct announcements on stations.events": len(announced),
            "distinct events on points.events": len(awarded),
            "notifications": await e.notify["notifications"].count_documents({}),
        }
        return counts, balances

    async def distinct_ids(self, topic: str) -> set[str]:
        records = await read_all(self.infra.bootstrap, [self.workload.topic(topic)])
        return {parse_envelope(r.value or b"").id for r in records}

    async def check_invariants(self) -> None:
        o, e, w = self.outcome, self.effects, self.workload
        expected = w.expected_balances()
        awards = {s.award for s in w.sent}

        # points: balance = ledger = expected awards; every award exactly once
        ledger_sum: dict[str, int] = {}
        states: Counter[str] = Counter()
        unpublished = 0
        entry_ids = set()
        async for doc in e.points["ledger"].find(
            {}, {"driver_id": 1, "amount": 1, "state": 1, "published": 1, "kind": 1}
        ):
            entry_ids.add(doc["_id"])
            states[doc["state"]] += 1
            unpublished += not doc.get("published")
            if doc["state"] == "applied":
                ledger_sum[doc["driver_id"]] = ledger_sum.get(doc["driver_id"], 0) + doc["amount"]
        accounts = [d async for d in e.points["accounts"].find({})]
        o.check("points", "accounts (one per registered driver)", len(expected), len(accounts))
        o.check(
            "points",
            "accounts whose balance differs from the sum of their ledger",
            0,
            sum(a["balance"] != ledger_sum.get(a["_id"], 0) for a in accounts),
        )
        o.check(
            "points",
            "accounts whose balance differs from the expected awards",
            0,
            sum(a["balance"] != expected.get(a["_id"]) for a in accounts),
        )
        o.check(
            "points",
            "sum of balances (points)",
            sum(expected.values()),
            sum(a["balance"] for a in accounts),
        )
        o.check(
            "points",
            "ledger entries (one award per partner event and per check-in)",
            len(awards),
            len(entry_ids),
        )
        o.check(
            "points", "expected awards missing or unexpected entries", 0, len(awards ^ entry_ids)
        )
        o.check(
            "points",
            "entries not applied, or not published",
            0,
            len(entry_ids) - states["applied"] + unpublished,
        )
        left = [(a["_id"], p["id"]) for a in accounts for p in a.get("pending") or ()]
        o.check("points", "accounts with an entry left pending", 0, len({d for d, _ in left}))
        for driver, entry in left:
            doc = await e.points["ledger"].find_one({"_id": entry}) or {}
            o.details.append(
                f"account `{driver}` still lists entry `{entry}` as pending; the entry is "
                f"{doc.get('state')}, published={doc.get('published')}"
            )

        points_records = await read_all(self.infra.bootstrap, [w.topic("points.events")])
        points_events = [parse_envelope(r.value or b"") for r in points_records]
        awarded = {ev.id for ev in points_events if ev.type == "points.awarded.v1"}
        o.check("points", "points.awarded announcements (distinct ids)", len(awards), len(awarded))
        o.check("points", "ledger entries announced other than once", 0, len(awarded ^ awards))

        # stations: one check-in and one announcement per kiosk event
        kiosk = [s for s in w.sent if s.checkin]
        checkin_ids = {s.checkin for s in kiosk}
        checkins = [d async for d in e.stations["checkins"].find({}, {"status": 1, "outbox": 1})]
        stations_records = await read_all(self.infra.bootstrap, [w.topic("stations.events")])
        announcements = [parse_envelope(r.value or b"") for r in stations_records]
        announced = {a.id for a in announcements if a.type == "service.used.v1"}
        o.check("stations", "check-ins (one per kiosk event)", len(kiosk), len(checkins))
        o.check(
            "stations",
            "check-ins counted (none refused or taken for a duplicate)",
            len(kiosk),
            sum(c.get("status") == "counted" for c in checkins),
        )
        o.check(
            "stations",
            "check-ins with an announcement still in their outbox",
            0,
            sum(bool(c.get("outbox")) for c in checkins),
        )
        o.check(
            "stations",
            "service.used announcements on stations.events (distinct ids)",
            len(kiosk),
            len(announced),
        )
        o.check("stations", "check-ins announced other than once", 0, len(announced ^ checkin_ids))

        # notify: one inbox item per notifying event, one notification per event and channel
        domain = ["registry.events", "points.events", "stations.events", "cases.events"]
        records = await read_all(self.infra.bootstrap, [w.topic(t) for t in domain])
        due = notifying(records)
        notes = [
            d
            async for d in e.notify["notifications"].find(
                {}, {"driver_id": 1, "source": 1, "source_id": 1, "channel_key": 1, "channel": 1}
            )
        ]
        per_channel = Counter(
            (d["driver_id"], d["source"], d["source_id"], d["channel_key"]) for d in notes
        )
        inbox = {d["_id"] for d in notes if d["channel"] == "inbox"}
        award_inbox = {s.inbox for s in w.sent}
        o.check("notify", "inbox items (one per notifying event)", len(due), len(inbox))
        o.check(
            "notify", "notifying events without exactly one inbox item", 0, len(set(due) ^ inbox)
        )
        o.check(
            "notify", "awards of the workload without their inbox item", 0, len(award_inbox - inbox)
        )
        o.check(
            "notify",
            "(event, channel) pairs notified more than once",
            0,
            sum(c > 1 for c in per_channel.values()),
        )

        # dead letters: every event sent was valid
        dlq = [t for t in await topics_of_run(self.infra.bootstrap, self.run) if t.endswith(".dlq")]
        letters = await read_all(self.infra.bootstrap, dlq)
        o.dead_letters = dlq_reasons(letters)
        o.check("dead letters", f"records in the {len(dlq)} DLQ topics", 0, len(letters))

        # At least once: a crash between publishing and noting it republishes the same id.
        o.republished = {
            "points.events": len(points_records) - len({ev.id for ev in points_events}),
            "stations.events": len(stations_records) - len({a.id for a in announcements}),
        }


@pytest.fixture(scope="module")
async def outcome() -> Outcome:
    config = ChaosConfig.from_env()
    infra = PrivateInfra(config)
    run = unique_name("chaos")
    logs = config.infra_dir / "services"
    shutil.rmtree(logs, ignore_errors=True)
    result: Outcome | None = None
    atexit.register(infra.down, purge=False)  # a last resort if teardown never runs
    infra.up()
    logs.mkdir(parents=True, exist_ok=True)
    try:
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            infra.mongo_url,
            tz_aware=True,
            serverSelectionTimeoutMS=10_000,
            socketTimeoutMS=60_000,
        )
        fleet = Fleet(infra, run, logs)
        try:
            result = await Scenario(config, infra, fleet, Effects(client, run), run).play()
        finally:
            fleet.stop_all()
            await client.close()
    finally:
        # Keep the data (and logs) for a look when anything did not hold.
        infra.down(purge=result is not None and not result.failing() and not config.keep)
        atexit.unregister(infra.down)
        if result is None:
            log(f"failed: service logs in {logs}, infrastructure logs in {infra.dir}/logs")
    report = result.render()
    print("\n" + report, flush=True)
    if config.report is not None:
        write_report(config.report, report)
        log(f"results written to {config.report}")
    return result


def failures(outcome: Outcome, area: str) -> str:
    return "\n".join(
        f"{c.invariant}: expected {c.expected}, observed {c.observed}"
        for c in outcome.failing(area)
    )


def test_every_award_counts_exactly_once_and_balances_equal_the_ledger(outcome: Outcome) -> None:
    assert not outcome.failing("points"), failures(outcome, "points")


def test_every_check_in_is_announced_exactly_once(outcome: Outcome) -> None:
    assert not outcome.failing("stations"), failures(outcome, "stations")


def test_every_notifying_event_reaches_the_inbox_once_per_channel(outcome: Outcome) -> None:
    assert not outcome.failing("notify"), failures(outcome, "notify")


def test_no_valid_event_is_dead_lettered(outcome: Outcome) -> None:
    assert not outcome.failing("dead letters"), "\n".join(outcome.dead_letters)


def test_a_full_replay_from_a_new_consumer_group_changes_nothing(outcome: Outcome) -> None:
    assert not outcome.failing("replay"), failures(outcome, "replay")


def test_every_service_recovers_from_every_fault(outcome: Outcome) -> None:
    kinds = Counter((r.fault.split(" #")[0], r.service) for r in outcome.recoveries)
    for service in SERVICES:
        assert kinds[("SIGKILL", service)] == 2, kinds
        assert kinds[("full replay, new consumer group", service)] == 1, kinds
    assert kinds[("store frozen (SIGSTOP), then SIGCONT", "all three")] == 1, kinds
    assert kinds[("Kafka broker restarted", "all three")] == 1, kinds
    assert all(r.resumed_s is not None for r in outcome.recoveries if "replay" not in r.fault)
