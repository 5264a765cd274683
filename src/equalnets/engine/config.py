"""RunConfig: every parameter of one ensemble run, validated once (by :mod:`equalnets.engine.checks`)
and hashed for the run store."""

from __future__ import annotations

import difflib
import hashlib
import json
import numbers
from dataclasses import asdict, dataclass, fields
from typing import Any

from .checks import (ParameterError, check_bool, check_choice, check_float, check_int, check_int_list,
                     check_record_epochs, preview)
from .data import DATASETS

#: Bumped whenever the member-file layout or what a config trains changes; part of every run's hash,
#: so a run stored by an older engine is never read as this one's. 1: first engine; 2: dropout
#: masks from 8-bit uniform integers instead of ``bernoulli_``; 3: every member's final weights are
#: stored beside its records, and Parts II and III train through the store.
FORMAT_VERSION = 3
LABELS = ("true", "random")
#: How the images enter the network: standardised per channel with the training set's mean and
#: standard deviation, or as raw intensities in [0, 1] (Part II: a blank pixel is exactly 0).
INPUTS = ("standard", "unit")
#: Families of architectures (see :mod:`equalnets.engine.models`): their names are checked here so
#: that the config module needs no torch.
SPEC_ARCHS = ("st-vgg", "small-st-vgg", "mnist-net")
ZOO_ARCHS = ("resnet-18", "densenet")
SMALL_ARCHS = ("mlp", "cnn")
ARCHITECTURES = SPEC_ARCHS + tuple(f"linear-{a}" for a in SPEC_ARCHS) + ZOO_ARCHS + SMALL_ARCHS
ACTIVATIONS = ("relu", "elu", "identity")
OPTIMIZERS = ("sgd", "adam", "adadelta")
#: Arithmetic of training and recording: ``fp32`` (the default) or ``bf16`` mixed precision
#: (``torch.autocast`` with bfloat16: fast on GPUs with tensor cores, slow on most CPUs).
PRECISIONS = ("fp32", "bf16")
#: Dropout layers of the small networks (Part III): plain dropout, or Jumpout with some of its changes.
DROPOUT_KINDS = ("standard", "sampled", "normalised", "rescaled", "jumpout")
Q_MODES = ("batch", "sample")
#: How a member starts from a stored run (``init_from``): all of its weights (``copy``), only its first
#: weighted layer (``first-layer``, the later layers re-initialised), its weights rescaled to the
#: norms of a fresh initialisation (``rescaled``), or a first layer drawn from N(0, Σ_w) of the
#: stored first layer's filters (``covariance``, the later layers fresh).
INIT_MODES = ("copy", "first-layer", "rescaled", "covariance")
#: Fields that are left out of ``to_dict`` (and so of the key) while they hold their default: a
#: config that does not use them has the same key as before they existed.
OPTIONAL_FIELDS = ("train_subset", "precision", "inputs", "hidden", "bias", "batch_norm", "dropout_p",
                   "dropout_kind", "jumpout_sigma", "jumpout_p_min", "jumpout_p_max", "jumpout_power",
                   "jumpout_q_mode", "record_active", "label_noise", "record_first_layer", "init_from",
                   "init_mode")


# --------------------------------------------------------------------------- RunConfig

