"""Honours (cases service) over HTTP and events on the real store and broker: nominations,
one vote per panel member and round, an announcement once, the public list, the points
bonus by rule credited once, and notify's broadcast of the winners to the star's fleet, by
display name, once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from cases.settings import CasesSettings
from common.events import CloudEvent, new_event
from common.events.honours import HonourRoundAnnounced
from common.events.points import PointsAwarded
from common.events.registry import DriverDeactivated, DriverRegistered, DriverUpdated
from common.testing import synthetic_phone, unique_name, wait_until
from notify.app import create_app as create_notify
from notify.settings import NotifySettings
from points.app import create_app as create_points
from points.settings import PointsSettings
from tests.integration.stations_harness import read_whole_topic
from tests.integration.test_cases_loop import Clock, Headers, running
from tests.support import produce, serve


async def test_a_panel_chooses_a_monthly_star_once_who_earns_the_bonus_and_is_listed(
    make_settings: Callable[..., Any], token: Headers, mongo: Any
) -> None:
    settings: CasesSettings = make_settings(CasesSettings)
    points_settings: PointsSettings = make_settings(PointsSettings)
    star, other, nominee3, nominator = (
        unique_name(p) for p in ("drv_a", "drv_b", "drv_c", "drv_n")
    )
    as_driver = token("driver", driver_id=nominator, sub=f"sub-{nominator}")
    station = token("station", station_id="BL-XP-000", sub="station-xp")
    secretary = token("operator", roles=["honours_secretary"], sub="secretary-1")
    panel = [token("operator", roles=["honours_panel"], sub=f"panel-{i}") for i in range(3)]
    dispatcher = token("operator", scope="cases:dispatch", sub="dispatcher-1")
    points_app = create_points(points_settings)
    notify_settings: NotifySettings = make_settings(NotifySettings, dispatch_interval_seconds=0.1)
    notify_app = create_notify(notify_settings)
    fleet, colleague = unique_name("fleet-"), unique_name("drv_f")
    async with (
        running(settings, Clock(datetime.now(UTC))) as (_, client),
        serve(points_app),
        serve(notify_app) as notify,
    ):
        await points_app.state.service.open_account(star, datetime.now(UTC))
        await _fleet_mates(settings, notify_settings, mongo, fleet, star, colleague)

        async def nominate(headers: dict[str, str], driver: str, **extra: str) -> Any:
            body = {"category": "monthly_star", "period": "2026-11", "driver_id": driver}
            return await client.post(
                "/v1/honours/nominations",
                json=body | {"reason": "雨夜救助被困司机"} | extra,
                headers=headers,
            )

        ids = {}
        for headers, driver in ((as_driver, star), (station, other), (secretary, nominee3)):
            answer = await nominate(headers, driver)
            assert answer.status_code == 201, answer.text
            ids[driver] = answer.json()["nomination_id"]
        again = await nominate(secretary, star)  # a second nominator joins the nomination
        for _ in range(3):  # asked again, a nominator counts once: the nomination does not grow
            assert (await nominate(as_driver, star, reason="再次推荐")).status_code == 201
        assert (await nominate(as_driver, nominee3)).status_code == 201
        assert again.json()["nomination_id"] == ids[star]
        assert (await nominate(as_driver, nominator)).status_code == 422  # not oneself
        assert (await nominate(as_driver, star, period="2026")).status_code == 422
        assert (await nominate(dispatcher, star)).status_code == 403

        listing = await client.get(
            "/v1/honours/nominations?category=monthly_star&period=2026-11", headers=panel[0]
        )
        assert listing.status_code == 200, listing.text
        [nominated] = [n for n in listing.json() if n["driver_id"] == star]
        assert {n["kind"] for n in nominated["nominators"]} == {"driver", "organisation"}
        assert len(nominated["nominators"]) == 2
        assert "再次推荐" not in str(nominated), "the nominator's first word stands"
        hidden = await client.get(
            "/v1/honours/nominations?category=monthly_star&period=2026-11", headers=as_driver
        )
        assert hidden.status_code == 403

        def vote(headers: dict[str, str], driver: str) -> Any:
            return client.post(f"/v1/honours/nominations/{ids[driver]}/votes", headers=headers)

        # The secretary names the round's panel; a panel member outside it may not vote.
        panel_path = "/v1/honours/rounds/monthly_star/2026-11/panel"
        members = {"members": [f"panel-{i}" for i in range(3)]}
        assert (await client.put(panel_path, json=members, headers=dispatcher)).status_code == 403
        named = await client.put(panel_path, json=members, headers=secretary)
        assert named.status_code == 200, named.text
        outsider = token("operator", roles=["honours_panel"], sub="panel-x")
        for headers in (as_driver, dispatcher, secretary, outsider):
            assert (await vote(headers, star)).status_code == 403
        assert (await vote(panel[0], star)).status_code == 201
        assert (await vote(panel[0], other)).status_code == 409  # one vote per member and round
        assert (await vote(panel[1], star)).status_code == 201
        assert (await vote(panel[2], other)).status_code == 201
        late = await client.put(panel_path, json=members, headers=secretary)
        assert late.status_code == 409  # voting began: the panel stays

        announce = {"category": "monthly_star", "period": "2026-11", "seats": 1}
        refused = await client.post("/v1/honours/rounds", json=announce, headers=panel[0])
        assert refused.status_code == 403
        numbered = announce | {"display_names": {star: f"王 {synthetic_phone()}"}}
        number = await client.post("/v1/honours/rounds", json=numbered, headers=secretary)
        assert number.status_code == 422  # a display name never carries a phone or ID number
        announce |= {"display_names": {star: "王师傅"}}
        answer = await client.post("/v1/honours/rounds", json=announce, headers=secretary)
        assert answer.status_code == 201, answer.text
        assert answer.json()["winners"] == [
            {"driver_id": star, "votes": 2, "display_name": "王师傅"}
        ]
        assert answer.json()["panel_size"] == 3
        twice = await client.post("/v1/honours/rounds", json=announce, headers=secretary)
        assert twice.status_code == 409
        assert (await vote(panel[2], star)).status_code == 409  # closed
        assert (await nominate(station, star)).status_code == 409

        # The public list of the month and of the year.
        for period in ("2026-11", "2026"):
            public = await client.get(f"/v1/honours?period={period}", headers=as_driver)
            assert [w["driver_id"] for r in public.json() for w in r["winners"]] == [star]
        empty = await client.get("/v1/honours?period=2026-10", headers=as_driver)
        assert empty.json() == []

        async def awarded() -> list[CloudEvent] | None:
            raw = await read_whole_topic(settings.kafka_bootstrap, settings.topic("cases.events"))
            found = [CloudEvent.model_validate_json(v) for v in raw]
            return [e for e in found if e.type == "honour.awarded.v1"] or None

        [event] = await wait_until(awarded)
        assert event.subject == star and event.data["category"] == "monthly_star"
        assert "雨夜" not in event.model_dump_json()  # the reason stays with the panel

        # notify announces the monthly star to the star's fleet, by display name, once.
        mate = token("driver", driver_id=colleague)
        inbox = await wait_until(lambda: _activity(notify, colleague, mate))
        [news] = [i for i in inbox if "每月之星" in i["title"]]
        assert news["title"] == "2026-11 每月之星评选结果揭晓" and "王师傅" in news["body"]
        assert star not in news["body"]
        [announced] = [
            e for e in await _round_events(settings) if e.subject == "monthly_star:2026-11"
        ]
        again = await notify_app.state.notify.honours.on_round_announced(
            HonourRoundAnnounced.model_validate(announced.data)
        )  # the event redelivered
        broadcasts = mongo[notify_settings.mongo_db]["broadcasts"]
        made = await broadcasts.find({"created_by": "honours"}).to_list()
        assert [b["_id"] for b in made] == again
        assert made[0]["segment"] == {**made[0]["segment"], "kind": "fleet", "value": fleet}

        accounts = mongo[points_settings.mongo_db]["accounts"]

        async def balance() -> int | None:
            doc = await accounts.find_one({"_id": star})
            return doc["balance"] if doc and doc["balance"] else None

        assert await wait_until(balance) == 50
        ledger = mongo[points_settings.mongo_db]["ledger"]
        [entry] = [e async for e in ledger.find({"driver_id": star})]
        assert entry["rule_id"] == "honour-monthly-star" and entry["amount"] == 50

        # A safety model needs the traffic-safety partner's milestone in the year, which cases
        # learns from points' award for it.
        safety = {"category": "safety_model", "period": f"{datetime.now(UTC):%Y}"}
        assert (await nominate(station, other, **safety)).status_code == 422
        now = datetime.now(UTC)
        milestone = PointsAwarded(
            driver_id=other,
            entry_id=unique_name("entry-"),
            amount=100,
            balance_after=100,
            rule_id="safety-100-days",
            cause_source="partner/traffic-safety",
            cause_id=unique_name("m-"),
            cause_type="safety.milestone.v1",
            awarded_at=now,
        )
        await produce(
            settings.kafka_bootstrap,
            settings.topic("points.events"),
            new_event(milestone, source="driverhome/points", subject=other).to_bytes(),
            key=other.encode(),
        )

        async def nominated_as_safety_model() -> bool:
            return (await nominate(station, other, **safety)).status_code == 201

        await wait_until(nominated_as_safety_model)

        # Erasure: the winner's nomination and its votes go, the round keeps a pseudonym; the
        # nominations an erased nominator made lose that nominator.
        db = mongo[settings.mongo_db]
        for driver in (star, nominator):
            erased = new_event(
                DriverDeactivated(
                    driver_id=driver,
                    deactivated_at=datetime.now(UTC),
                    reason="erasure",
                    erased=True,
                ),
                source="driverhome/registry",
                subject=driver,
            )
            await produce(
                settings.kafka_bootstrap,
                settings.topic("registry.events"),
                erased.to_bytes(),
                key=driver.encode(),
            )

        async def forgotten() -> bool:
            rounds = await db["honour_rounds"].count_documents({"winners.driver_id": star})
            named = await db["honour_nominations"].count_documents({"nominators.id": nominator})
            return rounds == 0 and named == 0

        await wait_until(forgotten)
        assert await db["honour_nominations"].count_documents({"driver_id": star}) == 0
        kept = await db["honour_nominations"].find_one({"_id": ids[nominee3]})
        assert [n["kind"] for n in kept["nominators"]] == ["organisation"]
        assert await db["honour_votes"].count_documents({"nomination_id": ids[star]}) == 0
        public = (await client.get("/v1/honours?period=2026-11", headers=as_driver)).json()
        [winner] = public[0]["winners"]
        assert winner["driver_id"] not in (star, nominator) and winner["votes"] == 2
        assert winner["display_name"] is None


async def _fleet_mates(
    settings: CasesSettings,
    notify_settings: NotifySettings,
    mongo: Any,
    fleet: str,
    star: str,
    colleague: str,
) -> None:
    """The star and a colleague in one fleet, the colleague consenting to notifications, as
    notify learns them from the registry's events."""
    now = datetime.now(UTC)
    facts = [
        DriverRegistered(driver_id=d, channel="operator", registered_at=now, fleet=fleet)
        for d in (star, colleague)
    ]
    facts.append(
        DriverUpdated(
            driver_id=colleague,
            changed_fields=["consents.notifications"],
            updated_at=now,
            consents={"notifications": True},
        )
    )
    for fact in facts:
        event = new_event(fact, source="driverhome/registry", subject=fact.driver_id)
        await produce(
            settings.kafka_bootstrap,
            settings.topic("registry.events"),
            event.to_bytes(),
            key=fact.driver_id.encode(),
        )
    drivers = mongo[notify_settings.mongo_db]["drivers"]

    async def known() -> bool:
        query = {"fleet": fleet, "consents.notifications": True}
        return await drivers.count_documents(query) == 1

    await wait_until(known)


