"""Whether a verdict survives another seed: chapters executed at two base seeds, their claims tables
compared claim by claim, and the record that marks each chapter's unstable verdicts on its page.

A verdict that flips with the seed is noise at that scale. ``python -m equalnets stability``
executes the chosen chapters (Part I by default) at the ``quick`` profile with each seed, into a
folder of their own, compares the claims tables and writes the record
``notebooks/profiles/stability-<profile>.json`` (the commit, the date and the seeds it was measured
with, and each claim's verdict per seed). A chapter executed with that profile and the record's first
seed shows, beside each verdict, what the other seed gave (:func:`mark`): "stable", or "unstable at
this scale". The record is measured, never typed: ``--from A B`` compares two folders of executed
notebooks that exist already.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any, Sequence

import nbformat
from bs4 import BeautifulSoup

from ..analysis.claims import VERDICTS, ClaimsTable
from .book import execute, project_root

#: The chapters whose stability ``python -m equalnets stability`` measures unless told others.
PART_ONE = ("part1_s3_single_architecture", "part1_s3_robustness", "part1_s4_cross_architecture",
            "part1_s4_linear_networks", "part1_s5_other_paradigms", "part1_s6_breaking_bimodality",
            "part1_supp_individual_examples")


def record_path(root: Path, profile: str) -> Path:
    """Where the stability record of ``profile`` lives."""
    return root / "notebooks" / "profiles" / f"stability-{profile}.json"


def executed_verdicts(path: Path) -> dict[str, str]:
    """claim → verdict of the claims table(s) an executed notebook displays (its HTML output with a
    ``verdict`` column); empty where it shows none."""
    found: dict[str, str] = {}
    for cell in nbformat.read(path, as_version=4).cells:
        for output in cell.get("outputs", []):
            html = output.get("data", {}).get("text/html", "")
            html = "".join(html) if isinstance(html, list) else html
            if "verdict" not in html or "<thead" not in html:
                continue
            soup = BeautifulSoup(html, "html.parser")
            heads = [th.get_text(strip=True) for th in soup.find("thead").find_all("th")]
            if "claim" not in heads or "verdict" not in heads:
                continue
            for row in soup.find("tbody").find_all("tr"):
                cells = [td.get_text(" ", strip=True) for td in row.find_all(["td", "th"])]
                if len(cells) == len(heads) and cells[heads.index("verdict")] in VERDICTS:
                    found[" ".join(cells[heads.index("claim")].split())] = cells[heads.index("verdict")]
    return found


def compare(folders: Sequence[Path], seeds: Sequence[int], profile: str, names: Sequence[str],
            commit: str = "") -> dict[str, Any]:
    """The record: for each notebook of ``names`` executed in every folder (``folders[i]`` holds the
    notebooks executed with ``seeds[i]``), each claim's verdict per seed (claims missing from a
    folder are left out), with the profile, the seeds, the commit and the date."""
    if len(folders) != len(seeds) or len(seeds) < 2 or len(set(seeds)) != len(seeds):
        raise ValueError(f"give one folder per seed and at least two different seeds, got {len(folders)} folders "
                         f"and seeds {list(seeds)}")
    chapters: dict[str, dict[str, list[str]]] = {}
    for name in names:
        tables = [executed_verdicts(Path(folder) / f"{name}.ipynb") for folder in folders
                  if (Path(folder) / f"{name}.ipynb").exists()]
        if len(tables) != len(folders):
            raise FileNotFoundError(f"{name}.ipynb is not executed in every folder of {[str(f) for f in folders]}")
        chapters[name] = {claim: [t[claim] for t in tables] for claim in tables[0]
                          if all(claim in t for t in tables)}
    return {"profile": profile, "seeds": list(seeds), "commit": commit, "date": time.strftime("%Y-%m-%d"),
            "chapters": chapters}


def _commit(root: Path) -> str:
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=True).stdout.strip()
        return out + ("+changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return ""


def measure(root: Path, profile: str = "quick", seeds: Sequence[int] = (0, 1), names: Sequence[str] = PART_ONE,
            folders: Sequence[Path] | None = None, commit: str | None = None) -> Path:
    """Execute ``names`` with each seed (or, with ``folders``, read what was executed there), write
    the record of ``profile`` and return its path. ``commit``: the code the notebooks were executed
    with (default: this checkout's when executing here; unknown for ``folders``)."""
    if folders is None:
        folders = [root / "_build" / "stability" / f"seed-{seed}" for seed in seeds]
        for seed, folder in zip(seeds, folders):
            for name in names:
                execute(root, name, profile, {"seed": seed}, output_dir=folder)
        commit = _commit(root) if commit is None else commit
    record = compare(folders, seeds, profile, names, commit=commit or "")
    path = record_path(root, profile)
    path.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n")
    unstable = sum(len(set(v)) > 1 for claims in record["chapters"].values() for v in claims.values())
    total = sum(len(claims) for claims in record["chapters"].values())
    print(f"{unstable} of {total} verdicts differ between seeds {list(seeds)} -> {path}")
    return path


def mark(table: ClaimsTable, name: str, params: Any, root: Path | None = None) -> ClaimsTable:
    """``table`` with a ``stability`` column where the record of ``params.profile`` was measured with
    ``params.seed`` as its first seed (the book's own run): for each claim the record holds, "stable",
    or "unstable at this scale" with the other seeds' verdicts; the table unchanged otherwise."""
    if root is None:
        try:
            root = project_root()
        except FileNotFoundError:  # a notebook opened outside the book's repository: nothing recorded
            return table
    path = record_path(root, params.profile)
    if not path.exists():
        return table
    record = json.loads(path.read_text())
    if record.get("seeds", [None])[0] != getattr(params, "seed", None):
        return table
    return table.with_stability(record["chapters"].get(name, {}), record["seeds"],
                                f"{record['profile']} profile, commit {record.get('commit') or '?'}, "
                                f"{record.get('date', '?')}")

