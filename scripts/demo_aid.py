"""Load a few aid applications for ``make run`` (docs/cases.md "Aid applications"): one living
aid granted after two reviews, one elderly care waiting for its second review, one
serious-illness aid staff filed for a driver, one living aid rejected; and a 冬送温暖 festival
campaign of a gift to the same drivers, collected at 北仑司机之家 (BL-XP-000), one of them
already handed over. Drivers come from the demo registry (the last ones, so the mutual-help
demo keeps its own); documents are metadata with synthetic digests. Loading twice adds nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from common.auth import issue_token
from common.settings import ServiceSettings


def bearer(**claims: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(ServiceSettings(), **claims)}"}


CARE1 = bearer(role="operator", roles=["case_care"], sub="demo-care-zhang")
CARE2 = bearer(role="operator", roles=["case_care"], sub="demo-care-wang")


def digest(name: str) -> str:
    return "sha256:" + hashlib.sha256(f"demo {name}".encode()).hexdigest()


def papers(*types: str) -> list[dict[str, Any]]:
    return [{"name": f"{t}.jpg", "type": t, "size": 240_000, "digest": digest(t)} for t in types]


# (kind, household, documents, statement, on behalf, reviews: (decision, amount, note) in turn)
APPLICATIONS: list[tuple[str, dict[str, int], list[str], str, bool, list[tuple[str, int, str]]]] = [
    (
        "living",
        {"members": 4, "monthly_income_yuan": 4800},
        ["income_statement", "household_register"],
        "车辆事故停运两个月,家里收入骤减",
        False,
        [("approve", 2000, "收入证明属实"), ("approve", 2000, "同意,线下发放")],
    ),
    (
        "elderly_care",
        {"members": 3, "monthly_income_yuan": 4200, "elderly_dependants": 2},
        ["household_register"],
        "父母年迈多病,长途出车无人照看",
        False,
        [("approve", 1200, "建议结对走访")],
    ),
    (
        "serious_illness",
        {"members": 3, "monthly_income_yuan": 6000, "seriously_ill": 1},
        ["diagnosis", "medical_bills"],
        "站长代为申请:爱人住院手术",
        True,
        [],
    ),
    (
        "living",
        {"members": 2, "monthly_income_yuan": 2800},
        ["income_statement", "household_register"],
        "临时周转",
        False,
        [("reject", 0, "家庭收入已高于当月标准,建议申请互助")],
    ),
]


async def drivers(registry: str, count: int) -> list[str]:
    async with httpx.AsyncClient(base_url=registry, timeout=10) as http:
        answer = await http.get(
            "/v1/drivers",
            params={"limit": 20, "status": "active"},
            headers=bearer(role="operator"),
        )
        answer.raise_for_status()
        return [item["driver_id"] for item in answer.json()["items"]][-count:]


async def load(cases: str, registry: str) -> int:
    ids = await drivers(registry, len(APPLICATIONS))
    if len(ids) < len(APPLICATIONS):
        print("demo: too few drivers for aid applications", file=sys.stderr)
        return 0
    filed = 0
    async with httpx.AsyncClient(base_url=cases, timeout=10) as http:
        for driver, (kind, household, docs, statement, staff, reviews) in zip(
            ids, APPLICATIONS, strict=True
        ):
            as_driver = bearer(role="driver", driver_id=driver, sub=f"demo-{driver}")
            history = await http.get(f"/v1/aid/drivers/{driver}/applications", headers=as_driver)
            if history.status_code == 200 and history.json():
                continue  # loaded before
            body: dict[str, Any] = {"driver_id": driver, "kind": kind, "household": household}
            body |= {"documents": papers(*docs), "statement": statement}
            answer = await http.post(
                "/v1/aid/applications", json=body, headers=CARE1 if staff else as_driver
            )
            if answer.status_code != 201:
                print(f"demo: aid refused: {answer.status_code} {answer.text}", file=sys.stderr)
                continue
            filed += 1
            path = f"/v1/aid/applications/{answer.json()['application_id']}/review"
            for reviewer, (decision, amount, note) in zip((CARE1, CARE2), reviews, strict=False):
                review: dict[str, Any] = {"decision": decision, "note": note}
                review |= {"amount_yuan": amount} if amount else {}
                reviewed = await http.post(path, json=review, headers=reviewer)
                if reviewed.status_code != 200:
                    print(f"demo: review refused: {reviewed.status_code}", file=sys.stderr)
    return filed


CAMPAIGN_STATION = "BL-XP-000"
CAMPAIGN_GIFT = "棉大衣和保温杯"


async def festival_campaign(http: httpx.AsyncClient, ids: list[str]) -> str | None:
    """Launch the winter campaign once (its id is random: a recipient's gifts tell whether it
    was launched before) and confirm the first driver's hand-over at the station."""
    first = bearer(role="driver", driver_id=ids[0], sub=f"demo-{ids[0]}")
    gifts = (await http.get("/v1/aid/campaigns/mine", headers=first)).json()
    if any(gift.get("gift") == CAMPAIGN_GIFT for gift in gifts):
        return None  # loaded before
    body = {
        "season": "winter_warmth",
        "title": f"{datetime.now(UTC).year} 冬送温暖",
        "gift": CAMPAIGN_GIFT,
        "amount_yuan": 300,
        "station_id": CAMPAIGN_STATION,
        "collect_by": (datetime.now(UTC) + timedelta(days=30)).isoformat(),
        "driver_ids": ids,
    }
    answer = await http.post("/v1/aid/campaigns", json=body, headers=CARE1)
    if answer.status_code != 201:
        print(f"demo: campaign refused: {answer.status_code} {answer.text}", file=sys.stderr)
        return None
    campaign_id: str = answer.json()["campaign_id"]
    station = bearer(role="station", station_id=CAMPAIGN_STATION, sub="demo-station-staff")
    confirmed = await http.post(
        f"/v1/aid/campaigns/{campaign_id}/deliveries/{ids[0]}/confirm", headers=station
    )
    if confirmed.status_code != 200:
        print(f"demo: delivery not confirmed: {confirmed.status_code}", file=sys.stderr)
    return campaign_id


async def load_campaign(cases: str, registry: str) -> str | None:
    ids = await drivers(registry, len(APPLICATIONS))
    if not ids:
        return None
    async with httpx.AsyncClient(base_url=cases, timeout=10) as http:
        return await festival_campaign(http, ids)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", default="http://127.0.0.1:8005")
    parser.add_argument("--registry", default="http://127.0.0.1:8001")
    args = parser.parse_args()
    filed = asyncio.run(load(args.cases, args.registry))
    print(f"demo: {filed} aid applications filed; see {args.cases}/v1/aid/applications")
    launched = asyncio.run(load_campaign(args.cases, args.registry))
    if launched:
        print(f"demo: festival campaign launched; see {args.cases}/v1/aid/campaigns/{launched}")


if __name__ == "__main__":
    main()