async def _activity(notify: Any, driver_id: str, headers: dict[str, str]) -> Any:
    answer = await notify.get(f"/v1/drivers/{driver_id}/inbox", headers=headers)
    items = [i for i in answer.json()["items"] if i["category"] == "activity"]
    return items or None


async def _round_events(settings: CasesSettings) -> list[CloudEvent]:
    raw = await read_whole_topic(settings.kafka_bootstrap, settings.topic("cases.events"))
    found = [CloudEvent.model_validate_json(v) for v in raw]
    return [e for e in found if e.type == "honour.round_announced.v1"]


async def test_a_vote_and_a_panel_named_at_once_never_count_a_vote_outside_the_panel(
    make_settings: Callable[..., Any], token: Headers
) -> None:
    """The vote reads "no panel named" and the secretary names one before the vote is stored;
    and the secretary reads "no votes yet" while a vote is being stored. Either way no vote
    counts under a panel it was not checked against."""
    settings: CasesSettings = make_settings(CasesSettings)
    secretary = token("operator", roles=["honours_secretary"], sub="secretary-2")
    outsider = token("operator", roles=["honours_panel"], sub="panel-out")
    nominator = token("station", station_id="BL-XP-000", sub="station-xp")
    async with running(settings, Clock(datetime.now(UTC))) as (app, client):
        store = app.state.honours._store

        async def nominated(period: str) -> str:
            answer = await client.post(
                "/v1/honours/nominations",
                json={
                    "category": "monthly_star",
                    "period": period,
                    "driver_id": unique_name("drv_h"),
                    "reason": "暴雨夜协助疏导港区道路",
                },
                headers=nominator,
            )
            assert answer.status_code == 201, answer.text
            return str(answer.json()["nomination_id"])

        def name_panel(period: str) -> Any:
            return client.put(
                f"/v1/honours/rounds/monthly_star/{period}/panel",
                json={"members": ["panel-0", "panel-1"]},
                headers=secretary,
            )

        # 1. The vote's read of the panel is from before the secretary named it.
        first = await nominated("2026-09")
        real_panel = store.panel
        stale_reads = [None]

        async def panel_read_before_naming(round_id: str) -> Any:
            if stale_reads:
                stale_reads.pop()
                assert (await name_panel("2026-09")).status_code == 200
                return None
            return await real_panel(round_id)

        store.panel = panel_read_before_naming
        try:
            voted = await client.post(f"/v1/honours/nominations/{first}/votes", headers=outsider)
        finally:
            store.panel = real_panel
        assert voted.status_code == 403, voted.text
        assert await store.votes_of(first.rsplit(":", 1)[0]) == []

        # 2. The secretary's check for votes is from before the first vote was stored.
        second = await nominated("2026-08")
        real_votes = store.votes_of
        stale_counts = [[]]

        async def votes_read_before_the_vote(round_id: str) -> Any:
            if stale_counts:
                answer = await client.post(
                    f"/v1/honours/nominations/{second}/votes", headers=outsider
                )
                assert answer.status_code == 201, answer.text
                return stale_counts.pop()
            return await real_votes(round_id)

        store.votes_of = votes_read_before_the_vote
        try:
            late = await name_panel("2026-08")
        finally:
            store.votes_of = real_votes
        assert late.status_code == 409, late.text
        assert await store.panel(second.rsplit(":", 1)[0]) is None, "the round stays open"


