"""The shared page helpers have one home (productops/ui): no page outside dashboards reaches into
productops.dashboards for them, and every template loads the `ui` tag library, not an old name."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGE_MODULES = [
    *sorted((ROOT / "insights").glob("*/views.py")),
    *sorted((ROOT / "insights").glob("*/charts.py")),
    *sorted((ROOT / "insights").glob("*/selectors.py")),
    ROOT / "productops" / "goals" / "views.py",
    ROOT / "productops" / "goals" / "charts.py",
]


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def reaches_into_dashboards(path: Path, module: str) -> bool:
    """A view imports nothing of dashboards; a selector may read its rollup tables (data, not UI)."""
    if not module.startswith("productops.dashboards"):
        return False
    return path.name == "views.py" or not module.startswith(
        ("productops.dashboards.models", "productops.dashboards.rollups")
    )


def test_pages_import_shared_helpers_from_ui_only() -> None:
    assert len(PAGE_MODULES) >= 8
    offenders = {
        str(path.relative_to(ROOT)): sorted(
            m for m in imported_modules(path) if reaches_into_dashboards(path, m)
        )
        for path in PAGE_MODULES
    }
    assert {k: v for k, v in offenders.items() if v} == {}
    views = imported_modules(ROOT / "insights" / "feedback" / "views.py")
    assert "productops.ui.filters" in views or "productops.ui" in views


def test_templates_load_the_ui_library() -> None:
    loads = [
        (path.name, line)
        for path in (ROOT / "templates").rglob("*.html")
        for line in path.read_text(encoding="utf-8").splitlines()
        if "{% load" in line
    ]
    assert any(" ui" in line for _, line in loads)
    assert [
        name for name, line in loads if "dashboards" in line.split("{% load", 1)[1].split("%}", 1)[0]
    ] == []
