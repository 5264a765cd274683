"""RunConfig: every parameter of one ensemble run, validated once and hashed for the run store."""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import numbers
import os
from dataclasses import asdict, dataclass, fields
from typing import Any

from .data import DATASETS
from .models import ACTIVATIONS, ARCHITECTURES, ZOO
from .train import OPTIMIZERS, PRECISIONS

#: Bumped whenever the member-file layout or what a config trains changes; part of every run's hash,
#: so a run stored by an older engine is never read as this one's. 1: first engine; 2: dropout
#: masks from 8-bit uniform integers (``train.dropout_mask``) instead of ``bernoulli_``.
FORMAT_VERSION = 2
LABELS = ("true", "random")
#: Fields added after format 1; at their default (None) they are left out of ``to_dict`` and the key.
ADDED_FIELDS = ("train_subset", "precision")


class ParameterError(ValueError):
    """A bad parameter; the message is one line that names it and the values it may take.
    A ``ValueError``, so code can catch either."""


@dataclass(frozen=True)
class RunConfig:
    """An ensemble of ``n_models`` networks trained on one data set, recorded at chosen epochs.

    Defaults are the paper's st-VGG protocol (Supp. A): SGD, batch 100, learning rate 0.05
    divided by 1.8 every 20 epochs, 140 epochs, N = 100.
    """

    dataset: str = "fashion-tops"
    train_per_class: int | None = None   # first k training images per class (None: data set default)
    test_per_class: int | None = None    # first k test images per class (None: data set default)
    labels: str = "true"                 # 'random': every training image gets a random label
    train_subset: tuple[int, ...] | None = None  # train only on these train-split rows; all are recorded
    arch: str = "st-vgg"
    width: float = 1.0
    activation: str = "relu"
    dropout: bool = True
    optimizer: str = "sgd"
    lr: float = 0.05
    momentum: float = 0.0
    weight_decay: float = 0.0
    batch_size: int = 100
    lr_decay: float = 1.8
    lr_decay_every: int = 20
    epochs: int = 140
    record_epochs: tuple[int, ...] | None = None  # None: every epoch 0..epochs
    n_models: int = 100
    seed: int = 0
    precision: str | None = None         # None or 'fp32': float32; 'bf16': bfloat16 autocast

    def __post_init__(self) -> None:
        _check_choice("dataset", self.dataset, DATASETS)
        _check_choice("labels", self.labels, LABELS)
        _check_choice("arch", self.arch, ARCHITECTURES)
        _check_choice("activation", self.activation, ACTIVATIONS)
        _check_choice("optimizer", self.optimizer, OPTIMIZERS)
        for name in ("train_per_class", "test_per_class"):
            value = getattr(self, name)
            if value is not None:
                _check_int(name, value, 1)
        for name, low in (("batch_size", 1), ("lr_decay_every", 0), ("epochs", 1),
                          ("n_models", 1), ("seed", 0)):
            _check_int(name, getattr(self, name), low)
        for name in ("width", "lr", "lr_decay", "momentum", "weight_decay"):
            _check_float(name, getattr(self, name), strictly_positive=name in ("width", "lr", "lr_decay"))
            object.__setattr__(self, name, float(getattr(self, name)))  # 1 and 1.0: one run, one hash
        if not isinstance(self.dropout, bool):
            raise ParameterError(f"dropout must be True or False, got {self.dropout!r}")
        if self.precision is not None:
            _check_choice("precision", self.precision, PRECISIONS)
            if self.precision == "fp32":  # the default, spelled out: one run, one hash
                object.__setattr__(self, "precision", None)
        if self.train_subset is not None:
            if isinstance(self.train_subset, (str, bytes)) or not hasattr(self.train_subset, "__iter__"):
                raise ParameterError(f"train_subset must be a list of train-split row indices or None "
                                     f"(train on every row), got {self.train_subset!r}")
            sub = tuple(self.train_subset)
            if not sub or any(not isinstance(i, numbers.Integral) or isinstance(i, bool) or i < 0 for i in sub):
                raise ParameterError(f"train_subset must be a non-empty list of integers >= 0 "
                                     f"(rows of the train split), got {_preview(sub)}")
            if len(set(sub)) != len(sub):
                raise ParameterError(f"train_subset has repeated rows: {_preview(sub)}")
            object.__setattr__(self, "train_subset", tuple(sorted(int(i) for i in sub)))  # numpy ints too
        if self.record_epochs is not None:
            if not isinstance(self.record_epochs, (list, tuple)):
                raise ParameterError(f"record_epochs must be a list of epochs in [0, epochs={self.epochs}] "
                                     f"or None (every epoch), got {self.record_epochs!r}")
            rec = tuple(self.record_epochs)
            if not rec or any(not isinstance(e, int) or isinstance(e, bool) or not 0 <= e <= self.epochs for e in rec):
                raise ParameterError(f"record_epochs must be integers in [0, epochs={self.epochs}], got {rec!r}")
            object.__setattr__(self, "record_epochs", tuple(sorted(set(rec) | {0, self.epochs})))

    @property
    def recorded_epochs(self) -> tuple[int, ...]:
        """The epochs at which every member is recorded (always including 0 and ``epochs``)."""
        return self.record_epochs if self.record_epochs is not None else tuple(range(self.epochs + 1))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for name in ("record_epochs", "train_subset"):
            if d[name] is not None:
                d[name] = list(d[name])
        for name in ADDED_FIELDS:  # at their default they leave the dict, the hash and old runs' keys unchanged
            if d[name] is None:
                del d[name]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RunConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ParameterError(f"unknown RunConfig field(s) {unknown}; valid: {sorted(known)}")
        d = dict(d)
        for name in ("record_epochs", "train_subset"):  # JSON and papermill give lists; RunConfig checks the rest
            if isinstance(d.get(name), list):
                d[name] = tuple(d[name])
        return cls(**d)

    @property
    def key(self) -> str:
        """Stable hash of every field and the file format: the run's name in the store."""
        blob = json.dumps({"format": FORMAT_VERSION, **self.to_dict()}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def member_seed(self, member: int) -> int:
        """Seed of member ``member``: distinct per (seed, member), stable across runs and N."""
        return int.from_bytes(hashlib.sha256(f"{self.seed}/{member}".encode()).digest()[:4], "big")

    def describe(self) -> str:
        if self.arch in ZOO:  # torchvision's networks: ReLU and batch norm, no dropout
            inside = f"width {self.width:g}, batch norm"
        else:
            act = "identity, average pooling" if self.arch.startswith("linear-") else self.activation
            inside = f"width {self.width:g}, {act}, dropout {'on' if self.dropout else 'off'}"
        return (f"N={self.n_models} × {self.arch} ({inside}) on {self.dataset}"
                f"{' with random labels' if self.labels == 'random' else ''}"
                + (f" (trained on {len(self.train_subset)} of its train rows)" if self.train_subset else "")
                + f", {self.epochs} epochs, "
                f"{self.optimizer} lr {self.lr:g}" + (f" momentum {self.momentum:g}" if self.momentum else "")
                + f", batch {self.batch_size}, seed {self.seed}"
                + (f", {self.precision} mixed precision" if self.precision else ""))


def check_device(device: str) -> str:
    """``device`` if torch can use it here, else ``ParameterError`` naming what is available."""
    import torch

    available = ["cpu"] + (["cuda"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
                           if torch.cuda.is_available() else [])
    if not isinstance(device, str) or device not in available:
        raise ParameterError(f"device must be one of {', '.join(available)} on this machine; got {device!r}")
    return device


def check_parameters(*, device: str = "cpu", cache_dir: str | os.PathLike | None = None,
                     min_models: int = 1, **fields_: Any) -> RunConfig:
    """The RunConfig of a notebook's parameters, or ``ParameterError`` with one line naming the bad one.

    ``fields_`` are RunConfig's fields (a list for ``record_epochs`` is fine); ``device`` must exist
    on this machine; ``cache_dir`` must be ``None`` or a path; ``min_models`` is the smallest N
    the caller can use (2 where consistency compares networks). Called in a notebook's first code
    cell, so that a bad value fails there with the parameter's name and its allowed values, not
    deep inside torch.
    """
    __tracebackhide__ = True  # IPython: show the notebook cell and the one line, not our frames
    try:
        known = [f.name for f in fields(RunConfig)]
        unknown = sorted(set(fields_) - set(known))
        if unknown:
            hint = difflib.get_close_matches(unknown[0], known, n=1)
            raise ParameterError(f"unknown parameter {unknown[0]!r}"
                                 + (f" (did you mean {hint[0]!r}?)" if hint else "")
                                 + f"; the parameters are {', '.join(known)}")
        _check_int("min_models", min_models, 1)
        if "n_models" in fields_:
            _check_int("n_models", fields_["n_models"], min_models,
                       why=" (consistency compares networks)" if min_models >= 2 else "")
        config = RunConfig.from_dict(fields_)
        check_device(device)
        if cache_dir is not None and not isinstance(cache_dir, (str, os.PathLike)):
            raise ParameterError(f"cache_dir must be a folder path or None ($EQUALNETS_CACHE or "
                                 f"~/.cache/equalnets/runs), got {cache_dir!r} ({type(cache_dir).__name__})")
    except ParameterError as err:
        raise ParameterError(str(err)) from None  # one frame, no chained traceback
    return config


def _preview(values: tuple[Any, ...]) -> str:
    return repr(values) if len(values) <= 8 else f"({', '.join(map(repr, values[:8]))}, ... {len(values)} in all)"


def _check_choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        hint = difflib.get_close_matches(value, allowed, n=1) if isinstance(value, str) else []
        raise ParameterError(f"{name} must be one of {', '.join(allowed)}; got {value!r}"
                             + (f" (did you mean {hint[0]!r}?)" if hint else ""))


def _check_int(name: str, value: Any, low: int, why: str = "") -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ParameterError(f"{name} must be an integer >= {low}{why}, got {value!r} ({type(value).__name__})")
    if value < low:
        raise ParameterError(f"{name} must be an integer >= {low}{why}, got {value!r}")


def _check_float(name: str, value: Any, strictly_positive: bool) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ParameterError(f"{name} must be a number, got {value!r} ({type(value).__name__})")
    if not math.isfinite(value) or (strictly_positive and not value > 0) or (not strictly_positive and not value >= 0):
        raise ParameterError(f"{name} must be a finite number {'> 0' if strictly_positive else '>= 0'}, got {value!r}")
