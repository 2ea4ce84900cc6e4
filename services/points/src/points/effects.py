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
    # Account fields the decision was made on that the write must still find as they were.
    pin: dict[str, Any] = field(default_factory=dict)

    def guard(self) -> dict[str, Any]:
        """What the account must still hold when the effect is written."""
        if self.min_balance is None:
            return dict(self.pin)
        return {**self.pin, "balance": {"$gte": self.min_balance}}


Plan = Callable[[Account, dict[str, Any]], "Effect | str"]


def account_after(account: Account, effect: Effect) -> Account:
    """The account as the effect leaves it, for what is judged on it (the grade): the ledger
    judges a real application with it, the rule simulator an imagined one."""
    earned = dict(account.earned)
    sanctions = dict(account.sanctions)
    for key, value in effect.inc.items():
        if key.startswith("earned."):
            month = key.removeprefix("earned.")
            earned[month] = earned.get(month, 0) + value
        elif key.startswith("sanctions."):
            month = key.removeprefix("sanctions.")
            sanctions[month] = sanctions.get(month, 0) + value
    return account.model_copy(
        update={
            "earned": earned,
            "sanctions": sanctions,
            "balance": account.balance + effect.amount,
        }
    )
