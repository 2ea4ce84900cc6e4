"""What applying an entry does to an account (decided by a plan from a consistent snapshot)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from points.domain import Account


@dataclass(frozen=True)
class Effect:
    """What applying an entry does to the account, decided from a consistent snapshot."""

    amount: int
    inc: dict[str, int] = field(default_factory=dict)
    min_balance: int | None = None
    set_fields: dict[str, Any] = field(default_factory=dict)
    unset_fields: list[str] = field(default_factory=list)


Plan = Callable[[Account, dict[str, Any]], "Effect | str"]
