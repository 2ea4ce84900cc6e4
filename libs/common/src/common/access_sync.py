"""Partners registered at run time get on the bus what the catalogue's partners get at start-up.

The partners service announces every account on the compacted ``partners.events``; it holds no
right to create topics, users or ACLs for others (least privilege). The platform's admin
principal runs this sync (``make kafka-access`` locally, a job in a cluster): it reads the topic
from its beginning, and for every partner it finds creates the partner topic and its ``.dlq``
twin, and applies ``deploy/access.yaml`` expanded for those partners: the services' grants on the
new topics, and the partner's own principal (whose SCRAM user ``infra.sh`` creates, for partners
that publish straight to Kafka). Everything it does is idempotent; nothing is ever revoked here.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from common.access import ADMIN, AccessTable, create_acls
from common.dlq import dlq_topic
from common.events import InvalidEvent, parse_envelope
from common.events.partners import PartnerState
from common.kafka_auth import client_options
from common.partner_directory import PARTNERS_TOPIC
from common.partners import DEFAULT_PARTNERS, PartnerCatalogue
from common.settings import ServiceSettings
from common.topics import declared_topic

Document = dict[str, Any]
_TOPIC_EXISTS = 36


def _options(data: Document) -> Document:
    return client_options(
        data["bootstrap"],
        security_protocol=data["security_protocol"],
        sasl_mechanism=data["sasl_mechanism"],
        username=ADMIN,
        password=data["users"][ADMIN],
    )


async def registered_partners(data: Document, prefix: str = "") -> PartnerCatalogue:
    """Every partner ``partners.events`` announces (suspended ones too: their topic exists and
    the consumers refuse their records themselves), with the types it may send."""
    topic = f"{prefix}{PARTNERS_TOPIC}"
    admin = AIOKafkaAdminClient(**_options(data), client_id="driverhome-access-sync")
    await admin.start()
    try:
        described = await admin.describe_topics([topic])
    finally:
        await admin.close()
    assigned = [
        TopicPartition(topic, p["partition"])
        for t in described
        if t.get("error_code", 0) == 0
        for p in t.get("partitions") or ()
    ]
    if not assigned:
        return {}
    consumer = AIOKafkaConsumer(
        **_options(data),
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        client_id="driverhome-access-sync",
    )
    await consumer.start()
    found: dict[str, tuple[int, list[str]]] = {}
    try:
        consumer.assign(assigned)
        await consumer.seek_to_beginning(*assigned)
        ends = await consumer.end_offsets(assigned)
        deadline = time.monotonic() + 60  # a broker that stops answering must not hang it
        while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topic} could not be read to its end")
            batches = await consumer.getmany(*assigned, timeout_ms=1000)
            for records in batches.values():
                for record in records:
                    try:
                        state = PartnerState.model_validate(
                            parse_envelope(record.value or b"").data
                        )
                    except (InvalidEvent, ValueError):
                        continue  # not an account state: nothing to provision from it
                    known = found.get(state.partner_id)
                    if known is None or known[0] <= state.version:
                        found[state.partner_id] = (state.version, list(state.allowed_types))
    finally:
        await consumer.stop()
    return {partner_id: types for partner_id, (_, types) in sorted(found.items())}


def catalogue_with_registered(registered: PartnerCatalogue) -> PartnerCatalogue:
    return {**DEFAULT_PARTNERS, **registered}


async def create_partner_topics(
    data: Document, settings: ServiceSettings, partners: PartnerCatalogue
) -> list[str]:
    """The partners' topics and ``.dlq`` twins that were missing, created as declared."""
    wanted = {
        name
        for partner_id in partners
        for name in (
            settings.partner_topic(partner_id),
            dlq_topic(settings.partner_topic(partner_id)),
        )
    }
    admin = AIOKafkaAdminClient(**_options(data), client_id="driverhome-access-sync")
    await admin.start()
    try:
        missing = sorted(wanted - set(await admin.list_topics()))
        if missing:
            response = await admin.create_topics([declared_topic(settings, n) for n in missing])
            for name, code, *rest in response.topic_errors:
                if code not in (0, _TOPIC_EXISTS):
                    raise RuntimeError(f"could not create topic {name}: error {code} {rest}")
    finally:
        await admin.close()
    return missing


async def provision(
    data: Document, table_path: Path | str | None, settings: ServiceSettings
) -> tuple[PartnerCatalogue, int]:
    """Create the registered partners' topics and apply the table's ACLs for them (the users
    are ``infra.sh``'s); returns the partners found and how many ACL bindings are in force."""
    registered = await registered_partners(data, settings.topic_prefix)
    await create_partner_topics(data, settings, registered)
    table = AccessTable.load(table_path, partners=catalogue_with_registered(registered))
    bindings = table.bindings(settings.topic_prefix)
    admin = AIOKafkaAdminClient(**_options(data), client_id="driverhome-access-sync")
    await admin.start()
    try:
        await create_acls(admin, bindings)
    finally:
        await admin.close()
    return registered, len(bindings)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m common.access_sync", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("registered", help="write the partners partners.events announces (JSON)")
    r.add_argument("file", type=Path, help="the development credentials file")
    r.add_argument("--out", type=Path, required=True)
    t = sub.add_parser("topics", help="create the registered partners' topics")
    t.add_argument("file", type=Path)
    t.add_argument("--partners", type=Path, required=True)
    args = parser.parse_args(argv)
    data = json.loads(args.file.read_text())
    # A tool of the local development broker; it reads the topic prefix, never a key.
    settings = ServiceSettings(environment="development")
    if args.command == "registered":
        found = asyncio.run(registered_partners(data, settings.topic_prefix))
        args.out.write_text(json.dumps(found, indent=2) + "\n")
        print(f"access: {len(found)} partners announced on partners.events")
    else:
        partners = json.loads(args.partners.read_text())
        made = asyncio.run(create_partner_topics(data, settings, partners))
        print(f"access: {len(made)} partner topics created")
    return 0


if __name__ == "__main__":
    sys.exit(main())
