"""Synthetic personal data: generated fresh, so no real-looking number lives in test code."""

from __future__ import annotations

import random
import uuid

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_AREAS = ("330206", "330212", "340104", "410102", "360102", "510104")
_rng = random.Random()


def id_check_digit(first17: str) -> str:
    total = sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True))
    return "10X98765432"[total % 11]


def synthetic_national_id(rng: random.Random | None = None) -> str:
    """A resident ID number with a valid check digit, generated fresh: no fixed real-looking
    number lives in the test code, and none belongs to a real person by construction."""
    r = rng or _rng
    first = (
        f"{r.choice(_AREAS)}{r.randint(1960, 2000)}{r.randint(1, 12):02d}"
        f"{r.randint(1, 28):02d}{r.randint(0, 999):03d}"
    )
    return first + id_check_digit(first)


def with_wrong_check_digit(national_id: str) -> str:
    right = national_id[-1]
    return national_id[:-1] + next(c for c in "0123456789X" if c != right)


def synthetic_phone(rng: random.Random | None = None) -> str:
    r = rng or _rng
    return f"1{r.choice('3589')}{r.randint(0, 999_999_999):09d}"


def unique_name(prefix: str = "t") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"
