"""Render the generated part of ``deploy/k8s/base`` from the code and the access table.

    uv run --no-sync python scripts/render_k8s.py           # (re)write the generated files
    uv run --no-sync python scripts/render_k8s.py --check   # exit 1 if any is out of date
    uv run --no-sync python scripts/render_k8s.py verify dev.yaml production.yaml

What is generated, and from what:
- ``kafka/``: the Strimzi ``Kafka`` (super users from the access table), a ``KafkaTopic`` for
  every topic of the catalogue (``common.topics.all_topics``) and of the access table (a service's
  own work topic), each with its ``.dlq`` twin, and a ``KafkaUser`` per principal of
  ``deploy/access.yaml`` with the ACLs ``common.access`` renders for the local broker, so the
  cluster's grants and the laptop's cannot drift;
- ``mongo/``: the Percona ``PerconaServerMongoDB`` with one user per service, limited to its
  database;
- ``services/``: per service a Deployment, Service, PodDisruptionBudget, NetworkPolicy and a
  KEDA ``ScaledObject`` on the lag of its real consumer groups (its contract plus the internal
  subscriptions below), ports and databases read from the service's settings class.

``verify`` checks rendered overlays (``kustomize build``): every catalogue topic has a
``KafkaTopic``, every principal a ``KafkaUser``, no autoscaler goes past the partition count and
the production overlay carries no development key. ``make deploy-check`` runs both.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from common.access import ADMIN, GROUP, LITERAL, TOPIC, AccessTable, Binding
from common.asyncapi import PARTNER_TOPIC, ServiceContract
from common.dlq import dlq_topic
from common.settings import ServiceSettings
from common.topics import COMPACTED_TOPICS, all_topics

REPO_ROOT = Path(__file__).resolve().parents[1]
BASE = REPO_ROOT / "deploy" / "k8s" / "base"
SERVICES = ("registry", "points", "stations", "notify", "cases", "partners")
# The operator console: no Kafka principal, no database; it calls the services over HTTP.
CONSOLE = "console"

CLUSTER = "driverhome"  # the Strimzi Kafka cluster
KAFKA_BOOTSTRAP = f"{CLUSTER}-kafka-bootstrap:9093"  # the internal TLS + SCRAM listener
KAFKA_CA_SECRET = f"{CLUSTER}-cluster-ca-cert"  # Strimzi's cluster CA (key ca.crt)
MONGO = "driverhome-mongo"  # the Percona cluster; replica set rs0
MONGO_HOST = f"{MONGO}-rs0.driverhome.svc.cluster.local"  # SRV records of rs0
MONGO_CA_SECRET = f"{MONGO}-ssl"  # the operator's TLS secret (key ca.crt)
APP_SECRET = "driverhome-secrets"  # noqa: S105 (a Secret's name) the keys every service refuses to start without
PARTITIONS = 12  # DRIVERHOME_TOPIC_PARTITIONS: also the most consumers a group can use
TOPIC_RETENTION_MS = 168 * 3_600_000  # DRIVERHOME_TOPIC_RETENTION_HOURS (7 days)
DLQ_RETENTION_MS = 30 * 24 * 3_600_000  # a month for an operator to look and replay
MESSAGE_MAX_BYTES = 1_048_588  # the broker default; DRIVERHOME_MAX_MESSAGE_BYTES stays below

# Subscriptions outside a service's contract (its own work topic, the partner topics' dead
# letters): (group suffix, topic or None for a pattern). See notify/app.py and partners/app.py.
INTERNAL_GROUPS: dict[str, tuple[tuple[str, str | None], ...]] = {
    "notify": (("broadcasts", "notify.broadcasts"),),
    "partners": (("rejections", None),),
}
# Secrets (Secret key -> setting) beyond the shared ones, per service.
SERVICE_SECRETS: dict[str, dict[str, str]] = {
    "points": {
        "statement-signing-key": "DRIVERHOME_STATEMENT_SIGNING_KEY",
        "voucher-signing-key": "DRIVERHOME_VOUCHER_SIGNING_KEY",
    },
    # Each partner's own hash key (the booking system's national_id_hash); only the registry.
    "registry": {"partner-hash-keys": "DRIVERHOME_PARTNER_HASH_KEYS"},
}
# No token secret: services verify the identity provider's signatures against its public JWKS
# (DRIVERHOME_JWT_ISSUER / DRIVERHOME_JWT_JWKS_URL in the production overlay's ConfigMap).
SHARED_SECRETS = {
    "pii-key": "DRIVERHOME_PII_KEY",
    "pii-hmac-key": "DRIVERHOME_PII_HMAC_KEY",
}
# Optional secrets: the service starts without them (a feature stays off).
OPTIONAL_SECRETS: dict[str, dict[str, str]] = {
    "notify": {"sms-api-key": "DRIVERHOME_SMS_API_KEY"},
}
# The console's signing secrets: optional here because development runs on its built-in values;
# production refuses to start without them (ConsoleSettings), naming the variable.
OPTIONAL_SECRETS[CONSOLE] = {
    "console-session-secret": "DRIVERHOME_SESSION_SECRET",
    "console-oidc-client-secret": "DRIVERHOME_OIDC_CLIENT_SECRET",
}
# Services that call out to the internet: webhooks (notify, partners) and the SMS gateway.
EGRESS_SERVICES = ("notify", "partners")
PRIVATE_RANGES = (
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "169.254.0.0/16",
    "100.64.0.0/10",
)

HEADER = (
    "# GENERATED by scripts/render_k8s.py from {source}; do not edit.\n"
    "# `uv run --no-sync python scripts/render_k8s.py` rewrites it; a unit test and\n"
    "# `make deploy-check` fail while it is out of date.\n"
)


# ----------------------------------------------------------------------------- facts
def settings_class(service: str) -> type[ServiceSettings]:
    module = importlib.import_module(f"{service}.settings")
    for _, obj in inspect.getmembers(module, inspect.isclass):
        if issubclass(obj, ServiceSettings) and obj is not ServiceSettings:
            return obj
    raise LookupError(f"{service}.settings defines no ServiceSettings subclass")


def contract(service: str) -> ServiceContract:
    found: ServiceContract = importlib.import_module(f"{service}.contract").contract()
    return found


def consumer_groups(service: str) -> list[tuple[str, str | None]]:
    """(group id, topic or None for a pattern subscription) of every subscription."""
    c = contract(service)
    base = c.group_id or service
    groups: list[tuple[str, str | None]] = []
    for topic in c.consumes:
        if topic == PARTNER_TOPIC:
            groups.append((f"{base}.partners", None))
        else:
            groups.append((f"{base}.{topic}", topic))
    for suffix, topic in INTERNAL_GROUPS.get(service, ()):
        groups.append((f"{base}.{suffix}", topic))
    return groups


def catalogue_topics() -> list[str]:
    """Every logical topic the platform uses: the catalogue and the access table's own."""
    table = AccessTable.load()
    names = list(all_topics(ServiceSettings(environment="development")))  # names only
    for principal in table.principals.values():
        for name in (*principal.write, *principal.read):
            if "*" not in name and not name.endswith(".dlq") and name not in names:
                names.append(name)
    return names


