"""The claims table that ends every chapter: each claim of a paper section, the paper's number, this
book's number, and the verdict of a rule stated beside it."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable, Mapping, Sequence

import pandas as pd

VERDICTS = ("reproduced", "partly", "not reproduced")
#: The start of the stability cell of a claim whose verdict differs between seeds.
UNSTABLE = "unstable at this scale"


@dataclass
class ClaimsTable:
    """Claims of a paper section against this book's numbers, with a verdict decided by a rule."""

    rows: list[dict[str, str]] = field(default_factory=list)
    stability_source: str = ""  # what measured the stability column (:meth:`with_stability`)

    def add(self, claim: str, paper: str, ours: str, verdict: str, rule: str, reference: str = "") -> None:
        """Add one claim; ``verdict`` must be one of :data:`VERDICTS`; ``reference`` is the value the rule
        compares ours with (a null ensemble's, a base rate, the paper's number), computed in the same run."""
        if verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {verdict!r}")
        self.rows.append({"claim": claim, "paper": paper, "this book": ours, "reference": reference,
                          "verdict": verdict, "rule": rule})

    def check(self, claim: str, paper: str, ours: str, rule: str, passed: bool,
              partly: bool = False, reference: str = "") -> None:
        """Add a claim whose verdict is ``passed`` → reproduced, else ``partly`` → partly, else not."""
        verdict = "reproduced" if passed else ("partly" if partly else "not reproduced")
        self.add(claim, paper, ours, verdict, rule, reference)

    def verdict(self, claim: str) -> str:
        """The verdict of the claim named ``claim`` (its text as added)."""
        found = [r["verdict"] for r in self.rows if r["claim"] == claim]
        if len(found) != 1:
            raise KeyError(f"no single claim {claim!r} in the table; it has {[r['claim'] for r in self.rows]}")
        return found[0]

    def with_stability(self, verdicts: Mapping[str, Sequence[str]], seeds: Sequence[int], source: str) -> "ClaimsTable":
        """A copy with a ``stability`` column: for each claim, its verdicts with each of ``seeds``
        (``verdicts``: claim → one verdict per seed, measured by ``source``) are "stable", or
        "unstable at this scale" with each seed's verdict; "not measured" for a claim not in them."""
        rows = []
        for row in self.rows:
            got = verdicts.get(" ".join(row["claim"].split()))  # as a page shows it: blanks collapsed
            if got is None:
                cell = "not measured"
            elif len(set(got)) == 1:
                cell = f"stable (seeds {', '.join(map(str, seeds))})"
            else:
                cell = f"{UNSTABLE} (" + "; ".join(f"seed {s}: {v}" for s, v in zip(seeds, got)) + ")"
            rows.append({**row, "stability": cell})
        return replace(self, rows=rows, stability_source=source)

    def frame(self) -> pd.DataFrame:
        columns = ["claim", "paper", "this book", "reference", "verdict", "rule"]
        if any("stability" in r for r in self.rows):
            columns.insert(5, "stability")
        return pd.DataFrame(self.rows, columns=columns)

    def counts(self) -> dict[str, int]:
        """How many claims got each verdict."""
        return {v: sum(r["verdict"] == v for r in self.rows) for v in VERDICTS}

    def summary(self) -> str:
        """The counts in words, e.g. ``'7 reproduced, 2 not reproduced'`` (what the chapters glue),
        and how many are unstable at this scale where the table has a stability column."""
        words = ", ".join(f"{n} {v}" for v, n in self.counts().items() if n)
        if not self.stability_source:
            return words
        unstable = sum(r.get("stability", "").startswith(UNSTABLE) for r in self.rows)
        return words + f"; {unstable} {UNSTABLE}, another seed giving another verdict ({self.stability_source})"

    def styled(self) -> Any:
        """The table as a pandas Styler with verdicts coloured, for display in the book."""
        colours = {"reproduced": "#d9f2d9", "partly": "#fff2cc", "not reproduced": "#f8d7da"}
        style: Callable[[Any], str] = lambda v: f"background-color: {colours.get(v, '')}"
        frame = self.frame()
        styler = frame.style.map(style, subset=["verdict"])
        if "stability" in frame:
            unstable: Callable[[Any], str] = lambda v: "font-weight: bold" if str(v).startswith(UNSTABLE) else ""
            styler = styler.map(unstable, subset=["stability"])
        return styler.hide(axis="index")
