"""Registry writes racing each other: each is written only on the record it was checked on.
A status change read before a deactivation, a dismissal read before a new appointment, two
people resolving one review, two census needs referred at once, a plate added while the driver
is deactivated, and a unit made under a parent moved meanwhile. The first read of each is made
stale on purpose (the other write lands between the read and the write); one registry on the
real store and broker."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from common.events import CloudEvent
from common.testing import wait_until
from registry.app import create_app
from registry.domain import Conflict
from registry.records import Actor
from registry.settings import RegistrySettings
from tests.integration.stations_harness import read_whole_topic
from tests.integration.test_registry_rules import driver
from tests.support import StaleFirst, serve

Headers = Callable[..., dict[str, str]]
OPERATOR = Actor(sub="ops-1", role="operator")


async def test_a_status_change_read_before_a_deactivation_does_not_undo_it(
    make_settings: Callable[..., RegistrySettings], token: Headers
) -> None:
    app = create_app(make_settings(RegistrySettings))
    async with serve(app) as http:
        driver_id = (await http.post("/v1/drivers", json=driver(81), headers=token())).json()[
            "driver_id"
        ]
        registry = app.state.registry
        records = registry.lifecycle._records
        before = await records.get_driver(driver_id)
        await registry.lifecycle.deactivate(driver_id, "left_district", OPERATOR)
        with StaleFirst(records, "get_driver", before), pytest.raises(Conflict):
            await registry.lifecycle.update_driver(driver_id, {"status": "inactive"}, OPERATOR)
        shown = (await http.get(f"/v1/drivers/{driver_id}", headers=token())).json()
    assert shown["status"] == "deactivated"


async def test_a_plate_added_while_the_driver_is_deactivated_is_not_held(
    make_settings: Callable[..., RegistrySettings], token: Headers
) -> None:
    app = create_app(make_settings(RegistrySettings))
    async with serve(app) as http:
        driver_id = (await http.post("/v1/drivers", json=driver(82), headers=token())).json()[
            "driver_id"
        ]
        registry = app.state.registry
        records = registry.vehicles._records
        before = await records.get_driver(driver_id)
        await registry.lifecycle.deactivate(driver_id, "left_district", OPERATOR)
        with StaleFirst(records, "get_driver", before), pytest.raises(Conflict):
            await registry.vehicles.add_vehicle(
                driver_id, "浙B8D082", "container_tractor", None, None
            )
        other = (
            await http.post("/v1/drivers", json=driver(83, plate="浙B8D083"), headers=token())
        ).json()["driver_id"]
        taken = await http.post(
            f"/v1/drivers/{other}/vehicles", json={"plate": "浙B8D082"}, headers=token()
        )
    assert taken.status_code == 201, "the plate is free for an active driver"


async def test_a_dismissal_read_before_a_new_appointment_leaves_the_new_one(
    make_settings: Callable[..., RegistrySettings], token: Headers
) -> None:
    app = create_app(make_settings(RegistrySettings))
    async with serve(app) as http:
        branch = (
            await http.post(
                "/v1/organisations",
                json={"name": "霞浦党支部", "kind": "party_branch", "branch_type": "geographic"},
                headers=token(),
            )
        ).json()["organisation_id"]
        person = (
            await http.post(
                "/v1/people", json={"name": "徐丹丹", "kind": "social_worker"}, headers=token()
            )
        ).json()["person_id"]
        seat = f"/v1/organisations/{branch}/people/{person}"
        assert (
            await http.put(seat, json={"role": "secretary"}, headers=token())
        ).status_code == 201
        people = app.state.registry.district._people
        old = await people.appointment(branch, person)
        # Someone else dismisses and appoints again; then the first dismissal lands.
        assert (await http.delete(seat, headers=token())).status_code == 204
        assert (
            await http.put(seat, json={"role": "secretary"}, headers=token())
        ).status_code == 201
        with StaleFirst(people, "appointment", old):
            late = await http.delete(seat, headers=token())
        kept = await people.appointment(branch, person)
    assert late.status_code == 404, late.text
    assert kept is not None and kept.appointed_at != old.appointed_at


async def test_two_people_resolving_one_review_apply_one_decision(
    make_settings: Callable[..., RegistrySettings], token: Headers
) -> None:
    app = create_app(make_settings(RegistrySettings))
    async with serve(app) as http:
        first = (await http.post("/v1/drivers", json=driver(84), headers=token())).json()
        proposed = driver(84, name="王小明")
        assert (await http.post("/v1/drivers", json=proposed, headers=token())).status_code == 200
        reviews = await http.get(
            "/v1/reviews", params={"driver_id": first["driver_id"]}, headers=token()
        )
        [review] = [r for r in reviews.json()["items"] if r["field"] == "name"]
        store = app.state.registry.reviews._reviews
        now = app.state.registry.reviews._records.now()
        # B is applying a rejection; A's acceptance must not apply its value meanwhile.
        assert await store.take(review["review_id"], "ops-b", now, timedelta(minutes=2))
        accepted = await http.post(
            f"/v1/reviews/{review['review_id']}/resolution",
            json={"decision": "accept"},
            headers=token(sub="ops-a"),
        )
        assert await store.resolve(review["review_id"], "rejected", "ops-b", now)
        shown = (await http.get(f"/v1/drivers/{first['driver_id']}", headers=token())).json()
    assert accepted.status_code == 409, accepted.text
    assert shown["name"] == driver(84)["name"], "the rejected value was not applied"


async def test_two_census_needs_referred_at_once_both_stay_referred(
    make_settings: Callable[..., RegistrySettings], token: Headers
) -> None:
    app = create_app(make_settings(RegistrySettings))
    async with serve(app) as http:
        campaign = (
            await http.post("/v1/census/campaigns", json={"quarter": "2026Q4"}, headers=token())
        ).json()["campaign_id"]
        driver_id = (await http.post("/v1/drivers", json=driver(85), headers=token())).json()[
            "driver_id"
        ]
        survey = {
            "needs": [
                {"category": "schooling", "summary": "孩子转学"},
                {"category": "health", "summary": "腰椎劳损"},
            ]
        }
        answered = await http.post(
            f"/v1/drivers/{driver_id}/verifications",
            json={"campaign_id": campaign, "survey": survey},
            headers=token(),
        )
        assert answered.status_code == 200, answered.text
        answers = (
            await http.get(f"/v1/drivers/{driver_id}/census-answers", headers=token())
        ).json()
        one, two = (n["need_id"] for n in answers["needs"])
        records = app.state.registry.survey._records
        before = await records.get_driver(driver_id)
        referred = await http.post(
            f"/v1/drivers/{driver_id}/census-needs/{one}/case", headers=token()
        )
        assert referred.status_code == 200, referred.text
        with StaleFirst(records, "get_driver", before), pytest.raises(Conflict):
            await app.state.registry.survey.refer_need(driver_id, two, OPERATOR)
        again = await http.post(f"/v1/drivers/{driver_id}/census-needs/{two}/case", headers=token())
        answers = (
            await http.get(f"/v1/drivers/{driver_id}/census-answers", headers=token())
        ).json()
    assert again.status_code == 200, again.text
    assert all(n["referred_at"] for n in answers["needs"]), "neither referral was lost"


async def test_a_location_grant_read_before_a_base_change_does_not_announce_the_old_base(
    make_settings: Callable[..., RegistrySettings], token: Headers
) -> None:
    base, moved = {"lat": 29.89, "lng": 121.85}, {"lat": 29.93, "lng": 121.88}
    app = create_app(make_settings(RegistrySettings))
    async with serve(app) as http:
        driver_id = (
            await http.post("/v1/drivers", json=driver(86, base_location=base), headers=token())
        ).json()["driver_id"]
        registry = app.state.registry
        records = registry.consent._records
        before = await records.get_driver(driver_id)
        await registry.lifecycle.update_driver(driver_id, {"base_location": moved}, OPERATOR)
        with StaleFirst(records, "get_driver", before), pytest.raises(Conflict):
            await registry.consent.set_consent(driver_id, "location", True, "app", OPERATOR)
        granted = await registry.consent.set_consent(driver_id, "location", True, "app", OPERATOR)
    assert granted.has_consent("location")
    assert granted.base_location is not None and granted.base_location.lat == moved["lat"]


async def test_a_unit_made_under_a_parent_moved_meanwhile_follows_the_parent(
    make_settings: Callable[..., RegistrySettings], token: Headers
) -> None:
    """The parent is read, then a move puts it under another root and finishes its pass over
    the subtree, then the new unit is stored: it must hang from the parent where it is now,
    or a subtree query (and cases' and notify's copies of the tree) would miss it."""
    settings = make_settings(RegistrySettings)
    app = create_app(settings)
    async with serve(app) as http:

        async def org(name: str, parent: str | None) -> str:
            body = {"name": name, "kind": "industry_association", "parent_id": parent}
            answer = await http.post("/v1/organisations", json=body, headers=token())
            assert answer.status_code == 201, answer.text
            return str(answer.json()["organisation_id"])

        old, new = await org("旧党委", None), await org("新党委", None)
        branch = await org("行业协会", old)
        registry = app.state.registry
        units = registry.units
        before = await units.get_organisation(branch)
        await registry.district.move_organisation(branch, new)
        with StaleFirst(units, "get_organisation", before):
            made = await units.create_organisation(
                "第一支部", "industry_association", None, None, None, parent_id=branch
            )
        assert made.ancestor_ids == [new, branch]
        subtree = await http.get(f"/v1/organisations/{new}/subtree", headers=token())
        found = {o["organisation_id"]: o["ancestor_ids"] for o in subtree.json()["items"]}
        assert found[made.organisation_id] == [new, branch]

        async def announced_under_new() -> bool:
            raw = await read_whole_topic(
                settings.kafka_bootstrap, settings.topic("registry.events")
            )
            events = [CloudEvent.model_validate_json(v) for v in raw]
            return any(
                e.type == "organisation.placed.v1"
                and e.subject == made.organisation_id
                and (e.data or {}).get("ancestor_ids") == [new, branch]
                for e in events
            )

        await wait_until(announced_under_new)
