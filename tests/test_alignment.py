"""Tests of equalnets.methods.alignment: the misalignment contract on hand-made covariances (aligned,
rotated, repeated eigenvalues, bad input), the random bases, the transfer function and the covariances."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from equalnets.methods import alignment as al


def rotation(d: int, seed: int = 0) -> np.ndarray:
    return al.random_bases(d, 1, seed=seed)[0]


def direct(cov_w: np.ndarray, vectors: np.ndarray) -> float:
    """The contract's formula, term by term, over the columns of ``vectors``."""
    inv = np.linalg.inv(cov_w)
    return float(sum(np.sqrt((v @ cov_w @ v) * (v @ inv @ v)) - 1 for v in vectors.T))


# --------------------------------------------------------------------------- misalignment

def test_aligned_matrices_give_exactly_zero():
    cov_x = np.diag([0.1, 0.5, 1.0, 3.0])
    assert al.misalignment(np.diag([4.0, 3.0, 2.0, 1.0]), cov_x) == 0.0   # other eigenvalues, same axes
    assert al.misalignment(cov_x, cov_x) == 0.0
    r = rotation(4)
    assert al.misalignment(r @ np.diag([4.0, 3, 2, 1]) @ r.T, r @ cov_x @ r.T) == 0.0  # rounding is not misalignment
    a = np.random.default_rng(1).standard_normal((6, 6))
    spd = a @ a.T + 0.1 * np.eye(6)
    assert al.misalignment(spd, spd) == 0.0
    assert al.misalignment(spd, np.linalg.inv(spd)) == 0.0


def test_a_rotated_cov_w_is_misaligned_and_matches_the_formula():
    cov_x = np.diag(np.linspace(0.1, 3.0, 6))
    r = rotation(6, seed=3)
    cov_w = r @ np.diag([5.0, 4, 3, 2, 1, 0.5]) @ r.T
    value = al.misalignment(cov_w, cov_x)
    assert value > 0.1
    assert value == pytest.approx(direct(cov_w, np.eye(6)), rel=1e-10)
    # symmetric in the sense of the formula: the sum runs over cov_x's eigenvectors only
    assert al.misalignment(cov_w, r @ cov_x @ r.T) == pytest.approx(0, abs=1e-10)


def test_two_dimensional_case_by_hand():
    # v = (1, 1)/√2, Σ_w = diag(a, b): √(((a + b)/2)((1/a + 1/b)/2)) − 1 for both eigenvectors of Σ_x
    a, b = 4.0, 1.0
    c, s = np.cos(np.pi / 4), np.sin(np.pi / 4)
    v = np.array([[c, -s], [s, c]])
    cov_x = v @ np.diag([1.0, 2.0]) @ v.T
    expected = 2 * (np.sqrt((a + b) / 2 * (1 / a + 1 / b) / 2) - 1)
    assert al.misalignment(np.diag([a, b]), cov_x) == pytest.approx(expected, rel=1e-12)


def test_misalignment_is_never_negative_and_scale_free():
    rng = np.random.default_rng(0)
    for _ in range(20):
        a, b = rng.standard_normal((2, 5, 5))
        cov_w, cov_x = a @ a.T + 0.1 * np.eye(5), b @ b.T + 0.1 * np.eye(5)
        value = al.misalignment(cov_w, cov_x)
        assert value >= 0
        assert al.misalignment(7.0 * cov_w, 0.3 * cov_x) == pytest.approx(value, rel=1e-8)


def test_repeated_eigenvalues_use_the_whole_eigenspace():
    # Σ_x = I: every unit vector is an eigenvector, so only a scalar Σ_w is aligned
    assert al.misalignment(np.eye(3) * 2.5, np.eye(3)) == 0.0
    value = al.misalignment(np.diag([1.0, 2.0]), np.eye(2))
    # each of the 2 directions gets the eigenspace's mean quadratic forms: (1 + 2)/2 and (1 + 1/2)/2
    assert value == pytest.approx(2 * (np.sqrt(1.5 * 0.75) - 1), rel=1e-12)
    assert value > 0  # although eigh's basis of Σ_x (the axes) holds eigenvectors of Σ_w
    # the value does not depend on the basis chosen inside the eigenspace
    r = rotation(2, seed=5)
    assert al.misalignment(r @ np.diag([1.0, 2.0]) @ r.T, np.eye(2)) == pytest.approx(value, rel=1e-10)


def test_a_repeated_eigenspace_inside_one_eigenspace_of_cov_w_is_aligned():
    cov_x = np.diag([1.0, 1.0, 3.0])           # eigenspace span(e1, e2), and e3
    cov_w = np.diag([2.0, 2.0, 0.5])           # constant on span(e1, e2)
    assert al.misalignment(cov_w, cov_x) == 0.0
    assert al.misalignment(np.diag([2.0, 0.5, 2.0]), cov_x) > 0   # e1 and e2 split between two eigenvalues
    # nearly equal eigenvalues count as one eigenspace only within rtol
    near = np.diag([1.0, 1.0 + 1e-3, 3.0])
    assert al.misalignment(np.diag([2.0, 0.5, 2.0]), near) == pytest.approx(0, abs=1e-12)
    assert al.misalignment(np.diag([2.0, 0.5, 2.0]), near, rtol=1e-2) > 0


