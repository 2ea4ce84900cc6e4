from __future__ import annotations

import base64
import random

import pytest
from cryptography.exceptions import InvalidTag
from hypothesis import given
from hypothesis import strategies as st

from common.logging import scrub
from common.pii import (
    PiiProtector,
    is_valid_national_id,
    is_valid_phone,
    mask_national_id,
    mask_phone,
)
from common.testing import synthetic_national_id, synthetic_phone

# The worked example printed in GB 11643-1999 itself: an independent check of our check-digit
# arithmetic (the generator below uses the same arithmetic, so it cannot be the only oracle).
STANDARD_EXAMPLE = "11010519491231002X"
# Everything else is generated per run: no fixed real-looking numbers in the test code.
GENERATED_ID = synthetic_national_id()
PHONE = synthetic_phone()


def protector() -> PiiProtector:
    return PiiProtector(base64.b64encode(b"k" * 32).decode(), base64.b64encode(b"h" * 32).decode())


# Named ids: a generated number would make the test's name differ per process (workers must
# collect the same tests) and print an ID-shaped string in every report.
@pytest.mark.parametrize("number", [STANDARD_EXAMPLE, GENERATED_ID], ids=["standard", "generated"])
def test_resident_id_numbers_with_a_correct_check_digit_are_accepted(number: str) -> None:
    assert is_valid_national_id(number)


@given(st.integers(min_value=0, max_value=2**32))
def test_exactly_one_check_character_makes_a_number_valid(seed: int) -> None:
    number = synthetic_national_id(random.Random(seed))
    valid = [c for c in "0123456789X" if is_valid_national_id(number[:17] + c)]
    assert valid == [number[17]]


@pytest.mark.parametrize(
    "number",
    [
        "110105194912310021",  # wrong check digit
        "11010519491331002X",  # month 13
        "01010519491231002X",  # area code cannot start with 0
        "1101051949123100",  # too short
    ],
)
def test_resident_id_numbers_that_fail_format_or_checksum_are_refused(number: str) -> None:
    assert not is_valid_national_id(number)


def test_masks_keep_only_the_ends() -> None:
    assert mask_national_id(STANDARD_EXAMPLE) == "1101**********002X"
    assert mask_national_id(GENERATED_ID) == GENERATED_ID[:4] + "*" * 10 + GENERATED_ID[-4:]
    assert mask_phone(PHONE) == PHONE[:3] + "****" + PHONE[-4:]


def test_phone_numbers_must_be_mainland_mobiles() -> None:
    assert is_valid_phone(PHONE)
    assert not is_valid_phone("12" + PHONE[2:])  # no mobile range starts with 12
    assert not is_valid_phone(PHONE[:-1])


@given(st.text(min_size=1, max_size=40))
def test_encryption_round_trips_and_is_bound_to_its_purpose(value: str) -> None:
    pii = protector()
    token = pii.encrypt("phone", value)
    assert pii.decrypt("phone", token) == value
    with pytest.raises(InvalidTag):
        pii.decrypt("national_id", token)


def test_hash_is_keyed_and_separates_purposes() -> None:
    pii = protector()
    assert pii.hash("phone", PHONE) == pii.hash("phone", PHONE)
    assert pii.hash("phone", PHONE) != pii.hash("national_id", PHONE)
    other = PiiProtector(base64.b64encode(b"k" * 32).decode(), base64.b64encode(b"x" * 32).decode())
    assert other.hash("phone", PHONE) != pii.hash("phone", PHONE)


def test_the_log_scrubber_hides_id_and_phone_numbers() -> None:
    line = f"driver {STANDARD_EXAMPLE} called from 13812345678 about plate 浙B12345"
    cleaned = scrub(line)
    assert STANDARD_EXAMPLE not in cleaned
    assert PHONE not in cleaned
    assert "浙B12345" in cleaned


@pytest.mark.parametrize(
    "written",
    [
        "{p}",
        "+86{p}",
        "+86 {p}",
        "0086-{p}",
        "{a} {b} {c}",
        "{a}-{b}-{c}",
        "+86 {a} {b} {c}",
        "{i1} {i2} {i3}",
        "{i1}-{i2}-{i3}",
    ],
)
def test_the_scrubber_knows_numbers_as_people_write_them(written: str) -> None:
    p, i = PHONE, GENERATED_ID
    text = written.format(p=p, a=p[:3], b=p[3:7], c=p[7:], i1=i[:6], i2=i[6:14], i3=i[14:])
    cleaned = scrub(f"有事打{text}找我")
    assert cleaned.startswith("有事打[") and cleaned.endswith("]找我"), "a number is left"


def test_the_scrubber_leaves_dates_amounts_and_plates() -> None:
    for text in ("2026-12-01", "订单 20261201 号", "运费 12345 元", "浙B12345", "第 1390 号"):
        assert scrub(text) == text


def _key(fill: bytes) -> str:
    return base64.b64encode(fill * 32).decode()


def _legacy_ciphertext(key: str, purpose: str, value: str) -> str:
    """A value as it was stored before key ids: bare base64 of nonce and ciphertext."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = b"n" * 12
    sealed = AESGCM(base64.b64decode(key)).encrypt(nonce, value.encode(), purpose.encode())
    return base64.b64encode(nonce + sealed).decode()


def test_values_name_their_key_and_stay_readable_and_findable_after_a_rotation() -> None:
    old = PiiProtector(_key(b"k"), _key(b"h"))
    stored_hash, stored_enc = old.hash("phone", PHONE), old.encrypt("phone", PHONE)
    legacy_enc = _legacy_ciphertext(_key(b"k"), "phone", PHONE)
    legacy_hash = old.digest("phone", PHONE)  # bare hex, as stored before key ids
    assert stored_hash.startswith("H1:h1:") and stored_enc.startswith("E1:k1:")
    rotated = PiiProtector(
        _key(b"K"),
        _key(b"H"),
        key_id="k2",
        hmac_key_id="h2",
        retired_keys={"k1": _key(b"k")},
        retired_hmac_keys={"h1": _key(b"h")},
    )
    assert rotated.decrypt("phone", stored_enc) == PHONE
    assert rotated.decrypt("phone", legacy_enc) == PHONE
    assert rotated.matches(stored_hash, "phone", PHONE)
    assert rotated.matches(legacy_hash, "phone", PHONE)
    assert rotated.hashes("phone", PHONE)[0] == rotated.hash("phone", PHONE)
    assert not rotated.is_current(stored_enc) and not rotated.is_current(stored_hash)
    assert rotated.is_current(rotated.encrypt("phone", PHONE))
    dropped = PiiProtector(_key(b"K"), _key(b"H"), key_id="k2", hmac_key_id="h2")
    with pytest.raises(ValueError, match="k1"):
        dropped.decrypt("phone", stored_enc)
    assert not dropped.matches(stored_hash, "phone", PHONE)


def test_a_partner_hashes_with_its_own_key_and_the_registry_recognises_only_that() -> None:
    from common.pii import partner_hash

    pii = PiiProtector(_key(b"k"), _key(b"h"), partner_keys={"port-booking": {"pb1": _key(b"p")}})
    sent = partner_hash(_key(b"p"), "national_id", STANDARD_EXAMPLE)
    assert pii.partner_candidates("port-booking", sent) == [f"P1:port-booking:pb1:{sent}"]
    assert pii.partner_hashes("national_id", STANDARD_EXAMPLE) == [f"P1:port-booking:pb1:{sent}"]
    assert pii.partner_candidates("volunteer-team", sent) == []  # no key, nothing matches
    assert sent != pii.digest("national_id", STANDARD_EXAMPLE)
