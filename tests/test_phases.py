import numpy as np
import pytest

from equalnets.phases import find_phases, is_bimodal


def synthetic_trajectory() -> np.ndarray:
    """Consistency of 1,000 examples over 6 epochs: chance, beginning, bi-modal ×3, end."""
    rng = np.random.default_rng(0)
    m = 1000
    chance = rng.binomial(10, 0.2, m) / 10
    beginning = np.where(rng.uniform(size=m) < 0.8, 0.0, rng.uniform(0, 0.5, m).round(1))
    bimodal = [np.where(rng.uniform(size=m) < f, 1.0, 0.0) for f in (0.3, 0.5, 0.7)]
    end = np.where(rng.uniform(size=m) < 0.97, 1.0, 0.9)
    return np.stack([chance, beginning, *bimodal, end])


def test_phases_found_by_rule():
    phases = find_phases(synthetic_trajectory(), np.arange(6))
    assert phases.labels == ("initialisation", "beginning of learning", "bi-modality", "bi-modality",
                             "bi-modality", "end of learning")
    assert phases.chosen() == {"initialisation": 0, "beginning of learning": 1, "bi-modality": 3,
                               "end of learning": 5}
    assert phases.count("bi-modality") == 3


def test_is_bimodal():
    assert is_bimodal(np.array([0.0, 1.0] * 10))
    assert not is_bimodal(np.linspace(0, 1, 11))
    assert not is_bimodal(np.ones(10))


def test_find_phases_bad_input():
    with pytest.raises(ValueError, match="consistency_by_epoch"):
        find_phases(np.zeros((3, 4)), np.arange(2))
    with pytest.raises(ValueError, match="epochs"):
        find_phases(np.zeros((2, 4)), np.array([1, 2]))
