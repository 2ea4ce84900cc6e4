"""The standing fault suite's machinery (issue 10): private infrastructure, service processes,
the partners' workload and the effects it must leave behind.

The suite freezes the store and restarts the broker, so it never uses the shared local
infrastructure: ``deploy/local/infra.sh`` starts a private Kafka and store on other ports and in
their own directory, and every pid the suite signals is checked to be one of those.
"""

from __future__ import annotations

import asyncio
import os
import platform
import re
import signal
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from common.auth import issue_token
from common.events import CloudEvent, new_event, parse_envelope
from common.events.partner import PartnerServiceUsed, TrainingCompleted, VolunteerLogged
from common.events.registry import DriverRegistered
from common.settings import ServiceSettings
from common.testing import REPO_ROOT, ServiceProcess, headers_of, unique_name
from notify.domain import notification_id
from notify.templates import NOTIFYING
from points.domain import entry_id
from points.rules import DEFAULT_RULES, Rule, RuleSpec, choose_rule
from stations.domain import derived_id

INFRA_SCRIPT = REPO_ROOT / "deploy" / "local" / "infra.sh"
SERVICES = ("points", "stations", "notify")
STATION_ID = "stn_chaos"
KIOSK_SOURCE = "partner/station-kiosk"
STATIONS_SOURCE = "driverhome/stations"
POINTS_SOURCE = "driverhome/points"
REGISTRY_SOURCE = "driverhome/registry"
# Where each partner event type arrives (the default partner catalogue).
PARTNER_OF = {
    "training.completed.v1": "training-centre",
    "volunteer.logged.v1": "volunteer-team",
    "service.used.v1": "station-kiosk",
}
POLL = 0.3


def log(message: str) -> None:
    print(f"chaos {time.strftime('%H:%M:%S')} {message}", flush=True)


