"""SSRF protection for webhook targets: ``common.webhook_targets`` with notify's domain error.

Checked when a subscription is saved and again before each send, where the request then goes to
the address that was checked (a name re-pointed after the check reaches nothing new).
"""

from __future__ import annotations

from common import webhook_targets
from common.webhook_targets import CheckedTarget
from notify.domain import UnsafeTarget


class TargetPolicy(webhook_targets.TargetPolicy):
    async def check(self, url: str) -> CheckedTarget:
        """Raise UnsafeTarget (422 at the API) unless every address of the URL is permitted."""
        try:
            return await super().check(url)
        except webhook_targets.UnsafeTarget as exc:
            raise UnsafeTarget(exc.reason) from exc
