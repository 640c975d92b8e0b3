"""The import contract: the pure packages, which decide money and which a licensor's
verifier runs (the stream cores too: `revstream.features` plugs them into
settlement and the verifier), import nothing of the host's storage, SQLAlchemy or a web framework.

Checked two ways: each package imported alone in a fresh interpreter loads none of them,
and no module of a pure package names them in an import statement (a lazy import inside
a function would pass the first check and fail this one).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parent.parent / "src" / "revstream"
PURE = ("money", "ledger", "pricing", "settlement", "plans", "transparency", "audit", "periods", "leaves", "billing",
        "admission", "ads", "licence", "messaging", "recitation")
FORBIDDEN = ("revstream.store", "sqlalchemy", "starlette", "uvicorn", "alembic", "psycopg")


@pytest.mark.parametrize("package", PURE)
def test_a_pure_package_loads_no_storage_or_web_framework(package: str) -> None:
    probe = (f"import sys, revstream.{package}; "
             f"print('\\n'.join(m for m in sys.modules if m.startswith({FORBIDDEN!r})))")
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.split()
    assert loaded == [], f"importing revstream.{package} loads {loaded}"


def _imports(path: Path, root: Path = SOURCE.parent) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against the package path
                parts = path.relative_to(root).with_suffix("").parts[:-node.level]
                base = ".".join(parts + ((base,) if base else ()))
            names.append(base)
    return names


@pytest.mark.parametrize("package", PURE)
def test_no_module_of_a_pure_package_names_them(package: str) -> None:
    offenders = [(str(path.relative_to(SOURCE)), name) for path in sorted((SOURCE / package).rglob("*.py"))
                 for name in _imports(path) if name.startswith(FORBIDDEN)]
    assert offenders == []


def test_the_contract_would_catch_a_store_import(tmp_path) -> None:
    """The static check reads relative imports right: `from ..store import x` is caught."""
    module = tmp_path / "revstream" / "money" / "_probe.py"
    module.parent.mkdir(parents=True)
    module.write_text("from ..store import make_engine\nfrom . import _money\n")
    assert _imports(module, tmp_path) == ["revstream.store", "revstream.money"]
