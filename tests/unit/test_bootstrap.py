"""scripts/bootstrap.sh on a machine that lacks parts of the toolchain (apt-get faked)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
UV_VERSION = "0.13.8"


def fake_machine(bin_dir: Path, commands: dict[str, str]) -> None:
    """A PATH holding only these commands: real tools by symlink, fakes as scripts."""
    bin_dir.mkdir()
    for name in ("awk", "dirname", "cat"):
        real = shutil.which(name)
        assert real is not None
        (bin_dir / name).symlink_to(real)
    for name, body in commands.items():
        path = bin_dir / name
        path.write_text(f"#!/bin/sh\n{body}\n")
        path.chmod(0o755)


def run_bootstrap(tmp_path: Path, commands: dict[str, str]) -> str:
    fake_machine(tmp_path / "bin", commands)
    done = subprocess.run(
        ["/bin/bash", str(ROOT / "scripts" / "bootstrap.sh"), UV_VERSION],
        env={"PATH": str(tmp_path / "bin"), "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    log = tmp_path / "apt.log"
    return log.read_text() if log.exists() else ""


def test_a_machine_with_a_jre_but_no_javac_gets_a_jdk(tmp_path: Path) -> None:
    installed = run_bootstrap(
        tmp_path,
        {
            "id": "echo 0",
            "apt-get": f'echo "$@" >> {tmp_path}/apt.log',
            "python3": "exit 0",
            "java": "exit 0",
            "mvn": "exit 0",
            "uv": f'[ "$1" = --version ] && echo "uv {UV_VERSION}"; exit 0',
        },
    )
    assert "install -y -qq openjdk-17-jdk-headless" in installed


def test_a_machine_with_a_jdk_installs_no_java(tmp_path: Path) -> None:
    installed = run_bootstrap(
        tmp_path,
        {
            "id": "echo 0",
            "apt-get": f'echo "$@" >> {tmp_path}/apt.log',
            "python3": "exit 0",
            "java": "exit 0",
            "javac": "exit 0",
            "mvn": "exit 0",
            "uv": f'[ "$1" = --version ] && echo "uv {UV_VERSION}"; exit 0',
        },
    )
    assert "openjdk" not in installed
