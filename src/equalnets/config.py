"""RunConfig: every parameter of one ensemble run, validated once and hashed for the run store."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields
from typing import Any

from .data import DATASETS
from .models import ACTIVATIONS, ARCHITECTURES
from .train import OPTIMIZERS

#: Bumped whenever the member-file layout changes; part of every run's hash.
FORMAT_VERSION = 1
LABELS = ("true", "random")


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
            raise ValueError(f"dropout must be True or False, got {self.dropout!r}")
        if self.record_epochs is not None:
            rec = tuple(self.record_epochs)
            if not rec or any(not isinstance(e, int) or isinstance(e, bool) or not 0 <= e <= self.epochs for e in rec):
                raise ValueError(f"record_epochs must be integers in [0, epochs={self.epochs}], got {rec!r}")
            object.__setattr__(self, "record_epochs", tuple(sorted(set(rec) | {0, self.epochs})))

    @property
    def recorded_epochs(self) -> tuple[int, ...]:
        """The epochs at which every member is recorded (always including 0 and ``epochs``)."""
        return self.record_epochs if self.record_epochs is not None else tuple(range(self.epochs + 1))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if d["record_epochs"] is not None:
            d["record_epochs"] = list(d["record_epochs"])
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RunConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown RunConfig field(s) {unknown}; valid: {sorted(known)}")
        d = dict(d)
        if d.get("record_epochs") is not None:
            d["record_epochs"] = tuple(d["record_epochs"])
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
        return (f"N={self.n_models} × {self.arch} (width {self.width:g}, {self.activation}, "
                f"dropout {'on' if self.dropout else 'off'}) on {self.dataset}"
                f"{' with random labels' if self.labels == 'random' else ''}, {self.epochs} epochs, "
                f"{self.optimizer} lr {self.lr:g}" + (f" momentum {self.momentum:g}" if self.momentum else "")
                + f", batch {self.batch_size}, seed {self.seed}")


def check_device(device: str) -> str:
    """``device`` if torch can use it here, else ``ValueError`` naming what is available."""
    import torch

    available = ["cpu"] + (["cuda"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
                           if torch.cuda.is_available() else [])
    if not isinstance(device, str) or device not in available:
        raise ValueError(f"device must be one of {', '.join(available)} on this machine; got {device!r}")
    return device


def _check_choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")


def _check_int(name: str, value: Any, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r} ({type(value).__name__})")
    if value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")


def _check_float(name: str, value: Any, strictly_positive: bool) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number, got {value!r} ({type(value).__name__})")
    if (strictly_positive and not value > 0) or (not strictly_positive and not value >= 0):
        raise ValueError(f"{name} must be {'> 0' if strictly_positive else '>= 0'}, got {value!r}")
