"""The layering rule: `bot/` never imports TensorFlow, `model_core/` never imports Telegram."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]


def imported_modules(package: str) -> dict[str, set[str]]:
    found = {}
    for path in (ROOT / package).rglob("*.py"):
        names = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(ROOT))] = names
    return found


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [("bot", {"tensorflow", "keras"}), ("model_core", {"telegram", "bot", "aiosqlite"})],
)
def test_layers_stay_apart(package, forbidden):
    offenders = {f: sorted(n & forbidden) for f, n in imported_modules(package).items()}
    assert not {f: n for f, n in offenders.items() if n}
