"""Credit grades: AAA / AA / A from the last 12 months' earned points and sanctions."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from common.events.points import Grade
from points.domain import Account, months_back

GRADE_ORDER: tuple[Grade, ...] = ("A", "AA", "AAA")


class GradeThreshold(BaseModel):
    model_config = ConfigDict(frozen=True)

    min_points: int = Field(ge=0)
    max_sanctions: int = Field(ge=0)


class GradePolicy(BaseModel):
    """Thresholds (configurable) and the benefits each grade brings."""

    model_config = ConfigDict(frozen=True)

    aaa: GradeThreshold = GradeThreshold(min_points=1000, max_sanctions=0)
    aa: GradeThreshold = GradeThreshold(min_points=400, max_sanctions=1)
    window_months: int = Field(default=12, ge=1, le=36)
    benefits: dict[Grade, list[str]] = Field(
        default_factory=lambda: {  # type: ignore[arg-type]
            "AAA": [
                "Priority booking slots at the port's truck-appointment system",
                "15% off at partner repair shops and tyre centres",
                "Free annual vehicle inspection pre-check at the Driver's Home",
                "Priority in children's school-admission points review",
            ],
            "AA": [
                "Priority booking slots at off-peak hours",
                "8% off at partner repair shops",
                "Reduced driving-school refresher fees",
            ],
            "A": ["Access to every Driver's Home service and the points mall"],
        }
    )


@dataclass(frozen=True)
class GradeAssessment:
    grade: Grade
    earned: int
    sanctions: int
    reasons: list[str]


def assess(account: Account, policy: GradePolicy, current_month: str) -> GradeAssessment:
    first = months_back(current_month, policy.window_months - 1)
    earned = sum(v for m, v in account.earned.items() if first <= m <= current_month)
    sanctions = sum(v for m, v in account.sanctions.items() if first <= m <= current_month)
    window = f"the last {policy.window_months} months"
    if earned >= policy.aaa.min_points and sanctions <= policy.aaa.max_sanctions:
        grade: Grade = "AAA"
        reasons = [
            f"earned {earned} points in {window} (AAA from {policy.aaa.min_points})",
            f"{sanctions} sanctions in {window} (AAA allows {policy.aaa.max_sanctions})",
        ]
    elif earned >= policy.aa.min_points and sanctions <= policy.aa.max_sanctions:
        grade = "AA"
        reasons = [f"earned {earned} points in {window} (AA from {policy.aa.min_points})"]
        if earned >= policy.aaa.min_points:
            reasons.append(f"{sanctions} sanctions in {window} keep it below AAA")
        else:
            reasons.append(f"AAA needs {policy.aaa.min_points}")
    else:
        grade = "A"
        reasons = [f"earned {earned} points in {window} (AA needs {policy.aa.min_points})"]
        if sanctions > policy.aa.max_sanctions:
            reasons.append(
                f"{sanctions} sanctions in {window} (AA allows {policy.aa.max_sanctions})"
            )
    return GradeAssessment(grade, earned, sanctions, reasons)