async def test_a_vote_cast_while_the_round_is_announced_is_refused_not_silently_dropped(
    make_settings: Callable[..., Any], token: Headers
) -> None:
    settings: CasesSettings = make_settings(CasesSettings)
    secretary = token("operator", roles=["honours_secretary"], sub="secretary-3")
    early, late = (token("operator", roles=["honours_panel"], sub=f"panel-{n}") for n in "ab")
    nominator = token("station", station_id="BL-XP-000", sub="station-xp")
    async with running(settings, Clock(datetime.now(UTC))) as (app, client):
        store = app.state.honours._store
        answer = await client.post(
            "/v1/honours/nominations",
            json={
                "category": "monthly_star",
                "period": "2026-07",
                "driver_id": unique_name("drv_h"),
                "reason": "台风天协助转移车辆",
            },
            headers=nominator,
        )
        nomination = answer.json()["nomination_id"]
        vote_path = f"/v1/honours/nominations/{nomination}/votes"
        assert (await client.post(vote_path, headers=early)).status_code == 201
        real_votes = store.votes_of
        during: list[Any] = []

        async def a_vote_lands_after_the_read(round_id: str) -> Any:
            read = await real_votes(round_id)
            if not during:
                during.append(await client.post(vote_path, headers=late))
            return read

        store.votes_of = a_vote_lands_after_the_read
        try:
            announced = await client.post(
                "/v1/honours/rounds",
                json={"category": "monthly_star", "period": "2026-07", "seats": 1},
                headers=secretary,
            )
        finally:
            store.votes_of = real_votes
        stored = await store.votes_of(nomination.rsplit(":", 1)[0])
    assert announced.status_code == 201, announced.text
    assert during[0].status_code == 409, during[0].text
    assert [v["voter"] for v in stored] == ["panel-a"], "no vote stored that was not counted"
    assert announced.json()["panel_size"] == 1
