"""Dependencies point one way: scales <- stats <- seal <- annotation <- leaderboards <- faces."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Project wiring and faces may import anything below them.
WIRING = {
    "seal/urls.py",
    "seal/api_urls.py",
    "seal/apis.py",  # the lab API is a face: it reports annotation progress too
    "seal/celery.py",
    "seal/settings.py",
    "seal/wsgi.py",
    "seal/__init__.py",
}


def imported_top_levels(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def python_files(folder: str) -> list[Path]:
    return [p for p in (ROOT / folder).rglob("*.py") if "migrations" not in p.parts]


@pytest.mark.parametrize(
    ("folder", "forbidden"),
    [
        # The scales every layer shares (the 5-point preference) sit below even the stats core.
        (
            "scales",
            ("django", "seal", "annotation", "leaderboards", "rest_framework", "celery", "numpy"),
        ),
        (
            "leaderboards/stats",
            ("django", "seal", "annotation", "leaderboards.models", "rest_framework", "celery"),
        ),
        ("seal", ("annotation", "leaderboards")),
        ("annotation", ("leaderboards",)),
    ],
)
def test_lower_layers_do_not_import_upward(folder, forbidden):
    offenders = []
    for path in python_files(folder):
        relative = path.relative_to(ROOT).as_posix()
        if relative in WIRING:
            continue
        for name in imported_top_levels(path):
            if any(name == f or name.startswith(f"{f}.") for f in forbidden):
                offenders.append(f"{relative} imports {name}")
    assert not offenders, offenders


def test_the_rater_simulator_imports_nothing_of_django_or_the_project():
    """seal/simulation.py is shared by the demo, the tests and the benchmarks, which use it
    without Django settings: like the stats core, plain numpy/pandas."""
    names = imported_top_levels(ROOT / "seal" / "simulation.py")
    allowed = {"__future__", "math", "typing", "numpy", "pandas"}
    assert {name.split(".")[0] for name in names} <= allowed, names