@dataclass(frozen=True)
class RunConfig:
    """An ensemble of ``n_models`` networks trained on one data set, recorded at chosen epochs.

    Defaults are the paper's st-VGG protocol (Supp. A): SGD, batch 100, learning rate 0.05
    divided by 1.8 every 20 epochs, 140 epochs, N = 100. The fields after ``precision`` describe
    the small networks of Parts II and III (``arch`` ``'mlp'`` or ``'cnn'``).
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
    inputs: str = "standard"             # 'unit': raw intensities in [0, 1] instead of standardised
    hidden: tuple[int, ...] | None = None  # mlp: hidden widths; cnn: conv channels, then the dense width
    bias: bool = True                    # mlp / cnn: False removes every bias
    batch_norm: bool = False             # mlp / cnn: batch norm after every weighted layer but the last
    dropout_p: float = 0.1               # mlp / cnn: the dropout rate (the base rate of Jumpout)
    dropout_kind: str = "standard"       # mlp / cnn: nn.Dropout, or Jumpout with some of its changes
    jumpout_sigma: float | None = None   # sigma of the drawn rate; None: the mean drawn rate is dropout_p
    jumpout_p_min: float = 0.0
    jumpout_p_max: float = 0.6
    jumpout_power: float = 0.75          # kept units scaled by (1 - rate)^-power
    jumpout_q_mode: str = "batch"        # q+ per mini-batch or per sample
    record_active: int | None = None     # record q+ of every dropout input on the first k train rows
    label_noise: float = 0.0             # a fixed share of training labels replaced by another class
    record_first_layer: bool = False     # record the first weighted layer at every recorded epoch
    init_from: str | None = None         # the key of a stored run whose member k starts member k
    init_mode: str = "copy"              # how (INIT_MODES)

    def __post_init__(self) -> None:
        check_choice("dataset", self.dataset, DATASETS)
        check_choice("labels", self.labels, LABELS)
        check_choice("arch", self.arch, ARCHITECTURES)
        check_choice("activation", self.activation, ACTIVATIONS)
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_choice("inputs", self.inputs, INPUTS)
        check_choice("dropout_kind", self.dropout_kind, DROPOUT_KINDS)
        check_choice("jumpout_q_mode", self.jumpout_q_mode, Q_MODES)
        check_choice("init_mode", self.init_mode, INIT_MODES)
        check_bool("record_first_layer", self.record_first_layer)
        if self.init_from is not None and (not isinstance(self.init_from, str) or len(self.init_from) != 16):
            raise ParameterError(f"init_from must be the 16-character key of a stored run (RunConfig.key) or None, "
                                 f"got {self.init_from!r}")
        for name in ("train_per_class", "test_per_class", "record_active"):
            if getattr(self, name) is not None:
                check_int(name, getattr(self, name), 1)
        for name, low in (("batch_size", 1), ("lr_decay_every", 0), ("epochs", 1), ("n_models", 1), ("seed", 0)):
            check_int(name, getattr(self, name), low)
        floats = {"width": dict(low=0, low_open=True), "lr": dict(low=0, low_open=True),
                  "lr_decay": dict(low=0, low_open=True), "momentum": dict(low=0), "weight_decay": dict(low=0),
                  "dropout_p": dict(low=0, high=1, high_open=True), "jumpout_p_min": dict(low=0, high=1, high_open=True),
                  "jumpout_p_max": dict(low=0, high=1, high_open=True), "jumpout_power": dict(low=0, high=1, low_open=True),
                  "label_noise": dict(low=0, high=1, high_open=True)}
        for name, bounds in floats.items():  # 1 and 1.0: one run, one hash
            object.__setattr__(self, name, check_float(name, getattr(self, name), **bounds))
        if self.jumpout_sigma is not None:
            object.__setattr__(self, "jumpout_sigma", check_float("jumpout_sigma", self.jumpout_sigma, low=0,
                                                                  low_open=True))
        if self.jumpout_p_min > self.jumpout_p_max:
            raise ParameterError(f"jumpout_p_min must be <= jumpout_p_max, got {self.jumpout_p_min:g} > "
                                 f"{self.jumpout_p_max:g}")
        for name in ("dropout", "bias", "batch_norm"):
            check_bool(name, getattr(self, name))
        if self.precision is not None:
            check_choice("precision", self.precision, PRECISIONS)
            if self.precision == "fp32":  # the default, spelled out: one run, one hash
                object.__setattr__(self, "precision", None)
        self._check_small_network()
        if self.label_noise and self.labels != "true":
            raise ParameterError(f"label_noise applies to labels='true' (a share of the true labels is flipped), "
                                 f"not to labels={self.labels!r}")
        if self.train_subset is not None:
            if isinstance(self.train_subset, (str, bytes)) or not hasattr(self.train_subset, "__iter__"):
                raise ParameterError(f"train_subset must be a list of train-split row indices or None "
                                     f"(train on every row), got {self.train_subset!r}")
            sub = tuple(self.train_subset)
            if not sub or any(not isinstance(i, numbers.Integral) or isinstance(i, bool) or i < 0 for i in sub):
                raise ParameterError(f"train_subset must be a non-empty list of integers >= 0 "
                                     f"(rows of the train split), got {preview(sub)}")
            if len(set(sub)) != len(sub):
                raise ParameterError(f"train_subset has repeated rows: {preview(sub)}")
            object.__setattr__(self, "train_subset", tuple(sorted(int(i) for i in sub)))  # numpy ints too
        rec = check_record_epochs("record_epochs", self.record_epochs, self.epochs)
        if rec is not None:  # 0 and the last epoch are always recorded
            object.__setattr__(self, "record_epochs", tuple(sorted(set(rec) | {0, self.epochs})))

    def _check_small_network(self) -> None:
        """The fields of the small networks: required by ``mlp`` / ``cnn``, refused elsewhere."""
        small = self.arch in SMALL_ARCHS
        if small:
            if self.hidden is None:
                raise ParameterError(f"hidden must be given for arch={self.arch!r}: the hidden widths "
                                     + ("(e.g. [128, 64])" if self.arch == "mlp" else
                                        "(conv channels, then the dense width, e.g. [16, 32, 64])"))
            hidden = check_int_list("hidden", self.hidden, 1, min_len=1 if self.arch == "mlp" else 2)
            object.__setattr__(self, "hidden", hidden)
            if self.activation != "relu":
                raise ParameterError(f"activation must be 'relu' for arch={self.arch!r}, got {self.activation!r}")
            if self.width != 1.0:
                raise ParameterError(f"width must be 1 for arch={self.arch!r} (hidden gives its widths), "
                                     f"got {self.width:g}")
            return
        used = [name for name, default in (("hidden", None), ("bias", True), ("batch_norm", False), ("dropout_p", 0.1),
                                           ("dropout_kind", "standard"), ("jumpout_sigma", None),
                                           ("jumpout_p_min", 0.0), ("jumpout_p_max", 0.6), ("jumpout_power", 0.75),
                                           ("jumpout_q_mode", "batch"), ("record_active", None))
                if getattr(self, name) != default]
        if used:
            raise ParameterError(f"{used[0]} applies to arch mlp or cnn only (the small networks of Parts II "
                                 f"and III), not to {self.arch!r}")

    @property
    def recorded_epochs(self) -> tuple[int, ...]:
        """The epochs at which every member is recorded (always including 0 and ``epochs``)."""
        return self.record_epochs if self.record_epochs is not None else tuple(range(self.epochs + 1))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        defaults = {f.name: f.default for f in fields(self)}
        for name in ("record_epochs", "train_subset", "hidden"):
            if d[name] is not None:
                d[name] = list(d[name])
        for name in OPTIONAL_FIELDS:  # at their default they leave the dict and the key unchanged
            if d[name] == defaults[name]:
                del d[name]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RunConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            hint = difflib.get_close_matches(unknown[0], sorted(known), n=1)
            raise ParameterError(f"unknown RunConfig field(s) {unknown}"
                                 + (f" (did you mean {hint[0]!r}?)" if hint else "") + f"; valid: {sorted(known)}")
        d = dict(d)
        for name in ("record_epochs", "train_subset", "hidden"):  # JSON and papermill give lists
            if isinstance(d.get(name), list):
                d[name] = tuple(d[name])
        return cls(**d)

    def replace(self, **changes: Any) -> "RunConfig":
        """This config with ``changes`` (validated like any config)."""
        return RunConfig.from_dict({**self.to_dict(), **changes})

    @property
    def key(self) -> str:
        """Stable hash of every field and the file format: the run's name in the store."""
        blob = json.dumps({"format": FORMAT_VERSION, **self.to_dict()}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def member_seed(self, member: int) -> int:
        """Seed of member ``member``: distinct per (seed, member), stable across runs and N."""
        return int.from_bytes(hashlib.sha256(f"{self.seed}/{member}".encode()).digest()[:4], "big")


    def describe(self) -> str:
        """One line: what the networks are, what they learn from and how."""
        if self.arch in ZOO_ARCHS:  # torchvision's networks: ReLU and batch norm, no dropout
            inside = f"width {self.width:g}, batch norm"
        elif self.arch in SMALL_ARCHS:
            drop = "off" if not self.dropout else (f"{self.dropout_p:g}" if self.dropout_kind == "standard"
                                                   else f"{self.dropout_kind} (base rate {self.dropout_p:g})")
            inside = (f"{'-'.join(map(str, self.hidden))}, {'batch norm, ' if self.batch_norm else ''}"
                      f"{'' if self.bias else 'no bias, '}dropout {drop}")
        else:
            act = "identity, average pooling" if self.arch.startswith("linear-") else self.activation
            inside = f"width {self.width:g}, {act}, dropout {'on' if self.dropout else 'off'}"
        return (f"N={self.n_models} × {self.arch} ({inside}) on {self.dataset}"
                f"{' with random labels' if self.labels == 'random' else ''}"
                + (f" with {self.label_noise:.0%} of its training labels flipped" if self.label_noise else "")
                + (f" (started from run {self.init_from}: {self.init_mode})" if self.init_from else "")
                + (" (raw intensities)" if self.inputs == "unit" else "")
                + (f" (trained on {len(self.train_subset)} of its train rows)" if self.train_subset else "")
                + f", {self.epochs} epochs, "
                f"{self.optimizer} lr {self.lr:g}" + (f" momentum {self.momentum:g}" if self.momentum else "")
                + f", batch {self.batch_size}, seed {self.seed}"
                + (f", {self.precision} mixed precision" if self.precision else ""))


def derived_seed(seed: int, name: str) -> int:
    """A seed for the ensemble ``name`` of a chapter whose seed is ``seed``: ensembles that a chapter
    compares get different names, hence different seeds and disjoint member seeds (``member_seed``)."""
    check_int("seed", seed, 0)
    return int.from_bytes(hashlib.sha256(f"{seed}/{name}".encode()).digest()[:4], "big") // 2
