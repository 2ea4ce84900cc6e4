"""Voucher keys: production needs its own; outside production a generated development key."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from pydantic import ValidationError

from points.settings import PointsSettings
from points.vouchers import signing_key
from tests.support import PRODUCTION_KEYS

KEY = base64.b64encode(b"v" * 32).decode()
STATEMENT_KEY = base64.b64encode(b"s" * 32).decode()


def test_production_refuses_to_start_without_its_own_voucher_key() -> None:
    with pytest.raises(ValidationError, match="voucher signing key"):
        PointsSettings(**PRODUCTION_KEYS, statement_signing_key=STATEMENT_KEY)
    with pytest.raises(ValueError, match="voucher signing key"):
        signing_key(None, production=True, keys_dir=None)
    settings = PointsSettings(
        **PRODUCTION_KEYS, statement_signing_key=STATEMENT_KEY, voucher_signing_key=KEY
    )
    assert signing_key(settings.voucher_signing_key, production=True, keys_dir=None) == KEY


def test_production_refuses_the_development_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DRIVERHOME_DEV_KEYS_DIR", str(tmp_path / "dev-issuer"))
    dev_key = signing_key(None, production=False, keys_dir=None)
    with pytest.raises(ValueError, match="development voucher key"):
        signing_key(dev_key, production=True, keys_dir=None)
    assert signing_key(KEY, production=True, keys_dir=None) == KEY


def test_the_development_key_is_generated_once_outside_git_and_kept(tmp_path: Path) -> None:
    issuer_dir = tmp_path / "dev-issuer"
    first = signing_key(None, production=False, keys_dir=str(issuer_dir))
    again = signing_key(None, production=False, keys_dir=str(issuer_dir))
    assert first == again and len(base64.b64decode(first)) == 32
    assert (tmp_path / "dev-vouchers" / "signing-key.pem").stat().st_mode & 0o077 == 0
