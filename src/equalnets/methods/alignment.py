"""Random-label alignment (Maennel et al. 2020): how the covariance of a network's first-layer filters
lines up with the covariance of its inputs.

Every function is NumPy in, NumPy out. The covariances are second moments (``E[x xᵀ]``, no mean
subtracted): a first layer starts from zero-mean weights, and N(0, Σ_w) (the engine's
``covariance`` initialisation) is defined by the second moment of the filters.

* :func:`weight_covariance` Σ_w of flattened filters ``(..., filters, fan-in)``;
  :func:`data_covariance` Σ_x of inputs, flattened (a fully connected first layer) or cut into the
  patches a convolution of a given kernel sees (a convolutional one), in the order in which
  ``Conv2d.weight.flatten(1)`` lists a filter's entries.
* :func:`misalignment` (the contract): Σᵢ [√((vᵢᵀ Σ_w vᵢ)(vᵢᵀ Σ_w⁻¹ vᵢ)) − 1] over the unit eigenvectors
  vᵢ of Σ_x; :func:`basis_misalignment` the same sum over any orthonormal basis (a random one is the
  reference the paper compares with: :func:`random_bases`).
* :func:`transfer_function` f(σᵢ) = √(vᵢᵀ Σ_w vᵢ) against σᵢ = √(eigenvalue i of Σ_x).

**Repeated eigenvalues of Σ_x.** Within an eigenspace of dimension k > 1 the eigenvectors are not
unique, and the per-vector term depends on which basis is taken. This module uses the one
basis-independent reading: the k terms of an eigenspace E (orthonormal basis U) are replaced by
k·[√(tr(Uᵀ Σ_w U)/k · tr(Uᵀ Σ_w⁻¹ U)/k) − 1], i.e. each vector's two quadratic forms by their mean over
the unit sphere of E. By Cauchy–Schwarz this is ≥ 0, and 0 exactly when Σ_w U = λU: when *every* unit
vector of E (every unit eigenvector of Σ_x) is an eigenvector of Σ_w, the paper's "each eigenspace of
Σ_x lies within an eigenspace of Σ_w". For a simple eigenvalue it is the paper's term. Eigenvalues
count as equal when they differ by at most ``rtol`` times the largest (default 1e-8): sample
covariances have none, hand-made ones (``diag(1, 1, 2)``) do. :func:`transfer_function` uses the same
eigenspace means.

Each term is computed in a form that cannot round below 0: with Σ_w = Q diag(μ) Qᵀ and pⱼ the weight of
eigenvector j of Σ_w in the direction (pⱼ = (Qᵀv)ⱼ²), (Σ μⱼpⱼ)(Σ pⱼ/μⱼ) = 1 + δ with
δ = ½ Σⱼₖ pⱼpₖ (μⱼ − μₖ)² / (μⱼμₖ) ≥ 0, and the term is √(1 + δ) − 1 = δ / (√(1 + δ) + 1).
"""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

from ..engine.checks import check_int, check_probability

#: Eigenvalues of Σ_x closer than this times the largest are one eigenspace (see the module docstring).
EIGEN_RTOL = 1e-8
#: A matrix whose smallest eigenvalue is at most this times its largest counts as singular.
SINGULAR_RTOL = 1e-12
#: Weights pⱼ = (qⱼᵀv)² below this are rounding (an angle under 1e-10 rad between computed eigenvectors)
#: and count as 0, so that aligned matrices give exactly 0 whatever their common rotation.
TINY_WEIGHT = 1e-20


# --------------------------------------------------------------------------- checks

