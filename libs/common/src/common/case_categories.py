"""The case categories of the cases service, a driver-oriented taxonomy, with English labels.

Here once because three services name them: cases files cases under them, the registry's
census turns a need into a case of its category, and stations' life-cycle catalogue names the
categories a driver's request about an item is filed under."""

from __future__ import annotations

CASE_CATEGORIES: dict[str, str] = {
    "freight_payment": "Freight payment and wages",
    "platform_fees": "Platform fees and deductions",
    "enforcement": "Enforcement and fines",
    "port_gate": "Port gate and appointments",
    "parking_rest": "Parking and rest",
    "schooling": "Children's schooling",
    "social_insurance": "Social insurance",
    "health": "Health",
    "family_hardship": "Family hardship",
    "station_services": "Station services",
    "programme_points": "Programme points and mall",
    "road_safety": "Road safety",
    "other": "Other",
}
