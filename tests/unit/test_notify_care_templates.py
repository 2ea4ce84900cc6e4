"""Issue 17's care events and notify: every event type of the new families (mutual help, aid and
festival campaigns, honours, 三亮三比, party-member life, rest nudges) is either a notification
with built-in zh-CN and en texts, or listed here as one that tells no driver, with the reason.
A type added to the catalogue later fails this test until someone decides which it is.
"""

from __future__ import annotations

from common.events import DOMAIN_EVENTS
from notify.templates import DEFAULTS, NOTIFYING, render, sample_variables, validate

FAMILIES = ("help.", "aid.", "honour.", "commitment.", "party.", "rest.", "driving.")

# Types that notify no driver, and why (docs/mutual-help.md, cases.md, honours.md,
# commitments.md, party-life.md, stations.md).
SILENT = {
    "help.completed.v1": "the poster confirmed it; a helping driver hears of points.awarded.v1",
    "aid.first_approved.v1": "the first review is the committee's business",
    "aid.gift_delivered.v1": "the driver was at the counter",
    "aid.hardship_visited.v1": "the driver was there",
    "commitment.published.v1": "the member or their secretary published it",
    "commitment.self_assessed.v1": "the member wrote it",
    "party.meeting.held.v1": "the branch's report, for figures",
    "party.attendance.recorded.v1": "the member attended; figures and statement show it",
    "party.points.awarded.v1": "member points: the statement shows them",
    "rest.taken.v1": "the driver checked in; points.awarded.v1 tells of the points",
    "driving.reported.v1": "for notify's driving holds, not a message",
}


def care_types() -> set[str]:
    return {t for types in DOMAIN_EVENTS.values() for t in types if t.startswith(FAMILIES)}


def test_every_care_event_notifies_in_both_languages_or_is_silent_for_a_reason() -> None:
    types = care_types()
    assert types, "the care families are in the catalogue"
    undecided = sorted(t for t in types if t not in NOTIFYING and t not in SILENT)
    assert undecided == []
    assert not set(SILENT) & set(NOTIFYING)
    assert set(SILENT) <= types  # no stale entry
    for event_type in sorted(types & set(NOTIFYING)):
        texts = DEFAULTS[event_type]
        assert set(texts) == {"zh-CN", "en"}, event_type
        for content in texts.values():
            validate(event_type, content)
            assert content.title.strip() and content.body.strip(), event_type


def test_the_care_notifications_render_in_chinese_and_english() -> None:
    # Every placeholder is one of the event's variables: none is left behind when rendered.
    for event_type in sorted(care_types() & set(NOTIFYING)):
        zh, en = DEFAULTS[event_type]["zh-CN"], DEFAULTS[event_type]["en"]
        assert zh != en, event_type
        for content in (zh, en):
            title, body = render(content, sample_variables(event_type))
            assert "$" not in title + body, (event_type, title, body)
