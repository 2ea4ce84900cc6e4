"""Drivers' kinds and declared bases in the registry and its events (issue 16): a kind on
registration (default container truck) and on change; a coarse base announced only while the
driver consents to location."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from common.testing import read_topic
from registry.app import create_app
from registry.records import Actor
from registry.settings import RegistrySettings
from tests.integration.test_registry_lifecycle import distinct
from tests.integration.test_registry_rules import driver
from tests.support import serve

Headers = Callable[..., dict[str, str]]
BASE = {"lat": 29.89, "lng": 121.85}


async def test_kinds_and_bases_are_announced_and_bases_only_with_location_consent(
    make_settings: Callable[..., RegistrySettings], token: Headers, infra: Any
) -> None:
    settings = make_settings(RegistrySettings)
    async with serve(create_app(settings)) as http:
        fine = await http.post(
            "/v1/drivers", json=driver(71, base_location={"lat": 29.891, "lng": 1}), headers=token()
        )
        assert fine.status_code == 422  # a base finer than two decimals is refused
        taxi = await http.post(
            "/v1/drivers", json=driver(72, kind="taxi", base_location=BASE), headers=token()
        )
        assert taxi.status_code == 201, taxi.text
        assert (taxi.json()["kind"], taxi.json()["base_location"]) == ("taxi", BASE)
        driver_id = taxi.json()["driver_id"]
        plain = await http.post("/v1/drivers", json=driver(73), headers=token())
        assert plain.json()["kind"] == "container_truck"
        me = token("driver", driver_id=driver_id)
        granted = await http.put(
            f"/v1/drivers/{driver_id}/consents/location",
            json={"granted": True, "channel": "app"},
            headers=me,
        )
        assert granted.status_code == 200, granted.text
        moved = await http.patch(
            f"/v1/drivers/{driver_id}",
            json={"base_location": {"lat": 29.9, "lng": 121.8}},
            headers=me,
        )
        assert moved.status_code == 200, moved.text
        await http.patch(f"/v1/drivers/{driver_id}", json={"kind": "ride_hailing"}, headers=token())
        await http.put(
            f"/v1/drivers/{driver_id}/consents/location",
            json={"granted": False, "channel": "app"},
            headers=me,
        )
        await http.patch(f"/v1/drivers/{driver_id}", json={"base_location": BASE}, headers=me)
        records = await read_topic(
            infra.kafka_bootstrap, settings.topic("registry.events"), min_records=7
        )
    events = [e for e in distinct(records) if e.subject == driver_id]
    facts = [
        (e.type, e.data.get("changed_fields"), e.data.get("kind"), e.data.get("base_location"))
        for e in events
    ]
    assert facts == [
        ("driver.registered.v1", None, "taxi", None),  # no consent yet: the base is kept back
        ("driver.updated.v1", ["consents.location", "base_location"], None, BASE),
        ("driver.updated.v1", ["base_location"], None, {"lat": 29.9, "lng": 121.8}),
        ("driver.updated.v1", ["kind"], "ride_hailing", None),
        ("driver.updated.v1", ["consents.location"], None, None),
        ("driver.updated.v1", ["base_location"], None, None),  # withdrawn: named, not carried
    ]
    other = next(e for e in distinct(records) if e.subject == plain.json()["driver_id"])
    assert other.data["kind"] == "container_truck"


async def test_a_partner_reads_a_drivers_base_only_while_they_consent_to_location(
    make_settings: Callable[..., RegistrySettings], token: Headers
) -> None:
    """The base is kept back from the bus without the consent; the partner's own read of the
    driver keeps it back the same way. District staff and the driver see it."""
    settings = make_settings(RegistrySettings)
    partner = token("partner", partner_id="port-booking")
    async with serve(create_app(settings)) as http:
        made = await http.post(
            "/v1/drivers",
            json=driver(74, base_location=BASE, partner_driver_ref="PB-74"),
            headers=partner,
        )
        assert made.status_code == 201, made.text
        driver_id = made.json()["driver_id"]
        me = token("driver", driver_id=driver_id)

        async def bases() -> list[Any]:
            reads = [
                await http.get(f"/v1/drivers/{driver_id}", headers=who)
                for who in (partner, token(), me)
            ]
            return [r.json()["base_location"] for r in reads]

        before = await bases()
        await http.put(
            f"/v1/drivers/{driver_id}/consents/location",
            json={"granted": True, "channel": "app"},
            headers=me,
        )
        consenting = await bases()
    assert made.json()["base_location"] is None, "the partner's own answer keeps it back too"
    assert before == [None, BASE, BASE]
    assert consenting == [BASE, BASE, BASE]


async def test_a_base_change_read_before_a_withdrawal_is_not_announced_after_it(
    make_settings: Callable[..., RegistrySettings], token: Headers, infra: Any
) -> None:
    """The change reads the driver while they consent to location; the withdrawal lands before
    the change is written. Consumers forget the base on the withdrawal, so no event after it
    may carry one."""
    settings = make_settings(RegistrySettings)
    app = create_app(settings)
    async with serve(app) as http:
        made = await http.post("/v1/drivers", json=driver(75, base_location=BASE), headers=token())
        driver_id = made.json()["driver_id"]
        me = token("driver", driver_id=driver_id)
        consent = f"/v1/drivers/{driver_id}/consents/location"
        await http.put(consent, json={"granted": True, "channel": "app"}, headers=me)
        records_ = app.state.registry.lifecycle._records
        stale = [await records_.get_driver(driver_id)]
        withdrawn = await http.put(consent, json={"granted": False, "channel": "app"}, headers=me)
        assert withdrawn.status_code == 200, withdrawn.text
        real_read = records_.get_driver

        async def first_read_stale(wanted: str) -> Any:
            return stale.pop() if stale else await real_read(wanted)

        records_.get_driver = first_read_stale
        try:
            moved = await app.state.registry.lifecycle.update_driver(
                driver_id,
                {"base_location": {"lat": 29.93, "lng": 121.88}},
                Actor(sub=driver_id, role="driver"),
            )
        finally:
            records_.get_driver = real_read
        records = await read_topic(
            infra.kafka_bootstrap, settings.topic("registry.events"), min_records=4
        )
    facts = [
        (e.data.get("changed_fields"), e.data.get("base_location"))
        for e in distinct(records)
        if e.subject == driver_id
    ]
    assert facts[-2:] == [
        (["consents.location"], None),
        (["base_location"], None),  # read again after the withdrawal: named, not carried
    ]
    assert moved.base_location is not None and moved.base_location.lat == 29.93
