"""Training: one network on in-memory tensors, and an ensemble of N that records every example.

Batches are index slices of tensors that already sit on the device; there is no DataLoader and
no per-sample transform in the loop. The learning-rate schedule (divide by ``lr_decay`` every
``lr_decay_every`` epochs) does not depend on the total number of epochs, so a snapshot of a
member after epoch e has the same distribution as a fresh network trained for e epochs: one run
of E epochs serves every epoch count of the paper's protocol.

Two engines train an ensemble. ``sequential`` trains one member after another
(:func:`train_member`). ``batched`` trains a group of members as one vectorised network
(:func:`train_members`: the members' parameters stacked, ``torch.func.functional_call`` under
``vmap``, so every convolution of the group is one grouped convolution); each member keeps its
own initialisation, mini-batch order and dropout masks, drawn from the same seeds as the
sequential engine, so on the CPU the two differ only by floating-point rounding.
``engine='auto'`` picks the faster one for the device (:func:`resolve_engine`).
"""

from __future__ import annotations

import copy
import math
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

if TYPE_CHECKING:
    from .config import RunConfig
    from .data import Dataset

OPTIMIZERS = ("sgd", "adam", "adadelta")
#: Arithmetic of training and recording (``RunConfig.precision``): ``fp32`` (the default) or ``bf16``
#: mixed precision (``torch.autocast`` with bfloat16: fast on GPUs with tensor cores, slow on most CPUs).
PRECISIONS = ("fp32", "bf16")
#: Ensemble engines: ``auto`` picks ``batched`` or ``sequential`` for the device and architecture.
ENGINES = ("auto", "batched", "sequential")
#: What is recorded per (recorded epoch, example) besides the predicted label.
RECORDED = ("p_label", "margin", "el2n")


class DivergenceError(RuntimeError):
    """Training produced a non-finite loss."""


def make_optimizer(name: str, params, lr: float, momentum: float = 0.0,
                   weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """``sgd`` (with optional momentum), ``adam`` or ``adadelta``; ``weight_decay`` is L2."""
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adadelta":
        return torch.optim.Adadelta(params, lr=lr, weight_decay=weight_decay)
    raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}; got {name!r}")


def step_lr(lr: float, epoch: int, decay: float, every: int) -> float:
    """Learning rate during (0-based) ``epoch``: ``lr / decay ** (epoch // every)``."""
    return lr / decay ** (epoch // every) if every > 0 else lr


def autocast(device: str | torch.device, precision: str | None) -> torch.autocast:
    """The context in which forward passes run at ``precision``: ``None``/``'fp32'`` changes nothing,
    ``'bf16'`` is ``torch.autocast`` with bfloat16 on ``device``'s type (RunConfig.precision)."""
    if precision is not None and precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=precision == "bf16")


