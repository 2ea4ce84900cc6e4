"""Erasing a person who is not a driver (issue 16's people: a social-worker secretary): four eyes,
then no personal value left in any collection of the registry's database, every role ended and
announced on registry.events (ids only), and an erasure a crash interrupted finished at start-up."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from common.events import CloudEvent
from common.testing import wait_until
from registry.app import create_app
from registry.settings import RegistrySettings
from tests.integration.stations_harness import read_whole_topic
from tests.integration.test_registry_lifecycle import database_text
from tests.support import approved, serve

Headers = Callable[..., dict[str, str]]


async def test_erasing_a_secretary_leaves_no_personal_value_and_ends_every_role_announced(
    make_settings: Callable[..., RegistrySettings], token: Headers, mongo: Any
) -> None:
    settings = make_settings(RegistrySettings)
    name, other = "徐丹丹", "丁慈英"
    db = mongo[settings.mongo_db]
    async with serve(create_app(settings)) as http:

        async def created(path: str, body: dict[str, Any], key: str | None = None) -> str:
            headers = {**token(), **({"Idempotency-Key": key} if key else {})}
            answer = await http.post(path, json=body, headers=headers)
            assert answer.status_code == 201, answer.text
            found = answer.json()
            return str(found.get("person_id") or found["organisation_id"])

        community = await created(
            "/v1/organisations", {"name": "霞浦社区党委", "kind": "community_party_organisation"}
        )
        branch = await created(
            "/v1/organisations",
            {
                "name": "流动党支部一",
                "kind": "mobile_branch",
                "branch_type": "geographic",
                "parent_id": community,
            },
        )
        person = await created("/v1/people", {"name": name, "kind": "social_worker"}, "p-1")
        kept = await created("/v1/people", {"name": other, "kind": "instructor"})
        roles = [(branch, person, "secretary"), (community, person, "member")]
        for organisation, who, role in [*roles, (branch, kept, "dual_instructor")]:
            answer = await http.put(
                f"/v1/organisations/{organisation}/people/{who}",
                json={"role": role},
                headers=token(),
            )
            assert answer.status_code == 201, answer.text
        before = await database_text(mongo, settings.mongo_db)
        assert {"people", "idempotency_keys"} <= {c for c, text in before.items() if name in text}

        # Who may: a registry clerk may not ask; the maker may not approve.
        clerk = token(roles=["registry_clerk"])
        refused = await http.post(f"/v1/people/{person}/erasure", json={}, headers=clerk)
        assert refused.status_code == 403 and "drivers:erase" in refused.text
        unknown = await http.post("/v1/people/psn_nobody/erasure", json={}, headers=token())
        assert unknown.status_code == 404
        maker = token(sub="officer-1")
        asked = await http.post(f"/v1/people/{person}/erasure", json={}, headers=maker)
        assert asked.status_code == 202, asked.text
        approval = asked.json()["approval_id"]
        same = await http.post(f"/v1/approvals/{approval}/approve", headers=maker)
        assert same.status_code == 403, same.text
        assert (await db["people"].find_one({"_id": person}))["name"] == name  # not yet
        await approved(http, asked, token(sub="officer-2"))

        after = await database_text(mongo, settings.mongo_db)
        view = (await http.get(f"/v1/people/{person}", headers=token())).json()
        left = await http.get(f"/v1/organisations/{community}/people?subtree=true", headers=token())
        again = await http.put(
            f"/v1/organisations/{branch}/people/{person}",
            json={"role": "secretary"},
            headers=token(),
        )

        async def announced() -> list[CloudEvent] | None:
            raw = await read_whole_topic(
                settings.kafka_bootstrap, settings.topic("registry.events")
            )
            events = [CloudEvent.model_validate_json(v) for v in raw]
            ended = [
                e
                for e in events
                if e.type == "organisation.person_dismissed.v1"
                and (e.data or {}).get("person_id") == person
            ]
            return events if len({e.id for e in ended}) == len(roles) else None

        events = await wait_until(announced)
    assert [c for c, text in after.items() if name in text] == []
    assert other in after["people"]  # only that person's values went
    assert (view["name"], view["erased"], view["kind"]) == (None, True, "social_worker")
    assert [(p["person_id"], p["role"]) for p in left.json()["items"]] == [
        (kept, "dual_instructor")
    ]
    assert again.status_code == 409 and again.json()["type"].endswith("person-erased")
    ended = {
        (e.subject, (e.data or {})["organisation_id"], (e.data or {})["role"])
        for e in events
        if e.type == "organisation.person_dismissed.v1"
    }
    assert ended == {(organisation, organisation, role) for organisation, _, role in roles}
    assert not [e for e in events if name in e.model_dump_json()]


async def test_a_person_erasure_interrupted_after_the_first_step_is_finished_at_start_up(
    make_settings: Callable[..., RegistrySettings], token: Headers, mongo: Any
) -> None:
    settings = make_settings(RegistrySettings)
    db = mongo[settings.mongo_db]
    async with serve(create_app(settings)) as http:
        org = await http.post(
            "/v1/organisations",
            json={"name": "志愿服务队", "kind": "volunteer_team"},
            headers=token(),
        )
        person = await http.post(
            "/v1/people", json={"name": "张指导", "kind": "instructor"}, headers=token()
        )
        organisation, person_id = org.json()["organisation_id"], person.json()["person_id"]
        await http.put(
            f"/v1/organisations/{organisation}/people/{person_id}",
            json={"role": "instructor"},
            headers=token(),
        )
    # What a crash right after the first erasure step leaves behind.
    await db["people"].update_one(
        {"_id": person_id},
        {"$set": {"erased": True, "erasure": "pending"}, "$unset": {"name": ""}},
    )
    async with serve(create_app(settings)):
        pass
    assert await db["appointments"].count_documents({"person_id": person_id}) == 0
    assert "erasure" not in (await db["people"].find_one({"_id": person_id}) or {"erasure": 1})
