"""The access table (``deploy/access.yaml``): Kafka principals and what each may do.

Renders the table into ACL bindings (for the whole platform or one test run's topic prefix),
applies and removes them with Kafka's Admin API (``common.acl_admin``), and keeps a local
broker's development credentials (``common.access_credentials``). ``python -m common.access
--help`` lists the commands ``deploy/local/infra.sh`` and ``make kafka-config`` use.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from aiokafka.admin import AIOKafkaAdminClient

# Re-exported: callers import the Admin API and the credentials file from here.
from common.access_credentials import ensure_credentials as ensure_credentials
from common.access_credentials import librdkafka_properties as librdkafka_properties
from common.access_credentials import write_private_json
from common.acl_admin import AclError as AclError
from common.acl_admin import create_acls as create_acls
from common.acl_admin import delete_acls as delete_acls
from common.partners import DEFAULT_PARTNERS, PartnerCatalogue

REPO_ROOT = Path(__file__).resolve().parents[4]
ACCESS_TABLE = REPO_ROOT / "deploy" / "access.yaml"

ADMIN = "admin"
AUDITOR = "auditor"
BROKER = "broker"  # the broker's own inter-broker principal (a super user)

# Kafka's wire codes (org.apache.kafka.common.acl / resource).
TOPIC, GROUP = 2, 3
LITERAL, PREFIXED = 3, 4
ALLOW = 3
OPERATIONS = {
    "read": 3,
    "write": 4,
    "create": 5,
    "describe": 8,
    "describe_configs": 10,
}
DLQ = ".dlq"


@dataclass(frozen=True)
class Binding:
    """One ACL: ``principal`` may do ``operation`` on a topic or group (literal or prefix)."""

    username: str
    resource_type: int
    name: str
    pattern: int
    operation: str

    def wire(self) -> tuple[int, str, int, str, str, int, int]:
        return (
            self.resource_type,
            self.name,
            self.pattern,
            f"User:{self.username}",
            "*",
            OPERATIONS[self.operation],
            ALLOW,
        )


@dataclass(frozen=True)
class Principal:
    """A principal of the table, its topics already expanded over the partner catalogue."""

    name: str  # as on the command line: service:points, partner:port-booking, admin, auditor
    username: str  # the Kafka (SCRAM) user name: service.points, partner.port-booking, ...
    write: tuple[str, ...] = ()
    read: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    superuser: bool = False
    create: bool = True

    def _creatable(self) -> list[str]:
        """The topics it uses and their ``.dlq`` twins (never a prefix: those are not created)."""
        names = [n for n in {*self.write, *self.read} if not n.endswith("*")]
        return sorted({*names, *(n + DLQ for n in names if not n.endswith(DLQ))})

    def bindings(self, prefix: str = "", *, create: bool = True) -> list[Binding]:
        if self.superuser:
            return []
        out: list[Binding] = []

        def topic(name: str, *ops: str) -> None:
            if name == "*":
                resource, pattern = "*", LITERAL  # Kafka's wildcard: every topic
            elif name.endswith("*"):
                resource, pattern = prefix + name[:-1], PREFIXED
            else:
                resource, pattern = prefix + name, LITERAL
            out.extend(Binding(self.username, TOPIC, resource, pattern, op) for op in ops)

        for name in self.write:
            topic(name, "write", "describe", "describe_configs")
        for name in self.read:
            topic(name, "read", "describe", "describe_configs")
        if create and self.create:
            for name in self._creatable():
                topic(name, "create")
        for group in self.groups:
            out.append(Binding(self.username, GROUP, prefix + group, PREFIXED, "read"))
        # One grant may come from two lines (a topic read and written): keep it once.
        return list(dict.fromkeys(out))


def _with_replays(read: tuple[str, ...], write: tuple[str, ...]) -> tuple[str, ...]:
    """``replays_dead_letters``: the operations role browses the service's dead letters (read on
    the ``.dlq`` twin of every topic it reads) and replays those of its own topics (read on the
    ``.dlq`` twin of every topic it writes, whoever dead-lettered them there, and on the topic
    itself: a dead letter is replayed only as the record it names stands there). No write grant:
    the replay goes to a topic the service writes already, so each domain topic keeps its one
    writer (common/topic_owners.py, common/dlq_api.py). Returns the reads."""
    own = [t for t in (*read, *write) if not t.endswith(DLQ) and not t.endswith("*")]
    written = [t for t in write if not t.endswith(DLQ) and not t.endswith("*")]
    return tuple(dict.fromkeys([*read, *written, *(t + DLQ for t in own)]))


@dataclass(frozen=True)
class AccessTable:
    principals: dict[str, Principal] = field(default_factory=dict)

    @classmethod
    def load(
        cls, path: Path | str | None = None, *, partners: PartnerCatalogue | None = None
    ) -> AccessTable:
        raw = yaml.safe_load(Path(path or ACCESS_TABLE).read_text())
        catalogue = DEFAULT_PARTNERS if partners is None else partners
        principals: dict[str, Principal] = {}

        def expand(names: Iterable[str], partner_ids: Iterable[str]) -> tuple[str, ...]:
            out: list[str] = []
            ids = list(partner_ids)
            for name in names:
                if "{partner}" in name:
                    out.extend(name.replace("{partner}", p) for p in ids)
                else:
                    out.append(name)
            return tuple(dict.fromkeys(out))

        def build(name: str, username: str, entry: dict[str, Any], ids: Iterable[str]) -> None:
            ids = list(ids)
            read = expand(entry.get("read") or (), ids)
            write = expand(entry.get("write") or (), ids)
            if entry.get("replays_dead_letters"):
                read = _with_replays(read, write)
            principals[name] = Principal(
                name=name,
                username=username,
                write=write,
                read=read,
                groups=tuple(entry.get("groups") or ()),
                superuser=bool(entry.get("superuser", False)),
                create=bool(entry.get("create", True)),
            )

        build(ADMIN, ADMIN, raw.get("admin") or {"superuser": True}, catalogue)
        build(AUDITOR, AUDITOR, raw.get("auditor") or {}, catalogue)
        for service, entry in (raw.get("services") or {}).items():
            build(f"service:{service}", f"service.{service}", entry or {}, catalogue)
        template = raw.get("partner") or {}
        for partner_id in catalogue:
            build(f"partner:{partner_id}", f"partner.{partner_id}", template, [partner_id])
        return cls(principals)

    def get(self, name: str) -> Principal:
        try:
            return self.principals[name]
        except KeyError:
            known = ", ".join(sorted(self.principals))
            raise KeyError(
                f"no principal {name!r} in deploy/access.yaml (known: {known})"
            ) from None

    def service(self, service: str) -> Principal:
        return self.get(f"service:{service}")

    def usernames(self) -> list[str]:
        return [BROKER, *(p.username for p in self.principals.values())]

    def superusers(self) -> list[str]:
        return [BROKER, *(p.username for p in self.principals.values() if p.superuser)]

    def bindings(self, prefix: str = "", *, create: bool = True) -> list[Binding]:
        out: list[Binding] = []
        for principal in self.principals.values():
            out.extend(principal.bindings(prefix, create=create))
        return out


def _admin_client(data: dict[str, Any]) -> AIOKafkaAdminClient:
    from common.kafka_auth import client_options

    return AIOKafkaAdminClient(
        **client_options(
            data["bootstrap"],
            security_protocol=data["security_protocol"],
            sasl_mechanism=data["sasl_mechanism"],
            username=ADMIN,
            password=data["users"][ADMIN],
        ),
        client_id="driverhome-access",
    )


async def _apply(data: dict[str, Any], table: AccessTable, prefix: str) -> int:
    bindings = table.bindings(prefix)
    admin = _admin_client(data)
    await admin.start()
    try:
        await create_acls(admin, bindings)
    finally:
        await admin.close()
    return len(bindings)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m common.access", description=__doc__)
    parser.add_argument("--table", type=Path, default=ACCESS_TABLE)
    parser.add_argument(
        "--partners",
        type=Path,
        help="partners registered at run time (JSON, from python -m common.access_sync), "
        "granted like the catalogue's",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("credentials", help="create or complete the credentials file")
    c.add_argument("file", type=Path)
    c.add_argument("--bootstrap", required=True)
    sub.add_parser("superusers", help="super.users for server.properties")
    s = sub.add_parser("scram-args", help="--add-scram arguments for kafka-storage format")
    s.add_argument("file", type=Path)
    u = sub.add_parser("unregistered", help="users of the table the broker does not know yet")
    u.add_argument("file", type=Path)
    w = sub.add_parser("password", help="one user's development password")
    w.add_argument("file", type=Path)
    w.add_argument("username")
    r = sub.add_parser("registered", help="note that the broker knows a user now")
    r.add_argument("file", type=Path)
    r.add_argument("username")
    a = sub.add_parser("apply", help="create the table's ACLs (idempotent)")
    a.add_argument("file", type=Path)
    a.add_argument("--prefix", default="")
    k = sub.add_parser("kafka-config", help="a librdkafka properties file for one principal")
    k.add_argument("file", type=Path)
    k.add_argument("principal", help="service:<name>, partner:<id>, admin or auditor")
    k.add_argument("--out-dir", type=Path)
    e = sub.add_parser("env", help="DRIVERHOME_KAFKA_* lines for a principal (shell-quoted)")
    e.add_argument("file", type=Path)
    e.add_argument("principal")
    args = parser.parse_args(argv)
    catalogue = dict(DEFAULT_PARTNERS)
    if args.partners is not None and args.partners.exists():
        catalogue.update(json.loads(args.partners.read_text()))
    COMMANDS[args.command](args, AccessTable.load(args.table, partners=catalogue))
    return 0


def _credentials(args: argparse.Namespace, table: AccessTable) -> None:
    ensure_credentials(args.file, table, bootstrap=args.bootstrap)


def _superusers(args: argparse.Namespace, table: AccessTable) -> None:
    print(";".join(f"User:{u}" for u in table.superusers()))


def _scram_args(args: argparse.Namespace, table: AccessTable) -> None:
    """The storage is formatted with every user of the table."""
    data = json.loads(args.file.read_text())
    for username in table.usernames():
        print(f"SCRAM-SHA-512=[name={username},password={data['users'][username]}]")
    write_private_json(args.file, {**data, "registered": table.usernames()})


def _unregistered(args: argparse.Namespace, table: AccessTable) -> None:
    """Users added to the table (or partners registered) after the storage was formatted."""
    data = json.loads(args.file.read_text())
    known = set(data.get("registered") or ())
    for username in table.usernames():
        if username not in known:
            print(username, data["users"][username])


def _password(args: argparse.Namespace, table: AccessTable) -> None:
    print(json.loads(args.file.read_text())["users"][args.username])


def _registered(args: argparse.Namespace, table: AccessTable) -> None:
    data = json.loads(args.file.read_text())
    registered = list(dict.fromkeys([*(data.get("registered") or ()), args.username]))
    write_private_json(args.file, {**data, "registered": registered})


def _apply_command(args: argparse.Namespace, table: AccessTable) -> None:
    data = json.loads(args.file.read_text())
    count = asyncio.run(_apply(data, table, args.prefix))
    print(f"access: {count} ACL bindings from {args.table.name} in force")


def _kafka_config(args: argparse.Namespace, table: AccessTable) -> None:
    data = json.loads(args.file.read_text())
    username = table.get(args.principal).username
    out_dir = args.out_dir or args.file.parent / "clients"
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"{username}.properties"
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(librdkafka_properties(data, username))
    print(out)


def _env(args: argparse.Namespace, table: AccessTable) -> None:
    import shlex

    from common.kafka_auth import DevCredentials

    creds = DevCredentials.load(args.file)
    for key, value in creds.env(table.get(args.principal).username).items():
        print(f"{key}={shlex.quote(value)}")


COMMANDS: dict[str, Callable[[argparse.Namespace, AccessTable], None]] = {
    "credentials": _credentials,
    "superusers": _superusers,
    "scram-args": _scram_args,
    "unregistered": _unregistered,
    "password": _password,
    "registered": _registered,
    "apply": _apply_command,
    "kafka-config": _kafka_config,
    "env": _env,
}


if __name__ == "__main__":
    sys.exit(main())