def train_epoch(model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor,
                y: torch.Tensor, batch_size: int, generator: torch.Generator,
                precision: str | None = None) -> float:
    """One pass over ``(x, y)`` in a random order drawn from ``generator``; mean loss.
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
    mean = float(total) / count
    if not math.isfinite(mean):
        raise DivergenceError(f"training loss is {mean}")
    return mean


#: Evaluation batch size. Results do not depend on it; 250 was the fastest of 100-1000 for st-VGG
#: on the 2-core CPU (width 0.25, channels-last: 0.20 s for 3,000 images against 0.31 s at 1,000).
EVAL_BATCH = 250


def _dropout_p(p: float) -> float:
    """``p`` as a float, or ``ValueError`` unless it is a probability."""
    if not 0 <= float(p) <= 1:
        raise ValueError(f"dropout p must be in [0, 1], got {p!r}")
    return float(p)


def dropout_mask(shape: Sequence[int], p: float, *, device: str | torch.device | None = None,
                 dtype: torch.dtype = torch.float32, generator: torch.Generator | None = None) -> torch.Tensor:
    """An inverted-dropout mask of ``shape``: 0 with probability ``p``, else ``1 / (1 - p)``.

    Drawn in row-major (NCHW) order from full-range 64-bit random integers cut into 8-bit uniform
    integers (32-bit where ``(1 - p) * 256`` is not a whole number), compared with a threshold.
    On the CPU this is ~5x cheaper than ``bernoulli_``, which draws one 32-bit number per element
    from the Mersenne twister. The keep probability is exact for p = 0.25 and 0.5 (st-VGG's) and
    within 2**-33 otherwise, and the scale is the reciprocal of the keep probability actually
    used, so the mask's expectation is exactly 1.
    """
    p = _dropout_p(p)
    shape = tuple(int(s) for s in shape)
    n = math.prod(shape)
    if p == 0 or n == 0:
        return torch.ones(shape, dtype=dtype, device=device)
    if p == 1:
        return torch.zeros(shape, dtype=dtype, device=device)
    keep = 1.0 - p
    bits = 8 if (keep * 256).is_integer() else 32
    threshold = round(keep * 2 ** bits)  # P(uniform integer < threshold) = threshold / 2**bits
    if threshold >= 2 ** bits:  # p below the 32-bit resolution: nothing is dropped
        return torch.ones(shape, dtype=dtype, device=device)
    words = torch.empty(-(-n * bits // 64), dtype=torch.int64, device=device)
    words.random_(-2 ** 63, None, generator=generator)  # every 64-bit pattern equally likely
    if bits == 8:
        kept = words.view(torch.uint8)[:n] < threshold
    else:  # int32 is uniform on [-2**31, 2**31): shift the threshold by -2**31
        kept = words.view(torch.int32)[:n] < threshold - 2 ** 31
    return kept.view(shape).to(dtype).mul_(2 ** bits / threshold)


class FastDropout(nn.Module):
    """Dropout with :func:`dropout_mask`'s cheap masks from the device's global generator, drawn in
    NCHW order whatever the input's memory layout (so a channels-last network draws the masks of
    the same network in NCHW); identity in eval mode, like ``nn.Dropout``.
    """

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = _dropout_p(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        return x * dropout_mask(x.shape, self.p, device=x.device, dtype=x.dtype)

    def extra_repr(self) -> str:
        return f"p={self.p}"


def _replace_modules(model: nn.Module, match: Callable[[nn.Module], bool],
                     make: Callable[[nn.Module], nn.Module]) -> None:
    """Replace (in place) every submodule of ``model`` for which ``match`` holds by ``make(it)``."""
    for name, module in list(model.named_modules()):
        if name and match(module):
            parent, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent), child, make(module))


def prepare_model(model: nn.Module, channels_last: bool = False) -> nn.Module:
    """``model`` set up for the engine's training loop (in place), with the same function:

    * every ``nn.Dropout`` becomes a :class:`FastDropout` with the same ``p``;
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


def fit_model(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, epochs: int, lr: float,
              batch_size: int = 100, optimizer: str = "sgd", momentum: float = 0.0,
              weight_decay: float = 0.0, lr_decay: float = 1.0, lr_decay_every: int = 0,
              seed: int = 0, progress: bool = True,
              on_epoch: Callable[[int, nn.Module], None] | None = None) -> list[float]:
    """Train one network in place on tensors already on its device; the loss of each epoch.

    ``on_epoch(epoch, model)`` is called after every epoch (1-based), e.g. to record statistics.
    """
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr!r}")
    generator = torch.Generator().manual_seed(seed)
    opt = make_optimizer(optimizer, model.parameters(), lr, momentum, weight_decay)
    losses = []
    for epoch in tqdm(range(epochs), desc="epochs", leave=False, disable=not progress):
        for group in opt.param_groups:
            group["lr"] = step_lr(lr, epoch, lr_decay, lr_decay_every)
        losses.append(train_epoch(model, opt, x, y, batch_size, generator))
        if on_epoch is not None:
            on_epoch(epoch + 1, model)
    return losses


@torch.inference_mode()
def record_predictions(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                       batch_size: int = 1000, precision: str | None = None) -> dict[str, np.ndarray]:
    """Everything a difficulty score needs from one evaluation pass, per example.

    ``pred`` (int16): predicted label; ``p_label``: softmax probability of the given label;
    ``margin``: logit of the given label minus the largest other logit; ``el2n``:
    ‖softmax − one-hot‖₂. The three floats are stored as float16.
    """
    return records_from_logits(predict_logits(model, x, batch_size, precision), y)


