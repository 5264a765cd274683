"""Verdict stability across seeds (:mod:`equalnets.tools.stability`): the claims of executed
notebooks read back from their pages, two seeds' tables compared into a record, and a chapter's table
marked from the record only where it was measured for that profile and seed."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from equalnets.analysis.claims import UNSTABLE, VERDICTS, ClaimsTable
from equalnets.tools import stability

ROOT = Path(__file__).resolve().parents[1]


def table(verdicts: dict[str, str]) -> ClaimsTable:
    t = ClaimsTable()
    for claim, verdict in verdicts.items():
        t.add(claim, "paper", "ours", verdict, "rule ≥ 0.5 & <b>", reference="ref")
    return t


def executed(folder: Path, name: str, verdicts: dict[str, str]) -> None:
    """A notebook as the book executes it: the claims table shown as the last output of a cell."""
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("claims.styled()")
    cell.outputs = [nbformat.v4.new_output("execute_result", data={"text/html": table(verdicts).styled().to_html(),
                                                                    "text/plain": "<Styler>"}, execution_count=1)]
    nb.cells = [nbformat.v4.new_markdown_cell("# A chapter"), cell]
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / f"{name}.ipynb")


@dataclass
class Params:
    profile: str = "quick"
    seed: int = 0


def test_with_stability_marks_each_claim_and_counts_the_unstable():
    t = table({"A  rises": "reproduced", "B falls": "partly", "C": "not reproduced"})
    marked = t.with_stability({"A rises": ["reproduced", "reproduced"], "B falls": ["partly", "reproduced"]},
                              [0, 1], "quick profile, commit abc, 2026-12-06")
    cells = dict(zip(marked.frame()["claim"], marked.frame()["stability"]))
    assert cells == {"A  rises": "stable (seeds 0, 1)", "B falls": f"{UNSTABLE} (seed 0: partly; seed 1: reproduced)",
                     "C": "not measured"}
    assert list(marked.frame().columns) == ["claim", "paper", "this book", "reference", "verdict", "stability", "rule"]
    assert marked.summary() == ("1 reproduced, 1 partly, 1 not reproduced; 1 unstable at this scale, another seed "
                                "giving another verdict (quick profile, commit abc, 2026-12-06)")
    assert "stability" not in t.frame() and t.summary() == "1 reproduced, 1 partly, 1 not reproduced"  # unchanged
    assert "font-weight: bold" in marked.styled().to_html()


def test_the_verdicts_of_an_executed_notebook_are_read_back_from_its_page(tmp_path):
    verdicts = {"Bi-modality is the longest phase (train)": "reproduced", "x < y & z": "not reproduced"}
    executed(tmp_path, "chapter", verdicts)
    assert stability.executed_verdicts(tmp_path / "chapter.ipynb") == verdicts
    nbformat.write(nbformat.v4.new_notebook(), tmp_path / "empty.ipynb")
    assert stability.executed_verdicts(tmp_path / "empty.ipynb") == {}


def test_two_seeds_are_compared_claim_by_claim(tmp_path):
    executed(tmp_path / "s0", "ch", {"A": "reproduced", "B": "partly", "only here": "reproduced"})
    executed(tmp_path / "s1", "ch", {"A": "reproduced", "B": "not reproduced"})
    record = stability.compare([tmp_path / "s0", tmp_path / "s1"], [0, 1], "quick", ["ch"], commit="abc")
    assert record["chapters"] == {"ch": {"A": ["reproduced", "reproduced"], "B": ["partly", "not reproduced"]}}
    assert record["seeds"] == [0, 1] and record["profile"] == "quick" and record["commit"] == "abc"
    with pytest.raises(FileNotFoundError, match="not executed in every folder"):
        stability.compare([tmp_path / "s0", tmp_path / "s1"], [0, 1], "quick", ["ch", "other"])
    for folders, seeds in (([tmp_path / "s0"], [0]), ([tmp_path / "s0", tmp_path / "s1"], [0, 0]),
                           ([tmp_path / "s0"], [0, 1])):
        with pytest.raises(ValueError, match="one folder per seed and at least two different seeds"):
            stability.compare(folders, seeds, "quick", ["ch"])


def test_a_table_is_marked_only_for_the_profile_and_first_seed_measured(tmp_path, capsys):
    executed(tmp_path / "s0", "ch", {"A": "reproduced", "B": "partly"})
    executed(tmp_path / "s1", "ch", {"A": "reproduced", "B": "not reproduced"})
    (tmp_path / "notebooks" / "profiles").mkdir(parents=True)
    t = table({"A": "reproduced", "B": "partly"})
    assert stability.mark(t, "ch", Params(), root=tmp_path) is t  # no record yet
    path = stability.measure(tmp_path, "quick", [0, 1], ["ch"], [tmp_path / "s0", tmp_path / "s1"], commit="abc")
    assert path == stability.record_path(tmp_path, "quick") and "1 of 2 verdicts differ" in capsys.readouterr().out
    marked = stability.mark(t, "ch", Params(), root=tmp_path)
    assert marked.frame()["stability"].tolist() == ["stable (seeds 0, 1)",
                                                     f"{UNSTABLE} (seed 0: partly; seed 1: not reproduced)"]
    assert stability.mark(t, "ch", Params(seed=1), root=tmp_path) is t      # another seed's run: not measured
    assert stability.mark(t, "ch", Params(profile="smoke"), root=tmp_path) is t
    assert stability.mark(t, "other", Params(), root=tmp_path).frame()["stability"].tolist() == ["not measured"] * 2


def test_the_shipped_record_is_part_one_at_quick_with_seeds_0_and_1():
    record = json.loads(stability.record_path(ROOT, "quick").read_text())
    assert record["profile"] == "quick" and record["seeds"] == [0, 1] and record["commit"]
    assert set(record["chapters"]) == set(stability.PART_ONE)
    verdicts = [v for claims in record["chapters"].values() for pair in claims.values() for v in pair]
    assert verdicts and set(verdicts) <= set(VERDICTS)
    assert all(len(pair) == 2 for claims in record["chapters"].values() for pair in claims.values())


def test_a_notebook_outside_the_repository_keeps_its_table(tmp_path, monkeypatch):
    """Opened in a folder with no _toc.yml above it (a copy, JupyterLab elsewhere): no record, no error."""
    monkeypatch.chdir(tmp_path)
    t = table({"A": "reproduced"})
    monkeypatch.setattr(stability, "project_root", lambda: (_ for _ in ()).throw(FileNotFoundError("no _toc.yml")))
    assert stability.mark(t, "ch", Params()) is t