# ----------------------------------------------------------------------------- Kafka
def kafka_cluster() -> list[dict[str, Any]]:
    table = AccessTable.load()
    superusers = [p.username for p in table.principals.values() if p.superuser]
    listener_auth = {"type": "scram-sha-512"}
    kafka = {
        "apiVersion": "kafka.strimzi.io/v1",
        "kind": "Kafka",
        "metadata": {"name": CLUSTER},
        "spec": {
            "kafka": {
                "version": "4.1.1",
                "listeners": [
                    {  # the services, inside the cluster
                        "name": "tls",
                        "port": 9093,
                        "type": "internal",
                        "tls": True,
                        "authentication": listener_auth,
                    },
                    {  # partners that publish to Kafka directly (most use the HTTP ingest)
                        "name": "external",
                        "port": 9094,
                        "type": "loadbalancer",
                        "tls": True,
                        "authentication": listener_auth,
                    },
                ],
                "authorization": {"type": "simple", "superUsers": superusers},
                # Single-broker values; the production overlay raises every one of them.
                "config": {
                    "auto.create.topics.enable": False,
                    "num.partitions": PARTITIONS,
                    "default.replication.factor": 1,
                    "min.insync.replicas": 1,
                    "offsets.topic.replication.factor": 1,
                    "transaction.state.log.replication.factor": 1,
                    "transaction.state.log.min.isr": 1,
                    "message.max.bytes": MESSAGE_MAX_BYTES,
                },
            },
            "entityOperator": {"topicOperator": {}, "userOperator": {}},
            # Consumer-group lag for KEDA's dashboards and the lag alert.
            "kafkaExporter": {"groupRegex": ".*", "topicRegex": ".*"},
        },
    }
    pool = {
        "apiVersion": "kafka.strimzi.io/v1",
        "kind": "KafkaNodePool",
        "metadata": {"name": "dual", "labels": {"strimzi.io/cluster": CLUSTER}},
        "spec": {
            "replicas": 1,
            "roles": ["controller", "broker"],
            "storage": {
                "type": "jbod",
                "volumes": [
                    {
                        "id": 0,
                        "type": "persistent-claim",
                        "size": "20Gi",
                        "deleteClaim": False,
                        "kraftMetadata": "shared",
                    }
                ],
            },
            "resources": {
                "requests": {"cpu": "500m", "memory": "2Gi"},
                "limits": {"memory": "2Gi"},
            },
        },
    }
    return [kafka, pool]


