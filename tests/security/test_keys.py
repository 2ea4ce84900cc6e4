"""Issue 14, "Keys and tokens": one test per finding, each on the real services and store.

- the environment defaulted to development, which accepts keys published in the repository;
- the token command minted 10-year tokens, also for production;
- all services shared one HS256 secret, with no audience and no issuer;
- the PII lookup HMAC key was shared with the port-booking partner (phone and ID hashes
  reversible by enumeration);
- ciphertexts and hashes carried no key id, so keys could not be rotated.
"""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from pydantic import ValidationError

from common.auth import issue_token
from common.auth import main as token_main
from common.dev_issuer import DEV_ISSUER
from common.events import new_event
from common.events.partner import PartnerDriverRegistered
from common.pii import partner_hash
from common.settings import ServiceSettings
from common.settings import main as settings_main
from common.testing import wait_until
from registry.app import create_app
from registry.settings import RegistrySettings
from tests.integration.test_registry_rules import driver
from tests.support import produce, serve

Headers = Callable[..., dict[str, str]]
# The development secret every service accepted before (it is in the repository's history).
PUBLISHED_SECRET = "dev-only-jwt-secret-change-me-0123456789"


def _without_driverhome_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("DRIVERHOME_")]:
        monkeypatch.delenv(name)


def test_an_unset_environment_is_production_and_production_refuses_the_development_keys(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _without_driverhome_settings(monkeypatch)
    cursor_key = base64.b64encode(b"c" * 32).decode()
    with pytest.raises(ValidationError, match="DRIVERHOME_JWT_ISSUER"):
        RegistrySettings(cursor_key=cursor_key)
    # Even with keys of its own, production refuses the development issuer.
    with pytest.raises(ValidationError, match="DRIVERHOME_JWT_ISSUER"):
        RegistrySettings(
            jwt_issuer=DEV_ISSUER, jwt_jwks_url="https://id.example/jwks", cursor_key=cursor_key
        )
    assert settings_main(["--check", "--service", "registry"]) == 1
    printed = capsys.readouterr().out
    assert "DRIVERHOME_JWT_ISSUER is not set" in printed
    assert "DRIVERHOME_PII_KEY is not set" in printed


def test_the_token_command_refuses_production_and_long_lived_tokens(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _without_driverhome_settings(monkeypatch)

    def command(*args: str, environment: str | None) -> tuple[int, str, str]:
        if environment is None:
            monkeypatch.delenv("DRIVERHOME_ENVIRONMENT", raising=False)
        else:
            monkeypatch.setenv("DRIVERHOME_ENVIRONMENT", environment)
        try:
            token_main(list(args))
            status = 0
        except SystemExit as exit_:
            status = int(exit_.code or 0)
        out, err = capsys.readouterr()
        return status, out, err

    unset = command(environment=None)
    production = command(environment="production")
    ten_years = command("--hours", str(24 * 3650), environment="development")
    status, printed, _ = command(environment="development")
    for refused_status, refused_out, _ in (unset, production, ten_years):
        assert refused_status != 0 and "eyJ" not in refused_out
    assert "production" in unset[2]
    assert status == 0
    claims = jwt.decode(printed.splitlines()[-1], options={"verify_signature": False})
    assert claims["iss"] == DEV_ISSUER
    assert claims["exp"] - claims["iat"] <= 24 * 3600


def _token(key: Any, algorithm: str, **claims: Any) -> str:
    now = datetime.now(UTC)
    payload = {"sub": "op-1", "role": "operator", "iat": now, "exp": now + timedelta(hours=1)}
    return jwt.encode({**payload, **claims}, key, algorithm=algorithm)


async def test_tokens_need_the_issuers_signature_the_issuer_and_this_services_audience(
    make_settings: Callable[..., RegistrySettings], token: Headers
) -> None:
    settings = make_settings(RegistrySettings)
    everywhere = token()  # a development token names every service's audience
    for_points = token(audience=["driverhome-points"])
    registry_aud = ["driverhome-registry"]
    forged = [
        _token(PUBLISHED_SECRET, "HS256", roles=["registry_clerk"]),
        _token(PUBLISHED_SECRET, "HS256", iss=DEV_ISSUER, aud=registry_aud),
        _token(None, "none", iss=DEV_ISSUER, aud=registry_aud),
    ]
    async with serve(create_app(settings)) as http:
        ok = await http.get("/v1/drivers", headers=everywhere)
        wrong_audience = await http.get("/v1/drivers", headers=for_points)
        refused = [
            await http.get("/v1/drivers", headers={"Authorization": f"Bearer {each}"})
            for each in forged
        ]
    assert ok.status_code == 200
    assert wrong_audience.status_code == 401
    assert [answer.status_code for answer in refused] == [401, 401, 401]


async def test_the_booking_partner_hashes_with_its_own_key_never_the_internal_one(
    make_settings: Callable[..., RegistrySettings], token: Headers, infra: Any, mongo: Any
) -> None:
    settings = make_settings(RegistrySettings)
    partner_key = settings.partner_hash_keys["port-booking"]["pb1"]
    assert partner_key != settings.pii_hmac_key
    body = driver(700)

    async def registration(digest: str, ref: str) -> None:
        event = new_event(
            PartnerDriverRegistered(partner_driver_ref=ref, national_id_hash=digest),
            source="partner/port-booking",
            subject=ref,
        )
        topic = settings.partner_topic("port-booking")
        await produce(infra.kafka_bootstrap, topic, event.to_bytes(), key=ref.encode())

    drivers = mongo[settings.mongo_db]["drivers"]
    async with serve(create_app(settings)) as http:
        driver_id = (await http.post("/v1/drivers", json=body, headers=token())).json()["driver_id"]
        # The partner's own hash finds the driver the registry knows (a link request follows).
        await registration(partner_hash(partner_key, "national_id", body["national_id"]), "PB-1")

        async def linked() -> bool:
            doc = await drivers.find_one({"_id": driver_id})
            return bool(doc and (doc.get("link_requests") or doc.get("partner_links")))

        await wait_until(linked, timeout=30)
        stored = await drivers.find_one({"_id": driver_id})
    assert stored is not None
    # What the partner can compute never equals what the registry stores: holding its key,
    # it cannot confirm a guessed phone or ID number against the register.
    stored_hashes = {stored["phone"]["hash"].split(":")[-1], stored["national_id"]["hash"]}
    guesses = {
        partner_hash(partner_key, "phone", body["phone"]),
        partner_hash(partner_key, "national_id", body["national_id"]),
    }
    assert not guesses & {h.split(":")[-1] for h in stored_hashes}
    assert await drivers.count_documents({}) == 1  # matched, not registered twice


def _fresh_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


async def test_every_value_names_its_key_and_keys_rotate_under_traffic(
    make_settings: Callable[..., RegistrySettings], token: Headers, mongo: Any
) -> None:
    old = make_settings(RegistrySettings)
    aes, mac = _fresh_key(), _fresh_key()
    new_keys = {"pii_key": aes, "pii_key_id": "k2", "pii_hmac_key": mac, "pii_hmac_key_id": "h2"}
    rotating = make_settings(
        RegistrySettings,
        **new_keys,
        pii_retired_keys={"k1": old.pii_key},
        pii_retired_hmac_keys={"h1": old.pii_hmac_key},
        key_rotation_interval_seconds=1.0,
        key_rotation_batch_size=2,
    )
    after = make_settings(RegistrySettings, **new_keys)  # the old keys dropped
    before, during = [driver(710 + i) for i in range(9)], list[dict[str, Any]]()
    drivers = mongo[old.mongo_db]["drivers"]

    async def register(http: httpx.AsyncClient, body: dict[str, Any]) -> tuple[int, str]:
        answer = await http.post("/v1/drivers", json=body, headers=token())
        return answer.status_code, answer.json()["driver_id"]

    year = datetime.now(UTC).year
    family = {
        "spouse_name": "林秀兰",
        "children": [
            {"name": "刘子涵", "birth_year": year - 9},
            {"name": "刘子墨", "birth_year": year - 2},
        ],
    }
    async with serve(create_app(old)) as http:
        ids = {b["national_id"]: (await register(http, b))[1] for b in before}
        with_family = ids[before[0]["national_id"]]
        me = token("driver", driver_id=with_family)
        await http.put(
            f"/v1/drivers/{with_family}/consents/family_services",
            json={"granted": True, "channel": "app"},
            headers=me,
        )
        assert (
            await http.put(f"/v1/drivers/{with_family}/family", json=family, headers=me)
        ).is_success
    first = await drivers.find_one({})
    assert first is not None
    assert first["national_id"]["hash"].startswith("H1:h1:")
    assert first["national_id"]["enc"].startswith("E1:k1:")
    assert first["phone"]["enc"].startswith("E1:k1:")

    async with serve(create_app(rotating)) as http:
        # Known ID numbers find their drivers while those are still under the old keys.
        again = [await register(http, b) for b in before[:3]]
        # Registrations go on until the job (first round one interval after start-up) has
        # rewritten everything: traffic before, during and after its passes.
        old_left: list[int] = []
        deadline = asyncio.get_running_loop().time() + 30
        while not old_left or old_left[-1] or len(during) < 3:
            assert asyncio.get_running_loop().time() < deadline, "rotation did not finish"
            during.append(driver(730 + len(during)))
            status, driver_id = await register(http, during[-1])
            assert status == 201
            ids[during[-1]["national_id"]] = driver_id
            old_left.append(await drivers.count_documents({"phone.enc": {"$regex": "^E1:k1:"}}))
            # Steady traffic, not a flood: every driver registered here is searched for below.
            await asyncio.sleep(0.2)

        async def rotated() -> bool:
            current = {
                "national_id.hash": {"$regex": "^H1:h2:"},
                "phone.enc": {"$regex": "^E1:k2:"},
            }
            everyone = await drivers.count_documents(current) == len(before) + len(during)
            names = await drivers.find_one({"_id": with_family}, {"family": 1})
            assert names is not None
            kin = names["family"]
            sealed = [kin["spouse_name"], *(child["name"] for child in kin["children"])]
            return everyone and all(name["enc"].startswith("E1:k2:") for name in sealed)

        await wait_until(rotated, timeout=30)
    assert again == [(200, ids[b["national_id"]]) for b in before[:3]]
    assert old_left[0] > 0  # the job had not finished when the traffic began

    reader = token(scope="pii:read drivers:read")
    async with serve(create_app(after)) as http:
        for body in [*before, *during]:
            by_id = await http.post(
                "/v1/drivers/search", json={"national_id": body["national_id"]}, headers=reader
            )
            by_phone = await http.post(
                "/v1/drivers/search", json={"phone": body["phone"]}, headers=reader
            )
            found = ids[body["national_id"]]
            revealed = await http.post(
                f"/v1/drivers/{found}/pii/reveal",
                json={"field": "phone", "purpose": "identity_check"},
                headers=reader,
            )
            assert [d["driver_id"] for d in by_id.json()["items"]] == [found]
            assert [d["driver_id"] for d in by_phone.json()["items"]] == [found]
            assert revealed.status_code == 200 and revealed.json()["value"] == body["phone"]
        revealed_family = await http.post(
            f"/v1/drivers/{with_family}/pii/reveal",
            json={"field": "family", "purpose": "identity_check"},
            headers=reader,
        )
    names = revealed_family.json()["value"]
    assert names["spouse_name"] == family["spouse_name"]
    assert [c["name"] for c in names["children"]] == [c["name"] for c in family["children"]]


async def test_a_production_service_accepts_only_the_identity_providers_tokens() -> None:
    """The identity provider's RS256 key comes from its JWKS URL; development tokens (signed by
    the development issuer) are refused by a production verifier."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    from common.jwks import RemoteKeys
    from common.tokens import TokenVerifier
    from tests.support import PRODUCTION_KEYS

    idp_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = jwt.algorithms.RSAAlgorithm.to_jwk(idp_key.public_key(), as_dict=True)
    jwks = {"keys": [{**public, "kid": "idp-1", "alg": "RS256", "use": "sig"}]}
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=jwks))
    settings = ServiceSettings(**PRODUCTION_KEYS, service_name="registry")
    verifier = TokenVerifier(settings, RemoteKeys(settings.jwt_jwks_url or "", transport=transport))
    issuer, audience = settings.token_issuer, ["driverhome-registry"]
    good = jwt.encode(
        {
            "iss": issuer,
            "aud": audience,
            "sub": "op-1",
            "role": "operator",
            "iat": datetime.now(UTC),
            "exp": datetime.now(UTC) + timedelta(minutes=5),
        },
        idp_key,
        algorithm="RS256",
        headers={"kid": "idp-1"},
    )
    development = issue_token(ServiceSettings(service_name="registry"), role="operator")
    assert (await verifier.claims(good))["sub"] == "op-1"
    with pytest.raises(jwt.PyJWTError):
        await verifier.claims(development)
