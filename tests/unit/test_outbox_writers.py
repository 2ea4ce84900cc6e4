"""Every write that puts an event into an outbox marks its document (``common.outbox``).

The relay's sweeper finds what a crash left behind by the ``outbox_pending`` mark alone, so a
write that pushed an event without :func:`~common.outbox.push_outbox` or
:func:`~common.outbox.outbox_fields` would leave it unswept until an upgrade scan. This reads
the production code and refuses such a write.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted(
    p
    for pattern in ("services/*/src/**/*.py", "libs/*/src/**/*.py")
    for p in ROOT.glob(pattern)
    if p.name != "outbox.py"
)


def _is_outbox_key(node: ast.AST | None) -> bool:
    return (isinstance(node, ast.Constant) and node.value == "outbox") or (
        isinstance(node, ast.Name) and node.id == "OUTBOX_FIELD"
    )


def _harmless(value: ast.AST) -> bool:
    """A projection (0/1), an ``$unset`` ("") or an empty outbox."""
    if isinstance(value, ast.Constant) and value.value in (0, 1, ""):
        return True
    return isinstance(value, ast.List) and not value.elts


def unmarked_writes(tree: ast.AST) -> list[int]:
    lines: list[int] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            lines += [
                v.lineno
                for k, v in zip(node.keys, node.values, strict=True)
                if _is_outbox_key(k) and not _harmless(v)
            ]
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if (
                    isinstance(target, ast.Subscript)
                    and _is_outbox_key(target.slice)
                    and not _harmless(node.value)
                ):
                    lines.append(node.lineno)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "update"
            and not node.args  # dict.update(outbox=...), not a store method's keyword
        ):
            lines += [kw.value.lineno for kw in node.keywords if kw.arg == "outbox"]
    return lines


def test_no_production_write_pushes_into_an_outbox_without_its_mark() -> None:
    assert len(SOURCES) > 300, "the production sources were not found"
    found = {
        str(path.relative_to(ROOT)): lines
        for path in SOURCES
        if (lines := unmarked_writes(ast.parse(path.read_text(), str(path))))
    }
    assert found == {}, f"outbox writes without push_outbox/outbox_fields: {found}"


def test_the_check_sees_each_form_of_an_unmarked_write() -> None:
    samples = {
        'update_one(q, {"$push": {"outbox": entry}})': 1,
        'insert_one({"_id": 1, "outbox": [entry]})': 1,
        'doc["outbox"] = [entry]': 1,
        'update["$push"][OUTBOX_FIELD] = entry': 1,
        "doc.update(_id=1, outbox=entries)": 1,
        'find_one(q, {"outbox": 0}); doc = {"outbox": []}; doc["outbox"] = []': 0,
        'update_one(q, push_outbox({"$set": s}, entry)); unset = {"outbox": ""}': 0,
        "store.update(driver_id, outbox=entries)": 0,
    }
    for code, expected in samples.items():
        assert len(unmarked_writes(ast.parse(code))) == expected, code