def kafka_topics() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for logical in catalogue_topics():
        for name in (logical, dlq_topic(logical)):
            if name in COMPACTED_TOPICS:
                config: dict[str, Any] = {"cleanup.policy": "compact"}
            else:
                retention = DLQ_RETENTION_MS if name.endswith(".dlq") else TOPIC_RETENTION_MS
                config = {"cleanup.policy": "delete", "retention.ms": retention}
            config["min.insync.replicas"] = 1  # the production overlay sets 2 (and 3 replicas)
            out.append(
                {
                    "apiVersion": "kafka.strimzi.io/v1",
                    "kind": "KafkaTopic",
                    "metadata": {"name": name, "labels": {"strimzi.io/cluster": CLUSTER}},
                    "spec": {
                        "topicName": name,
                        "partitions": PARTITIONS,
                        "replicas": 1,
                        "config": config,
                    },
                }
            )
    return out


_OPERATIONS = {
    "read": "Read",
    "write": "Write",
    "create": "Create",
    "describe": "Describe",
    "describe_configs": "DescribeConfigs",
}


def strimzi_acls(bindings: Iterable[Binding]) -> list[dict[str, Any]]:
    """The access table's bindings as Strimzi ACL rules, one rule per resource."""
    rules: dict[tuple[int, str, int], list[str]] = {}
    for b in bindings:
        ops = rules.setdefault((b.resource_type, b.name, b.pattern), [])
        if _OPERATIONS[b.operation] not in ops:
            ops.append(_OPERATIONS[b.operation])
    out = []
    for (resource_type, name, pattern), ops in rules.items():
        resource: dict[str, Any] = {
            "type": {TOPIC: "topic", GROUP: "group"}[resource_type],
            "name": name,
            "patternType": "literal" if pattern == LITERAL else "prefix",
        }
        out.append({"resource": resource, "operations": ops})
    return out


def kafka_users() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for principal in AccessTable.load().principals.values():
        spec: dict[str, Any] = {"authentication": {"type": "scram-sha-512"}}
        if not principal.superuser:
            # In the cluster topics are the platform's (KafkaTopic), so no principal creates any.
            acls = strimzi_acls(principal.bindings(create=False))
            spec["authorization"] = {"type": "simple", "acls": acls}
        out.append(
            {
                "apiVersion": "kafka.strimzi.io/v1",
                "kind": "KafkaUser",
                "metadata": {
                    "name": principal.username,
                    "labels": {"strimzi.io/cluster": CLUSTER},
                    "annotations": {"driverhome.io/principal": principal.name},
                },
                "spec": spec,
            }
        )
    return out


