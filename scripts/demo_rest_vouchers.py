"""Load the demo for vouchers and rest nudges for ``make run`` (docs/points.md, stations.md).

Vouchers: a counter reward at the demo network's first two stations, and one demo driver's
reservation of it (the driver is given the points first), whose signed voucher is printed with
the commands a counter runs offline. Rest nudges: the same driver gives the location consent in
the app, and the booking system reports a drive of 250 minutes near Xiapu through the partners
API: the driver gets the rest notification naming a station with room. Loading twice adds
nothing (the same Idempotency-Key, the same session id).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, datetime
from typing import Any

import httpx

from common.auth import Role, issue_token
from common.settings import ServiceSettings

REWARD_ID = "demo-water-case"
COUNTERS = ["BL-XP-000", "BL-XP-001"]
NEAR_XIAPU = (29.9600, 121.9000)


def bearer(role: Role = "operator", **claims: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(ServiceSettings(), role=role, **claims)}"}


async def first_driver(registry: str) -> str | None:
    async with httpx.AsyncClient(base_url=registry, timeout=10) as http:
        answer = await http.get(
            "/v1/drivers", params={"limit": 1, "status": "active"}, headers=bearer()
        )
        answer.raise_for_status()
        items = answer.json()["items"]
        return str(items[0]["driver_id"]) if items else None


async def voucher(points: str, driver_id: str) -> str | None:
    async with httpx.AsyncClient(base_url=points, timeout=10) as http:
        reward = {
            "reward_id": REWARD_ID,
            "name": "司机之家矿泉水一箱",
            "category": "daily goods",
            "cost": 30,
            "stock": 200,
            "channel": "counter",
            "counters": COUNTERS,
        }
        made = await http.post("/v1/rewards", json=reward, headers=bearer())
        if made.status_code not in (201, 409):
            made.raise_for_status()
        gift = {"amount": 60, "reason": "demo: points for the voucher demo"}
        await http.post(
            f"/v1/accounts/{driver_id}/adjustments",
            json=gift,
            headers={**bearer(), "Idempotency-Key": "demo-voucher-points"},
        )
        answer = await http.post(
            "/v1/redemptions",
            json={"reward_id": REWARD_ID},
            headers={
                **bearer(role="driver", driver_id=driver_id),
                "Idempotency-Key": "demo-voucher",
            },
        )
        if answer.status_code not in (200, 201):
            print(f"demo: no voucher reserved ({answer.status_code})", file=sys.stderr)
            return None
        return str(answer.json().get("voucher"))


async def drive(registry: str, partners: str, driver_id: str) -> int:
    async with httpx.AsyncClient(base_url=registry, timeout=10) as http:
        consent = await http.put(
            f"/v1/drivers/{driver_id}/consents/location",
            json={"granted": True, "channel": "app"},
            headers=bearer(role="driver", driver_id=driver_id),
        )
        consent.raise_for_status()
    await asyncio.sleep(2)  # the consent reaches the stations service by its event
    event = {
        "specversion": "1.0",
        "id": f"demo-drive-{driver_id}",
        "source": "partner/port-booking",
        "type": "driving.session.v1",
        "subject": driver_id,
        "time": datetime.now(UTC).isoformat(),
        "datacontenttype": "application/json",
        "data": {
            "session_id": f"demo-{driver_id}",
            "continuous_minutes": 250,
            "lat": NEAR_XIAPU[0],
            "lng": NEAR_XIAPU[1],
        },
    }
    async with httpx.AsyncClient(base_url=partners, timeout=10) as http:
        answer = await http.post(
            "/v1/events",
            content=json.dumps(event, ensure_ascii=False).encode(),
            headers={
                **bearer(role="partner", partner_id="port-booking", scope="events:write"),
                "Content-Type": "application/cloudevents+json",
            },
        )
        return answer.status_code


async def load(args: argparse.Namespace) -> int:
    driver_id = await first_driver(args.registry)
    if driver_id is None:
        print("demo: no demo driver for vouchers and rest nudges", file=sys.stderr)
        return 1
    signed = await voucher(args.points, driver_id)
    if signed:
        print(f"demo voucher of {driver_id} (a counter checks it offline):")
        print(f"  curl -s {args.points}/v1/vouchers/keys > keys.json")
        print(f"  uv run --no-sync python -m points.voucher verify {signed} --keys keys.json \\")
        print(f"      --counter {COUNTERS[0]} --queue voucher-queue.jsonl")
    status = await drive(args.registry, args.partners, driver_id)
    print(f"demo drive of 250 minutes reported for {driver_id} ({status}): see its inbox")
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--registry", default="http://127.0.0.1:8001")
    parser.add_argument("--points", default="http://127.0.0.1:8002")
    parser.add_argument("--partners", default="http://127.0.0.1:8006")
    sys.exit(asyncio.run(load(parser.parse_args())))


if __name__ == "__main__":
    main()
