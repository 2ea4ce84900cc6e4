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
    await grants_in_force(infra, bindings)
    return bindings


async def grants_in_force(infra: Infra, bindings: list[Binding], timeout: float = 30.0) -> None:
    """Wait until the broker authorizes every principal on every topic just granted to it.

    The controller has new grants at once; a loaded broker applies them moments later, and a
    client that asks before then is refused for good (aiokafka raises on the first refusal).
    Each principal describes all its granted topics, so no grant is taken on another's word."""
    from aiokafka.admin import AIOKafkaAdminClient

    topics_by_user: dict[str, set[str]] = {}
    for b in bindings:
        if b.resource_type == TOPIC and b.pattern == LITERAL:
            topics_by_user.setdefault(b.username, set()).add(b.name)
    deadline = time.monotonic() + timeout
    for username, names in sorted(topics_by_user.items()):
        probe = AIOKafkaAdminClient(**infra.client(username))
        await probe.start()
        try:
            while True:
                described = await probe.describe_topics(sorted(names))
                if all(t.get("error_code", 0) != _NOT_AUTHORIZED for t in described):
                    break
                if time.monotonic() > deadline:
                    log.warning("test grants not in force in time", principal=username)
                    return
                await asyncio.sleep(0.1)
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
