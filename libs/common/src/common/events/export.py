"""Write the event catalogue's JSON Schemas to ``docs/schemas/`` (``make schemas``).

The checked-in files are also the snapshot the tests compare against, so a breaking change to
an event shows up as a failing test and a reviewable diff.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from common.events import json_schemas


def render() -> dict[str, str]:
    """File name -> content for every schema."""
    files: dict[str, str] = {}
    for name, schema in sorted(json_schemas().items()):
        file_name = name.replace("/", "__").replace("<", "").replace(">", "") + ".json"
        files[file_name] = json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    return files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path, nargs="?", default=Path("docs/schemas"))
    out: Path = parser.parse_args().out
    out.mkdir(parents=True, exist_ok=True)
    files = render()
    for stale in out.glob("*.json"):
        if stale.name not in files:
            stale.unlink()
    for name, content in files.items():
        (out / name).write_text(content)
    print(f"wrote {len(files)} schemas to {out}")


if __name__ == "__main__":
    main()
