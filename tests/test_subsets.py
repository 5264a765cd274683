import numpy as np
import pytest

from equalnets.subsets import by_difficulty, complement


def test_easiest_and_hardest_pick_the_extremes():
    score = np.array([0.1, 0.9, 0.5, 1.0, 0.0, 0.7, 0.3, 0.2, 0.8, 0.6])
    assert by_difficulty(score, 0.2, "easiest").tolist() == [1, 3]
    assert by_difficulty(score, 0.2, "hardest").tolist() == [0, 4]
    rand = by_difficulty(score, 0.5, "random", seed=1)
    assert len(rand) == 5 and len(set(rand)) == 5
    assert by_difficulty(score, 0.5, "random", seed=1).tolist() == rand.tolist()


def test_ties_are_broken_at_random_not_by_position():
    score = np.ones(1000)
    picked = by_difficulty(score, 0.1, "easiest", seed=0)
    assert picked.max() > 500  # with positional tie-breaking every pick would be < 100


def test_complement_and_bad_input():
    assert complement(5, np.array([1, 3])).tolist() == [0, 2, 4]
    with pytest.raises(ValueError, match="rows must lie"):
        complement(3, np.array([3]))
    for args, match in [((np.ones((2, 2)), 0.1, "easiest"), "1-D"), ((np.array([np.nan]), 0.1, "easiest"), "NaN"),
                        ((np.ones(4), 0.0, "easiest"), "fraction"), ((np.ones(4), 1.5, "easiest"), "fraction"),
                        ((np.ones(4), 0.5, "middle"), "which")]:
        with pytest.raises(ValueError, match=match):
            by_difficulty(*args)