def _square(name: str, a: np.ndarray | list) -> np.ndarray:
    try:
        a = np.asarray(a, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a (D, D) array of numbers") from None
    if a.ndim != 2 or a.shape[0] != a.shape[1] or a.shape[0] == 0:
        raise ValueError(f"{name} must be a square (D, D) matrix with D >= 1, got shape {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError(f"{name} has non-finite entries")
    scale = max(float(np.abs(a).max()), np.finfo(float).tiny)
    if np.abs(a - a.T).max() > 1e-8 * scale:
        raise ValueError(f"{name} must be symmetric (largest |a - aᵀ| is {np.abs(a - a.T).max():.3g})")
    return (a + a.T) / 2


def _eigh(name: str, a: np.ndarray, *, definite: bool) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (ascending) and eigenvectors of a checked symmetric matrix; positive definite
    (``definite``) or semi-definite, else ``ValueError`` naming ``name``."""
    values, vectors = np.linalg.eigh(a)
    top = max(float(np.abs(values).max()), np.finfo(float).tiny)
    if definite and values[0] <= SINGULAR_RTOL * top:
        raise ValueError(f"{name} must be positive definite: its smallest eigenvalue is {values[0]:.3g} "
                         f"(largest {values[-1]:.3g}), so it is singular or indefinite")
    if not definite and values[0] < -1e-10 * top:
        raise ValueError(f"{name} must be positive semi-definite: it has the eigenvalue {values[0]:.3g}")
    return values, vectors


def _orthonormal(name: str, basis: np.ndarray | list, d: int) -> np.ndarray:
    """``(B, D, D)`` bases (one ``(D, D)`` basis becomes B = 1), their columns orthonormal."""
    basis = np.asarray(basis, dtype=np.float64)
    if basis.ndim == 2:
        basis = basis[None]
    if basis.ndim != 3 or basis.shape[1:] != (d, d):
        raise ValueError(f"{name} must be a (D, D) matrix of orthonormal columns or a stack (B, D, D) of them, "
                         f"D = {d}, got shape {basis.shape}")
    gram = np.einsum("bik,bil->bkl", basis, basis)
    if not np.allclose(gram, np.eye(d), atol=1e-6):
        raise ValueError(f"{name} must have orthonormal columns (uᵀu = 1, uᵀv = 0)")
    return basis


# --------------------------------------------------------------------------- covariances

def weight_covariance(filters: np.ndarray) -> np.ndarray:
    """Σ_w of a layer's filters: ``(..., F, D)`` (F filters of fan-in D, e.g. ``Run.first_layer``
    ``(N, E, F, D)``) → ``(..., D, D)``, the second moment Wᵀ W / F of each stack of filters."""
    w = np.asarray(filters, dtype=np.float64)
    if w.ndim < 2 or w.shape[-2] == 0 or w.shape[-1] == 0:
        raise ValueError(f"filters must be (..., filters, fan-in) with at least one filter, got shape {w.shape}")
    if not np.isfinite(w).all():
        raise ValueError("filters has non-finite entries")
    return np.einsum("...fi,...fj->...ij", w, w) / w.shape[-2]


def data_covariance(images: np.ndarray | torch.Tensor, patch: int | None = None) -> np.ndarray:
    """Σ_x of a data set: ``images`` ``(n, C, H, W)`` (or ``(n, D)`` with ``patch=None``) → ``(D, D)``.

    ``patch=None``: the second moment of the flattened inputs (D = C·H·W), what a fully connected first
    layer sees. ``patch=k``: the second moment of every k×k patch of every image (stride 1, no padding),
    D = C·k·k in the order of ``Conv2d.weight.flatten(1)`` (channel, then row, then column), what a
    convolutional first layer of kernel k sees.
    """
    x = torch.as_tensor(np.asarray(images) if not isinstance(images, torch.Tensor) else images.detach().cpu()).double()
    if x.ndim < 2 or len(x) == 0:
        raise ValueError(f"images must be (n, C, H, W) or (n, D) with n >= 1, got shape {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise ValueError("images has non-finite entries")
    if patch is None:
        flat = x.flatten(1)
        return (flat.T @ flat / len(flat)).numpy()
    check_int("patch", patch, 1, why=" (the kernel size) or None")
    if x.ndim != 4 or min(x.shape[-2:]) < patch:
        raise ValueError(f"images must be (n, C, H, W) with H, W >= patch={patch} for patches, got shape "
                         f"{tuple(x.shape)}")
    total = torch.zeros(x.shape[1] * patch * patch, x.shape[1] * patch * patch, dtype=torch.float64)
    count = 0
    for start in range(0, len(x), 256):  # (chunk, D, positions): a few MB at a time
        cols = F.unfold(x[start:start + 256], patch)
        total += torch.einsum("ndl,nel->de", cols, cols)
        count += cols.shape[0] * cols.shape[2]
    return (total / count).numpy()


# --------------------------------------------------------------------------- eigenspaces

def _eigenspaces(values: np.ndarray, rtol: float) -> np.ndarray:
    """Group index of each eigenvalue (ascending): neighbours within ``rtol`` × the largest share one."""
    top = max(float(np.abs(values).max()), np.finfo(float).tiny)
    return np.concatenate([[0], np.cumsum(np.diff(values) > rtol * top)])


def _space_weights(vectors: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """``(D directions, D)`` weights: row i is the mean over direction i's eigenspace of the squared
    coordinates of its basis vectors (columns of ``vectors``) in another basis already applied."""
    squared = vectors ** 2                               # (D coordinates, D directions)
    n_groups = groups[-1] + 1
    sums = np.zeros((squared.shape[0], n_groups))
    np.add.at(sums.T, groups, squared.T)
    sizes = np.bincount(groups, minlength=n_groups)
    return (sums / sizes).T[groups]                      # (D directions, D coordinates)


def _terms(mu: np.ndarray, p: np.ndarray) -> np.ndarray:
    """√((Σ μp)(Σ p/μ)) − 1 per row of ``p`` (weights summing to 1), in the form that is ≥ 0 (module doc)."""
    ratio = (mu[:, None] - mu[None, :]) ** 2 / (mu[:, None] * mu[None, :])
    p = np.where(p < TINY_WEIGHT, 0.0, p)
    delta = 0.5 * np.einsum("...j,jk,...k->...", p, ratio, p)
    return delta / (np.sqrt(1 + delta) + 1)


def _check_rtol(rtol: float) -> float:
    return check_probability("rtol", rtol)


# --------------------------------------------------------------------------- the measures

def misalignment(cov_w: np.ndarray, cov_x: np.ndarray, *, rtol: float = EIGEN_RTOL) -> float:
    """Σᵢ [√((vᵢᵀ Σ_w vᵢ)(vᵢᵀ Σ_w⁻¹ vᵢ)) − 1] over the unit eigenvectors vᵢ of ``cov_x``.

    ``cov_w``, ``cov_x``: ``(D, D)`` symmetric positive definite (``ValueError`` naming the argument for
    a non-square, non-symmetric, singular or indefinite one). ≥ 0, and 0 exactly when every unit
    eigenvector of ``cov_x`` is an eigenvector of ``cov_w``; an eigenvalue of ``cov_x`` repeated k times
    (within ``rtol`` × the largest) contributes k times the term of its eigenspace's mean quadratic forms
    (module docstring), which makes the value independent of the basis chosen within it.
    """
    w = _square("cov_w", cov_w)
    x = _square("cov_x", cov_x)
    if w.shape != x.shape:
        raise ValueError(f"cov_w and cov_x must have the same shape, got {w.shape} and {x.shape}")
    rtol = _check_rtol(rtol)
    mu, q = _eigh("cov_w", w, definite=True)
    values, vectors = _eigh("cov_x", x, definite=True)
    p = _space_weights(q.T @ vectors, _eigenspaces(values, rtol))
    return float(_terms(mu, p).sum())


def basis_misalignment(cov_w: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """The misalignment of ``cov_w`` ``(D, D)`` (symmetric positive definite) to orthonormal bases:
    ``basis`` ``(D, D)`` (columns) → a float, or ``(B, D, D)`` → ``(B,)``: Σ over the columns u of
    √((uᵀ Σ_w u)(uᵀ Σ_w⁻¹ u)) − 1. With the eigenvectors of Σ_x (simple eigenvalues) it is
    :func:`misalignment`; with :func:`random_bases` it is the paper's reference."""
    w = _square("cov_w", cov_w)
    mu, q = _eigh("cov_w", w, definite=True)
    single = np.asarray(basis).ndim == 2
    bases = _orthonormal("basis", basis, len(w))
    p = np.einsum("ji,bjk->bki", q, bases) ** 2          # (B, directions, coordinates)
    out = _terms(mu, p).sum(axis=1)
    return float(out[0]) if single else out


def random_bases(d: int, n: int, *, seed: int = 0) -> np.ndarray:
    """``(n, d, d)`` orthonormal bases drawn uniformly (Haar): the QR of Gaussian matrices with the signs
    of R's diagonal moved into Q."""
    for name, value in (("d", d), ("n", n)):
        check_int(name, value, 1)
    gauss = np.random.default_rng(seed).standard_normal((n, d, d))
    q, r = np.linalg.qr(gauss)
    return q * np.sign(np.diagonal(r, axis1=1, axis2=2))[:, None, :]


def transfer_function(cov_w: np.ndarray, cov_x: np.ndarray, *,
                      rtol: float = EIGEN_RTOL) -> tuple[np.ndarray, np.ndarray]:
    """f(σᵢ) = √(vᵢᵀ Σ_w vᵢ) over the eigen-directions of Σ_x: ``(D, D)`` each (symmetric positive
    semi-definite) → ``(sigma, f)``, each ``(D,)``, σᵢ = √(eigenvalue i of ``cov_x``) in ascending order.
    Within a repeated eigenvalue of ``cov_x`` every direction gets the eigenspace's mean of vᵀ Σ_w v."""
    w = _square("cov_w", cov_w)
    x = _square("cov_x", cov_x)
    if w.shape != x.shape:
        raise ValueError(f"cov_w and cov_x must have the same shape, got {w.shape} and {x.shape}")
    rtol = _check_rtol(rtol)
    _eigh("cov_w", w, definite=False)
    values, vectors = _eigh("cov_x", x, definite=False)
    groups = _eigenspaces(values, rtol)
    quad = np.einsum("ji,jk,ki->i", vectors, w, vectors)   # vᵢᵀ Σ_w vᵢ
    means = np.bincount(groups, weights=quad) / np.bincount(groups)
    return np.sqrt(np.clip(values, 0, None)), np.sqrt(np.clip(means[groups], 0, None))
