#!/usr/bin/env bash
# make deploy-check: render both overlays and validate every object offline.
#
#  1. the generated manifests (scripts/render_k8s.py) are current;
#  2. kustomize renders overlays/dev and overlays/production;
#  3. kubeconform validates every object: Kubernetes kinds against the JSON schemas shipped in
#     the `kubernetes-validate` PyPI package, Strimzi kinds against deploy/k8s/schemas/strimzi/ (vendored);
#     kinds with no schema available offline (KEDA, Percona, Prometheus operator, External
#     Secrets) are skipped by name, and listed;
#  4. every catalogue topic has a KafkaTopic, every access-table principal a KafkaUser, and the
#     production overlay names no development key.
#
# Tools are installed on first use into ${XDG_CACHE_HOME:-~/.cache}/driverhome (kustomize and
# kubeconform with `go install` from the Go module proxy; go itself from apt when missing).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CACHE="${DRIVERHOME_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/driverhome}"
BIN="$CACHE/bin"
KUSTOMIZE_VERSION=v5.8.1
KUBECONFORM_VERSION=v0.8.0
K8S_VALIDATE_VERSION=1.37.0 # PyPI kubernetes-validate: JSON schemas per Kubernetes version
K8S_VERSION=1.34.0
K8S_SCHEMAS="$CACHE/k8s-schemas/v$K8S_VERSION-strict"
CRD_SCHEMAS="${DRIVERHOME_CRD_SCHEMAS:-$ROOT/deploy/k8s/schemas/strimzi}" # vendored; see its README
# No offline schema for these: validated by the unit tests' structure checks only.
SKIP_KINDS=ScaledObject,TriggerAuthentication,PerconaServerMongoDB,ServiceMonitor,PodMonitor,PrometheusRule,ExternalSecret
export PATH="$HOME/.local/bin:$PATH"

say() { echo "deploy-check: $*"; }

ensure_go() {
    command -v go >/dev/null 2>&1 && return
    [[ -x /usr/local/go/bin/go ]] && { export PATH="/usr/local/go/bin:$PATH"; return; }
    say "installing go (apt golang-go)" >&2
    local sudo=""
    [[ "$(id -u)" == 0 ]] || sudo="sudo"
    $sudo apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq golang-go >&2
}

# go_tool NAME VERSION MODULE: $BIN/NAME-VERSION, built once.
go_tool() {
    local name="$1" version="$2" module="$3" target="$BIN/$1-$2"
    if [[ ! -x "$target" ]]; then
        ensure_go
        say "building $name $version (go install, first run only)" >&2
        local tmp
        tmp="$(mktemp -d)"
        GOBIN="$tmp" GOFLAGS=-buildvcs=false go install "$module@$version"
        mkdir -p "$BIN"
        mv "$tmp/$name" "$target"
        rmdir "$tmp"
    fi
    echo "$target"
}

# Kubernetes JSON schemas from the kubernetes-validate wheel, made loadable by file path: its
# schemas refer to /api/_definitions.json under an https $id, which kubeconform would fetch.
ensure_k8s_schemas() {
    [[ -f "$K8S_SCHEMAS/.complete" ]] && return
    say "unpacking Kubernetes $K8S_VERSION schemas (kubernetes-validate $K8S_VALIDATE_VERSION, first run only)"
    local tmp
    tmp="$(mktemp -d)"
    if command -v uv >/dev/null 2>&1; then
        uv pip install --quiet --no-deps --target "$tmp" --python "$(command -v python3)" \
            "kubernetes-validate==$K8S_VALIDATE_VERSION"
    else
        python3 -m pip install --quiet --no-deps --target "$tmp" \
            "kubernetes-validate==$K8S_VALIDATE_VERSION"
    fi
    rm -rf "$K8S_SCHEMAS"
    mkdir -p "$K8S_SCHEMAS"
    python3 - "$tmp/kubernetes_validate/kubernetes-json-schema/v$K8S_VERSION-local-strict" \
        "$K8S_SCHEMAS" <<'PY'
import json, os, sys
src, dst = sys.argv[1], sys.argv[2]
for name in os.listdir(src):
    with open(os.path.join(src, name)) as handle:
        schema = json.load(handle)
    schema.pop("$id", None)
    text = json.dumps(schema).replace('"/api/_definitions.json#', '"_definitions.json#')
    with open(os.path.join(dst, name), "w") as handle:
        handle.write(text)
PY
    rm -rf "$tmp"
    touch "$K8S_SCHEMAS/.complete"
}

[[ -d "$CRD_SCHEMAS" ]] || {
    echo "deploy-check: no Strimzi CRD schemas at $CRD_SCHEMAS (set DRIVERHOME_CRD_SCHEMAS)" >&2
    exit 1
}
kustomize="$(go_tool kustomize "$KUSTOMIZE_VERSION" sigs.k8s.io/kustomize/kustomize/v5)"
kubeconform="$(go_tool kubeconform "$KUBECONFORM_VERSION" github.com/yannh/kubeconform/cmd/kubeconform)"
ensure_k8s_schemas

cd "$ROOT"
uv run --no-sync python scripts/render_k8s.py --check

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
for overlay in dev production; do
    "$kustomize" build "deploy/k8s/overlays/$overlay" >"$out/$overlay.yaml"
    say "overlays/$overlay: $(grep -c '^kind:' "$out/$overlay.yaml") objects rendered"
done

"$kubeconform" -strict -summary -output text \
    -schema-location "$K8S_SCHEMAS/{{.ResourceKind}}{{.KindSuffix}}.json" \
    -schema-location "$CRD_SCHEMAS/{{.ResourceKind}}{{.KindSuffix}}.json" \
    -skip "$SKIP_KINDS" \
    "$out/dev.yaml" "$out/production.yaml"
say "skipped kinds (no offline schema): ${SKIP_KINDS//,/, }"

uv run --no-sync python scripts/render_k8s.py verify "$out/dev.yaml" "$out/production.yaml"
say "ok"
