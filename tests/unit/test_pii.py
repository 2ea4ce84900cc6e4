from __future__ import annotations

import base64

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

# Synthetic numbers with valid check digits (not real people).
VALID_ID = "11010519491231002X"
VALID_ID_2 = "330206198503150011"


def protector() -> PiiProtector:
    return PiiProtector(base64.b64encode(b"k" * 32).decode(), base64.b64encode(b"h" * 32).decode())


@pytest.mark.parametrize("number", [VALID_ID, VALID_ID_2])
def test_resident_id_numbers_with_a_correct_check_digit_are_accepted(number: str) -> None:
    assert is_valid_national_id(number)


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
    assert mask_national_id(VALID_ID_2) == "3302**********0011"
    assert mask_phone("13812345678") == "138****5678"


def test_phone_numbers_must_be_mainland_mobiles() -> None:
    assert is_valid_phone("13812345678")
    assert not is_valid_phone("12812345678")
    assert not is_valid_phone("1381234567")


@given(st.text(min_size=1, max_size=40))
def test_encryption_round_trips_and_is_bound_to_its_purpose(value: str) -> None:
    pii = protector()
    token = pii.encrypt("phone", value)
    assert pii.decrypt("phone", token) == value
    with pytest.raises(InvalidTag):
        pii.decrypt("national_id", token)


def test_hash_is_keyed_and_separates_purposes() -> None:
    pii = protector()
    assert pii.hash("phone", "13812345678") == pii.hash("phone", "13812345678")
    assert pii.hash("phone", "13812345678") != pii.hash("national_id", "13812345678")
    other = PiiProtector(base64.b64encode(b"k" * 32).decode(), base64.b64encode(b"x" * 32).decode())
    assert other.hash("phone", "13812345678") != pii.hash("phone", "13812345678")


def test_the_log_scrubber_hides_id_and_phone_numbers() -> None:
    line = f"driver {VALID_ID} called from 13812345678 about plate 浙B12345"
    cleaned = scrub(line)
    assert VALID_ID not in cleaned and "13812345678" not in cleaned
    assert "浙B12345" in cleaned
