"""Prometheus metrics of the cases service (the shared ones are in ``common.metrics``)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

CALENDAR_NEXT_YEAR_MISSING = Gauge(
    "driverhome_cases_calendar_next_year_missing",
    "1 from 1 November while next year's public holidays are not loaded (or this year's are "
    "not): deadlines into that year are provisional until an operator loads its notice",
    ["service"],
)
CASE_WORK_FAILURES = Counter(
    "driverhome_cases_case_work_failures_total",
    "Cases a background round (breach scan, deadline recount) could not handle and skipped",
    ["service", "job"],
)
