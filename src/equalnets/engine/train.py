"""Training: the one loop that trains members of an ensemble and records every example.

Batches are index slices of tensors that already sit on the device; there is no DataLoader and
no per-sample transform in the loop. The learning-rate schedule (divide by ``lr_decay`` every
``lr_decay_every`` epochs) does not depend on the total number of epochs, so a snapshot of a
member after epoch e has the same distribution as a fresh network trained for e epochs: one run
of E epochs serves every epoch count of the paper's protocol.

:func:`train_members` is the loop: the schedule, the recording of epoch 0 and of every recorded
epoch, the divergence check and the timing. *How* a group of members takes its steps is a
strategy (``engine``):

* ``sequential`` (:class:`Sequential`): one network (on the CPU in channels-last layout);
* ``batched`` (:class:`Batched`): a group of members as one vectorised network (their parameters
  stacked, ``torch.func.functional_call`` under ``vmap``, so every convolution of the group is
  one grouped convolution). Each member keeps its own initialisation, mini-batch order and
  dropout masks, drawn from the same seeds as the sequential engine.

Which guarantee holds between the two: on the CPU they start from the same initialisation and
see the same mini-batches and dropout masks, so the first steps agree to rounding; rounding
grows under SGD, so after a few epochs two members of the same seed are two draws of the same
distribution, not the same network (their test accuracies agree within the spread over seeds;
``tests/test_engine_guarantee.py`` checks both halves on a config trained until the pairs differ).
Within one engine, device, layout and number of torch threads, a member is bit-for-bit repeatable
on the CPU (a different thread count changes the order of some sums, hence the last bits).
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, vmap
from torch.nn import functional as F
from tqdm.auto import tqdm

from .checks import check_choice
from .config import OPTIMIZERS, PRECISIONS, RunConfig
from .layers import DROPOUT_TYPES, FastDropout, Jumpout, active_fraction, dropout_mask
from .models import network

if TYPE_CHECKING:
    from .data import Dataset

#: Ensemble engines: ``auto`` picks ``batched`` or ``sequential`` for the device and architecture.
ENGINES = ("auto", "batched", "sequential")
#: What is recorded per (recorded epoch, example) besides the predicted label.
RECORDED = ("p_label", "margin", "el2n")
#: What ``engine='auto'`` picks for a batchable architecture, per device type. Measured with
#: ``python -m equalnets bench`` (benchmarks/README.md): see there for the numbers behind it.
AUTO_ENGINE = {"cpu": "sequential", "cuda": "batched"}
#: Evaluation batch size. Results do not depend on it; 250 was the fastest of 100-1000 for st-VGG
#: on the 2-core CPU (width 0.25, channels-last: 0.20 s for 3,000 images against 0.31 s at 1,000).
EVAL_BATCH = 250


class DivergenceError(RuntimeError):
    """Training produced a non-finite loss."""


def make_optimizer(name: str, params, lr: float, momentum: float = 0.0,
                   weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """``sgd`` (with optional momentum), ``adam`` or ``adadelta``; ``weight_decay`` is L2."""
    check_choice("optimizer", name, OPTIMIZERS)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    return torch.optim.Adadelta(params, lr=lr, weight_decay=weight_decay)


def step_lr(lr: float, epoch: int, decay: float, every: int) -> float:
    """Learning rate during (0-based) ``epoch``: ``lr / decay ** (epoch // every)``."""
    return lr / decay ** (epoch // every) if every > 0 else lr


def autocast(device: str | torch.device, precision: str | None) -> torch.autocast:
    """The context in which forward passes run at ``precision``: ``None``/``'fp32'`` changes nothing,
    ``'bf16'`` is ``torch.autocast`` with bfloat16 on ``device``'s type (RunConfig.precision)."""
    if precision is not None:
        check_choice("precision", precision, PRECISIONS)
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=precision == "bf16")


def train_epoch(model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor,
                y: torch.Tensor, batch_size: int, generator: torch.Generator,
                precision: str | None = None) -> float:
    """One pass of one network over ``(x, y)`` in a random order drawn from ``generator``; mean loss.
    ``precision='bf16'`` runs the forward pass under bfloat16 autocast (:func:`autocast`)."""
    model.train()
    order = torch.randperm(len(y), generator=generator).to(x.device)
    total = torch.zeros((), dtype=torch.float64, device=x.device)  # summed on the device: no sync per step
    count = 0
    for start in range(0, len(y), batch_size):
        idx = order[start:start + batch_size]
        with autocast(x.device, precision):
            loss = F.cross_entropy(model(x[idx]), y[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += loss.detach().double() * len(idx)
        count += len(idx)
    return float(total) / count


def _replace_modules(model: nn.Module, match: Callable[[nn.Module], bool],
                     make: Callable[[nn.Module], nn.Module]) -> None:
    """Replace (in place) every submodule of ``model`` for which ``match`` holds by ``make(it)``."""
    for name, module in list(model.named_modules()):
        if name and match(module):
            parent, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent), child, make(module))


def prepare_model(model: nn.Module, channels_last: bool = False) -> nn.Module:
    """``model`` set up for the engine's training loop (in place), with the same function:

    * every ``nn.Dropout`` becomes a :class:`~equalnets.engine.layers.FastDropout` with the same ``p``;
    * a ``nn.ReLU`` that directly follows a ``Conv2d`` or ``Linear`` in an ``nn.Sequential``
      works in place (the layer before it does not need its output for its gradient): one
      tensor fewer written and allocated per layer;
    * ``channels_last``: the channels-last memory layout (on the CPU, oneDNN's NHWC kernels
      halve the time of st-VGG's convolutions and poolings).

    Training from the same seed then differs from the plain model only by its dropout masks,
    and the layout changes rounding only. Measured by ``python -m equalnets bench``.
    """
    _replace_modules(model, lambda m: type(m) is nn.Dropout, lambda m: FastDropout(m.p))
    for module in model.modules():
        if isinstance(module, nn.Sequential):
            layers = list(module)
            for before, layer in zip(layers, layers[1:]):
                if type(layer) is nn.ReLU and isinstance(before, (nn.Conv2d, nn.Linear)):
                    layer.inplace = True
    return model.to(memory_format=torch.channels_last) if channels_last else model


def _layout(x: torch.Tensor, channels_last: bool) -> torch.Tensor:
    return x.contiguous(memory_format=torch.channels_last) if channels_last and x.ndim == 4 else x


@torch.inference_mode()
def predict_logits(model: nn.Module, x: torch.Tensor, batch_size: int = 1000,
                   precision: str | None = None) -> torch.Tensor:
    """Logits of ``model`` in eval mode for every row of ``x``: ``(n, C, H, W) -> (n, classes)``,
    in float32 (computed under bfloat16 autocast for ``precision='bf16'``)."""
    was_training = model.training
    model.eval()
    with autocast(x.device, precision):
        out = torch.cat([model(x[i:i + batch_size]).float() for i in range(0, len(x), batch_size)])
    model.train(was_training)
    return out


def records_from_logits(logits: torch.Tensor, y: torch.Tensor) -> dict[str, np.ndarray]:
    """Everything a difficulty score needs from one evaluation pass, per example, from logits
    ``(n, classes)`` and labels ``(n,)``.

    ``pred`` (int16): predicted label; ``p_label``: softmax probability of the given label;
    ``margin``: logit of the given label minus the largest other logit; ``el2n``:
    ‖softmax − one-hot‖₂. The three floats are stored as float16.
    """
    if logits.ndim != 2 or y.shape != logits.shape[:1]:
        raise ValueError(f"logits must be (n, classes) and y (n,); got {tuple(logits.shape)} and {tuple(y.shape)}")
    logits = logits.float()
    prob = logits.softmax(dim=1)
    given = logits.gather(1, y[:, None]).squeeze(1)
    others = logits.scatter(1, y[:, None], float("-inf")).amax(dim=1)
    onehot = F.one_hot(y, logits.shape[1]).float()
    out = {"pred": logits.argmax(dim=1).to(torch.int16),
           "p_label": prob.gather(1, y[:, None]).squeeze(1),
           "margin": given - others,
           "el2n": (prob - onehot).norm(dim=1)}
    fp16_max = float(np.finfo(np.float16).max)  # clip, so that huge logits stay finite in float16
    return {k: (v.cpu().numpy().astype(np.int16) if k == "pred"
                else v.clamp(-fp16_max, fp16_max).cpu().numpy().astype(np.float16)) for k, v in out.items()}


@torch.no_grad()
def capture_inputs(model: nn.Module, x: torch.Tensor, layers: dict[str, nn.Module]) -> dict[str, torch.Tensor]:
    """The input of each module in ``layers`` during one forward pass of ``x`` (forward pre-hooks;
    ``model`` keeps its train/eval mode)."""
    seen: dict[str, torch.Tensor] = {}
    handles = [m.register_forward_pre_hook(lambda mod, args, name=name: seen.__setitem__(name, args[0].detach()))
               for name, m in layers.items()]
    try:
        model(x)
    finally:
        for h in handles:
            h.remove()
    return seen


def dropout_layers(model: nn.Module) -> dict[str, nn.Module]:
    """The dropout layers of ``model`` (``nn.Dropout``, ``FastDropout``, ``Jumpout``) by module name."""
    return {name: m for name, m in model.named_modules() if isinstance(m, DROPOUT_TYPES)}


@torch.no_grad()
def active_fractions(model: nn.Module, x: torch.Tensor, *, train_mode: bool = False) -> dict[str, float]:
    """``q⁺`` of the input of every dropout layer on the batch ``x``, by layer name.

    Measured in eval mode by default (batch norm with its running statistics, dropout off), so
    the number depends on the weights only; ``train_mode=True`` measures what the layers see in
    training (batch statistics, earlier dropout on), and restores the mode afterwards.
    """
    was_training = model.training
    model.train(train_mode)
    try:
        inputs = capture_inputs(model, x, dropout_layers(model))
    finally:
        model.train(was_training)
    return {name: float(active_fraction(h)) for name, h in inputs.items()}


def train_labels(config: RunConfig, dataset: "Dataset") -> torch.Tensor:
    """The labels the members are trained on: the true ones, one fixed random draw per run, or the true
    ones with ``label_noise`` of them (a fixed draw of rows per run) moved to another class at random."""
    generator = torch.Generator().manual_seed(config.seed)
    if config.labels == "random":
        return torch.randint(dataset.n_classes, dataset.y_train.shape, generator=generator).to(dataset.y_train.device)
    if not config.label_noise:
        return dataset.y_train
    n = len(dataset.y_train)
    rows = torch.randperm(n, generator=generator)[:round(config.label_noise * n)]
    shift = torch.randint(1, dataset.n_classes, (len(rows),), generator=generator)
    noisy = dataset.y_train.cpu().clone()
    noisy[rows] = (noisy[rows] + shift) % dataset.n_classes
    return noisy.to(dataset.y_train.device)


def fit_rows(config: RunConfig, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The train-split rows the members learn from: all, or ``config.train_subset`` of them."""
    if config.train_subset is None:
        return x, y
    if config.train_subset[-1] >= len(y):
        raise ValueError(f"train_subset has row {config.train_subset[-1]}, but the train split of "
                         f"{config.dataset} has {len(y)} rows (0..{len(y) - 1})")
    rows = torch.as_tensor(config.train_subset, device=y.device)
    return x[rows], y[rows]


def default_channels_last(device: str | torch.device) -> bool:
    """Whether the sequential engine trains in channels-last layout on ``device``: on the CPU."""
    return torch.device(device).type == "cpu"


def weighted_layers(model: nn.Module) -> list[nn.Module]:
    """The model's Conv2d and Linear layers in the order of its modules (the first is the first layer)."""
    return [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def build_member(config: RunConfig, dataset: "Dataset", member: int,
                 source: dict[str, torch.Tensor] | None = None) -> nn.Module:
    """Member ``member``'s untrained network, initialised from its seed (``torch.manual_seed``, so
    the global generator then continues into the member's dropout masks); with ``source`` (a state
    dict of the same architecture, for ``config.init_from``) started from it by ``config.init_mode``."""
    torch.manual_seed(config.member_seed(member))
    model = network(config, in_channels=dataset.in_channels, image_size=dataset.image_size,
                    n_classes=dataset.n_classes)
    if source is not None:
        start_from(model, source, config.init_mode)
    return model


@torch.no_grad()
def start_from(model: nn.Module, source: dict[str, torch.Tensor], mode: str) -> None:
    """Set ``model`` (freshly initialised) from the state dict ``source`` of the same architecture:
    ``copy`` every tensor; ``first-layer``: only the first weighted layer; ``rescaled``: every
    weighted layer's weight scaled to the ℓ2 norm of the fresh one (biases stay fresh); ``covariance``:
    the first layer's filters drawn from N(0, Σ_w), Σ_w the second moment of ``source``'s first-layer
    filters (flattened), drawn from the global generator; the rest stays fresh."""
    fresh = model.state_dict()
    if set(source) != set(fresh) or any(source[k].shape != fresh[k].shape for k in fresh):
        raise ValueError("init_from names a run of another architecture: its weights do not fit this network")
    first = next(n for n, m in model.named_modules() if m is weighted_layers(model)[0])
    if mode == "copy":
        model.load_state_dict(source)
    elif mode == "first-layer":
        model.load_state_dict({**fresh, **{k: v for k, v in source.items() if k.rpartition(".")[0] == first}})
    elif mode == "rescaled":
        names = {f"{n}.weight" for n, m in model.named_modules() if m in weighted_layers(model)}
        model.load_state_dict({k: (source[k] * fresh[k].norm() / source[k].norm().clamp_min(1e-12)
                                   if k in names else fresh[k]) for k in fresh})
    else:  # covariance
        weight = source[f"{first}.weight"]
        filters = weight.flatten(1).double()                      # (out, fan_in)
        cov = filters.T @ filters / len(filters)                  # second moment: N(0, Σ_w)
        eigval, eigvec = torch.linalg.eigh(cov)
        root = eigvec * eigval.clamp_min(0).sqrt()
        drawn = torch.randn(len(filters), filters.shape[1], dtype=torch.float64) @ root.T
        model.get_submodule(first).weight.copy_(drawn.view_as(weight).to(weight.dtype))


# --------------------------------------------------------------------------- strategies

class _MaskDropout(nn.Module):
    """Dropout by a mask handed in from outside (``None``: identity), so that every member of a
    batched group gets exactly the mask its own generator draws."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = float(p)
        self.mask: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.mask is None else x * self.mask


def batch_blocker(model: nn.Module) -> str | None:
    """Why ``model`` cannot be trained by the batched engine, or None if it can.

    Buffers (BatchNorm's running statistics) are updated in place, which vmap cannot do per
    member; dropout other than ``nn.Dropout`` draws masks the engine does not control.
    """
    if any(True for _ in model.buffers()):
        return f"it has buffers (e.g. BatchNorm running statistics: {next(model.named_buffers())[0]})"
    for name, module in model.named_modules():
        if (isinstance(module, nn.modules.dropout._DropoutNd) and type(module) is not nn.Dropout) \
                or isinstance(module, Jumpout):
            return f"its module {name} is a {type(module).__name__}, not nn.Dropout"
    return None


def resolve_engine(engine: str, config: RunConfig, device: str | torch.device = "cpu") -> str:
    """``'batched'`` or ``'sequential'``: ``engine`` itself, or for ``'auto'`` the faster one for
    ``device`` (:data:`AUTO_ENGINE`) where the architecture allows batching.

    ``'batched'`` for an architecture that cannot be batched (BatchNorm, Jumpout) or for a config
    that records the active fraction of its dropout inputs is a ``ValueError``.
    """
    check_choice("engine", engine, ENGINES)
    if engine == "sequential":
        return engine
    probe_config = config if config.arch in ("mlp", "cnn") else config.replace(width=min(config.width, 0.25))
    blocker = batch_blocker(network(probe_config, in_channels=1, image_size=32, n_classes=2))
    if blocker is None and config.record_active is not None:
        blocker = "it records q+ of its dropout inputs (record_active), which the batched engine does not measure"
    if engine == "batched":
        if blocker:
            raise ValueError(f"engine='batched' cannot train {config.arch}: {blocker}; use engine='sequential' "
                             "or 'auto'")
        return engine
    if blocker:
        return "sequential"
    return AUTO_ENGINE.get(torch.device(device).type, "sequential")


class Sequential:
    """The ``sequential`` strategy: one member, one ``nn.Module``, the global generator's dropout masks."""

    name = "sequential"

    def __init__(self, config: RunConfig, dataset: "Dataset", members: Sequence[int], device: torch.device,
                 channels_last: bool | None = None, sources: dict[int, dict] | None = None) -> None:
        if len(members) != 1:
            raise ValueError(f"the sequential strategy trains one member at a time, got {list(members)}")
        self.channels_last = default_channels_last(device) if channels_last is None else bool(channels_last)
        self.layout = "channels-last" if self.channels_last else "nchw"
        # initialisation, then the global generator draws this member's dropout masks
        source = (sources or {}).get(members[0])
        self.model = prepare_model(build_member(config, dataset, members[0], source).to(device), self.channels_last)
        self.config = config

    def inputs(self, x: torch.Tensor) -> torch.Tensor:
        return _layout(x, self.channels_last)

    def parameters(self) -> list[torch.Tensor]:
        return list(self.model.parameters())

    def epoch(self, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
              generators: list[torch.Generator]) -> np.ndarray:
        return np.array([train_epoch(self.model, opt, x, y, self.config.batch_size, generators[0],
                                     self.config.precision)])

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """``(1, n, classes)``."""
        return predict_logits(self.model, x, EVAL_BATCH, self.config.precision)[None]

    def active(self, x: torch.Tensor) -> np.ndarray:
        """``(1, L)``: q⁺ of every dropout layer's input on ``x`` (eval mode)."""
        return np.array([list(active_fractions(self.model, x).values())], dtype=np.float32)

    def first_layer(self) -> np.ndarray:
        """``(1, out, fan_in)``: the first weighted layer's weights, its filters flattened."""
        return weighted_layers(self.model)[0].weight.detach().flatten(1).float().cpu().numpy()[None].copy()  # no view

    def state_dicts(self) -> list[dict[str, torch.Tensor]]:
        return [{k: v.detach().cpu().contiguous().clone() for k, v in self.model.state_dict().items()}]


class Batched:
    """The ``batched`` strategy: N networks of one architecture as one function of stacked parameters."""

    name = "batched"
    layout = "nchw"

    def __init__(self, config: RunConfig, dataset: "Dataset", members: Sequence[int], device: torch.device,
                 channels_last: bool | None = None, sources: dict[int, dict] | None = None) -> None:
        self.config, self.device, self.n = config, device, len(members)
        models, self.mask_gens = [], []
        for member in members:  # initialisation, as Sequential
            models.append(build_member(config, dataset, member, (sources or {}).get(member)).to(device))
            if device.type == "cpu":  # the global generator's state after initialisation: Sequential's masks
                gen = torch.Generator()
                gen.set_state(torch.get_rng_state())
            else:
                gen = torch.Generator(device).manual_seed(config.member_seed(member))
            self.mask_gens.append(gen)
        blocker = batch_blocker(models[0])
        if blocker:
            raise ValueError(f"the batched engine cannot train this network: {blocker}")
        self.params = {name: torch.stack([dict(m.named_parameters())[name].detach() for m in models]).requires_grad_()
                       for name, _ in models[0].named_parameters()}
        template = copy.deepcopy(models[0]).to("meta")  # structure only; the parameters come from self.params
        _replace_modules(template, lambda m: isinstance(m, (nn.Dropout, FastDropout)), lambda m: _MaskDropout(m.p))
        # Dropout layers in the order the forward pass meets them, and the shape each one sees.
        order: list[tuple[_MaskDropout, tuple[int, ...]]] = []
        hooks = [m.register_forward_pre_hook(lambda mod, args: order.append((mod, tuple(args[0].shape[1:]))))
                 for m in template.modules() if isinstance(m, _MaskDropout)]
        with torch.no_grad():
            functional_call(template, {k: v[0].to("meta") for k, v in self.params.items()},
                            (dataset.x_train[:1].to("meta"),))
        for h in hooks:
            h.remove()
        self.template = template
        self.drops = [m for m, _ in order]
        self.drop_shapes = [s for _, s in order]

        def forward(params: dict[str, torch.Tensor], x: torch.Tensor, *masks: torch.Tensor) -> torch.Tensor:
            for module, mask in zip(self.drops, masks):
                module.mask = mask
            try:
                return functional_call(self.template, params, (x,))
            finally:
                for module in self.drops:
                    module.mask = None

        self._train = vmap(forward, in_dims=(0, 0, *[0] * len(self.drops)))
        self._eval = vmap(forward, in_dims=(0, None))

    def inputs(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def parameters(self) -> list[torch.Tensor]:
        return list(self.params.values())

    def epoch(self, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
              generators: list[torch.Generator]) -> np.ndarray:
        n_fit, size, device = len(y), self.config.batch_size, self.device
        orders = torch.stack([torch.randperm(n_fit, generator=g) for g in generators]).to(device)
        total = torch.zeros(self.n, dtype=torch.float64, device=device)
        for start in range(0, n_fit, size):
            idx = orders[:, start:start + size]
            b = idx.shape[1]
            # Layer by layer, one mask per member from its own generator: each generator draws its
            # member's masks in that member's forward order, as the sequential strategy does.
            masks = [torch.stack([dropout_mask((b, *shape), module.p, device=device, generator=gen)
                                  for gen in self.mask_gens])
                     for module, shape in zip(self.drops, self.drop_shapes)]
            with autocast(device, self.config.precision):
                logits = self._train(self.params, x[idx], *masks)
                loss = F.cross_entropy(logits.flatten(0, 1), y[idx].flatten(), reduction="none").view(self.n, b)
            loss = loss.mean(dim=1)
            opt.zero_grad(set_to_none=True)
            loss.sum().backward()
            opt.step()
            total += loss.detach().double() * b
        return (total / n_fit).cpu().numpy()

    @torch.inference_mode()
    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, n, classes)``: every member's eval-mode logits for every row of ``x`` (float32)."""
        params = {k: v.detach() for k, v in self.params.items()}
        with autocast(x.device, self.config.precision):
            return torch.cat([self._eval(params, x[i:i + EVAL_BATCH]).float() for i in range(0, len(x), EVAL_BATCH)],
                             dim=1)

    def active(self, x: torch.Tensor) -> np.ndarray:
        raise ValueError("the batched engine does not record q+ (resolve_engine sends such configs to sequential)")

    def first_layer(self) -> np.ndarray:
        """``(N, out, fan_in)``: every member's first weighted layer, its filters flattened."""
        first = next(name for name in self.params if name.endswith(".weight"))
        return self.params[first].detach().flatten(2).float().cpu().numpy().copy()  # not a view of the live weights

    def state_dicts(self) -> list[dict[str, torch.Tensor]]:
        return [{k: v[i].detach().cpu().clone() for k, v in self.params.items()} for i in range(self.n)]


STRATEGIES = {"sequential": Sequential, "batched": Batched}


# --------------------------------------------------------------------------- the loop

@dataclass
class TrainedMember:
    """One trained member: its records, its final weights and the seconds its training steps took.

    ``arrays``: ``'{split}/{field}'`` of shape ``(recorded epochs, examples)``, ``loss`` (one mean
    training loss per epoch), for ``record_active`` ``active`` ``(recorded epochs, dropout layers)``,
    and for ``record_first_layer`` ``first_layer`` ``(recorded epochs, filters, fan-in)``.
    """

    member: int
    arrays: dict[str, np.ndarray]
    weights: dict[str, torch.Tensor] = field(repr=False)
    seconds: float
    engine: str
    layout: str


def train_members(config: RunConfig, dataset: "Dataset", members: Sequence[int], *, engine: str = "sequential",
                  device: str | torch.device = "cpu", progress: bool = True, channels_last: bool | None = None,
                  sources: dict[int, dict[str, torch.Tensor]] | None = None) -> list[TrainedMember]:
    """Train ``members`` of ``config`` on ``dataset`` (already on ``device``) and record them.

    ``engine``: ``'sequential'`` trains them one after another, ``'batched'`` as one group
    (``'auto'``: :func:`resolve_engine`). Member seeds come from ``config.member_seed``, so member
    k is the same network whatever N is, and the CPU result is bit-for-bit repeatable for a given
    engine. ``channels_last`` (sequential only; default: on the CPU) changes rounding only.
    ``sources``: member → the state dict it starts from (``config.init_from``; see :func:`start_from`).
    """
    members = list(members)
    if not members:
        raise ValueError("members must name at least one member")
    if len(set(members)) != len(members) or any(not 0 <= m < config.n_models for m in members):
        raise ValueError(f"members must be distinct integers in [0, n_models={config.n_models}), got {members}")
    if config.init_from is not None and any(m not in (sources or {}) for m in members):
        raise ValueError(f"config starts from run {config.init_from}: sources must give every member's weights")
    chosen = resolve_engine(engine, config, device)
    groups = [[m] for m in members] if chosen == "sequential" else [members]
    return [t for group in groups
            for t in _train_group(config, dataset, group, STRATEGIES[chosen], torch.device(device), progress,
                                  channels_last, sources)]


def _train_group(config: RunConfig, dataset: "Dataset", members: list[int], strategy_class: type,
                 device: torch.device, progress: bool, channels_last: bool | None,
                 sources: dict[int, dict] | None) -> list[TrainedMember]:
    strategy = strategy_class(config, dataset, members, device, channels_last, sources)
    y_train = train_labels(config, dataset)
    splits = {"train": (strategy.inputs(dataset.x_train), y_train),
              "test": (strategy.inputs(dataset.x_test), dataset.y_test)}
    x_fit, y_fit = fit_rows(config, splits["train"][0], y_train)
    probe = splits["train"][0][:config.record_active] if config.record_active else None
    records: list[dict[str, list[np.ndarray]]] = [{} for _ in members]

    def record() -> None:
        for split, (x, y) in splits.items():
            logits = strategy.logits(x)
            for k in range(len(members)):
                for name, values in records_from_logits(logits[k], y).items():
                    records[k].setdefault(f"{split}/{name}", []).append(values)
        if probe is not None:
            for k, q in enumerate(strategy.active(probe)):
                records[k].setdefault("active", []).append(q)
        if config.record_first_layer:
            for k, w in enumerate(strategy.first_layer()):
                records[k].setdefault("first_layer", []).append(w)

    recorded = set(config.recorded_epochs)
    order_gens = [torch.Generator().manual_seed(config.member_seed(m) + 1) for m in members]  # mini-batch order
    opt = make_optimizer(config.optimizer, strategy.parameters(), config.lr, config.momentum, config.weight_decay)
    record()  # epoch 0: the untrained network
    losses, seconds = [], 0.0
    label = f"members {members[0]}..{members[-1]}" if len(members) > 1 else f"member {members[0]}"
    bar = tqdm(range(config.epochs), desc=label, leave=False, disable=not progress)
    for epoch in bar:
        for group in opt.param_groups:
            group["lr"] = step_lr(config.lr, epoch, config.lr_decay, config.lr_decay_every)
        started = time.perf_counter()
        mean = strategy.epoch(opt, x_fit, y_fit, order_gens)
        seconds += time.perf_counter() - started
        bad = [k for k, v in enumerate(mean) if not math.isfinite(v)]
        if bad:
            raise DivergenceError(f"member {members[bad[0]]} of run {config.key} diverged in epoch {epoch + 1} "
                                  f"(training loss is {mean[bad[0]]}); try a lower learning rate than "
                                  f"lr={config.lr:g}. Config: {config.describe()}")
        losses.append(mean)
        bar.set_postfix(loss=f"{float(mean.mean()):.3f}")
        if epoch + 1 in recorded:
            record()
    loss = np.stack(losses).astype(np.float32)  # (epochs, members)
    out = []
    for k, (member, weights) in enumerate(zip(members, strategy.state_dicts())):
        arrays = {name: np.stack(v) for name, v in records[k].items()}
        arrays["loss"] = np.ascontiguousarray(loss[:, k])
        out.append(TrainedMember(member, arrays, weights, seconds / len(members), strategy.name, strategy.layout))
    return out