# ----------------------------------------------------------------------------- MongoDB
def mongo_cluster() -> list[dict[str, Any]]:
    users = []
    for service in SERVICES:
        db = settings_class(service)(environment="development").mongo_db
        users.append(
            {
                "name": service,
                "db": db,
                "passwordSecretRef": {"name": f"mongo-user-{service}", "key": "password"},
                "roles": [{"name": "readWrite", "db": db}],
            }
        )
    cluster = {
        "apiVersion": "psmdb.percona.com/v1",
        "kind": "PerconaServerMongoDB",
        "metadata": {"name": MONGO},
        "spec": {
            "crVersion": "1.21.0",
            "image": "percona/percona-server-mongodb:8.0.12-4",
            "updateStrategy": "SmartUpdate",
            "upgradeOptions": {"apply": "disabled"},
            # One member is a development shape only; the production overlay sets 3.
            "unsafeFlags": {"replsetSize": True},
            "secrets": {"users": f"{MONGO}-system-users"},
            "replsets": [
                {
                    "name": "rs0",
                    "size": 1,
                    "affinity": {"antiAffinityTopologyKey": "kubernetes.io/hostname"},
                    "podDisruptionBudget": {"maxUnavailable": 1},
                    "resources": {
                        "requests": {"cpu": "500m", "memory": "1Gi"},
                        "limits": {"memory": "2Gi"},
                    },
                    "volumeSpec": {
                        "persistentVolumeClaim": {"resources": {"requests": {"storage": "20Gi"}}}
                    },
                }
            ],
            "sharding": {"enabled": False},
            # One user per service, limited to its own database (readWrite covers its indexes).
            "users": users,
            "backup": {
                "enabled": True,
                "image": "percona/percona-backup-mongodb:2.11.0",
                "storages": {
                    "backups": {
                        "type": "s3",
                        "s3": {
                            "bucket": "driverhome-mongo-backups",
                            "region": "cn-east-1",
                            "prefix": "driverhome",
                            "credentialsSecret": f"{MONGO}-backup-s3",
                        },
                    }
                },
                "pitr": {"enabled": True, "oplogSpanMin": 10},
                "tasks": [
                    {
                        "name": "nightly",
                        "enabled": True,
                        "schedule": "0 2 * * *",
                        "keep": 14,
                        "storageName": "backups",
                        "type": "logical",
                    }
                ],
            },
        },
    }
    return [cluster]


# ----------------------------------------------------------------------------- services
def _env(name: str, value: str) -> dict[str, Any]:
    return {"name": name, "value": value}


def _secret_env(name: str, secret: str, key: str, *, optional: bool = False) -> dict[str, Any]:
    ref: dict[str, Any] = {"name": secret, "key": key}
    if optional:
        ref["optional"] = True
    return {"name": name, "valueFrom": {"secretKeyRef": ref}}


def service_env(service: str) -> list[dict[str, Any]]:
    settings = settings_class(service)(environment="development")  # its defaults, no keys
    db = settings.mongo_db
    principal = AccessTable.load().service(service)
    env = [
        _env("DRIVERHOME_SERVICE_NAME", service),
        _env("DRIVERHOME_HTTP_PORT", str(settings.http_port)),
        _env("DRIVERHOME_MONGO_DB", db),
        # Kafka: this service's principal of deploy/access.yaml, its KafkaUser's password.
        _env("DRIVERHOME_KAFKA_USERNAME", principal.username),
        _secret_env("DRIVERHOME_KAFKA_PASSWORD", principal.username, "password"),
        # MongoDB: its own user of its own database; w=majority, read concern majority.
        _secret_env("MONGO_PASSWORD", f"mongo-user-{service}", "password"),
        _env(
            "DRIVERHOME_MONGO_URL",
            f"mongodb+srv://{service}:$(MONGO_PASSWORD)@{MONGO_HOST}/{db}"
            f"?replicaSet=rs0&authSource={db}&w=majority&readConcernLevel=majority"
            "&retryWrites=true&tls=true&tlsCAFile=/etc/driverhome/mongo-ca/ca.crt",
        ),
    ]
    for key, name in {**SHARED_SECRETS, **SERVICE_SECRETS.get(service, {})}.items():
        env.append(_secret_env(name, APP_SECRET, key))
    for key, name in OPTIONAL_SECRETS.get(service, {}).items():
        env.append(_secret_env(name, APP_SECRET, key, optional=True))
    return env


