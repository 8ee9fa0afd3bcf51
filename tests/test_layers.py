"""The tree is the architecture: imports point down the layers, no circles, and the Layout page's
table (docs/layout.md) names exactly the modules there are."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "genre_hf"


def test_imports_point_down_the_layers_and_never_in_a_circle():
    """The import-linter contracts in pyproject.toml: the layers contract (every import, function-level
    ones included, points down) and no circle among the modules of any package."""
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "2 kept, 0 broken" in result.stdout


def documented_modules(page: str) -> set[str]:
    """Module paths (relative to genre_hf/) in the Layout table: a cell's later names share its first one's folder."""
    names = set()
    for row in page.splitlines():
        cells = [cell.strip() for cell in row.strip().strip("|").split("|")]
        if len(cells) != 3 or cells[0] in ("layer", "---"):
            continue
        folder = ""
        for name in re.findall(r"`([^`]+)`", cells[1]):
            if "/" in name:
                folder = name.rsplit("/", 1)[0] + "/"
            else:
                name = folder + name
            if name.endswith(".py"):
                names.add(name)
    return names


def test_the_layout_table_names_every_module_and_only_those():
    def has_code(path: Path) -> bool:  # an __init__ with only a docstring is not a module of its own
        return path.name != "__init__.py" or bool(re.search(r"^(def|class|from|import) ", path.read_text(), re.M))

    tree = {path.relative_to(PACKAGE).as_posix() for path in PACKAGE.rglob("*.py") if has_code(path)}
    documented = documented_modules((ROOT / "docs" / "layout.md").read_text(encoding="utf-8"))
    assert documented == tree, f"missing from docs/layout.md: {sorted(tree - documented)}; not in the tree: {sorted(documented - tree)}"
