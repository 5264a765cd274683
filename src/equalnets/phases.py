"""The four phases of learning (the paper's §3), found in a consistency trajectory by rule.

* initialisation: epoch 0, the untrained networks;
* beginning of learning: recorded epochs ≥ 1, before the first bi-modal one, whose consistency
  histogram (11 bins) has its mode at 0 (most examples wrong for every network);
* bi-modality: the recorded epochs whose distribution is clearly more bi-modal than a uniform
  one (Pearson's measure < 0.7; a continuous uniform gives 0.8, a uniform over the 11 values of
  N = 10 networks 0.78) with mass at both ends; the representative epoch is the most bi-modal
  one (the lowest measure);
* end of learning: the first recorded epoch at which at least 95 % of the examples have
  consistency 1, if any (the paper: easy data sets only).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .scores import bimodality

UNIFORM_PEARSON = 0.8  # a uniform distribution; a two-point one gives 0, a Gaussian 2
BIMODAL_BELOW = 0.7    # clearly below uniform, also for the discrete uniform over k/N
END_FRACTION = 0.95
END_MASS = 0.05        # 'mass at an end': at least 5 % of examples at consistency 0 (resp. 1)


PHASES = ("initialisation", "beginning of learning", "bi-modality", "end of learning", "transition")


@dataclass(frozen=True)
class Phases:
    """The phase of every recorded epoch and one representative epoch per phase seen.

    Representatives are indices into the recorded epochs (``None`` where a phase was not seen).
    """

    labels: tuple[str, ...]           # phase of every recorded epoch (one of PHASES)
    pearson: tuple[float, ...]        # Pearson's measure at every recorded epoch
    beginning: int | None
    bimodal: int | None
    end: int | None
    initialisation: int = 0

    def chosen(self) -> dict[str, int]:
        """The representative epoch index of every phase that was seen, in order."""
        named = {"initialisation": self.initialisation, "beginning of learning": self.beginning,
                 "bi-modality": self.bimodal, "end of learning": self.end}
        return {k: v for k, v in named.items() if v is not None}

    def count(self, phase: str) -> int:
        """Number of recorded epochs in ``phase``."""
        if phase not in PHASES:
            raise ValueError(f"phase must be one of {PHASES}, got {phase!r}")
        return sum(label == phase for label in self.labels)


def is_bimodal(consistency: np.ndarray) -> bool:
    """Pearson's measure < 0.7 (clearly below a uniform's 0.8), with at least 5 % of the examples
    at each end (consistency 0 and 1)."""
    c = np.asarray(consistency)
    p = bimodality(c)
    return bool(np.isfinite(p) and p < BIMODAL_BELOW and (c == 0).mean() >= END_MASS
                and (c == 1).mean() >= END_MASS)


def _mode_at_zero(consistency: np.ndarray) -> bool:
    return bool(np.histogram(consistency, bins=11, range=(0, 1))[0].argmax() == 0)


def find_phases(consistency_by_epoch: np.ndarray, epochs: np.ndarray) -> Phases:
    """Label the recorded epochs of ``(E, M)`` consistency scores (``epochs`` (E,), from 0).

    Precedence for an epoch ≥ 1: end of learning, then bi-modality, then beginning of learning
    (mode at 0, before the first bi-modal epoch), else transition.
    """
    c = np.asarray(consistency_by_epoch)
    epochs = np.asarray(epochs)
    if c.ndim != 2 or c.shape[0] != len(epochs) or c.size == 0:
        raise ValueError(f"consistency_by_epoch must be (E, M) with E = len(epochs) = {len(epochs)}, "
                         f"got {c.shape}")
    if epochs[0] != 0:
        raise ValueError("epochs must start at 0 (the untrained networks)")
    pearson = tuple(bimodality(row) for row in c)
    labels = ["initialisation"]
    seen_bimodal = False
    for row in c[1:]:
        if (row == 1).mean() >= END_FRACTION:
            labels.append("end of learning")
        elif is_bimodal(row):
            labels.append("bi-modality")
            seen_bimodal = True
        elif _mode_at_zero(row) and not seen_bimodal:
            labels.append("beginning of learning")
        else:
            labels.append("transition")
    first = {p: next((i for i, lab in enumerate(labels) if lab == p), None) for p in PHASES}
    bimodal_idx = [i for i, lab in enumerate(labels) if lab == "bi-modality"]
    bimodal = min(bimodal_idx, key=lambda i: pearson[i]) if bimodal_idx else None
    return Phases(labels=tuple(labels), pearson=pearson, beginning=first["beginning of learning"],
                  bimodal=bimodal, end=first["end of learning"])