def console_env() -> list[dict[str, Any]]:
    """The console's port, the services' in-cluster URLs and its optional secrets."""
    env = [
        _env("DRIVERHOME_SERVICE_NAME", CONSOLE),
        _env("DRIVERHOME_HTTP_PORT", str(_port(CONSOLE))),
    ]
    for service in SERVICES:
        url = f"http://{service}:{_port(service)}"
        env.append(_env(f"DRIVERHOME_{service.upper()}_URL", url))
    for key, name in OPTIONAL_SECRETS[CONSOLE].items():
        env.append(_secret_env(name, APP_SECRET, key, optional=True))
    return env


def _port(service: str) -> int:
    return settings_class(service)(environment="development").http_port


def _labels(service: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": service, "app.kubernetes.io/component": "service"}


def deployment(service: str) -> dict[str, Any]:
    port = _port(service)
    env = console_env() if service == CONSOLE else service_env(service)
    env_from = [{"configMapRef": {"name": "driverhome-config"}}]
    security = {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    mounts = [
        {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108 (an emptyDir)
        {"name": "kafka-ca", "mountPath": "/etc/driverhome/kafka-ca", "readOnly": True},
        {"name": "mongo-ca", "mountPath": "/etc/driverhome/mongo-ca", "readOnly": True},
    ]
    volumes: list[dict[str, Any]] = [
        {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
        {
            "name": "kafka-ca",
            "secret": {
                "secretName": KAFKA_CA_SECRET,
                "items": [{"key": "ca.crt", "path": "ca.crt"}],
            },
        },
        {
            "name": "mongo-ca",
            "secret": {
                "secretName": MONGO_CA_SECRET,
                "items": [{"key": "ca.crt", "path": "ca.crt"}],
            },
        },
    ]
    if service == CONSOLE:  # neither Kafka nor MongoDB: no CA to mount
        mounts, volumes = mounts[:1], volumes[:1]
    image = f"driverhome/{service}:0.1.0"
    check = ["python", "-m", "common.settings", "--check", "--service", service]
    if service == CONSOLE:  # its own check: it holds no PII or token keys
        check = ["python", "-m", CONSOLE, "--check"]

    def probe(path: str, **timing: int) -> dict[str, Any]:
        return {"httpGet": {"path": path, "port": "http"}, **timing}

    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": service, "labels": _labels(service)},
        "spec": {
            # KEDA moves this between 2 and the partition count (autoscaling below).
            "replicas": 2,
            "revisionHistoryLimit": 5,
            "strategy": {"rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "selector": {"matchLabels": {"app.kubernetes.io/name": service}},
            "template": {
                "metadata": {"labels": _labels(service)},
                "spec": {
                    "automountServiceAccountToken": False,
                    "terminationGracePeriodSeconds": 30,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 10001,
                        "runAsGroup": 10001,
                        "fsGroup": 10001,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "topologySpreadConstraints": [
                        {
                            "maxSkew": 1,
                            "topologyKey": "kubernetes.io/hostname",
                            "whenUnsatisfiable": "ScheduleAnyway",
                            "labelSelector": {"matchLabels": {"app.kubernetes.io/name": service}},
                        }
                    ],
                    # Fails fast, naming the missing or refused setting, before the service
                    # starts (and before it crash-loops on a half-configured Secret).
                    "initContainers": [
                        {
                            "name": "settings-check",
                            "image": image,
                            "command": check,
                            "envFrom": env_from,
                            "env": env,
                            "resources": {
                                "requests": {"cpu": "50m", "memory": "128Mi"},
                                "limits": {"memory": "256Mi"},
                            },
                            "securityContext": security,
                            "volumeMounts": mounts[:1],
                        }
                    ],
                    "containers": [
                        {
                            "name": service,
                            "image": image,
                            "ports": [{"name": "http", "containerPort": port}],
                            "envFrom": env_from,
                            "env": env,
                            # topic checks and index creation at start-up may take a while
                            "startupProbe": probe("/healthz", periodSeconds=2, failureThreshold=30),
                            # out of the Service while Kafka or MongoDB is unreachable
                            "readinessProbe": probe(
                                "/readyz", periodSeconds=5, timeoutSeconds=3, failureThreshold=3
                            ),
                            # restart only a wedged process, never for a dependency outage
                            "livenessProbe": probe(
                                "/healthz", periodSeconds=10, timeoutSeconds=3, failureThreshold=3
                            ),
                            "resources": {
                                "requests": {"cpu": "250m", "memory": "256Mi"},
                                "limits": {"memory": "512Mi"},
                            },
                            "securityContext": security,
                            "volumeMounts": mounts,
                        }
                    ],
                    "volumes": volumes,
                },
            },
        },
    }


def service_objects(service: str) -> list[dict[str, Any]]:
    port = settings_class(service)(environment="development").http_port
    selector = {"app.kubernetes.io/name": service}
    svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": service, "labels": _labels(service)},
        "spec": {
            "selector": selector,
            "ports": [{"name": "http", "port": port, "targetPort": "http"}],
        },
    }
    pdb = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": service, "labels": _labels(service)},
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector}},
    }
    if service == CONSOLE:  # no consumer lag to scale on; sessions are cookies, any replica
        return [deployment(service), svc, pdb, console_network_policy()]
    return [deployment(service), svc, pdb, network_policy(service), *autoscaling(service)]


