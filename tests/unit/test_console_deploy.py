"""The console is part of every way the system runs (issue 18): `make run`'s service list, the
Kubernetes base (a Deployment with no broker or store of its own, a Service on 8000, a
NetworkPolicy), its secrets from driverhome-secrets. Compose is checked in test_compose.py and
the rendered overlays by `make deploy-check` (kubeconform)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]


def objects() -> dict[str, Any]:
    found = yaml.safe_load_all((ROOT / "deploy/k8s/base/services/console.yaml").read_text())
    return {o["kind"]: o for o in found if o}


def test_the_console_is_in_the_kubernetes_base_without_a_broker_or_store() -> None:
    kinds = objects()
    assert {"Deployment", "Service", "NetworkPolicy"} <= set(kinds)
    assert "services/console.yaml" in (ROOT / "deploy/k8s/base/kustomization.yaml").read_text()
    (container,) = kinds["Deployment"]["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e for e in container["env"]}
    assert not [n for n in env if "KAFKA" in n or "MONGO" in n]
    for name in ("DRIVERHOME_SESSION_SECRET", "DRIVERHOME_OIDC_CLIENT_SECRET"):
        assert env[name]["valueFrom"]["secretKeyRef"]["name"] == "driverhome-secrets"
    assert kinds["Service"]["spec"]["ports"][0]["port"] == 8000
    assert kinds["NetworkPolicy"]["spec"]["policyTypes"] == ["Ingress", "Egress"]


def test_make_run_starts_the_console() -> None:
    script = (ROOT / "scripts/run-services.sh").read_text()
    assert "partners console}" in script
