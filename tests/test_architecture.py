"""The house's layering, read from the source: which package may import which.

labelbot (settings, composition root, command line)
  ├── bot         Telegram side: no TensorFlow, never the command line
  ├── benchmarks  the harness: learning side only
  └── model_core  learning side: no Telegram, no store, nothing above it
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
PACKAGES = ("labelbot", "bot", "benchmarks", "model_core")
ALLOWED = {  # the packages of this project each package may import
    "labelbot": {"bot", "benchmarks", "model_core"},
    "bot": {"model_core"},
    "benchmarks": {"model_core"},
    "model_core": set(),
}


def imported_modules(package: str) -> dict[str, set[str]]:
    """Per source file of `package`, the dotted names of everything it imports."""
    found = {}
    for path in (ROOT / package).rglob("*.py"):
        names = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
        found[str(path.relative_to(ROOT))] = names
    return found


def top_levels(names: set[str]) -> set[str]:
    return {name.split(".")[0] for name in names}


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [("bot", {"tensorflow", "keras"}), ("model_core", {"telegram", "aiosqlite"})],
)
def test_layers_stay_apart(package, forbidden):
    offenders = {f: sorted(top_levels(n) & forbidden) for f, n in imported_modules(package).items()}
    assert not {f: n for f, n in offenders.items() if n}


@pytest.mark.parametrize("package", PACKAGES)
def test_packages_import_only_what_is_below_them(package):
    own = set(PACKAGES) - {package}
    offenders = {
        f: sorted((top_levels(n) & own) - ALLOWED[package])
        for f, n in imported_modules(package).items()
    }
    assert not {f: n for f, n in offenders.items() if n}


def test_the_allowed_imports_have_no_cycle():
    def reaches(start: str, goal: str, seen: frozenset = frozenset()) -> bool:
        return any(
            step == goal or (step not in seen and reaches(step, goal, seen | {step}))
            for step in ALLOWED[start]
        )

    assert not any(reaches(package, package) for package in PACKAGES)


def test_no_package_imports_another_packages_command_line():
    for package in PACKAGES:
        for path, names in imported_modules(package).items():
            foreign_cli = {n for n in names if ".cli" in n and not n.startswith(package)}
            assert not foreign_cli, path


def test_the_fake_telegram_is_used_only_by_the_demo_the_benchmarks_and_the_tests():
    users = {
        path
        for package in PACKAGES
        for path, names in imported_modules(package).items()
        if any(n.startswith("bot.fake_telegram") for n in names)
        and not path.startswith("bot/fake_telegram/")
    }
    assert users == {"labelbot/demo.py", "labelbot/flood.py", "labelbot/topology.py"}


@pytest.mark.slow
def test_the_store_loads_alembic_only_to_migrate_postgresql():
    """Every command opens the store; SQLite bots never need Alembic or SQLAlchemy."""
    import subprocess
    import sys

    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, bot.store, labelbot.house; "
         "print(sorted({m.split('.')[0] for m in sys.modules} & {'alembic', 'sqlalchemy'}))"],
        capture_output=True, text=True, check=True, cwd=ROOT,
    )  # fmt: skip
    assert loaded.stdout.strip() == "[]"
