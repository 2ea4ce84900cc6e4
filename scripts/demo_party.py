"""Load party-member life for ``make run`` (docs/party-life.md): the logistics community's driver
branch (集卡司机之家党支部, from the demo registry) gets a secretary (a generated social worker),
three members of whom two give the party_life consent, last week's 主题党日 attended online
(joins and leaves from the party platform through the partners gateway), learning sessions
(掌上课堂), and the member points they earn. Loading twice adds nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from common.auth import issue_token
from common.settings import ServiceSettings

BRANCH = "集卡司机之家党支部"
SECRETARY = "演示支部书记(社工)"
PLATFORM = "party-platform"


def bearer(**claims: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(ServiceSettings(), **claims)}"}


def operator() -> dict[str, str]:
    return bearer(role="operator")


async def branch_and_secretary(registry: httpx.AsyncClient) -> tuple[str, str] | None:
    found = await registry.get(
        "/v1/organisations", params={"kind": "party_branch", "limit": 200}, headers=operator()
    )
    found.raise_for_status()
    ids = [o["organisation_id"] for o in found.json()["items"] if o["name"] == BRANCH]
    if not ids:
        return None
    branch = ids[0]
    people = await registry.get(f"/v1/organisations/{branch}/people", headers=operator())
    people.raise_for_status()
    held = [p["person_id"] for p in people.json()["items"] if p["role"] == "secretary"]
    if held:
        return branch, held[0]
    made = await registry.post(
        "/v1/people", json={"name": SECRETARY, "kind": "social_worker"}, headers=operator()
    )
    made.raise_for_status()
    person = made.json()["person_id"]
    appointed = await registry.put(
        f"/v1/organisations/{branch}/people/{person}",
        json={"role": "secretary"},
        headers=operator(),
    )
    appointed.raise_for_status()
    return branch, person


async def members(registry: httpx.AsyncClient, branch: str) -> list[str]:
    """Three active drivers in the branch; the first two consent to party life."""
    found = await registry.get(
        "/v1/drivers", params={"limit": 12, "status": "active"}, headers=operator()
    )
    found.raise_for_status()
    drivers = [d["driver_id"] for d in found.json()["items"]][-3:]
    for n, driver_id in enumerate(drivers):
        await registry.post(
            f"/v1/organisations/{branch}/members", json={"driver_id": driver_id}, headers=operator()
        )  # 409 on a rerun: a member already
        if n < 2:
            consent = await registry.put(
                f"/v1/drivers/{driver_id}/consents/party_life",
                json={"granted": True, "channel": "app"},
                headers=bearer(role="driver", driver_id=driver_id),
            )
            consent.raise_for_status()
    return drivers[:2]


def event(kind: str, driver_id: str, at: datetime, key: str, data: dict[str, Any]) -> bytes:
    body = {
        "specversion": "1.0",
        "id": f"demo-party-{key}",
        "source": f"partner/{PLATFORM}",
        "type": kind,
        "subject": driver_id,
        "time": at.isoformat(),
        "datacontenttype": "application/json",
        "data": data,
    }
    return json.dumps(body, ensure_ascii=False).encode()


async def send(partners: httpx.AsyncClient, payloads: list[bytes]) -> None:
    headers = {
        **bearer(role="partner", partner_id=PLATFORM, scope="events:write"),
        "Content-Type": "application/cloudevents+json",
    }
    for payload in payloads:
        answer = await partners.post("/v1/events", content=payload, headers=headers)
        if answer.status_code >= 400:
            print(f"demo: party platform event refused: {answer.status_code}", file=sys.stderr)


async def wait_for(check: Any, seconds: float = 30) -> bool:
    for _ in range(int(seconds * 2)):
        if await check():
            return True
        await asyncio.sleep(0.5)
    return False


def where(args: argparse.Namespace, branch: str, person: str) -> str:
    return f"figures: {args.cases}/v1/party/branches/{branch}/figures (secretary {person})"


async def load(args: argparse.Namespace) -> str:
    async with httpx.AsyncClient(base_url=args.registry, timeout=10) as registry:
        placed = await branch_and_secretary(registry)
        if placed is None:
            return "no demo branch (load the demo registry first)"
        branch, person = placed
        drivers = await members(registry, branch)
    secretary = bearer(role="operator", roles=["branch_secretary"], person_id=person, sub=person)
    async with (
        httpx.AsyncClient(base_url=args.cases, timeout=10) as cases,
        httpx.AsyncClient(base_url=args.partners, timeout=10) as partners,
    ):
        held = await cases.get(f"/v1/party/branches/{branch}/meetings", headers=secretary)
        if held.status_code == 200 and held.json():
            return f"loaded before; {where(args, branch, person)}"

        async def followed() -> bool:
            answer = await cases.get(f"/v1/party/branches/{branch}/figures", headers=secretary)
            return answer.status_code == 200 and len(answer.json()["members"]) >= len(drivers)

        if not await wait_for(followed):
            return "cases did not learn the branch, its secretary or the consents in time"
        day = datetime.now(UTC).replace(hour=11, minute=0, second=0, microsecond=0)
        start = day - timedelta(days=7)  # 19:00 in Ningbo, last week
        body = {
            "branch_id": branch,
            "kind": "party_day",
            "title": "主题党日:车轮上的党支部线上组织生活",
            "starts_at": start.isoformat(),
            "ends_at": (start + timedelta(minutes=90)).isoformat(),
            "join_ref": "demo-meeting-0001",
        }
        made = await cases.post("/v1/party/meetings", json=body, headers=secretary)
        made.raise_for_status()
        meeting = made.json()["id"]
        spans = ((0, 80), (10, 35))  # the second joined late and left early: under half
        payloads = []
        for driver_id, (joined, left) in zip(drivers, spans, strict=True):
            for action, minute in (("joined", joined), ("left", left)):
                at = start + timedelta(minutes=minute)
                data = {"meeting_id": meeting, "action": action}
                key = f"{meeting}-{driver_id}-{action}"
                payloads.append(event("party.meeting.attendance.v1", driver_id, at, key, data))
            for n, minutes in enumerate((45, 40, 30)):
                at = start + timedelta(days=1 + n)
                data = {"course_ref": f"zhangshang-ketang-{n + 1:02d}", "minutes": minutes}
                key = f"learn-{driver_id}-{n}"
                payloads.append(event("party.learning.recorded.v1", driver_id, at, key, data))
        await send(partners, payloads)

        async def recorded() -> bool:
            """Every mark arrived: a join still open at the report would count to the end."""
            answer = await cases.get(f"/v1/party/meetings/{meeting}", headers=secretary)
            got = answer.json().get("attendance", []) if answer.status_code == 200 else []
            return sorted(a["minutes"] for a in got) == sorted(b - a for a, b in spans)

        await wait_for(recorded)
        await cases.post(f"/v1/party/meetings/{meeting}/held", headers=secretary)
    return f"a party day held; {where(args, branch, person)}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", default="http://127.0.0.1:8005")
    parser.add_argument("--registry", default="http://127.0.0.1:8001")
    parser.add_argument("--partners", default="http://127.0.0.1:8006")
    args = parser.parse_args()
    outcome = asyncio.run(load(args))
    print(f"demo party life: {outcome}")
    print("  the branch secretary's token: make token ROLE=operator AS=branch_secretary \\")
    print("  PERSON_ID=<the secretary's person_id>; AS=party_admin reads every branch")


if __name__ == "__main__":
    main()
