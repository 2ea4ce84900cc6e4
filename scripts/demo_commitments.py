"""Load 三亮三比 public commitments for ``make run`` (docs/commitments.md): in the demo driver
branch (集卡司机之家党支部, set up by demo_party.py) one member publishes their own commitment for
this month and the secretary publishes one for another member; each has a progress note; the
first member assesses themself and the branch evaluates them (excellent), nominating them for
this month's star. Loading twice adds nothing.
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime
from typing import Any

import httpx
from demo_party import bearer, branch_and_secretary, members

PLEDGES = (
    {
        "display_name": "王师傅",
        "identity": "共产党员,集卡司机,霞浦物流工业社区党员先锋岗",
        "standard": "文明行车、车容整洁、按约到港,不超载不疲劳驾驶",
        "promise": "本月帮扶新司机两人熟悉港区路线,全月零违章",
    },
    {
        "display_name": "李师傅",
        "identity": "共产党员,集卡车队安全员",
        "standard": "出车前检查车况,规范停放,礼让行人",
        "promise": "本月参加两次志愿服务,带头认领互助需求",
    },
)
NOTES = ("帮扶新司机小陈熟悉梅山港区进出港流程", "参加夏送清凉志愿服务一次")


async def load(args: argparse.Namespace) -> str:
    async with httpx.AsyncClient(base_url=args.registry, timeout=10) as registry:
        placed = await branch_and_secretary(registry)
        if placed is None:
            return "no demo branch (load the demo registry first)"
        branch, person = placed
        drivers = await members(registry, branch)
    secretary = bearer(role="operator", roles=["branch_secretary"], person_id=person, sub=person)
    period = f"{datetime.now(UTC):%Y-%m}"
    async with httpx.AsyncClient(base_url=args.cases, timeout=10) as cases:
        listed = await cases.get(
            "/v1/commitments",
            params={"organisation_id": branch, "period": period},
            headers=secretary,
        )
        if listed.status_code == 200 and listed.json():
            return f"loaded before; {where(args, branch, period)}"
        made = []
        for n, (driver_id, pledges) in enumerate(zip(drivers, PLEDGES, strict=False)):
            # The first publishes their own; the branch publishes for the second.
            headers = bearer(role="driver", driver_id=driver_id) if n == 0 else secretary
            body: dict[str, Any] = {"organisation_id": branch, "period": period, **pledges}
            if n:
                body["driver_id"] = driver_id
            answer = await cases.post("/v1/commitments", json=body, headers=headers)
            if answer.status_code != 201:
                return f"commitment not published: {answer.status_code} {answer.text[:200]}"
            made.append(answer.json()["commitment_id"])
            await cases.post(
                f"/v1/commitments/{made[-1]}/notes", json={"text": NOTES[n]}, headers=headers
            )
        first = f"/v1/commitments/{made[0]}"
        scores = {"service": 5, "skill": 4, "practice": 5}
        await cases.post(
            f"{first}/self-assessment",
            json={"scores": scores, "text": "承诺基本兑现,帮扶两人"},
            headers=bearer(role="driver", driver_id=drivers[0]),
        )
        evaluation = {"scores": scores, "grade": "excellent", "nominate": "monthly_star"}
        await cases.post(f"{first}/evaluation", json=evaluation, headers=secretary)
    return f"{len(made)} commitments; {where(args, branch, period)}"


def where(args: argparse.Namespace, branch: str, period: str) -> str:
    return f"{args.cases}/v1/commitments?organisation_id={branch}&period={period}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", default="http://127.0.0.1:8005")
    parser.add_argument("--registry", default="http://127.0.0.1:8001")
    args = parser.parse_args()
    print(f"demo 三亮三比: {asyncio.run(load(args))}")


if __name__ == "__main__":
    main()
