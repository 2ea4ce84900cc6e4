"""Who owns (writes) a topic: the one service that may replay its dead letters to it.

One writer per domain topic (docs/security.md, the bus): ``<service>.events`` and the service's
work topics (``notify.broadcasts``) are its name's; every partner's ``partner.<id>.events`` is
written by the partners service (its HTTP ingest) besides the partner itself, so the partners
service replays those. A dead letter is replayed by the owner of its original topic, never by
the consumer that dead-lettered it (that would need a write grant on somebody else's topic).
tests/unit/test_access_table.py checks this against deploy/access.yaml.
"""

from __future__ import annotations

from common.events import CloudEvent, InvalidEvent

PARTNERS = "partners"


def topic_owner(logical: str) -> str:
    """The service that writes ``logical`` (a logical topic name, no ``.dlq`` suffix)."""
    if logical.startswith("partner."):
        return PARTNERS
    return logical.split(".", 1)[0]


def check_writer(event: CloudEvent, topic: str) -> None:
    """A domain (or internal) topic is written by one service only: its name's first part.

    The broker's ACLs already keep other writers out; this is the second line, for a
    misconfigured grant or a super user's mistake."""
    owner = topic.split(".", 1)[0]
    expected = f"driverhome/{owner}"
    if event.source != expected and not event.source.startswith(expected + "/"):
        raise InvalidEvent(
            "source_not_owner", f"{topic} is written by {expected} only, not {event.source}"
        )
