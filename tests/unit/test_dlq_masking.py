"""What the DLQ browser shows of a payload (common.dlq_replay.masked_payload): personal data
masked by its key or by its shape, a payload that is not JSON as scrubbed text."""

from __future__ import annotations

import json

from common.dlq_replay import masked_payload

# Built from parts so no whole number sits in the source: shaped like a phone and an ID number.
PHONE = "139" + "0000" + "5678"
NATIONAL_ID = "330206" + "19800101" + "123X"


def test_personal_fields_are_masked_by_their_names_and_numbers_anywhere_by_their_shape() -> None:
    raw = json.dumps(
        {
            "id": "e1",
            "data": {
                "phone": PHONE,
                "national_id": NATIONAL_ID,
                "contact_name": "王建国",
                "note": f"call {PHONE} about {NATIONAL_ID}",
                "items": [{"mobile": PHONE}],
                "hours": 2,
            },
        }
    ).encode()
    payload, text = masked_payload(raw)
    assert text is None
    data = payload["data"]
    assert data["phone"] == "139****5678" and data["items"] == [{"mobile": "139****5678"}]
    assert data["national_id"] == "3302**********123X"
    assert data["contact_name"] == "王**"
    assert data["note"] == "call [phone] about [national-id]"
    assert data["hours"] == 2 and payload["id"] == "e1"
    shown = json.dumps(payload)
    leaked = PHONE in shown or NATIONAL_ID in shown
    assert not leaked, "a full number is shown"


def test_a_payload_that_is_not_json_is_shown_as_scrubbed_text() -> None:
    payload, text = masked_payload(f"broken {{ {PHONE}".encode())
    assert payload is None
    assert text == "broken { [phone]"
    _, undecodable = masked_payload(b"\xff\xfe" + PHONE.encode())
    assert undecodable is not None and PHONE not in undecodable


def test_numbers_sent_as_json_numbers_are_masked_too_and_keys_are_scrubbed() -> None:
    raw = (
        '{"phone": '
        + PHONE
        + ', "national_id": '
        + NATIONAL_ID[:-1]
        + "1"
        + ', "note": '
        + PHONE
        + ', "hours": 2.5, "count": 3, "ok": true, '
        + '"by_phone": {"'
        + PHONE
        + '": 1}}'
    ).encode()
    payload, _ = masked_payload(raw)
    assert payload["phone"] == "139****5678"
    assert payload["national_id"] == "3302**********1231"
    assert payload["note"] == "[phone]"
    assert (payload["hours"], payload["count"], payload["ok"]) == (2.5, 3, True)
    assert payload["by_phone"] == {"[phone]": 1}
    shown = json.dumps(payload)
    assert PHONE not in shown and NATIONAL_ID[:-1] not in shown, "a full number is shown"


def test_a_payload_nested_past_any_event_is_shown_cut_and_one_past_the_parser_as_text() -> None:
    deep = json.dumps({"data": _nested(100, {"phone": PHONE})}).encode()
    payload, text = masked_payload(deep)
    assert text is None
    shown = json.dumps(payload, ensure_ascii=False)
    assert "…" in shown and PHONE not in shown
    very_deep = b'{"data":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    payload, text = masked_payload(very_deep)
    assert payload is None and text is not None and len(text) <= 4000


def _nested(levels: int, inner: object) -> object:
    for _ in range(levels):
        inner = [inner]
    return inner


def test_a_position_is_shown_to_about_a_kilometre() -> None:
    raw = json.dumps({"data": {"lat": 29.87123, "lng": 121.55456, "minutes": 600}}).encode()
    payload, _ = masked_payload(raw)
    assert payload["data"] == {"lat": 29.87, "lng": 121.55, "minutes": 600}