def _namespace(name: str) -> dict[str, Any]:
    return {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": name}}}


DNS_EGRESS: dict[str, Any] = {
    "to": [{**_namespace("kube-system"), "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
    "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
}


def console_network_policy() -> dict[str, Any]:
    """People reach it through the ingress; it reaches the services' APIs and the identity
    provider (public HTTPS) only."""
    to_services = [
        {
            "to": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": service}}}],
            "ports": [{"protocol": "TCP", "port": _port(service)}],
        }
        for service in SERVICES
    ]
    provider = {
        "to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": list(PRIVATE_RANGES)}}],
        "ports": [{"protocol": "TCP", "port": 443}],
    }
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": CONSOLE, "labels": _labels(CONSOLE)},
        "spec": {
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": CONSOLE}},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [
                {
                    "from": [_namespace("ingress-nginx"), _namespace("monitoring")],
                    "ports": [{"protocol": "TCP", "port": _port(CONSOLE)}],
                }
            ],
            "egress": [DNS_EGRESS, *to_services, provider],
        },
    }


def network_policy(service: str) -> dict[str, Any]:
    port = settings_class(service)(environment="development").http_port
    namespace = _namespace

    egress: list[dict[str, Any]] = [
        DNS_EGRESS,
        {  # the Kafka brokers (TLS listener)
            "to": [
                {
                    "podSelector": {
                        "matchLabels": {"strimzi.io/cluster": CLUSTER, "strimzi.io/kind": "Kafka"}
                    }
                }
            ],
            "ports": [{"protocol": "TCP", "port": 9093}],
        },
        {  # the MongoDB replica set (its own database is enforced by its user's roles)
            "to": [
                {
                    "podSelector": {
                        "matchLabels": {
                            "app.kubernetes.io/instance": MONGO,
                            "app.kubernetes.io/component": "mongod",
                        }
                    }
                }
            ],
            "ports": [{"protocol": "TCP", "port": 27017}],
        },
    ]
    if service in EGRESS_SERVICES:
        egress.append(
            {  # webhooks (and notify's SMS gateway): public HTTPS only, never the cluster
                "to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": list(PRIVATE_RANGES)}}],
                "ports": [{"protocol": "TCP", "port": 443}],
            }
        )
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": service, "labels": _labels(service)},
        "spec": {
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": service}},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [
                {  # the API: from this namespace, the ingress controller and Prometheus
                    "from": [
                        {"podSelector": {}},
                        namespace("ingress-nginx"),
                        namespace("monitoring"),
                    ],
                    "ports": [{"protocol": "TCP", "port": port}],
                }
            ],
            "egress": egress,
        },
    }