@dataclass(frozen=True)
class ChaosConfig:
    """Sizes and places, from ``CHAOS_*`` environment variables (``make chaos`` passes them)."""

    events: int = 300  # per service, in each SIGKILL phase
    rate: float = 20.0  # events/s the partners send during a paced wave
    freeze_seconds: float = 45.0
    kafka_port: int = 19092
    controller_port: int = 19093
    mongo_port: int = 27018
    infra_dir: Path = REPO_ROOT / ".infra" / "chaos"
    report: Path | None = None
    keep: bool = False  # leave the private infrastructure's data for a look afterwards
    wait_timeout: float = 300.0  # the longest any one step may take

    @classmethod
    def from_env(cls) -> ChaosConfig:
        env = os.environ
        report = Path(env["CHAOS_REPORT"]) if env.get("CHAOS_REPORT") else None
        config = cls(
            events=int(env.get("CHAOS_EVENTS", cls.events)),
            rate=float(env.get("CHAOS_RATE", cls.rate)),
            freeze_seconds=float(env.get("CHAOS_FREEZE_SECONDS", cls.freeze_seconds)),
            kafka_port=int(env.get("CHAOS_KAFKA_PORT", cls.kafka_port)),
            controller_port=int(env.get("CHAOS_KAFKA_CONTROLLER_PORT", cls.controller_port)),
            mongo_port=int(env.get("CHAOS_MONGO_PORT", cls.mongo_port)),
            infra_dir=Path(env.get("CHAOS_INFRA_DIR", str(cls.infra_dir))).absolute(),
            report=report if report is None or report.is_absolute() else REPO_ROOT / report,
            keep=env.get("CHAOS_KEEP") == "1",
            wait_timeout=float(env.get("CHAOS_WAIT_TIMEOUT", cls.wait_timeout)),
        )
        if not 30 <= config.events <= 100_000:
            raise ValueError("CHAOS_EVENTS must be between 30 and 100000")
        if not 0 < config.freeze_seconds <= 600:
            raise ValueError("CHAOS_FREEZE_SECONDS must be in (0, 600]")
        if config.kafka_port in (9092, 9093) or config.mongo_port == 27017:
            raise ValueError("the chaos suite must not use the shared infrastructure's ports")
        return config

    @property
    def wave(self) -> int:
        """Events per service in the store-freeze and broker-restart waves."""
        return max(30, self.events // 3)

    def settings_line(self) -> str:
        return (
            f"CHAOS_EVENTS={self.events} CHAOS_RATE={self.rate:g} "
            f"CHAOS_FREEZE_SECONDS={self.freeze_seconds:g}"
        )


# ------------------------------------------------------------------------------ infrastructure


class PrivateInfra:
    """Kafka and the store on their own ports and directory, started with ``infra.sh``."""

    def __init__(self, config: ChaosConfig) -> None:
        self.config = config
        self.dir = config.infra_dir
        self.bootstrap = f"127.0.0.1:{config.kafka_port}"
        self.mongo_url = f"mongodb://127.0.0.1:{config.mongo_port}"
        self._env = {
            **os.environ,
            "KAFKA_PORT": str(config.kafka_port),
            "KAFKA_CONTROLLER_PORT": str(config.controller_port),
            "MONGO_PORT": str(config.mongo_port),
            "DRIVERHOME_INFRA_DIR": str(self.dir),
        }
        self._frozen: int | None = None

    def _infra(self, *args: str, check: bool = True) -> None:
        subprocess.run(["bash", str(INFRA_SCRIPT), *args], env=self._env, check=check)

    def up(self) -> None:
        self._infra("down", "--purge", check=False)  # whatever an aborted run left behind
        self._infra("up")

    def down(self, *, purge: bool) -> None:
        self.thaw_store()
        self._infra(*(["down", "--purge"] if purge else ["down"]), check=False)

    def pid(self, component: str) -> int:
        """The pid of our own server, checked by the markers ``infra.sh`` gives every JVM."""
        pid = int((self.dir / "run" / f"{component}.pid").read_text().strip())
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        wanted = {
            f"-Ddriverhome.infra.component={component}".encode(),
            f"-Ddriverhome.infra.dir={self.dir}".encode(),
        }
        if not wanted <= set(args):
            raise RuntimeError(f"pid {pid} is not the chaos suite's {component}")
        return pid

    def freeze_store(self) -> None:
        pid = self.pid("mongo")
        os.kill(pid, signal.SIGSTOP)
        self._frozen = pid

    def thaw_store(self) -> None:
        if self._frozen is not None:
            os.kill(self._frozen, signal.SIGCONT)
            self._frozen = None

    def stop_kafka(self) -> None:
        """SIGTERM our broker (a clean shutdown) and wait until it is gone."""
        pid = self.pid("kafka")
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 60
        while _alive(pid):
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                deadline = time.monotonic() + 30
            time.sleep(0.1)

    def start_kafka(self) -> None:
        """``infra.sh up`` starts what is not running (here: only Kafka) and waits for a real
        produce/consume round trip."""
        self._infra("up")


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


# ------------------------------------------------------------------------------ services


class Fleet:
    """points, stations and notify as OS processes; SIGKILLed and restarted on demand."""

    def __init__(self, infra: PrivateInfra, run: str, logs: Path) -> None:
        self.infra = infra
        self.run = run
        self.logs = logs
        self.group: str | None = None  # None: each service's own consumer group names
        self.processes: dict[str, ServiceProcess] = {}
        self.restarts: dict[str, int] = dict.fromkeys(SERVICES, 0)
        self.startup_s = 10.0  # measured by the first start_all

    def env(self, name: str) -> dict[str, str]:
        env = {
            "DRIVERHOME_ENVIRONMENT": "test",
            "DRIVERHOME_KAFKA_BOOTSTRAP": self.infra.bootstrap,
            "DRIVERHOME_MONGO_URL": self.infra.mongo_url,
            "DRIVERHOME_MONGO_DB": f"{self.run}_{name}",
            "DRIVERHOME_TOPIC_PREFIX": f"{self.run}.",
            "DRIVERHOME_TOPIC_PARTITIONS": "3",
            "DRIVERHOME_OUTBOX_SWEEP_SECONDS": "1",
            "DRIVERHOME_CONSUMER_BACKOFF_MAX_SECONDS": "2",
            "DRIVERHOME_RATE_LIMIT_ENABLED": "false",
            "DRIVERHOME_SWEEP_SECONDS": "1",
            "DRIVERHOME_LOG_LEVEL": "INFO",
        }
        if self.group is not None:
            env["DRIVERHOME_CONSUMER_GROUP"] = f"{name}-{self.group}"
        return env

    def start(self, name: str) -> ServiceProcess:
        process = ServiceProcess(name, self.env(name), self.logs / f"{name}.log")
        with process.log_path.open("a") as out:
            out.write(f"===== chaos: start {name} (group {self.group or 'default'}) =====\n")
        process.start()
        self.processes[name] = process
        return process

    async def start_all(self) -> float:
        """Start the three together; returns how long the slowest took to be ready."""
        started = time.monotonic()
        for name in SERVICES:
            self.start(name)
        for name in SERVICES:
            await self.processes[name].wait_ready(timeout=120)
        return time.monotonic() - started

    def kill(self, name: str) -> None:
        process = self.processes[name].process
        assert process is not None and process.poll() is None, f"{name} is not running"
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        self.restarts[name] += 1

    def stop_all(self) -> None:
        for process in self.processes.values():
            process.stop()

    def check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.process is not None and process.process.poll() is not None:
                raise AssertionError(f"{name} exited on its own:\n{process.log_tail()}")


# ------------------------------------------------------------------------------ workload


def _default_rules() -> list[Rule]:
    now = datetime.now(UTC)
    return [
        Rule(
            **RuleSpec.model_validate(spec).model_dump(),
            rule_id=rule_id,
            version=1,
            created_at=now,
            created_by="default",
        )
        for rule_id, spec in DEFAULT_RULES.items()
    ]


@dataclass
class Sent:
    """One partner event the suite sent, and the ids of everything it must leave behind."""

    topic: str
    event: CloudEvent
    points: int  # what the driver must be awarded for it
    award: str  # the ledger entry
    inbox: str  # the driver's inbox item for the award
    checkin: str | None = None  # kiosk events: the stations check-in (announced once)
    sent_at: float | None = None

    @property
    def driver(self) -> str:
        return self.event.subject


class Workload:
    """Drivers and partner events with full data (``driver_id`` and ``*_at`` equal to the
    envelope), dated within points' accepted window, and no daily cap ever binds (caps count by
    the day points receives an event, so a driver's volunteer awards all together stay within
    one day's cap), so every award's amount is known in advance."""

    def __init__(self, run: str, config: ChaosConfig) -> None:
        self.run = run
        self.config = config
        self.rules = _default_rules()
        self.base = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
        # Enough drivers that every partner event of the run fits their daily caps (volunteer
        # and training, about 180 points a day each, all awarded today): every award counts
        # in full, so each one's points are known in advance.
        partner_events = 2 * (config.events + config.wave)
        self.points_drivers = [unique_name("drvp_") for _ in range(max(5, partner_events // 6))]
        self.registrations: list[CloudEvent] = []
        self.sent: list[Sent] = []
        self._partner_count = 0
        self._volunteered: dict[str, int] = {}
        self._trained: dict[str, int] = {}

    def topic(self, name: str) -> str:
        return f"{self.run}.{name}"

    def register(self, drivers: Iterable[str]) -> list[CloudEvent]:
        events = [
            new_event(
                DriverRegistered(
                    driver_id=d, channel="operator", registered_at=self.base - timedelta(days=60)
                ),
                source=REGISTRY_SOURCE,
                subject=d,
                time=self.base - timedelta(days=60),
            )
            for d in drivers
        ]
        self.registrations.extend(events)
        return events

    def welcome_inbox(self) -> list[str]:
        return [
            notification_id(e.subject, REGISTRY_SOURCE, e.id, "inbox") for e in self.registrations
        ]

    def _expected_points(self, event: CloudEvent) -> int:
        rule = choose_rule(self.rules, event.type, event.data, event.time)
        assert rule is not None, f"no default rule awards {event.type}"
        return rule.base_points(event.data)

    def partner_wave(self, count: int) -> list[Sent]:
        """Training and volunteer work for the points drivers, back-dated by up to 25 days."""
        wave = []
        for _ in range(count):
            n = self._partner_count
            self._partner_count += 1
            at = self.base - timedelta(days=1 + (n // len(self.points_drivers)) % 25)
            hours = 1 + n % 4
            driver, data = self._within_caps(n, hours, at)
            partner = PARTNER_OF[data.event_type]
            event = new_event(data, source=f"partner/{partner}", subject=driver, time=at)
            award = entry_id(driver, "award", event.source, event.id)
            wave.append(
                Sent(
                    topic=self.topic(f"partner.{partner}.events"),
                    event=event,
                    points=self._expected_points(event),
                    award=award,
                    inbox=notification_id(driver, POINTS_SOURCE, award, "inbox"),
                )
            )
        self.sent.extend(wave)
        return wave

    def _within_caps(
        self, n: int, hours: int, at: datetime
    ) -> tuple[str, TrainingCompleted | VolunteerLogged]:
        """The ``n``-th partner event: volunteer work or training, for the first driver from
        ``n`` on whose day still has room for it under its rule's daily cap."""
        volunteer = next(r for r in self.rules if r.event_type == "volunteer.logged.v1")
        training = next(r for r in self.rules if r.event_type == "training.completed.v1")
        drivers = self.points_drivers
        for step in range(len(drivers)):
            driver = drivers[(n + step) % len(drivers)]
            volunteered = self._volunteered.get(driver, 0) + volunteer.base_points({"hours": hours})
            trained = self._trained.get(driver, 0) + training.base_points({"hours": hours})
            fits_volunteer = volunteered <= (volunteer.cap_per_day or volunteered)
            fits_training = trained <= (training.cap_per_day or trained)
            if fits_volunteer and (n % 2 or not fits_training):
                self._volunteered[driver] = volunteered
                return driver, VolunteerLogged(
                    driver_id=driver, activity="港区交通疏导", hours=hours, logged_at=at
                )
            if fits_training:
                self._trained[driver] = trained
                return driver, TrainingCompleted(
                    driver_id=driver, course_id=f"C-{n % 7}", hours=hours, completed_at=at
                )
        raise RuntimeError("more partner events than the drivers' daily caps take: more drivers")

    def kiosk_wave(self, count: int) -> tuple[list[str], list[Sent]]:
        """Three visits per (new) driver on three different days: the stations rule's daily cap
        (3 visits) never binds, as the awards all fall on the day stations announces them."""
        drivers = [unique_name("drvs_") for _ in range((count + 2) // 3)]
        wave = []
        for n in range(count):
            driver = drivers[n % len(drivers)]
            at = self.base - timedelta(days=1 + n // len(drivers), minutes=n % 50)
            data = PartnerServiceUsed(
                driver_id=driver,
                station_id=STATION_ID,
                service_code="rest",
                used_at=at,
                kiosk_id="kiosk-1",
            )
            event = new_event(data, source=KIOSK_SOURCE, subject=driver, time=at)
            checkin = derived_id("ci", "kiosk", event.source, event.id)
            award = entry_id(driver, "award", STATIONS_SOURCE, checkin)
            wave.append(
                Sent(
                    topic=self.topic("partner.station-kiosk.events"),
                    event=event,
                    points=self._station_points(),
                    award=award,
                    inbox=notification_id(driver, POINTS_SOURCE, award, "inbox"),
                    checkin=checkin,
                )
            )
        self.sent.extend(wave)
        return drivers, wave

    def _station_points(self) -> int:
        rule = next(r for r in self.rules if r.event_type == "service.used.v1")
        assert rule.cap_per_day is None or rule.cap_per_day >= 3 * rule.points
        return rule.base_points({})

    def expected_balances(self) -> dict[str, int]:
        balances = {e.subject: 0 for e in self.registrations}
        for sent in self.sent:
            balances[sent.driver] += sent.points
        return balances


class Partners:
    """An idempotent producer, as a partner's own Kafka client would be."""

    def __init__(self, bootstrap: str) -> None:
        self._bootstrap = bootstrap
        self._producer: AIOKafkaProducer | None = None

    async def __aenter__(self) -> Partners:
        self._producer = AIOKafkaProducer(
            bootstrap_servers=self._bootstrap, enable_idempotence=True, linger_ms=5
        )
        await self._producer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._producer is not None
        await self._producer.stop()

    async def send(self, topic: str, event: CloudEvent) -> None:
        assert self._producer is not None
        await self._producer.send_and_wait(topic, event.to_bytes(), key=event.subject.encode())

    async def burst(self, items: Sequence[Sent]) -> None:
        assert self._producer is not None
        futures = []
        for item in items:
            futures.append(
                await self._producer.send(
                    item.topic, item.event.to_bytes(), key=item.driver.encode()
                )
            )
            item.sent_at = time.monotonic()
        await asyncio.gather(*futures)

    async def paced(self, items: Sequence[Sent], rate: float) -> None:
        start = time.monotonic()
        for i, item in enumerate(items):
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            await self.send(item.topic, item.event)
            item.sent_at = time.monotonic()


def interleave(*waves: Sequence[Sent]) -> list[Sent]:
    out: list[Sent] = []
    for i in range(max(len(w) for w in waves)):
        out.extend(w[i] for w in waves if i < len(w))
    return out


# ------------------------------------------------------------------------------ effects


def _chunks(ids: Sequence[str], size: int = 400) -> Iterable[list[str]]:
    for i in range(0, len(ids), size):
        yield list(ids[i : i + size])


class Effects:
    """Reads what the services left in their databases (by the ids the workload predicts)."""

    def __init__(self, client: Any, run: str) -> None:
        self.points = client[f"{run}_points"]
        self.stations = client[f"{run}_stations"]
        self.notify = client[f"{run}_notify"]

    async def _count(self, collection: Any, ids: Sequence[str], extra: dict[str, Any]) -> int:
        total = 0
        for chunk in _chunks(ids):
            total += await collection.count_documents({"_id": {"$in": chunk}, **extra})
        return int(total)

    async def entries(self, ids: Sequence[str], *, done: bool = False) -> int:
        extra = {"state": "applied", "published": True} if done else {}
        return await self._count(self.points["ledger"], ids, extra)

    async def checkins(self, ids: Sequence[str], *, done: bool = False) -> int:
        extra = {"outbox.0": {"$exists": False}} if done else {}
        return await self._count(self.stations["checkins"], ids, extra)

    async def inbox(self, ids: Sequence[str]) -> int:
        return await self._count(self.notify["notifications"], ids, {})

    async def first_after(
        self, target: str, ids: Sequence[str], after: datetime
    ) -> datetime | None:
        """When the first effect written after ``after`` was made (the service's own clock)."""
        collection, field_name = {
            "points": (self.points["ledger"], "created_at"),
            "stations": (self.stations["checkins"], "recorded_at"),
            "notify": (self.notify["notifications"], "created_at"),
        }[target]
        first: datetime | None = None
        for chunk in _chunks(ids):
            doc = await collection.find_one(
                {"_id": {"$in": chunk}, field_name: {"$gt": after}}, sort=[(field_name, 1)]
            )
            if doc is not None and (first is None or doc[field_name] < first):
                first = doc[field_name]
        return first

    async def missing(self, workload: Workload, items: Sequence[Sent]) -> dict[str, int]:
        """Effects of ``items`` not (yet) complete anywhere in the pipeline."""
        kiosk = [s.checkin for s in items if s.checkin]
        awards = [s.award for s in items]
        inbox = [s.inbox for s in items]
        return {
            "ledger entries": len(awards) - await self.entries(awards, done=True),
            "check-ins": len(kiosk) - await self.checkins(kiosk, done=True),
            "inbox items": len(inbox) - await self.inbox(inbox),
        }

    async def registered(self, workload: Workload) -> dict[str, int]:
        drivers = [e.subject for e in workload.registrations]
        return {
            "points accounts": len(drivers)
            - await self._count(self.points["accounts"], drivers, {}),
            "stations drivers": len(drivers)
            - await self._count(self.stations["drivers"], drivers, {}),
            "welcome inbox items": len(drivers) - await self.inbox(workload.welcome_inbox()),
        }


async def wait_for(
    what: str,
    probe: Callable[[], Awaitable[dict[str, int]]],
    *,
    timeout: float,
    fleet: Fleet | None = None,
) -> float:
    """Poll until every count ``probe`` reports is 0; returns the seconds it took."""
    start = time.monotonic()
    last: dict[str, int] = {}
    while time.monotonic() - start < timeout:
        if fleet is not None:
            fleet.check_alive()
        try:
            last = await probe()
            if not any(last.values()):
                return time.monotonic() - start
        except Exception as exc:
            last = {f"probe failed: {type(exc).__name__}": 1}
        await asyncio.sleep(POLL)
    raise AssertionError(f"{what}: not done within {timeout:.0f}s; still missing {last}")


# ------------------------------------------------------------------------------ topics


async def partitions_of(bootstrap: str, topics: Sequence[str]) -> list[TopicPartition]:
    # A consumer without a subscription keeps no metadata for other topics
    # (``partitions_for_topic`` answers None), so ask the admin client.
    if not topics:
        return []
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics(list(topics))
    finally:
        await admin.close()
    return [
        TopicPartition(t["topic"], p["partition"])
        for t in described
        for p in t.get("partitions") or ()
    ]


async def read_all(bootstrap: str, topics: Sequence[str]) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record of the topics up to their end offsets at the time of the call."""
    partitions = await partitions_of(bootstrap, topics)
    missing = set(topics) - {tp.topic for tp in partitions}
    assert not missing, f"no such topics: {sorted(missing)}"
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False
    )
    await consumer.start()
    records: list[ConsumerRecord[bytes, bytes]] = []
    try:
        ends = {tp: end for tp, end in (await consumer.end_offsets(partitions)).items() if end}
        if not ends:
            return records
        consumer.assign(list(ends))
        await consumer.seek_to_beginning(*ends)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if all([await consumer.position(tp) >= end for tp, end in ends.items()]):
                return records
            for tp, part in (await consumer.getmany(*ends, timeout_ms=500)).items():
                records.extend(r for r in part if r.offset < ends[tp])
        raise AssertionError(f"could not read {topics} to their end within 120s")
    finally:
        await consumer.stop()


async def topics_of_run(bootstrap: str, run: str) -> list[str]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        return sorted(t for t in await consumer.topics() if t.startswith(f"{run}."))
    finally:
        await consumer.stop()


class Groups:
    """Consumer group offsets on the private broker: how far a (replay) group has read."""

    def __init__(self, bootstrap: str) -> None:
        self._bootstrap = bootstrap

    async def committed(self, prefix: str) -> dict[str, dict[TopicPartition, int]]:
        admin = AIOKafkaAdminClient(bootstrap_servers=self._bootstrap)
        await admin.start()
        try:
            groups = [g[0] for g in await admin.list_consumer_groups() if g[0].startswith(prefix)]
            out = {}
            for group in groups:
                offsets = await admin.list_consumer_group_offsets(group)
                out[group] = {tp: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}
            return out
        finally:
            await admin.close()

    async def end_offsets(self, partitions: Iterable[TopicPartition]) -> dict[TopicPartition, int]:
        consumer = AIOKafkaConsumer(bootstrap_servers=self._bootstrap, group_id=None)
        await consumer.start()
        try:
            return dict(await consumer.end_offsets(list(partitions)))
        finally:
            await consumer.stop()


# ------------------------------------------------------------------------------ results


@dataclass
class Check:
    area: str
    invariant: str
    expected: str
    observed: str

    @property
    def holds(self) -> bool:
        return self.expected == self.observed


@dataclass
class Recovery:
    fault: str
    service: str
    resumed_s: float | None  # the fault's end until the first new effect
    caught_up_s: float  # the fault's end until every effect due so far was there
    note: str = ""


@dataclass
class Outcome:
    config: ChaosConfig
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    checks: list[Check] = field(default_factory=list)
    recoveries: list[Recovery] = field(default_factory=list)
    republished: dict[str, int] = field(default_factory=dict)
    details: list[str] = field(default_factory=list)  # what did not hold, in particular
    dead_letters: list[str] = field(default_factory=list)
    duration_s: float = 0.0

    def check(self, area: str, invariant: str, expected: object, observed: object) -> None:
        self.checks.append(Check(area, invariant, str(expected), str(observed)))

    def failing(self, area: str | None = None) -> list[Check]:
        return [c for c in self.checks if area in (None, c.area) and not c.holds]

    def render(self) -> str:
        cores = os.cpu_count()
        python = platform.python_version()
        minutes, seconds = divmod(round(self.duration_s), 60)
        lines = [
            f"Run: {self.started:%Y-%m-%d %H:%M} UTC on {platform.node()} ({cores} cores, "
            f"Python {python}); command: `make chaos` ({self.config.settings_line()}); "
            f"took {minutes} min {seconds:02d} s.",
            "",
            "| area | invariant | expected | observed | holds |",
            "|---|---|---:|---:|:---:|",
        ]
        order = ["points", "stations", "notify", "replay", "dead letters"]
        for c in sorted(self.checks, key=lambda c: order.index(c.area)):
            mark = "yes" if c.holds else "**NO**"
            lines.append(f"| {c.area} | {c.invariant} | {c.expected} | {c.observed} | {mark} |")
        lines += [
            "",
            "| fault | service | work resumed after | caught up after | note |",
            "|---|---|---:|---:|---|",
        ]
        for r in self.recoveries:
            resumed = "-" if r.resumed_s is None else f"{r.resumed_s:.2f} s"
            lines.append(
                f"| {r.fault} | {r.service} | {resumed} | {r.caught_up_s:.2f} s | {r.note} |"
            )
        if self.republished:
            counts = ", ".join(f"{n} on {t}" for t, n in self.republished.items())
            lines += [
                "",
                f"Records published again with an id already on the topic (at least once; "
                f"consumers dedupe by `(source, id)`): {counts}.",
            ]
        if self.details:
            lines += [
                "",
                "What did not hold, in particular:",
                "",
                *[f"- {d}" for d in self.details],
            ]
        if self.dead_letters:
            lines += ["", "Dead letters:", "", *[f"- `{d}`" for d in self.dead_letters]]
        return "\n".join(lines)


BEGIN = "<!-- chaos:results -->"
END = "<!-- /chaos:results -->"


def write_report(path: Path, body: str) -> None:
    text = path.read_text() if path.exists() else ""
    block = f"{BEGIN}\n{body}\n{END}"
    if BEGIN in text and END in text:
        text = re.sub(re.escape(BEGIN) + r".*?" + re.escape(END), lambda _: block, text, flags=re.S)
    else:
        text = text.rstrip() + ("\n\n" if text else "") + block + "\n"
    path.write_text(text)


def dlq_reasons(records: Sequence[ConsumerRecord[bytes, bytes]]) -> list[str]:
    out = []
    for record in records:
        headers = {k: v for k, v in headers_of(record).items() if k.startswith("dlq-")}
        out.append(f"{record.topic}[{record.partition}]@{record.offset} {headers}")
    return out


def notifying(records: Sequence[ConsumerRecord[bytes, bytes]]) -> dict[str, CloudEvent]:
    """Domain events notify must turn into an inbox item, by their inbox item's id."""
    out: dict[str, CloudEvent] = {}
    for record in records:
        event = parse_envelope(record.value or b"")
        if event.type in NOTIFYING:
            out[notification_id(event.subject, event.source, event.id, "inbox")] = event
    return out


def operator_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(ServiceSettings(), role='operator')}"}
