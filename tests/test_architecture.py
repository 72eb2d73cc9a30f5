"""The house's layering, read from the source: which package may import which.

labelbot (settings, composition root, command line)
  ├── bot         Telegram side: no TensorFlow, never the command line
  ├── benchmarks  the harness: learning side only
  └── model_core  learning side: no Telegram, no store, nothing above it
labelbot_testkit  test doubles and harnesses (the fake Bot API, a throwaway PostgreSQL, the
                  flood and replicas benchmarks): used by the tests, and by the offline demo
                  and `labelbot bench` only
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
PACKAGES = ("labelbot", "bot", "benchmarks", "model_core", "labelbot_testkit")
ALLOWED = {  # the packages of this project each package may import
    "labelbot": {"bot", "benchmarks", "model_core", "labelbot_testkit"},
    "bot": {"model_core"},
    "benchmarks": {"model_core"},
    "model_core": set(),
    "labelbot_testkit": {"labelbot", "bot", "model_core"},
}
RUNTIME_USERS_OF_THE_TESTKIT = {"labelbot/demo.py", "labelbot/cli/bench.py"}
DOUBLES = ("fake", "pg_server", "flood", "topology", "harness")  # words no runtime file has


def imported_modules(package: str) -> dict[str, set[str]]:
    """Per source file of `package`, the dotted names of everything it imports."""
    found = {}
    for path in (ROOT / package).rglob("*.py"):
        names = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)  # and each name, which may be a module of the package
                names.update(f"{node.module}.{alias.name}" for alias in node.names)
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


def module_name(path: str) -> str:
    return path.removesuffix(".py").removesuffix("/__init__").replace("/", ".")


def import_graph() -> dict[str, set[str]]:
    """Per module of the project, the project modules it imports (anywhere in it, including
    imports made only for type checking: a cycle there is a cycle in the design)."""
    files = {
        path: names for package in PACKAGES for path, names in imported_modules(package).items()
    }
    modules = {module_name(path) for path in files}
    return {
        module_name(path): {
            imported
            for name in names
            for imported in _with_packages(name, module_name(path))
            if imported in modules
        }
        - {module_name(path)}
        for path, names in files.items()
    }


def _with_packages(name: str, importer: str) -> set[str]:
    """`a.b.c` and the packages Python runs first to import it (`a`, `a.b`), less those the
    importer is itself inside (they are already being imported when it runs)."""
    parts = name.split(".")
    chain = {".".join(parts[:n]) for n in range(1, len(parts) + 1)}
    return {m for m in chain if m == name or not importer.startswith(m + ".")}


def test_no_module_imports_itself_through_others():
    graph = import_graph()

    def reaches(start: str, goal: str) -> bool:
        seen, todo = set(), [start]
        while todo:
            for step in graph[todo.pop()] - seen:
                if step == goal:
                    return True
                seen.add(step)
                todo.append(step)
        return False

    assert sorted(module for module in graph if reaches(module, module)) == []


def test_no_package_imports_another_packages_command_line():
    for package in PACKAGES:
        for path, names in imported_modules(package).items():
            foreign_cli = {n for n in names if ".cli" in n and not n.startswith(package)}
            assert not foreign_cli, path


def test_the_testkit_is_used_only_by_the_demo_the_benchmarks_and_the_tests():
    users = {
        path
        for package in PACKAGES
        if package != "labelbot_testkit"
        for path, names in imported_modules(package).items()
        if "labelbot_testkit" in top_levels(names)
    }
    assert users == RUNTIME_USERS_OF_THE_TESTKIT


@pytest.mark.slow
def test_a_current_store_opens_without_loading_alembic(tmp_path):
    """Alembic loads only when a store is behind the newest revision: every command and every
    start of a bot whose store is current pays nothing for it."""
    import subprocess
    import sys

    path = tmp_path / "labelbot.sqlite3"
    opening = (
        "import asyncio, sys; from bot.store import Store\n"
        "async def main():\n"
        f"    await (await Store.open(__import__('pathlib').Path({str(path)!r}))).close()\n"
        "asyncio.run(main()); print('alembic' in sys.modules)"
    )
    run = [sys.executable, "-c", opening]
    first = subprocess.run(run, capture_output=True, text=True, check=True, cwd=ROOT)
    again = subprocess.run(run, capture_output=True, text=True, check=True, cwd=ROOT)
    assert (first.stdout.strip(), again.stdout.strip()) == ("True", "False")


@pytest.mark.slow
def test_the_wheel_keeps_test_doubles_out_of_the_runtime_packages(tmp_path):
    """The wheel ships the testkit as a package of its own (the offline demo runs on its fake
    Bot API); nothing under bot/ or labelbot/ is a fake, a harness or a test server."""
    import shutil
    import subprocess
    import sys
    import zipfile

    source = tmp_path / "source"  # a copy: setuptools leaves a build/ folder where it builds
    skipped = shutil.ignore_patterns(".*", "build", "data", "*.egg-info")
    shutil.copytree(ROOT, source, ignore=skipped)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(source)],
        check=True, capture_output=True,
    )  # fmt: skip
    (wheel,) = tmp_path.glob("labelbot-*.whl")
    files = zipfile.ZipFile(wheel).namelist()
    runtime = [f for f in files if f.startswith(("bot/", "labelbot/"))]
    assert runtime and not [f for f in runtime if any(w in f for w in DOUBLES)]
    assert "labelbot_testkit/fake_telegram/server.py" in files
    assert "bot/migrations/versions/0001_initial.py" in files  # a new store needs every revision
    assert {"bot/web/templates/page.html", "bot/web/static/console.js"} <= set(files)  # console
    assert not [f for f in files if f.startswith("tests/")]


def test_the_docker_image_copies_every_package():
    """The image installs from the packages it copies: one left out fails only at run time."""
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    for package in PACKAGES:
        assert f"COPY {package} ./{package}" in dockerfile, package
