"""What every executed chapter prints and ends with: its parameters, its wall time, its claims table."""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import pandas as pd
import torch

VERDICTS = ("reproduced", "partly", "not reproduced")


@dataclass
class Chapter:
    """Wall-clock and parameters of one executed chapter; ``Chapter.start(globals-subset)``."""

    title: str
    params: dict[str, Any]
    started: float = field(default_factory=time.perf_counter)

    @classmethod
    def start(cls, title: str, **params: Any) -> "Chapter":
        chapter = cls(title, params)
        chapter.print_header()
        return chapter

    def print_header(self) -> None:
        print(f"{self.title}: run on {time.strftime('%Y-%m-%d %H:%M')} with torch {torch.__version__}, "
              f"python {platform.python_version()}, {torch.get_num_threads()} CPU threads")
        for key, value in self.params.items():
            print(f"  {key} = {value!r}")

    def elapsed(self) -> float:
        """Seconds since the chapter started."""
        return time.perf_counter() - self.started

    def finish(self) -> str:
        """One line with the chapter's wall time (also returned, for glue)."""
        line = f"{self.title}: wall time {self.elapsed() / 60:.1f} min ({self.elapsed():.0f} s)"
        print(line)
        return line


@dataclass
class ClaimsTable:
    """Claims of a paper section against this book's numbers, with a verdict decided by a rule."""

    rows: list[dict[str, str]] = field(default_factory=list)

    def add(self, claim: str, paper: str, ours: str, verdict: str, rule: str) -> None:
        """Add one claim; ``verdict`` must be one of :data:`VERDICTS`."""
        if verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {verdict!r}")
        self.rows.append({"claim": claim, "paper": paper, "this book": ours,
                          "verdict": verdict, "rule": rule})

    def check(self, claim: str, paper: str, ours: str, rule: str, passed: bool,
              partly: bool = False) -> None:
        """Add a claim whose verdict is ``passed`` → reproduced, else ``partly`` → partly, else not."""
        verdict = "reproduced" if passed else ("partly" if partly else "not reproduced")
        self.add(claim, paper, ours, verdict, rule)

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=["claim", "paper", "this book", "verdict", "rule"])

    def counts(self) -> dict[str, int]:
        """How many claims got each verdict."""
        return {v: sum(r["verdict"] == v for r in self.rows) for v in VERDICTS}

    def styled(self) -> Any:
        """The table as a pandas Styler with verdicts coloured, for display in the book."""
        colours = {"reproduced": "#d9f2d9", "partly": "#fff2cc", "not reproduced": "#f8d7da"}
        style: Callable[[Any], str] = lambda v: f"background-color: {colours.get(v, '')}"
        return self.frame().style.map(style, subset=["verdict"]).hide(axis="index")
