"""The development issuer: one key pair per checkout, outside git, public half as a JWKS."""

from __future__ import annotations

import json
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from common.dev_issuer import JWKS_FILE, PRIVATE_FILE, REPO_ROOT, DevIssuer


def test_concurrent_first_uses_end_with_one_key_pair(tmp_path: Path) -> None:
    folder = tmp_path / "dev-issuer"
    with ThreadPoolExecutor(max_workers=6) as pool:
        kids = set(pool.map(lambda _: DevIssuer(folder).kid, range(12)))
    assert len(kids) == 1
    keys = json.loads((folder / JWKS_FILE).read_text())["keys"]
    assert [k["kid"] for k in keys] == list(kids)
    assert all("d" not in k for k in keys)  # the public half only
    assert stat.S_IMODE((folder / PRIVATE_FILE).stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dev-issuer"]  # no scratch left


def test_the_key_pair_is_never_committed() -> None:
    ignored = (REPO_ROOT / ".gitignore").read_text().split()
    assert ".infra/" in ignored
