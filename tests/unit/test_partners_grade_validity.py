"""The grade lookup says until when a grade holds: the start of next month, district time."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from partners.booking import next_month_start

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (datetime(2026, 12, 3, 8, 0, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=SHANGHAI)),
        # 30 November 17:00 UTC is already 1 December in the district.
        (datetime(2026, 11, 30, 17, 0, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=SHANGHAI)),
        (datetime(2026, 11, 30, 15, 59, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=SHANGHAI)),
    ],
)
def test_a_grade_holds_until_the_next_monthly_assessment(now: datetime, expected: datetime) -> None:
    assert next_month_start(now, SHANGHAI) == expected
