"""Render the generated parts of docs/events.md from the event catalogue and service contracts.

The hand-written parts of docs/events.md stay as they are; each generated part sits between
``<!-- generated:NAME start -->`` and ``<!-- generated:NAME end -->`` and is replaced whole.
Field names, types, constraints and required-ness come from the pydantic models; meanings and
field descriptions the models do not carry are kept here, next to the code that prints them.
``tests/unit/test_docs_current.py`` fails when docs/events.md differs from what this produces.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cases.contract
import notify.contract
import partners.contract
import points.contract
import registry.contract
import stations.contract
from common.asyncapi import PARTNER_TOPIC, ServiceContract
from common.events import DOMAIN_EVENTS, PARTNER_EVENTS, EventData
from common.events.base import ENVELOPE_DEFAULT
from common.partners import DEFAULT_PARTNERS

EVENTS_MD = Path(__file__).resolve().parents[1] / "docs" / "events.md"

CONTRACTS: tuple[ServiceContract, ...] = (
    registry.contract.contract(),
    points.contract.contract(),
    stations.contract.contract(),
    notify.contract.contract(),
    cases.contract.contract(),
    partners.contract.contract(),
)

# How partners and docs spell the partner topics (AsyncAPI uses the `{partner_id}` form).
PARTNER_TOPIC_DOC = "partner.<partner_id>.events"

MEANINGS: dict[str, str] = {
    "partners.events/partner.registered.v1": (
        "A partner account was created (from the configured catalogue at first start, or by an "
        "operator); its topic exists. Every partners event carries the account's whole state."
    ),
    "partners.events/partner.updated.v1": (
        "A partner's name or allowed types changed; `changed_fields` names which."
    ),
    "partners.events/partner.suspended.v1": (
        "A partner was suspended: from this event on, every consumer dead-letters its records "
        "(`partner_suspended`) and the gateway refuses its events."
    ),
    "partners.events/partner.reinstated.v1": "A partner's suspension was lifted.",
    "registry.events/driver.registered.v1": (
        "A driver was added to the register, by an operator, a station, a partner or the driver "
        "themself. It carries no name, ID number or phone number; the masked record is at "
        "`GET /v1/drivers/{driver_id}`."
    ),
    "registry.events/driver.updated.v1": (
        "Some of a driver's registered details changed. It names the changed fields, never "
        "their values."
    ),
    "registry.events/driver.verified.v1": (
        "A driver's identity was checked and the record confirmed."
    ),
    "registry.events/driver.deactivated.v1": (
        "A driver left the programme. With `erased: true` their personal data was erased: "
        "consumers must forget whatever personal data they hold about them (ledgers keep "
        "pseudonymous entries); each service then confirms with its own "
        "`<service>.erasure_completed.v1`, which the registry lists in the driver's erasure "
        "receipt (docs/security.md, Erasure)."
    ),
    "registry.events/driver.partner_linked.v1": (
        "A partner may now reach this driver: the driver confirmed the partner's link request, "
        "or the partner redeemed a one-time code the driver gave it (basis `consent`). A driver "
        "a partner registered is linked by `driver.registered.v1`'s `partner_id` instead. "
        "Every service answering partners follows the links (docs/registry.md, Partner links)."
    ),
    "registry.events/driver.partner_unlinked.v1": (
        "The driver ended a partner's link: from this event on, no service answers that partner "
        "about the driver, and its webhooks no longer carry the driver's notifications."
    ),
    "registry.events/organisation.placed.v1": (
        "An organisation was created, or moved with everything under it (issue 16). A move "
        "announces every organisation of the moved subtree, the moved one first, each with its "
        "new `ancestor_ids`: a consumer keeps the tree by upserting them, and targets a subtree "
        "as the root plus every unit whose ancestors include it (docs/registry.md, The district). "
        "Each node is announced once per move, under the event id `<move id>.<organisation id>`, "
        "also when a move a crash interrupted is finished at the registry's next start."
    ),
    "registry.events/grid.placed.v1": (
        "A residence grid (community, grid or micro-grid) was created or moved with its "
        "subtree; announced node by node like `organisation.placed.v1`."
    ),
    "registry.events/census.need_referred.v1": (
        "An operator turned a need the driver named in the census into a case (one call, once "
        "per need); the cases service opens a `help_request` case of that category for the "
        "driver. The summary is scrubbed of ID and phone numbers."
    ),
    "registry.events/census.results_fed_back.v1": (
        "A census campaign's results, counted per grid and per organisation (drivers answered, "
        "needs by category and how many became cases, interests, consented party members, route "
        "grids), fed back to the towns, communities and organisations. Counts only: no driver."
    ),
    "stations.events/service.used.v1": "A driver used a service at a station (a check-in).",
    "stations.events/activity.attended.v1": "A driver attended an activity a station organised.",
    "points.events/points.awarded.v1": (
        "Points were credited to a driver's account by an earning rule, because of the event "
        "named by `cause_source`, `cause_id` and `cause_type`."
    ),
    "points.events/points.redeemed.v1": "A driver spent points on a reward.",
    "points.events/points.reversed.v1": "An earlier ledger entry was reversed.",
    "points.events/points.expired.v1": "Points awarded up to a date expired.",
    "points.events/points.grade_changed.v1": "A driver's credit grade (AAA, AA or A) changed.",
    "points.events/points.adjusted.v1": (
        "An operator changed a driver's balance by hand, with a mandatory reason; `sanction` "
        "marks a penalty that counts against the credit grade."
    ),
    "notify.events/notification.delivered.v1": (
        "A notification reached a driver on a channel. A broadcast's inbox deliveries are "
        "announced per page by `notification.broadcast_delivered.v1` instead (notify's "
        "`broadcast_announcements=driver` restores this event for them)."
    ),
    "notify.events/notification.broadcast_delivered.v1": (
        "A page of a broadcast (up to `broadcast_batch_size` drivers, 500 by default) reached "
        "its drivers' inboxes: one event per page, naming each driver and notification id, "
        "instead of one `notification.delivered.v1` per inbox. The event id is "
        "`<broadcast_id>:<batch_no>.delivered` and `subject` the broadcast id; a page fanned out "
        "again after a crash announces under the same id. SMS and partner-webhook deliveries of "
        "a broadcast, and inbox items held for quiet hours and released later, keep their "
        "per-driver `notification.delivered.v1`."
    ),
    "notify.events/notification.failed.v1": (
        "A notification could not be delivered on a channel, after the given number of attempts."
    ),
    "cases.events/case.opened.v1": (
        "A driver's request or complaint was taken in. Every clock but the revisit's starts "
        "now; `resolution_due` is its first resolution deadline. The case itself (description, "
        "attachments) is read over HTTP under its access rules."
    ),
    "cases.events/case.assigned.v1": (
        "A case was offered to handling units (dispatch) or handed to another unit by its lead "
        "unit (transfer). The lead unit stays responsible; `final` means no return."
    ),
    "cases.events/case.status_changed.v1": (
        "A case moved in its state table (accept, return, request for information, reply, "
        "suspension, resumption, feedback, revisit sending it to a supervisor, reopen…)."
    ),
    "cases.events/case.deadline_warning.v1": (
        "Three quarters of a clock's office time are gone and it is not met. Announced once."
    ),
    "cases.events/case.breached.v1": (
        "A clock passed its deadline unmet: level 1 at the deadline, 2 one working day later, 3 "
        "three working days later. Each level is announced once; a breach is never cleared."
    ),
    "cases.events/case.deadline_extended.v1": (
        "A supervisor approved the round's one extension before the deadline; the driver is "
        "told the reason code and the new deadline."
    ),
    "cases.events/case.resolved.v1": (
        "The handling unit answered the case; `within_limit` says whether in time."
    ),
    "cases.events/case.closed.v1": (
        "A case was closed: after a satisfied revisit, two supervisors' exemption, or a "
        "dismissed objection to a rejection."
    ),
    "cases.events/case.compensation_granted.v1": (
        "Points the driver is owed: fixed points when we missed our own deadline, or restoration "
        "or goodwill points a supervisor approved for an upheld complaint about a programme "
        "service. The points service credits each `compensation_id` once."
    ),
    f"{PARTNER_TOPIC_DOC}/driver.registered.v1": (
        "The port booking system registers a driver it knows. It never sends the ID number: "
        "`national_id_hash` (see [The national ID hash](#the-national-id-hash)) lets the "
        "registry recognise a person it already has, so nobody is registered twice. There is no "
        "driver id yet, so the envelope's `subject` (and the record key) is `partner_driver_ref`."
    ),
    f"{PARTNER_TOPIC_DOC}/service.used.v1": (
        "A station kiosk recorded that a driver used a service at a station."
    ),
    f"{PARTNER_TOPIC_DOC}/volunteer.logged.v1": (
        "The volunteer team logged a driver's volunteer work."
    ),
    f"{PARTNER_TOPIC_DOC}/safety.milestone.v1": (
        "The traffic safety system reports that a driver reached a safe-driving milestone."
    ),
    f"{PARTNER_TOPIC_DOC}/training.completed.v1": (
        "A training provider reports that a driver completed a course."
    ),
    f"{PARTNER_TOPIC_DOC}/port.appointment.kept.v1": (
        "The port booking system reports that a driver kept a terminal appointment, and whether "
        "on time."
    ),
}

FIELD_NOTES: dict[str, str] = {
    "driver_id": "The driver's id in the registry; must equal the envelope's `subject`.",
    "station_id": "The station's id in the stations service.",
    "service_code": "The service's code in the stations' service catalogue.",
    "used_at": "When the service was used.",
    "checkin_id": "The check-in that recorded it.",
    "kiosk_id": "The kiosk that recorded it.",
    "activity_id": "The activity's id in the stations service.",
    "activity_kind": "What kind of activity it was.",
    "attended_at": "When the driver attended.",
    "registered_at": "When the driver was registered.",
    "fleet": "The driver's fleet (transport company), when known.",
    "home_province": "The driver's home province, when known.",
    "language": "The driver's preferred language, when known.",
    "changed_fields": "Names of the changed fields, never their values.",
    "updated_at": "When the details changed.",
    "verified_at": "When the driver was verified.",
    "verified_by": "Who verified the driver.",
    "deactivated_at": "When the driver was deactivated.",
    "entry_id": "The ledger entry this event announces.",
    "amount": "Points moved by the entry (positive).",
    "balance_after": "The account balance after the entry.",
    "rule_id": "The earning rule that awarded the points.",
    "cause_source": "`source` of the event that caused the award.",
    "cause_id": "`id` of the event that caused the award.",
    "cause_type": "`type` of the event that caused the award.",
    "awarded_at": "When the points were awarded.",
    "redemption_id": "The redemption (order) in the mall.",
    "reward_id": "The reward redeemed.",
    "redeemed_at": "When the points were spent.",
    "reversed_entry_id": "The ledger entry that was reversed.",
    "reversed_at": "When the entry was reversed.",
    "awarded_through": "Points awarded up to and including this day expired.",
    "expired_at": "When the points expired.",
    "old_grade": "The grade before.",
    "new_grade": "The grade now.",
    "earned_last_12_months": "Points earned in the last 12 months, which the grade rests on.",
    "reasons": "Why the grade changed, as short codes.",
    "changed_at": "When the grade changed.",
    "notification_id": "The notification in the notify service.",
    "category": "The notification's category (policy, road alert, case update…).",
    "delivered_at": "When it was delivered.",
    "attempts": "How many delivery attempts were made.",
    "failed_at": "When delivery was given up.",
    "partner_driver_ref": "The booking system's own reference for the driver; also `subject`.",
    "national_id_hash": (
        "Lowercase hex HMAC-SHA256 of `national_id:<ID number, upper-case>` with the key agreed "
        "with the district. Never the number itself."
    ),
    "name": "The driver's name, when the partner has it.",
    "plate": "The vehicle's plate, when the partner has it.",
    "activity": "What the volunteer work was.",
    "hours": "Hours spent.",
    "logged_at": "When the work was logged.",
    "team": "The volunteer team or group.",
    "milestone": "Which milestone was reached.",
    "days": "The number of days the milestone counts.",
    "reached_at": "When the milestone was reached.",
    "course_id": "The course's id at the training provider.",
    "course_name": "The course's name.",
    "completed_at": "When the course was completed.",
    "appointment_id": "The appointment in the booking system.",
    "terminal": "The terminal of the appointment.",
    "on_time": "Whether the driver arrived within the appointment's window.",
    "kept_at": "When the appointment was kept.",
    "partner_id": "The partner's id (its topic is `partner.<partner_id>.events`).",
    "allowed_types": "The event types the partner may send.",
    "status": "`active`, or `suspended` (its records are refused).",
    "version": "The account's version; grows by one with every change.",
}

TYPE_FIELD_NOTES: dict[str, dict[str, str]] = {
    "registry.events/driver.registered.v1": {
        "channel": "How the driver was registered: by the driver (`self`), a station, a partner "
        "or an operator."
    },
    "registry.events/driver.deactivated.v1": {"reason": "Why the driver was deactivated."},
    "registry.events/driver.partner_linked.v1": {
        "partner_id": "The partner now linked to the driver.",
        "basis": "`consent` (the driver confirmed); `registration` links come with "
        "`driver.registered.v1`.",
        "linked_at": "When the link was made.",
        "partner_driver_ref": "The partner's own reference for the driver, if it gave one.",
    },
    "registry.events/driver.partner_unlinked.v1": {
        "partner_id": "The partner no longer linked to the driver.",
        "unlinked_at": "When the driver ended the link.",
    },
    "registry.events/organisation.placed.v1": {
        "organisation_id": "The organisation placed; equals the envelope's `subject`.",
        "kind": "Its kind (docs/registry.md lists them with their article lines).",
        "placed_at": "When it was created or moved.",
    },
    "registry.events/census.need_referred.v1": {
        "referred_by": "The operator who referred it (the token's `sub`).",
        "referred_at": "When it was referred.",
    },
    "registry.events/census.results_fed_back.v1": {
        "campaign_id": "The campaign; equals the envelope's `subject`.",
        "quarter": "Its quarter, e.g. `2026Q3`.",
        "fed_back_at": "When the results were fed back.",
        "fed_back_by": "Who fed them back.",
        "grids": "Per grid (`unit_id` null: drivers without a grid).",
        "organisations": "Per organisation the answering drivers are members of.",
    },
    "registry.events/grid.placed.v1": {
        "grid_id": "The grid placed; equals the envelope's `subject`.",
        "parent_id": "The grid it lies in; null: a root.",
        "previous_parent_id": "On a move: the moved grid's former parent.",
        "moved_root_id": "On a move: the grid whose subtree moved.",
        "placed_at": "When it was created or moved.",
    },
    "points.events/points.reversed.v1": {"reason": "Why the entry was reversed."},
    "notify.events/notification.delivered.v1": {"channel": "The channel it was delivered on."},
    "notify.events/notification.broadcast_delivered.v1": {
        "broadcast_id": "The broadcast; equals the envelope's `subject`.",
        "batch_no": "The page of the broadcast's segment (0, 1, …); one event per page.",
        "channel": "Always `inbox`.",
        "delivered_at": "When the page's last inbox item was stored.",
        "deliveries": "Each driver of the page whose inbox now holds the broadcast, with the "
        "notification id (`GET /v1/notifications/{id}`).",
    },
    "notify.events/notification.failed.v1": {
        "channel": "The channel that failed.",
        "reason": "Why delivery failed (never the message text or a phone number).",
    },
}


def catalogue() -> Iterator[tuple[str, str, type[EventData]]]:
    """``(topic as documented, event type, data model)`` for every type, in catalogue order."""
    for topic, models in DOMAIN_EVENTS.items():
        for event_type, model in models.items():
            yield topic, event_type, model
    for event_type, model in PARTNER_EVENTS.items():
        yield PARTNER_TOPIC_DOC, event_type, model


def section_heading(topic: str, event_type: str) -> str:
    return f"### `{event_type}` on `{topic}`"


def _contract_topic(topic: str) -> str:
    return PARTNER_TOPIC if topic == PARTNER_TOPIC_DOC else topic


def _consumers(topic: str, event_type: str | None = None) -> list[str]:
    found = []
    for c in CONTRACTS:
        types = c.consumes.get(_contract_topic(topic), ())
        if types and (event_type is None or event_type in types):
            found.append(f"{c.name} (group `{c.group_id}`)")
    return found


def _producer(topic: str, event_type: str | None = None) -> str:
    if topic == PARTNER_TOPIC_DOC:
        partners = [p for p, types in DEFAULT_PARTNERS.items() if event_type in types]
        if event_type is None:
            return "each partner, on its own topic only"
        return ", ".join(f"`{p}`" for p in partners) + " (default partner catalogue)"
    owner = topic.split(".", 1)[0]
    published = [t for c in CONTRACTS for t in c.publishes.get(topic, ())]
    if event_type is None or event_type in published:
        return owner
    return f"{owner} (not published yet)"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _constraints(prop: dict[str, Any]) -> list[str]:
    out = []
    if "minLength" in prop and "maxLength" in prop:
        out.append(f"{prop['minLength']}–{prop['maxLength']} chars")
    elif "maxLength" in prop:
        out.append(f"≤ {prop['maxLength']} chars")
    elif "minLength" in prop:
        out.append(f"≥ {prop['minLength']} chars")
    if "pattern" in prop:
        out.append(f"pattern `{prop['pattern']}`")
    for key, sign in (
        ("exclusiveMinimum", ">"),
        ("minimum", "≥"),
        ("exclusiveMaximum", "<"),
        ("maximum", "≤"),
    ):
        if key in prop:
            out.append(f"{sign} {prop[key]}")
    return out


def _type(prop: dict[str, Any]) -> str:
    if "anyOf" in prop:
        options = [p for p in prop["anyOf"] if p.get("type") != "null"]
        rendered = " or ".join(_type(p) for p in options)
        return f"{rendered} or null" if len(options) < len(prop["anyOf"]) else rendered
    if "$ref" in prop:
        return f"object `{prop['$ref'].rsplit('/', 1)[-1]}`"
    if "enum" in prop:
        return "one of " + ", ".join(f"`{v}`" for v in prop["enum"])
    if "const" in prop:
        return f"`{prop['const']}`"
    kind = str(prop.get("type", "any"))
    if kind == "array":
        kind = f"array of {_type(prop.get('items', {}))}"
    elif prop.get("format") == "date-time":
        kind = "date-time (RFC 3339, with offset)"
    elif prop.get("format") == "date":
        kind = "date (`YYYY-MM-DD`)"
    constraints = _constraints(prop)
    return f"{kind} ({', '.join(constraints)})" if constraints else kind


def _field_rows(key: str, model: type[EventData]) -> list[str]:
    schema = model.model_json_schema()
    required = set(schema.get("required", ()))
    notes = TYPE_FIELD_NOTES.get(key, {})
    rows = ["| field | type | required | description |", "|---|---|---|---|"]
    for name, prop in schema["properties"].items():
        attribute = prop.get(ENVELOPE_DEFAULT)
        if name in required:
            needed = "yes"
        elif attribute:
            needed = f"no (default: the envelope's `{attribute}`)"
        elif prop.get("default") is not None:
            needed = f"no (default `{str(prop['default']).lower()}`)"
        else:
            needed = "no"
        if attribute:
            # The model's description states only the envelope rule; the meaning lives here.
            meaning = notes.get(name) or FIELD_NOTES.get(name, "")
            meaning = meaning.split(";", 1)[0].rstrip(".")
            description = f"{meaning}. {prop.get('description', '')}"
        else:
            description = prop.get("description") or notes.get(name) or FIELD_NOTES.get(name, "")
        if description and not description.endswith("."):
            description += "."
        if prop.get("examples"):
            description += " E.g. " + ", ".join(f"`{e}`" for e in prop["examples"]) + "."
        rows.append(
            f"| `{name}` | {_cell(_type(prop))} | {needed} | {_cell(description.strip())} |"
        )
    return rows


def _schema_file(topic: str, event_type: str) -> str:
    # The file names docs/schemas uses (common.events.export).
    family = topic.replace("<", "").replace(">", "")
    return f"schemas/{family}__{event_type}.json"


def render_types() -> str:
    parts: list[str] = []
    for topic, event_type, model in catalogue():
        key = f"{topic}/{event_type}"
        consumers = _consumers(topic, event_type)
        schema = _schema_file(topic, event_type)
        parts += [
            section_heading(topic, event_type),
            "",
            f"- Topic: `{topic}`",
            f"- Producer: {_producer(topic, event_type)}",
            f"- Consumed today by: {', '.join(consumers) if consumers else 'none yet'}",
            f"- Meaning: {MEANINGS.get(key, model.__doc__ or '(not described yet)')}",
            f"- JSON Schema of `data`: [{schema}]({schema})",
            "",
            *_field_rows(key, model),
            "",
        ]
    return "\n".join(parts).rstrip("\n")


def render_topics() -> str:
    rows = [
        "| topic | written by | event types | consumed today by |",
        "|---|---|---|---|",
    ]
    topics: list[tuple[str, list[str]]] = [(t, list(m)) for t, m in DOMAIN_EVENTS.items()]
    topics.append((PARTNER_TOPIC_DOC, list(PARTNER_EVENTS)))
    for topic, types in topics:
        consumers = _consumers(topic)
        rows.append(
            f"| `{topic}` | {_producer(topic)} | {', '.join(f'`{t}`' for t in types)} "
            f"| {', '.join(consumers) if consumers else 'none yet'} |"
        )
    return "\n".join(rows)


def render_partners() -> str:
    rows = ["| partner | topic | `source` | may send |", "|---|---|---|---|"]
    for partner, types in DEFAULT_PARTNERS.items():
        rows.append(
            f"| `{partner}` | `partner.{partner}.events` | `partner/{partner}` "
            f"| {', '.join(f'`{t}`' for t in types)} |"
        )
    return "\n".join(rows)


def render() -> dict[str, str]:
    """Generated part name -> its markdown."""
    return {"topics": render_topics(), "partners": render_partners(), "types": render_types()}


def apply(markdown: str) -> str:
    """The document with every generated part replaced by what the catalogue says now."""
    for name, body in render().items():
        pattern = re.compile(
            rf"(<!-- generated:{name} start -->\n)(?:.*?\n)?(<!-- generated:{name} end -->)", re.S
        )
        found = pattern.search(markdown)
        if found is None:
            raise ValueError(f"docs/events.md lacks the markers of the generated part {name!r}")
        # Blank lines around the body keep tables and headings apart from the markers.
        part = f"{found.group(1)}\n{body}\n\n{found.group(2)}"
        markdown = markdown[: found.start()] + part + markdown[found.end() :]
    return markdown


def main() -> None:
    EVENTS_MD.write_text(apply(EVENTS_MD.read_text()))
    print(f"updated the generated parts of {EVENTS_MD}")


if __name__ == "__main__":
    main()
