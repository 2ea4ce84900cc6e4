"""Each test run's own grants: the services' access-table bindings under the run's prefix."""

from __future__ import annotations

import asyncio
import time

from common.access import LITERAL, TOPIC, Binding, create_acls, delete_acls
from common.logging import describe_error, get_logger
from common.testing.infra import Infra, access_table

log = get_logger(__name__)


def run_grants(run: str) -> list[Binding]:
    """The services' grants of the access table under one test run's topic prefix."""
    return [
        binding
        for name, principal in access_table().principals.items()
        if name.startswith("service:")
        for binding in principal.bindings(f"{run}.")
    ]


_NOT_AUTHORIZED = 29


async def grant_run(infra: Infra, run: str) -> list[Binding]:
    """Give the services their grants on a test run's topics (none needed without auth)."""
    if infra.credentials is None:
        return []
    from aiokafka.admin import AIOKafkaAdminClient

    bindings = run_grants(run)
    admin = AIOKafkaAdminClient(**infra.client())
    await admin.start()
    try:
        await create_acls(admin, bindings)
    finally:
        await admin.close()
    topic_grants = [b for b in bindings if b.resource_type == TOPIC and b.pattern == LITERAL]
    if topic_grants:
        await _grants_in_force(infra, topic_grants[-1])
    return bindings


async def _grants_in_force(infra: Infra, last: Binding, timeout: float = 30.0) -> None:
    """Wait until the broker authorizes with the new grants (the controller has them at once;
    a loaded broker applies them moments later). A service starting before then would find its
    topics unauthorized, skip creating them, and fail later on a missing topic."""
    from aiokafka.admin import AIOKafkaAdminClient

    probe = AIOKafkaAdminClient(**infra.client(last.username))
    await probe.start()
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            described = await probe.describe_topics([last.name])
            if all(t.get("error_code", 0) != _NOT_AUTHORIZED for t in described):
                return
            await asyncio.sleep(0.1)
        log.warning("test grants not in force in time", principal=last.username)
    finally:
        await probe.close()


async def revoke_run(infra: Infra, bindings: list[Binding]) -> None:
    if not bindings:
        return
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(**infra.client())
    try:
        await admin.start()
        await delete_acls(admin, bindings)
    except Exception as exc:  # cleanup must never fail a test
        log.warning("could not delete test ACLs", error=describe_error(exc))
    finally:
        await admin.close()
