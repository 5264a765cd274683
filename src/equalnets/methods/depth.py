"""Prediction depth (Baldock, Maennel & Neyshabur 2021): how many layers a network needs before its
k-nearest-neighbour probes settle on the prediction it finally makes for an input.

A network of L weighted layers has L + 1 probes: l = 0 reads the input, 1 ≤ l < L the representation
after weighted layer l (the input of weighted layer l + 1: its activation, pooling and dropout
applied; dropout is off in eval mode), and l = L the softmax output. Each probe is a k-NN classifier
(:func:`knn_probe`) whose support set is the network's training rows at that layer, with the labels
it was trained on; a training row is left out of its own vote. The depth of an example
(:func:`prediction_depth`) is the first probe from which every later probe agrees with the
network's prediction.

:func:`layer_representations` collects the representations (forward pre-hooks on the weighted
layers, each flattened); :func:`member_probes` runs every probe of one network on both splits;
:func:`run_depths` does so for the members of a stored run and caches the arrays in the store
(``RunStore.artifact``, keyed by the run and the probe parameters).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..engine.checks import check_choice, check_int
from ..engine.data import Dataset
from ..engine.store import Run, RunStore
from ..engine.train import train_labels

#: Distances of the probes: Euclidean (the paper's reading here), or cosine (Euclidean distance of the
#: rows scaled to unit length: the same order of neighbours as 1 − cosine similarity).
METRICS = ("euclidean", "cosine")
#: What a cached depth means: bumped whenever :func:`layer_representations` or :func:`knn_probe` changes
#: (part of every cache key). v2: a tied vote goes to the lowest label (scikit-learn's rule).
LAYERS_VERSION = "weighted-inputs-v1/ties-lowest-label"
#: Entries of a distance block (query rows × support rows) computed at once: 64 MiB of float32.
BLOCK = 1 << 24


def _as_matrix(name: str, value: Any) -> torch.Tensor:
    """A finite, non-empty (rows, D) float32 tensor from a NumPy array, a tensor or a nested list."""
    t = value.detach() if isinstance(value, torch.Tensor) else torch.as_tensor(np.asarray(value))
    if t.dtype == torch.bool or not (t.is_floating_point() or t.dtype in (torch.int8, torch.int16, torch.int32,
                                                                           torch.int64, torch.uint8)):
        raise ValueError(f"{name} must hold numbers (a (rows, D) float array), got dtype {t.dtype}")
    if t.ndim != 2 or 0 in t.shape:
        raise ValueError(f"{name} must be a non-empty 2-D array (rows, D), got shape {tuple(t.shape)}")
    t = t.float()
    if not torch.isfinite(t).all():
        raise ValueError(f"{name} must be finite (no NaN or inf)")
    return t


def _as_labels(name: str, value: Any, length: int | None = None, *, what: str = "rows") -> np.ndarray:
    """A non-negative integer (M,) NumPy array (of ``length`` entries where given)."""
    a = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
    if a.ndim != 1 or a.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array of labels, got shape {a.shape}")
    if not np.issubdtype(a.dtype, np.integer) or a.dtype == bool:
        raise ValueError(f"{name} must hold integer labels, got dtype {a.dtype}")
    if length is not None and len(a) != length:
        raise ValueError(f"{name} must have one label per {what} ({length}), got {len(a)}")
    if a.min() < 0:
        raise ValueError(f"{name} must be non-negative class indices, got {a.min()}")
    return a.astype(np.int64)


def knn_probe(support: Any, support_labels: Any, query: Any, k: int = 30, exclude_self: bool = False,
              metric: str = "euclidean") -> np.ndarray:
    """The majority label of the ``k`` nearest support points of every query row.

    ``support`` ``(S, D)`` float, ``support_labels`` ``(S,)`` int ≥ 0, ``query`` ``(Q, D)`` float →
    ``(Q,)`` int64. ``exclude_self=True`` says that ``query`` *is* ``support`` (row i the same point):
    row i is then left out of its own vote (it needs ``Q == S`` and ``k ≤ S − 1``). ``metric`` is
    ``'euclidean'`` or ``'cosine'`` (rows scaled to unit length first; a zero row stays zero).

    Deterministic ties, as scikit-learn's ``KNeighborsClassifier`` (uniform weights) breaks them:
    neighbours are ordered by distance, equal distances by the lower support index; a tie in the vote
    goes to the lowest of the tied labels. Torch ``cdist`` and ``topk`` in blocks of query rows, on
    the device of ``support`` if it is a tensor; no loop over examples.
    """
    check_choice("metric", metric, METRICS)
    if not isinstance(exclude_self, (bool, np.bool_)):
        raise ValueError(f"exclude_self must be True or False, got {exclude_self!r}")
    device = support.device if isinstance(support, torch.Tensor) else torch.device("cpu")
    s = _as_matrix("support", support).to(device)
    q = _as_matrix("query", query).to(device)
    labels = _as_labels("support_labels", support_labels, len(s), what="support row")
    if q.shape[1] != s.shape[1]:
        raise ValueError(f"query must have the support's D = {s.shape[1]} columns, got {q.shape[1]}")
    if exclude_self and q.shape[0] != s.shape[0]:
        raise ValueError(f"exclude_self=True needs query = support (the same {s.shape[0]} rows), got {q.shape[0]} "
                         "query rows")
    available = len(s) - int(bool(exclude_self))
    k = check_int("k", k, 1, available, why=f" (the support points {'other than the query itself ' if exclude_self else ''}"
                                          "that can vote)")
    if metric == "cosine":
        s, q = F.normalize(s, dim=1), F.normalize(q, dim=1)
    y = torch.as_tensor(labels, device=device)
    n_classes = int(labels.max()) + 1
    index = torch.arange(len(s), device=device, dtype=torch.int64)
    out = torch.empty(len(q), dtype=torch.int64, device=device)
    rows = max(1, BLOCK // len(s))
    for start in range(0, len(q), rows):  # blocks of query rows bound the memory, not a loop over examples
        block = q[start:start + rows]
        d = torch.cdist(block, s).clamp_min_(0) + 0.0  # + 0.0 turns -0.0 into 0.0 for the bit order below
        if exclude_self:
            own = torch.arange(start, start + len(block), device=device)
            d[torch.arange(len(block), device=device), own] = float("inf")
        # Distance, then support index, as one int64 key: the bits of a non-negative float32 keep its order.
        key = (d.float().view(torch.int32).to(torch.int64) << 32) | index
        nearest = key.topk(k, dim=1, largest=False, sorted=True).indices           # (rows, k) nearest first
        counts = F.one_hot(y[nearest], n_classes).sum(dim=1)                       # (rows, classes)
        out[start:start + len(block)] = counts.argmax(dim=1)  # the first (lowest) label of the most votes
    return out.cpu().numpy()


def prediction_depth(probe_pred: Any, final_pred: Any) -> np.ndarray:
    """The prediction depth of every example: ``probe_pred`` ``(L+1, M)`` int (probe l's label,
    l = 0 the input … L the softmax output) and ``final_pred`` ``(M,)`` int (the network's
    prediction) → ``(M,)`` int64, the smallest l such that every probe l′ ≥ l predicts
    ``final_pred``; L + 1 where the last probe disagrees."""
    probes = probe_pred.detach().cpu().numpy() if isinstance(probe_pred, torch.Tensor) else np.asarray(probe_pred)
    if probes.ndim != 2 or 0 in probes.shape:
        raise ValueError(f"probe_pred must be a non-empty (L+1, M) array (one row per probe), got shape {probes.shape}")
    if not np.issubdtype(probes.dtype, np.integer) or probes.dtype == bool:
        raise ValueError(f"probe_pred must hold integer labels, got dtype {probes.dtype}")
    if probes.min() < 0:
        raise ValueError(f"probe_pred must hold non-negative class indices, got {probes.min()}")
    final = _as_labels("final_pred", final_pred, probes.shape[1], what="example (column of probe_pred)")
    agree = probes == final[None, :]
    settled = np.logical_and.accumulate(agree[::-1], axis=0)  # settled[j]: the last j+1 probes all agree
    return (probes.shape[0] - settled.sum(axis=0)).astype(np.int64)


# --------------------------------------------------------------------------- the representations of a network

def weighted_modules(model: nn.Module) -> list[nn.Module]:
    """The Conv2d and Linear layers of a sequential network, in order: the layers probes count.
    ``ValueError`` for a network that is not an ``nn.Sequential`` (torchvision's ResNet and DenseNet
    branch: "the representation after layer l" is not one tensor there)."""
    if not isinstance(model, nn.Sequential):
        raise ValueError(f"model must be a sequential network (the st-VGG family, mlp or cnn), got "
                         f"{type(model).__name__}")
    layers = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    if not layers:
        raise ValueError("model has no Conv2d or Linear layer to probe")
    return layers


def n_probes(model: nn.Module) -> int:
    """L + 1: the number of probes of ``model`` (its weighted layers, and the input)."""
    return len(weighted_modules(model)) + 1


@torch.no_grad()
def layer_representations(model: nn.Module, x: torch.Tensor, *, layers: Sequence[int] | None = None,
                          batch_size: int = 500) -> dict[int, torch.Tensor]:
    """The representation of every row of ``x`` after each layer, flattened: layer → ``(n, D_l)``.

    Layer 0 is the input of the first weighted layer (the image as the network sees it), layer l
    (1 ≤ l < L) the input of weighted layer l + 1 (forward pre-hooks: the previous layer's
    activation, pooling and zero padding applied; dropout and batch norm in eval mode), layer L the
    softmax output. ``layers`` chooses some (default all); the network runs in eval mode, in batches,
    and keeps its mode. Rows stay on ``x``'s device.
    """
    weighted = weighted_modules(model)
    total = len(weighted) + 1
    chosen = list(range(total)) if layers is None else sorted({check_int("layer", int(l), 0, total - 1)
                                                               for l in layers})
    check_int("batch_size", batch_size, 1)
    if x.ndim < 2 or len(x) == 0:
        raise ValueError(f"x must be a non-empty batch of inputs, got shape {tuple(x.shape)}")
    seen: dict[int, list[torch.Tensor]] = {l: [] for l in chosen}
    handles = [weighted[l].register_forward_pre_hook(lambda mod, args, l=l: seen[l].append(args[0].flatten(1)))
               for l in chosen if l < len(weighted)]
    was_training = model.training
    model.eval()
    try:
        for i in range(0, len(x), batch_size):
            out = model(x[i:i + batch_size])
            if len(weighted) in seen:
                seen[len(weighted)].append(out.float().softmax(dim=1))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return {l: torch.cat(parts).float() for l, parts in seen.items()}


def probed_layers(model: nn.Module, layers: Sequence[int] | None = None) -> list[int]:
    """The layers whose probes are run: ``layers`` (default every one, 0 … L), sorted, with the softmax
    output L always included (the depth is anchored there); ``ValueError`` for a layer outside 0 … L."""
    total = n_probes(model)
    if layers is None:
        return list(range(total))
    if isinstance(layers, (str, bytes)) or not hasattr(layers, "__iter__"):
        raise ValueError(f"layers must be a list of layer numbers in [0, {total - 1}] or None (all), got {layers!r}")
    chosen = {check_int("every entry of layers", l, 0, total - 1) for l in layers}
    return sorted(chosen | {total - 1})


def member_probes(model: nn.Module, x_train: torch.Tensor, y_fit: Any, fit_rows: Any, x_test: torch.Tensor, *,
                  k: int = 30, metric: str = "euclidean", layers: Sequence[int] | None = None,
                  layers_per_pass: int | None = None, batch_size: int = 500) -> dict[str, np.ndarray]:
    """Every probe of one trained network on both splits, and its predictions.

    ``x_train`` ``(M_train, ...)`` every train row; ``fit_rows`` ``(S,)`` the rows it trained on (its
    support set) and ``y_fit`` ``(S,)`` the labels it trained on; ``x_test`` ``(M_test, ...)``.
    ``layers`` the probed layers (:func:`probed_layers`: default all, L always). Returns
    ``probe_train`` ``(P, M_train)`` and ``probe_test`` ``(P, M_test)`` (one row per probed layer, P
    = L + 1 by default), ``final_train`` ``(M_train,)`` and ``final_test`` ``(M_test,)`` (the
    network's predicted labels), int16, and ``layers`` ``(P,)``. A row in ``fit_rows`` is left out of
    its own vote; every other row is a query of the full support set. ``layers_per_pass`` bounds how
    many layers' representations are held at once (default: all).
    """
    fit = np.asarray(fit_rows)
    if fit.ndim != 1 or fit.size == 0 or not np.issubdtype(fit.dtype, np.integer):
        raise ValueError(f"fit_rows must be a non-empty 1-D array of train-row indices, got {fit!r}")
    if fit.min() < 0 or fit.max() >= len(x_train) or len(np.unique(fit)) != len(fit):
        raise ValueError(f"fit_rows must be distinct rows in [0, {len(x_train)})")
    y = _as_labels("y_fit", y_fit, len(fit), what="row of fit_rows")
    others = np.setdiff1d(np.arange(len(x_train)), fit)
    x_all = torch.cat([x_train, x_test])
    chosen = probed_layers(model, layers)
    step = len(chosen) if layers_per_pass is None else check_int("layers_per_pass", layers_per_pass, 1)
    probes = np.empty((len(chosen), len(x_all)), dtype=np.int16)
    rest = np.concatenate([others, len(x_train) + np.arange(len(x_test))])  # queries that vote with every support row
    final = np.empty(len(x_all), dtype=np.int16)
    for first in range(0, len(chosen), step):
        reps = layer_representations(model, x_all, layers=chosen[first:first + step], batch_size=batch_size)
        for l, rep in reps.items():
            row = chosen.index(l)
            support = rep[torch.as_tensor(fit, device=rep.device)]
            probes[row, fit] = knn_probe(support, y, support, k=k, exclude_self=True, metric=metric)
            probes[row, rest] = knn_probe(support, y, rep[torch.as_tensor(rest, device=rep.device)], k=k, metric=metric)
            if l == chosen[-1]:  # the softmax output: its argmax is the network's prediction
                final[:] = rep.argmax(dim=1).cpu().numpy()
    n = len(x_train)
    return {"probe_train": probes[:, :n], "probe_test": probes[:, n:], "final_train": final[:n], "final_test": final[n:],
            "layers": np.asarray(chosen)}


def layer_depth(probe_pred: Any, final_pred: Any, layers: Sequence[int]) -> np.ndarray:
    """:func:`prediction_depth` counted in layers when only ``layers`` (increasing, the last = L, the
    softmax output) were probed: ``probe_pred`` ``(P, M)`` one row per entry of ``layers`` → ``(M,)``
    the layer number of the first probe from which every later probe agrees (L + 1 where the last
    disagrees). With every layer probed it is :func:`prediction_depth`; otherwise the first probed
    layer after the last disagreeing one (an upper bound of the depth with every layer probed)."""
    layers = np.asarray(layers)
    if layers.ndim != 1 or len(layers) != np.shape(probe_pred)[0] or (np.diff(layers) <= 0).any():
        raise ValueError(f"layers must be increasing layer numbers, one per row of probe_pred, got {layers!r}")
    return np.append(layers, layers[-1] + 1)[prediction_depth(probe_pred, final_pred)]


def run_depths(run: Run, dataset: Dataset, *, k: int = 30, metric: str = "euclidean",
               members: Sequence[int] | None = None, layers: Sequence[int] | None = None,
               store: RunStore | None = None, device: str = "cpu") -> dict[str, np.ndarray]:
    """The probes and depths of ``members`` (default: all) of a stored run on both splits, at the probed
    ``layers`` (default all; :func:`probed_layers`); computed once and kept in ``store`` (default: the
    store the run was loaded from) as an artifact keyed by the run's key, ``k``, ``metric``, the
    members, the layers and :data:`LAYERS_VERSION`.

    Returns, with n members and P probed layers: ``members`` ``(n,)``; ``layers`` ``(P,)``;
    ``n_layers`` (L, as a 0-d array); ``probe_train`` ``(n, P, M_train)`` and ``probe_test`` ``(n, P,
    M_test)``; ``final_train`` / ``final_test`` ``(n, M)`` the members' predictions; ``depth_train`` /
    ``depth_test`` ``(n, M)`` (:func:`layer_depth`); ``trained`` ``(M_train,)`` bool, the train rows
    the members learnt from (``config.train_subset``; every row by default). The support set is a
    member's training rows with the labels it trained on (``label_noise`` included).
    """
    check_int("k", k, 1)
    check_choice("metric", metric, METRICS)
    chosen = list(range(run.n_models)) if members is None else [int(m) for m in members]
    if not chosen or any(not 0 <= m < run.n_models for m in chosen) or len(set(chosen)) != len(chosen):
        raise ValueError(f"members must be distinct members of the run, in [0, {run.n_models}), got {members!r}")
    store = store if store is not None else RunStore(run.path.parent)
    config = run.config
    n_train = len(run.train.labels)
    fit = np.arange(n_train) if config.train_subset is None else np.asarray(config.train_subset)
    first = run.model(chosen[0])
    probed = probed_layers(first, layers)

    def compute() -> dict[str, np.ndarray]:
        data = dataset.to(device)
        y_fit = train_labels(config, data).cpu().numpy()[fit]
        per_member = [member_probes((first if m == chosen[0] else run.model(m)).to(device), data.x_train, y_fit, fit,
                                    data.x_test, k=k, metric=metric, layers=probed) for m in chosen]
        out = {name: np.stack([p[name] for p in per_member]) for name in ("probe_train", "probe_test", "final_train",
                                                                          "final_test")}
        for s in ("train", "test"):
            out[f"depth_{s}"] = np.stack([layer_depth(p[f"probe_{s}"], p[f"final_{s}"], probed)
                                          for p in per_member]).astype(np.int16)
        trained = np.zeros(n_train, dtype=bool)
        trained[fit] = True
        return {"members": np.asarray(chosen), "layers": np.asarray(probed), "n_layers": np.asarray(probed[-1]),
                "trained": trained, **out}

    spec = {"run": config.key, "k": int(k), "metric": metric, "members": chosen, "layers": probed,
            "version": LAYERS_VERSION}
    return store.artifact("prediction-depth", spec, compute)
