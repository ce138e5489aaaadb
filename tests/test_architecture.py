"""The package's architecture, enforced: import-linter's layer contracts (pyproject.toml), no
private names imported across agcflow's packages, and no module over 400 lines."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "analysis" / "agcflow"
MAX_LINES = 400


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def package_of(module: str) -> str:
    """``agcflow.scan.engine`` -> ``agcflow.scan``; a top-level module is its own package."""
    parts = module.split(".")
    return ".".join(parts[:2])


def dotted(path: Path) -> str:
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = relative.parts[:-1] if relative.name == "__init__" else relative.parts
    return ".".join(parts)


def test_the_import_contracts_are_kept():
    """import-linter, as `lint-imports` runs it from the repository root."""
    executable = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert executable, "import-linter is a test dependency (pip install -e '.[test]')"
    result = subprocess.run([executable, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout and " kept" in result.stdout, result.stdout


def test_no_private_name_is_imported_across_packages():
    offences = []
    for path in modules():
        here = dotted(path)
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("agcflow"):
                private = [a.name for a in node.names if a.name.startswith("_") and not a.name.startswith("__")]
                if private and package_of(node.module) != package_of(here):
                    offences.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.module} {private}")
    assert not offences, "\n".join(offences)


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_is_over_400_lines(path):
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(ROOT)}: {lines} lines; split it by responsibility"