def autoscaling(service: str) -> list[dict[str, Any]]:
    username = AccessTable.load().service(service).username
    auth_name = f"kafka-{service}"
    triggers = []
    for group, topic in consumer_groups(service):
        metadata: dict[str, Any] = {
            "bootstrapServers": KAFKA_BOOTSTRAP,
            "consumerGroup": group,
            # A replica per 500 records behind; never more consumers than partitions.
            "lagThreshold": "500",
            "activationLagThreshold": "0",
            "offsetResetPolicy": "earliest",
            "allowIdleConsumers": "false",
            "sasl": "scram_sha512",
            "tls": "enable",
        }
        if topic is not None:
            metadata["topic"] = topic
        triggers.append(
            {
                "type": "kafka",
                "name": group.replace(".", "-"),
                "metadata": metadata,
                "authenticationRef": {"name": auth_name},
            }
        )
    if not triggers:
        return []
    trigger_auth = {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "TriggerAuthentication",
        "metadata": {"name": auth_name, "labels": _labels(service)},
        "spec": {
            "env": [
                {
                    "parameter": "username",
                    "name": "DRIVERHOME_KAFKA_USERNAME",
                    "containerName": service,
                }
            ],
            "secretTargetRef": [
                {"parameter": "password", "name": username, "key": "password"},
                {"parameter": "ca", "name": KAFKA_CA_SECRET, "key": "ca.crt"},
            ],
        },
    }
    scaled = {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": service, "labels": _labels(service)},
        "spec": {
            "scaleTargetRef": {"name": service},
            "minReplicaCount": 2,  # the PodDisruptionBudget keeps one through a drain
            "maxReplicaCount": PARTITIONS,
            "pollingInterval": 15,
            "cooldownPeriod": 300,
            "triggers": triggers,
        },
    }
    return [trigger_auth, scaled]


# ----------------------------------------------------------------------------- files
def _dump(documents: list[dict[str, Any]], source: str) -> str:
    body = yaml.safe_dump_all(documents, sort_keys=False, width=100, allow_unicode=True)
    return HEADER.format(source=source) + body


def render() -> dict[Path, str]:
    files = {
        BASE / "kafka" / "cluster.yaml": _dump(kafka_cluster(), "deploy/access.yaml (super users)"),
        BASE / "kafka" / "topics.yaml": _dump(
            kafka_topics(), "common.topics.all_topics and deploy/access.yaml"
        ),
        BASE / "kafka" / "users.yaml": _dump(kafka_users(), "deploy/access.yaml"),
        BASE / "mongo" / "cluster.yaml": _dump(mongo_cluster(), "the services' settings"),
    }
    for service in SERVICES:
        files[BASE / "services" / f"{service}.yaml"] = _dump(
            service_objects(service), f"{service}'s settings and contract, deploy/access.yaml"
        )
    files[BASE / "services" / f"{CONSOLE}.yaml"] = _dump(
        service_objects(CONSOLE), "the console's settings"
    )
    return files


def stale(files: dict[Path, str]) -> list[Path]:
    return [p for p, text in files.items() if not p.exists() or p.read_text() != text]


# ----------------------------------------------------------------------------- verify
DEVELOPMENT_MARKERS = ("dev-only", "ZHJpdmVyaG9tZS1kZXY")  # the dev keys, raw and base64


Kinds = dict[str, dict[str, dict[str, Any]]]
MIN_PRODUCTION_REPLICAS = 3


