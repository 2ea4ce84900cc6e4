"""A driver's memberships as the registry announces them: the whole list in each event, which
cases and notify take as it is (a branch's secretary reads its members' party life, a
broadcast to an organisation reaches its members). So a change lands only on the memberships
it was computed from: two changes at once must not announce a list without the other's."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from common.testing import Infra, read_topic
from registry.app import create_app
from registry.settings import RegistrySettings
from tests.integration.test_registry_rules import driver
from tests.support import serve

Headers = Callable[..., dict[str, str]]


async def test_a_join_computed_before_a_leave_announces_the_list_after_both(
    make_settings: Callable[..., RegistrySettings], token: Headers, infra: Infra
) -> None:
    settings = make_settings(RegistrySettings)
    app = create_app(settings)
    async with serve(app) as http:
        made = [
            await http.post(
                "/v1/organisations", json={"name": name, "kind": "union"}, headers=token()
            )
            for name in ("北仑集卡司机工会", "霞浦物流志愿队")
        ]
        left, joined = (m.json()["organisation_id"] for m in made)
        driver_id = (await http.post("/v1/drivers", json=driver(63), headers=token())).json()[
            "driver_id"
        ]
        member = await http.post(
            f"/v1/organisations/{left}/members", json={"driver_id": driver_id}, headers=token()
        )
        assert member.status_code == 201, member.text
        units = app.state.registry.units
        records = units._records
        # The join reads the driver while a member of the first; the leave lands before it writes.
        reads = [await records.get_driver(driver_id)]
        await units.remove_member(left, driver_id)
        real_read = records.get_driver

        async def first_read_stale(wanted: str) -> Any:
            return reads.pop() if reads else await real_read(wanted)

        records.get_driver = first_read_stale
        try:
            _, added = await units.add_member(joined, driver_id, "member", False, None)
        finally:
            records.get_driver = real_read
        assert added
        shown = (await http.get(f"/v1/drivers/{driver_id}", headers=token())).json()
    assert [m["organisation_id"] for m in shown["memberships"]] == [joined]
    records_ = await read_topic(
        infra.kafka_bootstrap, settings.topic("registry.events"), min_records=3
    )
    announced = [
        json.loads(r.value)["data"]
        for r in records_
        if json.loads(r.value)["subject"] == driver_id
        and "memberships" in (json.loads(r.value)["data"].get("changed_fields") or [])
    ]
    assert announced[-1]["organisation_ids"] == [joined], "the last word names the join only"


async def test_two_people_appointed_secretary_at_once_leave_one_secretary(
    make_settings: Callable[..., RegistrySettings], token: Headers
) -> None:
    """Both pass the check for a secretary already there at the same moment; the store keeps
    one (a second would read the branch's members' party life as its secretary)."""
    async with serve(create_app(make_settings(RegistrySettings))) as http:
        branch = (
            await http.post(
                "/v1/organisations",
                json={
                    "name": "集卡司机之家党支部",
                    "kind": "party_branch",
                    "branch_type": "geographic",
                },
                headers=token(),
            )
        ).json()["organisation_id"]
        for _round in range(3):
            people = [
                (
                    await http.post(
                        "/v1/people", json={"name": name, "kind": "social_worker"}, headers=token()
                    )
                ).json()["person_id"]
                for name in ("徐丹丹", "钟波", "王芳")
            ]
            answers = await asyncio.gather(
                *(
                    http.put(
                        f"/v1/organisations/{branch}/people/{person}",
                        json={"role": "secretary"},
                        headers=token(),
                    )
                    for person in people
                )
            )
            assert sorted(a.status_code for a in answers) == [201, 409, 409], [
                a.text for a in answers
            ]
            [chosen] = [p for p, a in zip(people, answers, strict=True) if a.status_code == 201]
            dismissed = await http.delete(
                f"/v1/organisations/{branch}/people/{chosen}", headers=token()
            )
            assert dismissed.status_code == 204, dismissed.text
