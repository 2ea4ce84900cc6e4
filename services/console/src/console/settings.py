from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator

from common.settings import ServiceSettings

_DEV_SESSION_SECRET = "dev-only-console-session-secret-0123456789"
# The demo district's outline and grid polygons (scripts/demo_map.py writes it).
DEMO_MAP = Path(__file__).parent / "maps" / "beilun-demo.geojson"


class ConsoleSettings(ServiceSettings):
    """The console holds no store: it calls the services' public APIs with the person's token."""

    service_name: str = "console"
    http_port: int = 8000

    # Base URL of the registry API (the console calls each service with the person's token).
    registry_url: str = "http://127.0.0.1:8001"
    # Base URL of the points API.
    points_url: str = "http://127.0.0.1:8002"
    # Base URL of the stations API.
    stations_url: str = "http://127.0.0.1:8003"
    # Base URL of the notify API.
    notify_url: str = "http://127.0.0.1:8004"
    # Base URL of the cases API.
    cases_url: str = "http://127.0.0.1:8005"
    # Base URL of the partners API.
    partners_url: str = "http://127.0.0.1:8006"
    # Timeout, in seconds, of the console's calls to the services' APIs.
    api_timeout_seconds: float = Field(default=10.0, gt=0)

    # Sessions are signed cookies (no session store): the person's token, CSRF secret, language.
    session_secret: SecretStr = SecretStr(_DEV_SESSION_SECRET)
    # Hours a console session lasts from sign-in (and development tokens' lifetime).
    session_hours: float = Field(default=8.0, gt=0, le=24)
    # Secure cookies: browsers keep them on http://127.0.0.1 and localhost too, so on by default.
    cookie_secure: bool = True
    # Page language when the session has chosen none.
    default_language: Literal["zh-CN", "en"] = "zh-CN"

    # The stations map: the district's outline and grid polygons (GeoJSON, served by the
    # console) under the stations; no tile server unless a tile URL is set, e.g. the district's
    # intranet tiles "https://tiles.example/{z}/{x}/{y}.png" (its origin joins img-src).
    map_geojson: Path = DEMO_MAP
    # Tile URL template of the stations map; unset: no tile layer.
    map_tile_url: str | None = Field(default=None, pattern=r"^https?://[^/\s]+/\S*$")
    # Attribution shown on the stations map for its tiles.
    map_tile_attribution: str = ""

    # Production signs people in through the district's OpenID Connect provider; its access
    # token (RS256, the services' audience, with role and named roles) is what the console sends.
    oidc_metadata_url: str | None = None
    # The console's client id at the provider (with oidc_metadata_url, enables OIDC sign-in).
    oidc_client_id: str | None = None
    # The console's client secret at the provider, if it has one (PKCE S256 is always used).
    oidc_client_secret: SecretStr | None = None
    # Scopes the console asks the provider for at sign-in.
    oidc_scope: str = "openid profile"

    @property
    def dev_sign_in(self) -> bool:
        """Development tokens are issued only outside production."""
        return self.environment != "production"

    @property
    def oidc_configured(self) -> bool:
        return bool(self.oidc_metadata_url and self.oidc_client_id)

    @model_validator(mode="after")
    def _no_dev_secrets_in_production(self) -> ConsoleSettings:
        """Replaces the services' check (same name): the console holds no PII key and verifies
        no token itself, so production asks it only for its own secrets (below)."""
        if self.environment == "production" and self.faults:
            raise ValueError("fault injection is not allowed in production")
        return self

    @model_validator(mode="after")
    def _production_signs_in_through_oidc(self) -> ConsoleSettings:
        if self.environment == "production":
            if self.session_secret.get_secret_value() == _DEV_SESSION_SECRET:
                raise ValueError("production needs its own DRIVERHOME_SESSION_SECRET")
            if not self.oidc_configured:
                raise ValueError("production signs in through OIDC: set DRIVERHOME_OIDC_*")
            if not self.cookie_secure:
                raise ValueError("production cookies are Secure")
        return self