def verify(path: Path, *, production: bool) -> list[str]:
    text = path.read_text()
    docs = [d for d in yaml.safe_load_all(text) if d]
    by_kind: Kinds = {}
    for doc in docs:
        by_kind.setdefault(doc["kind"], {})[doc["metadata"]["name"]] = doc
    problems = [*_coverage(by_kind), *_bounds(by_kind), *_super_user(by_kind)]
    if production:
        problems += _production(text, docs, by_kind)
    return problems


def _coverage(by_kind: Kinds) -> list[str]:
    """Every catalogue topic (and DLQ twin) has a KafkaTopic, every principal a KafkaUser."""
    problems = []
    topics = {d["spec"].get("topicName", n) for n, d in by_kind.get("KafkaTopic", {}).items()}
    for logical in catalogue_topics():
        problems += [
            f"no KafkaTopic for {name}"
            for name in (logical, dlq_topic(logical))
            if name not in topics
        ]
    users = set(by_kind.get("KafkaUser", {}))
    problems += [
        f"no KafkaUser for {p.name} ({p.username})"
        for p in AccessTable.load().principals.values()
        if p.username not in users
    ]
    return problems


def _bounds(by_kind: Kinds) -> list[str]:
    """No autoscaler past the partition count; every topic with the declared partitions."""
    problems = [
        f"ScaledObject {name} scales past {PARTITIONS} partitions"
        for name, scaled in by_kind.get("ScaledObject", {}).items()
        if scaled["spec"].get("maxReplicaCount", 100) > PARTITIONS
    ]
    problems += [
        f"KafkaTopic {name} has {topic['spec']['partitions']} partitions"
        for name, topic in by_kind.get("KafkaTopic", {}).items()
        if topic["spec"]["partitions"] != PARTITIONS
    ]
    return problems


def _super_user(by_kind: Kinds) -> list[str]:
    admin = AccessTable.load().get(ADMIN).username
    kafka = next(iter(by_kind.get("Kafka", {}).values()), None)
    if kafka is None:
        return ["no Kafka"]
    if admin not in kafka["spec"]["kafka"]["authorization"].get("superUsers", []):
        return [f"{admin} is not a Kafka super user"]
    return []


def _production(text: str, docs: list[dict[str, Any]], by_kind: Kinds) -> list[str]:
    problems = [
        f"the production overlay names a development key ({marker}…)"
        for marker in DEVELOPMENT_MARKERS
        if marker in text
    ]
    problems += [
        f"KafkaTopic {name} has {topic['spec']['replicas']} replicas"
        for name, topic in by_kind.get("KafkaTopic", {}).items()
        if topic["spec"]["replicas"] < MIN_PRODUCTION_REPLICAS
    ]
    if any(d["kind"] == "Secret" for d in docs):
        problems.append("the production overlay carries a Secret (use ExternalSecret)")
    return problems


def main(argv: list[str] | None = None) -> int:
    # The services' contracts build their apps from default settings: development defaults
    # (an unset environment would be production, which needs keys a renderer never has).
    os.environ.setdefault("DRIVERHOME_ENVIRONMENT", "development")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="fail if a file is out of date")
    sub = parser.add_subparsers(dest="command")
    v = sub.add_parser("verify", help="check rendered overlays (kustomize build output)")
    v.add_argument("dev", type=Path)
    v.add_argument("production", type=Path)
    args = parser.parse_args(argv)

    if args.command == "verify":
        problems = [f"dev: {p}" for p in verify(args.dev, production=False)]
        problems += [f"production: {p}" for p in verify(args.production, production=True)]
        for problem in problems:
            print(f"deploy-check: {problem}", file=sys.stderr)
        if not problems:
            topics = len(catalogue_topics()) * 2
            users = len(AccessTable.load().principals)
            print(
                f"deploy-check: {topics} topics and {users} principals covered in both overlays; "
                "no development key in production"
            )
        return 1 if problems else 0

    files = render()
    if args.check:
        out_of_date = stale(files)
        for path in out_of_date:
            print(
                f"{path.relative_to(REPO_ROOT)} is out of date: run "
                "`uv run --no-sync python scripts/render_k8s.py`",
                file=sys.stderr,
            )
        return 1 if out_of_date else 0
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(path.relative_to(REPO_ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
