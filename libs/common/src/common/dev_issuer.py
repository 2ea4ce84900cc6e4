"""The development identity provider: an Ed25519 key pair kept outside git, and its JWKS.

``make run``, ``make token`` and the tests mint tokens with its private key; services outside
production verify them against its public JWKS like any other identity provider's. The pair is
generated on first use into ``<repo>/.infra/dev-issuer`` (``DRIVERHOME_DEV_KEYS_DIR``), so no
signing key is ever published in the repository. Production refuses this issuer (settings).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

DEV_ISSUER = "https://dev-issuer.driverhome.invalid"
DEV_ALGORITHM = "EdDSA"
# Every service's audience: one development token then works across all of them.
SERVICES = ("registry", "points", "stations", "notify", "cases", "partners")
REPO_ROOT = Path(__file__).resolve().parents[4]
PRIVATE_FILE = "signing-key.pem"
JWKS_FILE = "jwks.json"


def service_audience(service: str) -> str:
    return f"driverhome-{service}"


ALL_AUDIENCES = tuple(service_audience(name) for name in SERVICES)


def default_keys_dir() -> Path:
    return Path(os.environ.get("DRIVERHOME_DEV_KEYS_DIR") or REPO_ROOT / ".infra" / "dev-issuer")


def thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 thumbprint of an OKP key: the key id, stable for the same key everywhere."""
    canonical = json.dumps({k: jwk[k] for k in ("crv", "kty", "x")}, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _public_jwk(key: Ed25519PrivateKey) -> dict[str, Any]:
    jwk: dict[str, Any] = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(key.public_key()))
    jwk.update(kid=thumbprint(jwk), alg=DEV_ALGORITHM, use="sig")
    return jwk


def _create(directory: Path) -> None:
    """Generate the pair in a scratch folder and rename it into place: concurrent first uses
    (several services and the tests start at once) end with one pair, never a mix."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".dev-issuer-", dir=directory.parent))
    try:
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        (scratch / PRIVATE_FILE).write_bytes(pem)
        (scratch / PRIVATE_FILE).chmod(0o600)
        (scratch / JWKS_FILE).write_text(json.dumps({"keys": [_public_jwk(key)]}, indent=2))
        with contextlib.suppress(OSError):  # another process won the race: use its pair
            scratch.rename(directory)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


class DevIssuer:
    """The key pair in one folder, created on first use."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        if not (directory / JWKS_FILE).exists():
            _create(directory)
        pem = (directory / PRIVATE_FILE).read_bytes()
        key = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{directory / PRIVATE_FILE} is not an Ed25519 key")
        self._key = key
        self.kid = _public_jwk(key)["kid"]

    @property
    def jwks_path(self) -> Path:
        return self.directory / JWKS_FILE

    def sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(claims, self._key, algorithm=DEV_ALGORITHM, headers={"kid": self.kid})


@lru_cache(maxsize=8)
def dev_issuer(directory: str | None = None) -> DevIssuer:
    return DevIssuer(Path(directory) if directory else default_keys_dir())
