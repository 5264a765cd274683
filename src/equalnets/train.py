"""Training: one network on in-memory tensors, and an ensemble of N that records every example.

Batches are index slices of tensors that already sit on the device; there is no DataLoader and
no per-sample transform in the loop. The learning-rate schedule (divide by ``lr_decay`` every
``lr_decay_every`` epochs) does not depend on the total number of epochs, so a snapshot of a
member after epoch e has the same distribution as a fresh network trained for e epochs: one run
of E epochs serves every epoch count of the paper's protocol.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Callable

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

if TYPE_CHECKING:
    from .config import RunConfig
    from .data import Dataset

OPTIMIZERS = ("sgd", "adam", "adadelta")
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


def train_epoch(model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor,
                y: torch.Tensor, batch_size: int, generator: torch.Generator) -> float:
    """One pass over ``(x, y)`` in a random order drawn from ``generator``; mean loss."""
    model.train()
    order = torch.randperm(len(y), generator=generator).to(x.device)
    total, count = 0.0, 0
    for start in range(0, len(y), batch_size):
        idx = order[start:start + batch_size]
        loss = F.cross_entropy(model(x[idx]), y[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += float(loss.detach()) * len(idx)
        count += len(idx)
    mean = total / count
    if not math.isfinite(mean):
        raise DivergenceError(f"training loss is {mean}")
    return mean


@torch.inference_mode()
def predict_logits(model: nn.Module, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Logits of ``model`` in eval mode for every row of ``x``: ``(n, C, H, W) -> (n, classes)``."""
    was_training = model.training
    model.eval()
    out = torch.cat([model(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])
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
                       batch_size: int = 1000) -> dict[str, np.ndarray]:
    """Everything a difficulty score needs from one evaluation pass, per example.

    ``pred`` (int16): predicted label; ``p_label``: softmax probability of the given label;
    ``margin``: logit of the given label minus the largest other logit; ``el2n``:
    ‖softmax − one-hot‖₂. The three floats are stored as float16.
    """
    logits = predict_logits(model, x, batch_size).float()
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


def train_member(config: "RunConfig", dataset: "Dataset", member: int, *,
                 device: str | torch.device = "cpu", progress: bool = True) -> dict[str, np.ndarray]:
    """Train member ``member`` of ``config`` on ``dataset`` (already on ``device``) and record it.

    Returns arrays keyed ``'{split}/{field}'`` of shape ``(recorded epochs, examples)``, plus
    ``loss`` (one mean training loss per epoch). Member seeds come from ``config.member_seed``,
    so member k is the same network whatever N is, and the CPU result is bit-for-bit repeatable.
    """
    from .models import build_model

    seed = config.member_seed(member)
    torch.manual_seed(seed)  # initialisation and dropout masks
    model = build_model(config.arch, in_channels=dataset.in_channels, image_size=dataset.image_size,
                        n_classes=dataset.n_classes, width=config.width, dropout=config.dropout,
                        activation=config.activation).to(device)
    y_train = train_labels(config, dataset)
    splits = {"train": (dataset.x_train, y_train), "test": (dataset.x_test, dataset.y_test)}
    x_fit, y_fit = fit_rows(config, dataset.x_train, y_train)
    records: dict[str, list[np.ndarray]] = {}

    def record() -> None:
        for split, (x, y) in splits.items():
            for name, values in record_predictions(model, x, y).items():
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
            losses.append(train_epoch(model, opt, x_fit, y_fit, config.batch_size, generator))
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