def records_from_logits(logits: torch.Tensor, y: torch.Tensor) -> dict[str, np.ndarray]:
    """:func:`record_predictions`' arrays from logits ``(n, classes)`` and labels ``(n,)``."""
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


def train_labels(config: "RunConfig", dataset: "Dataset") -> torch.Tensor:
    """The labels the members are trained on: the true ones, or one fixed random draw per run."""
    if config.labels == "true":
        return dataset.y_train
    generator = torch.Generator().manual_seed(config.seed)
    return torch.randint(dataset.n_classes, dataset.y_train.shape, generator=generator).to(dataset.y_train.device)


def fit_rows(config: "RunConfig", x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
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


def train_member(config: "RunConfig", dataset: "Dataset", member: int, *,
                 device: str | torch.device = "cpu", progress: bool = True,
                 channels_last: bool | None = None) -> dict[str, np.ndarray]:
    """Train member ``member`` of ``config`` on ``dataset`` (already on ``device``) and record it.

    Returns arrays keyed ``'{split}/{field}'`` of shape ``(recorded epochs, examples)``, plus
    ``loss`` (one mean training loss per epoch). Member seeds come from ``config.member_seed``,
    so member k is the same network whatever N is, and the CPU result is bit-for-bit repeatable.
    The network is set up by :func:`prepare_model` (cheap dropout masks, in-place ReLUs).
    ``channels_last`` (default: on the CPU, :func:`default_channels_last`) trains in that layout
    with the same initialisation, batches and dropout masks, so it changes rounding only.
    """
    from .models import build_model

    seed = config.member_seed(member)
    torch.manual_seed(seed)  # initialisation and dropout masks
    model = build_model(config.arch, in_channels=dataset.in_channels, image_size=dataset.image_size,
                        n_classes=dataset.n_classes, width=config.width, dropout=config.dropout,
                        activation=config.activation).to(device)
    cl = default_channels_last(device) if channels_last is None else bool(channels_last)
    model = prepare_model(model, channels_last=cl)
    y_train = train_labels(config, dataset)
    splits = {"train": (_layout(dataset.x_train, cl), y_train), "test": (_layout(dataset.x_test, cl), dataset.y_test)}
    x_fit, y_fit = fit_rows(config, splits["train"][0], y_train)
    records: dict[str, list[np.ndarray]] = {}

    def record() -> None:
        for split, (x, y) in splits.items():
            for name, values in record_predictions(model, x, y, EVAL_BATCH, config.precision).items():
                records.setdefault(f"{split}/{name}", []).append(values)

    recorded = set(config.recorded_epochs)
    generator = torch.Generator().manual_seed(seed + 1)  # mini-batch order
    opt = make_optimizer(config.optimizer, model.parameters(), config.lr, config.momentum,
                         config.weight_decay)
    record()  # epoch 0: the untrained network
    losses = []
    bar = tqdm(range(config.epochs), desc=f"member {member}", leave=False, disable=not progress)
    for epoch in bar:
        for group in opt.param_groups:
            group["lr"] = step_lr(config.lr, epoch, config.lr_decay, config.lr_decay_every)
        try:
            losses.append(train_epoch(model, opt, x_fit, y_fit, config.batch_size, generator, config.precision))
        except DivergenceError as err:
            raise DivergenceError(f"member {member} of run {config.key} diverged in epoch {epoch + 1} "
                                  f"({err}); try a lower learning rate than lr={config.lr:g}. "
                                  f"Config: {config.describe()}") from None
        bar.set_postfix(loss=f"{losses[-1]:.3f}")
        if epoch + 1 in recorded:
            record()
    out = {k: np.stack(v) for k, v in records.items()}
    out["loss"] = np.asarray(losses, dtype=np.float32)
    return out


# --------------------------------------------------------------------------- batched engine

#: What ``engine='auto'`` picks for a batchable architecture, per device type. Measured with
#: ``python -m equalnets bench`` (benchmarks/README.md): see there for the numbers behind it.
AUTO_ENGINE = {"cpu": "sequential", "cuda": "batched"}


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
        if isinstance(module, nn.modules.dropout._DropoutNd) and type(module) is not nn.Dropout:
            return f"its module {name} is a {type(module).__name__}, not nn.Dropout"
    return None


def resolve_engine(engine: str, config: "RunConfig", device: str | torch.device = "cpu") -> str:
    """``'batched'`` or ``'sequential'``: ``engine`` itself, or for ``'auto'`` the faster one for
    ``device`` (:data:`AUTO_ENGINE`) where the architecture allows batching.

    ``'batched'`` for an architecture that cannot be batched (BatchNorm) is a ``ValueError``.
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}; got {engine!r}")
    if engine == "sequential":
        return engine
    from .models import build_model

    probe = build_model(config.arch, in_channels=1, image_size=32, n_classes=2, width=min(config.width, 0.25),
                        dropout=config.dropout, activation=config.activation)
    blocker = batch_blocker(probe)
    if engine == "batched":
        if blocker:
            raise ValueError(f"engine='batched' cannot train {config.arch}: {blocker}; use engine='sequential' "
                             "or 'auto'")
        return engine
    if blocker:
        return "sequential"
    return AUTO_ENGINE.get(torch.device(device).type, "sequential")


class _Group:
    """N networks of one architecture as one function of stacked parameters."""

    def __init__(self, models: Sequence[nn.Module], sample: torch.Tensor) -> None:
        from torch.func import functional_call, vmap

        blocker = batch_blocker(models[0])
        if blocker:
            raise ValueError(f"the batched engine cannot train this network: {blocker}")
        self.params = {name: torch.stack([dict(m.named_parameters())[name].detach() for m in models]).requires_grad_()
                       for name, _ in models[0].named_parameters()}
        template = copy.deepcopy(models[0]).to("meta")  # structure only; the parameters come from self.params
        _replace_modules(template, lambda m: isinstance(m, (nn.Dropout, FastDropout)),
                         lambda m: _MaskDropout(m.p))
        # Dropout layers in the order the forward pass meets them, and the shape each one sees.
        order: list[tuple[_MaskDropout, tuple[int, ...]]] = []
        hooks = [m.register_forward_pre_hook(lambda mod, args: order.append((mod, tuple(args[0].shape[1:]))))
                 for m in template.modules() if isinstance(m, _MaskDropout)]
        with torch.no_grad():
            functional_call(template, {k: v[0].to("meta") for k, v in self.params.items()},
                            (sample[:1].to("meta"),))
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

    def train_logits(self, x: torch.Tensor, masks: Sequence[torch.Tensor]) -> torch.Tensor:
        """``(N, b, classes)`` from each member's own batch ``x`` ``(N, b, C, H, W)`` and masks."""
        return self._train(self.params, x, *masks)

    @torch.inference_mode()
    def logits(self, x: torch.Tensor, batch_size: int = 1000, precision: str | None = None) -> torch.Tensor:
        """``(N, n, classes)``: every member's eval-mode logits for every row of ``x`` (float32)."""
        params = {k: v.detach() for k, v in self.params.items()}
        with autocast(x.device, precision):
            return torch.cat([self._eval(params, x[i:i + batch_size]).float() for i in range(0, len(x), batch_size)],
                             dim=1)


def train_members(config: "RunConfig", dataset: "Dataset", members: Sequence[int], *,
                  device: str | torch.device = "cpu", progress: bool = True) -> list[dict[str, np.ndarray]]:
    """Train ``members`` of ``config`` together (the batched engine); one dict per member, each
    with the arrays :func:`train_member` returns for it.

    Member k gets the initialisation, mini-batch order and (on the CPU) the dropout masks that
    :func:`train_member` gives it, so the two engines differ by rounding only: grouped instead of
    single convolutions. On a GPU the masks come from a per-member generator on the device.
    """
    from .models import build_model

    members = list(members)
    if not members:
        raise ValueError("members must name at least one member")
    if len(set(members)) != len(members) or any(not 0 <= m < config.n_models for m in members):
        raise ValueError(f"members must be distinct integers in [0, n_models={config.n_models}), got {members}")
    device = torch.device(device)
    models, mask_gens, order_gens = [], [], []
    for member in members:
        seed = config.member_seed(member)
        torch.manual_seed(seed)  # initialisation, exactly as train_member
        models.append(build_model(config.arch, in_channels=dataset.in_channels, image_size=dataset.image_size,
                                  n_classes=dataset.n_classes, width=config.width, dropout=config.dropout,
                                  activation=config.activation).to(device))
        if device.type == "cpu":  # the global generator's state after initialisation: train_member's masks
            gen = torch.Generator()
            gen.set_state(torch.get_rng_state())
        else:
            gen = torch.Generator(device).manual_seed(seed)
        mask_gens.append(gen)
        order_gens.append(torch.Generator().manual_seed(seed + 1))  # mini-batch order, as train_member
    group = _Group(models, dataset.x_train)
    del models
    y_train = train_labels(config, dataset)
    splits = {"train": (dataset.x_train, y_train), "test": (dataset.x_test, dataset.y_test)}
    x_fit, y_fit = fit_rows(config, dataset.x_train, y_train)
    records: list[dict[str, list[np.ndarray]]] = [{} for _ in members]

    def record() -> None:
        for split, (x, y) in splits.items():
            logits = group.logits(x, EVAL_BATCH, config.precision)
            for k in range(len(members)):
                for name, values in records_from_logits(logits[k], y).items():
                    records[k].setdefault(f"{split}/{name}", []).append(values)

    recorded = set(config.recorded_epochs)
    opt = make_optimizer(config.optimizer, list(group.params.values()), config.lr, config.momentum,
                         config.weight_decay)
    record()
    losses = []
    n_fit, size = len(y_fit), config.batch_size
    label = f"members {members[0]}..{members[-1]}" if len(members) > 1 else f"member {members[0]}"
    bar = tqdm(range(config.epochs), desc=label, leave=False, disable=not progress)
    for epoch in bar:
        for pg in opt.param_groups:
            pg["lr"] = step_lr(config.lr, epoch, config.lr_decay, config.lr_decay_every)
        orders = torch.stack([torch.randperm(n_fit, generator=g) for g in order_gens]).to(device)
        total = torch.zeros(len(members), dtype=torch.float64, device=device)
        for start in range(0, n_fit, size):
            idx = orders[:, start:start + size]
            b = idx.shape[1]
            # Layer by layer, one mask per member from its own generator: each generator draws its
            # member's masks in that member's forward order, as train_member does.
            masks = [torch.stack([dropout_mask((b, *shape), module.p, device=device, generator=gen)
                                  for gen in mask_gens])
                     for module, shape in zip(group.drops, group.drop_shapes)]
            with autocast(device, config.precision):
                logits = group.train_logits(x_fit[idx], masks)
                loss = F.cross_entropy(logits.flatten(0, 1), y_fit[idx].flatten(),
                                       reduction="none").view(len(members), b)
            loss = loss.mean(dim=1)
            opt.zero_grad(set_to_none=True)
            loss.sum().backward()
            opt.step()
            total += loss.detach().double() * b
        mean = (total / n_fit).cpu().numpy()
        bad = [m for m, v in zip(members, mean) if not math.isfinite(v)]
        if bad:
            raise DivergenceError(f"member {bad[0]} of run {config.key} diverged in epoch {epoch + 1} "
                                  f"(training loss is {mean[members.index(bad[0])]}); try a lower learning rate "
                                  f"than lr={config.lr:g}. Config: {config.describe()}")
        losses.append(mean)
        bar.set_postfix(loss=f"{float(mean.mean()):.3f}")
        if epoch + 1 in recorded:
            record()
    loss_arr = np.stack(losses).astype(np.float32)  # (epochs, members)
    out = []
    for k in range(len(members)):
        arrays = {name: np.stack(v) for name, v in records[k].items()}
        arrays["loss"] = np.ascontiguousarray(loss_arr[:, k])
        out.append(arrays)
    return out
