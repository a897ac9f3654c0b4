"""The layering rule of DESIGN.md: tui -> screens -> services -> db, and never upwards.

import-linter checks the whole graph in `make test`; these tests check the rule again in a
fresh interpreter, so a headless use of the services never loads Textual or Rich.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

FORBIDDEN = {
    "services": ("textual", "rich", "tui", "screens"),
    "db": ("textual", "rich", "tui", "screens", "services"),
    "screens": ("sqlalchemy", "alembic", "psycopg", "db", "tui"),
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_no_layer_imports_what_it_must_not(layer: str) -> None:
    offenders = []
    for path in sorted((ROOT / layer).rglob("*.py")):
        bad = _imports(path) & set(FORBIDDEN[layer])
        if bad:
            offenders.append(f"{path.relative_to(ROOT)}: {sorted(bad)}")
    assert offenders == []


def test_services_import_headless() -> None:
    code = (
        "import importlib, pkgutil, sys, services\n"
        "for m in pkgutil.walk_packages(services.__path__, 'services.'):\n"
        "    importlib.import_module(m.name)\n"
        "bad = [n for n in sys.modules if n.split('.')[0] in ('textual', 'rich')]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == ""


def test_the_first_frame_does_not_wait_for_the_database_libraries(tmp_path) -> None:
    """`kiosk` builds its app without importing SQLAlchemy, Alembic or pydantic-settings: the
    database is opened in a thread after the first frame (start-up benchmark: ≤ 1.5× a bare
    Textual app). Checked at the moment the CLI hands over to ``App.run``."""
    import json
    import os
    import subprocess
    import sys

    code = (
        "import json, sys\n"
        "import tui.app\n"
        "def run(self, *args, **kwargs):\n"
        "    heavy = {'sqlalchemy', 'alembic', 'pydantic_settings'}\n"
        "    print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & heavy)))\n"
        "tui.app.KioskApp.run = run\n"
        "from tui.cli import main\n"
        "main([])\n"
    )
    env = dict(os.environ, KIOSK_HOME=str(tmp_path))
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=60, check=True)
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
