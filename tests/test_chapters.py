"""What every chapter module promises: a Parameters declaration whose defaults check, the runs it asks
the store for, and ensembles that it compares never sharing a member seed (two ensembles with one
seed would be twins: the same initialisation, mini-batches and dropout masks member by member)."""

from __future__ import annotations

import importlib
from itertools import combinations
from pathlib import Path

import pytest

from equalnets.engine.config import RunConfig

ROOT = Path(__file__).resolve().parents[1]
STEMS = sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb"))


def _configs(value) -> list[RunConfig]:
    if isinstance(value, RunConfig):
        return [value]
    if isinstance(value, dict):
        return [c for v in value.values() for c in _configs(v)]
    if isinstance(value, (list, tuple)):
        return [c for v in value for c in _configs(v)]
    return []


@pytest.mark.parametrize("stem", STEMS)
def test_compared_ensembles_never_share_a_member_seed(stem):
    module = importlib.import_module(f"equalnets.chapters.{stem}")
    asked = module.runs(module.Parameters())
    assert isinstance(asked, dict), "runs() names the ensembles the chapter asks the store for"
    configs = {c.key: c for c in _configs(asked)}
    for a, b in combinations(configs.values(), 2):
        shared = ({a.member_seed(k) for k in range(a.n_models)} & {b.member_seed(k) for k in range(b.n_models)})
        assert not shared, (f"{a.describe()} and {b.describe()} share member seeds: give each compared ensemble "
                            "its own seed (equalnets.engine.config.derived_seed)")


@pytest.mark.parametrize("stem", STEMS)
def test_every_chapter_module_has_the_chapter_protocol(stem):
    module = importlib.import_module(f"equalnets.chapters.{stem}")
    assert isinstance(module.TITLE, str) and module.__doc__
    for name in ("Parameters", "runs", "claims"):
        assert callable(getattr(module, name)), name
    assert module.Parameters().interactive is True and module.Parameters().profile == "quick"


def test_the_package_map_names_every_module():
    """``equalnets.__doc__`` is the map of the package: every module of every sub-package is in it."""
    import equalnets

    package = ROOT / "src" / "equalnets"
    modules = {p.stem for p in package.glob("*/*.py") if p.stem != "__init__"}
    chapters = {p.stem for p in (package / "chapters").glob("part*.py")}  # named as a family: one per notebook
    missing = sorted(m for m in modules - chapters if f"``{m}``" not in equalnets.__doc__)
    assert not missing, f"equalnets/__init__.py's map does not name {missing}"
    assert chapters == set(STEMS)
