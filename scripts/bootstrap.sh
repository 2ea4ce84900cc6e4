#!/usr/bin/env bash
# Install what the project needs on a bare machine: uv, the locked Python environment, and
# (as root, via apt) a JDK and Maven for the local Kafka broker and store.
set -euo pipefail
UV_VERSION="${1:-0.13.8}"
cd "$(dirname "$0")/.."

apt_install() {
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "bootstrap: installing $* with apt-get" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  else
    echo "bootstrap: please install $* (not root or no apt-get here)" >&2
    return 1
  fi
}

command -v python3 >/dev/null || apt_install python3 python3-pip python3-venv
# A JDK, not just a JRE: deploy/local/infra.sh compiles the store's launcher with javac.
command -v javac >/dev/null || apt_install openjdk-17-jdk-headless || true
command -v mvn >/dev/null || apt_install maven || true
# The partner guide's examples (docs/partners.md), which a test runs as written.
for tool in curl jq openssl; do command -v "$tool" >/dev/null || apt_install "$tool" || true; done
# The console's browser tests drive Debian's Chromium (Playwright never downloads a browser
# here); a CJK font so its Chinese pages render in the screenshots.
command -v chromium >/dev/null || apt_install chromium || true
[ -n "$(fc-list :lang=zh 2>/dev/null)" ] || apt_install fonts-wqy-microhei || true

if ! command -v uv >/dev/null || [ "$(uv --version | awk '{print $2}')" != "$UV_VERSION" ]; then
  echo "bootstrap: installing uv $UV_VERSION" >&2
  python3 -m pip install --quiet --user "uv==$UV_VERSION" 2>/dev/null \
    || python3 -m pip install --quiet "uv==$UV_VERSION" 2>/dev/null \
    || python3 -m pip install --quiet --break-system-packages --user "uv==$UV_VERSION"
  hash -r
fi
command -v uv >/dev/null || { echo "bootstrap: uv is not on PATH after install" >&2; exit 1; }

uv sync --frozen --all-packages --quiet
