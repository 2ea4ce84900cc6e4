"""The development credentials file of a local broker: one random password per user of the
access table, readable by its owner only."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # common.access holds the table and imports these functions
    from common.access import AccessTable


def ensure_credentials(path: Path, table: AccessTable, *, bootstrap: str) -> dict[str, Any]:
    """Create (or complete) the development credentials file: one random password per user.

    Existing passwords are kept, so a restart does not lock anyone out."""
    data: dict[str, Any] = {}
    if path.exists():
        data = json.loads(path.read_text())
    users: dict[str, str] = dict(data.get("users") or {})
    for username in table.usernames():
        users.setdefault(username, secrets.token_urlsafe(24))
    data.update(
        bootstrap=bootstrap,
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="SCRAM-SHA-512",
        users=users,
    )
    write_private_json(path, data)
    return data


def write_private_json(path: Path, data: dict[str, Any]) -> None:
    """Written readable by its owner only: it holds passwords."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(data, out, indent=2)
    tmp.replace(path)


def librdkafka_properties(data: dict[str, Any], username: str) -> str:
    return (
        f"# driverhome development credentials for Kafka user {username} (kcat -F <this file>)\n"
        f"bootstrap.servers={data['bootstrap']}\n"
        f"security.protocol={data['security_protocol']}\n"
        f"sasl.mechanisms={data['sasl_mechanism']}\n"
        f"sasl.username={username}\n"
        f"sasl.password={data['users'][username]}\n"
    )
