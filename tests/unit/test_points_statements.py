"""Statement signing without I/O: canonical form, Ed25519, the cut-off and the history prefix."""

from __future__ import annotations

import base64
from datetime import UTC, date, datetime

import pytest
from pydantic import ValidationError

from points.domain import Cause, Entry
from points.settings import PointsSettings
from points.statements import (
    Signer,
    canonical,
    cutoff_of,
    entry_line,
    history_prefix,
    verify_document,
)
from tests.support import PRODUCTION_KEYS

KEY = base64.b64encode(bytes(range(32))).decode()


def statement() -> dict[str, object]:
    return {
        "driver_id": "drv_1",
        "as_of": "2026-06-30",
        "balance": 150,
        "child_reference": "SCH-2026-001",
        "entries": [{"seq": 1, "amount": 150, "cause": "volunteer.logged.v1"}],
        "note": "积分证明",
    }


def entry(seq: int, amount: int, after: int, kind: str = "award") -> Entry:
    at = datetime(2026, 6, 1, tzinfo=UTC)
    return Entry(
        entry_id=f"drv_1:{kind}:{seq}",
        driver_id="drv_1",
        kind=kind,  # type: ignore[arg-type]
        amount=amount,
        cause=Cause(operator="op-zhang", reason="张三 helped at the station"),
        occurred_at=at,
        created_at=at,
        state="applied",
        seq=seq,
        balance_after=after,
    )


def test_the_canonical_form_ignores_key_order_and_whitespace_but_not_values() -> None:
    shuffled = dict(reversed(list(statement().items())))
    assert canonical(shuffled) == canonical(statement())
    assert b" " not in canonical({"a": 1, "b": [1, 2]})
    assert "积分证明".encode() in canonical(statement())
    assert canonical({**statement(), "balance": 151}) != canonical(statement())


def test_a_signed_statement_verifies_and_any_changed_value_does_not() -> None:
    signer = Signer(KEY)
    signature = signer.sign(statement())
    assert signer.verify(statement(), signature)
    assert not signer.verify({**statement(), "balance": 1500}, signature)
    assert not signer.verify({**statement(), "child_reference": "SCH-2026-002"}, signature)
    assert not signer.verify({**statement(), "extra": True}, signature)
    assert not signer.verify(statement(), signature[:-4] + "AAA=")
    assert not signer.verify(statement(), "not base64!")
    assert not Signer(base64.b64encode(bytes(32)).decode()).verify(statement(), signature)


def test_altering_any_byte_of_the_signed_document_invalidates_it() -> None:
    signer = Signer(KEY)
    document = canonical(statement())
    signature = signer.sign(statement())
    assert verify_document(signer.public_key, document, signature)
    for index in range(len(document)):
        altered = bytearray(document)
        altered[index] ^= 0x01
        assert not verify_document(signer.public_key, bytes(altered), signature), index


def test_the_cut_off_is_the_end_of_the_date_in_china_standard_time() -> None:
    cutoff = cutoff_of(date(2026, 6, 30))
    assert cutoff == datetime(2026, 6, 30, 16, 0, tzinfo=UTC)
    assert cutoff.isoformat() == "2026-07-01T00:00:00+08:00"


def test_the_history_stops_at_the_first_gap_in_the_sequence() -> None:
    entries = [entry(1, 100, 100), entry(2, -30, 70, "redemption"), entry(4, 5, 80)]
    prefix = history_prefix(entries)
    assert [e.seq for e in prefix] == [1, 2]
    assert history_prefix([entry(2, 5, 5)]) == []


def test_a_statement_line_never_carries_an_operators_name_or_reason() -> None:
    line = entry_line(entry(1, 10, 10, "adjustment"))
    assert line["cause"] == "manual adjustment"
    assert "op-zhang" not in str(line) and "张三" not in str(line)


def test_a_short_signing_key_or_the_development_key_in_production_is_refused() -> None:
    with pytest.raises(ValidationError):
        PointsSettings(statement_signing_key=base64.b64encode(b"short").decode())
    with pytest.raises(ValidationError):
        PointsSettings(statement_signing_key="***")
    with pytest.raises(ValidationError, match="statement signing key"):
        PointsSettings(**PRODUCTION_KEYS)
    keys = {**PRODUCTION_KEYS, "voucher_signing_key": KEY}
    assert PointsSettings(**keys, statement_signing_key=KEY).statement_signing_key == KEY
