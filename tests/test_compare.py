import numpy as np
import pytest

from equalnets.compare import match_epochs


def test_match_epochs_pairs_within_tolerance():
    a = np.array([0.2, 0.4, 0.5, 0.6])
    b = np.array([0.21, 0.395, 0.58, 0.7])
    assert match_epochs(a, b, tol=0.01) == [(0, 0), (1, 1)]
    assert (3, 2) in match_epochs(a, b, tol=0.02)


def test_match_epochs_averages_members():
    a = np.array([[0.2, 0.5], [0.4, 0.7]])  # (N=2, E=2): means 0.3, 0.6
    assert match_epochs(a, np.array([0.6]), tol=0.001) == [(1, 0)]


@pytest.mark.parametrize("a, b, tol, name", [
    (np.array([]), np.array([0.5]), 0.01, "acc_a"),
    (np.array([0.5]), np.array([1.5]), 0.01, "acc_b"),
    (np.array([0.5]), np.array([0.5]), -1, "tol"),
])
def test_match_epochs_bad_input(a, b, tol, name):
    with pytest.raises(ValueError, match=name):
        match_epochs(a, b, tol)