@pytest.mark.parametrize("cov_w, cov_x, name", [
    (np.ones((2, 3)), np.eye(2), "cov_w"),
    (np.eye(2), np.ones(4), "cov_x"),
    (np.zeros((0, 0)), np.eye(2), "cov_w"),
    (np.array([[1.0, 0.5], [0.0, 1.0]]), np.eye(2), "cov_w"),        # not symmetric
    (np.eye(2), np.array([[1.0, 0.2], [0.3, 1.0]]), "cov_x"),
    (np.diag([1.0, 0.0]), np.eye(2), "cov_w"),                        # singular
    (np.eye(2), np.diag([1.0, 0.0]), "cov_x"),
    (np.diag([1.0, -1.0]), np.eye(2), "cov_w"),                       # indefinite
    (np.array([[1.0, np.nan], [np.nan, 1.0]]), np.eye(2), "cov_w"),
    (np.eye(2), np.eye(3), "same shape"),
    ([["a", "b"], ["c", "d"]], np.eye(2), "cov_w"),
])
def test_bad_input_names_the_argument(cov_w, cov_x, name):
    with pytest.raises(ValueError, match=name):
        al.misalignment(cov_w, cov_x)


def test_bad_rtol():
    with pytest.raises(ValueError, match="rtol"):
        al.misalignment(np.eye(2), np.eye(2), rtol=-1)


# --------------------------------------------------------------------------- bases

def test_random_bases_are_orthonormal_and_repeatable():
    bases = al.random_bases(4, 5, seed=2)
    assert bases.shape == (5, 4, 4)
    assert np.allclose(np.einsum("bik,bil->bkl", bases, bases), np.eye(4))
    assert np.array_equal(bases, al.random_bases(4, 5, seed=2)) and not np.allclose(bases, al.random_bases(4, 5, seed=3))
    with pytest.raises(ValueError, match="d must"):
        al.random_bases(0, 1)


def test_basis_misalignment_matches_the_formula_and_misalignment():
    cov_x = np.diag(np.linspace(0.1, 3.0, 5))
    cov_w = np.diag([3.0, 1, 2, 5, 4])
    bases = al.random_bases(5, 3, seed=1)
    values = al.basis_misalignment(cov_w, bases)
    assert values.shape == (3,)
    assert values == pytest.approx([direct(cov_w, b) for b in bases], rel=1e-10)
    assert al.basis_misalignment(cov_w, np.eye(5)) == al.misalignment(cov_w, cov_x) == 0.0
    with pytest.raises(ValueError, match="basis"):
        al.basis_misalignment(cov_w, np.ones((5, 5)))
    with pytest.raises(ValueError, match="basis"):
        al.basis_misalignment(cov_w, np.eye(4))


# --------------------------------------------------------------------------- transfer function

def test_transfer_function_reads_cov_w_along_the_data_directions():
    cov_x = np.diag([3.0, 0.1, 1.0])
    cov_w = np.diag([9.0, 4.0, 1.0])
    sigma, f = al.transfer_function(cov_w, cov_x)
    assert sigma == pytest.approx(np.sqrt([0.1, 1.0, 3.0]))        # ascending
    assert f == pytest.approx([2.0, 1.0, 3.0])                     # √ of Σ_w along e2, e3, e1
    # a repeated eigenvalue: the eigenspace's mean of vᵀ Σ_w v
    sigma, f = al.transfer_function(np.diag([1.0, 9.0, 4.0]), np.diag([1.0, 1.0, 2.0]))
    assert f == pytest.approx([np.sqrt(5.0), np.sqrt(5.0), 2.0])
    # a singular Σ_w (fewer filters than fan-in) is allowed here
    assert al.transfer_function(np.diag([1.0, 0.0]), np.eye(2))[1] == pytest.approx([np.sqrt(0.5)] * 2)
    with pytest.raises(ValueError, match="cov_w"):
        al.transfer_function(np.diag([1.0, -1.0]), np.eye(2))


# --------------------------------------------------------------------------- covariances

def test_weight_covariance_is_the_second_moment_over_filters():
    w = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    assert al.weight_covariance(w) == pytest.approx(w.T @ w / 3)
    stacked = al.weight_covariance(np.stack([w, 2 * w]))
    assert stacked.shape == (2, 2, 2) and stacked[1] == pytest.approx(4 * w.T @ w / 3)
    with pytest.raises(ValueError, match="filters"):
        al.weight_covariance(np.ones(3))


def test_data_covariance_of_inputs_and_of_patches():
    x = np.random.default_rng(0).standard_normal((50, 2, 4, 4))
    flat = x.reshape(50, -1)
    assert al.data_covariance(x) == pytest.approx(flat.T @ flat / 50)
    cov = al.data_covariance(x, patch=3)
    patches = np.stack([x[n, :, i:i + 3, j:j + 3].ravel() for n in range(50) for i in range(2) for j in range(2)])
    assert cov.shape == (18, 18) and cov == pytest.approx(patches.T @ patches / len(patches))
    # the patch order is the order of a convolution's flattened filter: filter · patch = the conv's output
    conv = nn.Conv2d(2, 1, 3, bias=False)
    with torch.no_grad():
        out = conv(torch.as_tensor(x[:1], dtype=torch.float32))[0, 0, 0, 0].item()
    assert out == pytest.approx(float(conv.weight.detach().flatten().numpy() @ patches[0]), rel=1e-5)
    for bad in (dict(patch=0), dict(patch=5), dict(patch=True)):
        with pytest.raises(ValueError, match="patch|images"):
            al.data_covariance(x, **bad)
    with pytest.raises(ValueError, match="images"):
        al.data_covariance(np.zeros((0, 3)))
