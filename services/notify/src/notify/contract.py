"""The notify service's contract (docs/asyncapi/notify.json): the words are here; its topics
and event types come from its topic's catalogue and its app's wiring (``common.contracts``)."""

from __future__ import annotations

from common.contracts import ContractOf
from notify.app import create_app
from notify.settings import NotifySettings

contract = ContractOf(
    "notify",
    (
        "Templates, preferences, inbox, deliveries and broadcasts. Turns domain facts into "
        "driver notifications (welcome, points, grade, activity) on the inbox, SMS and partner "
        "webhooks, keeps the driver facts broadcast segments need (fleet, grade, active), and "
        "announces every delivery and failure on `notify.events` through its outbox (a "
        "broadcast's inbox deliveries once per page of drivers). Broadcast fan-out runs through "
        "its own work topic `notify.broadcasts` (internal, not for partners)."
    ),
    lambda: create_app(NotifySettings()),
)
