"""``python -m equalnets bench``: how fast the ensemble engine gets per-example predictions.

Measures, in one process on one machine, the same work: N st-VGG networks trained on
fashion-tops for E epochs at one batch size, every train and test image recorded after every
epoch (and before the first). Four parts:

* **ours**: :meth:`equalnets.engine.store.RunStore.get_or_train` into an empty cache, as the book uses
  it, once per engine (``sequential``, ``batched``) and for ``auto``;
* **user loop**: what most research code does: a torchvision ``VisionDataset`` over the same
  uint8 images with per-sample ``ToTensor``/``Normalize`` transforms behind a ``DataLoader``,
  one model at a time, then a separate evaluation pass over train and test ``DataLoader``\\ s
  after every epoch; its final test accuracy is checked against ours;
* **limit**: dense fp32 matmul FLOP/s measured here, the model's FLOPs per image counted by
  ``torch.utils.flop_counter.FlopCounterMode``, and the training-only rate of st-VGG at width 1;
* **protocol**: our snapshot protocol (N·E training epochs) against the paper's fresh instance
  per epoch count (N·E(E+1)/2), counted, and timed on a small case.

Every time is the median of ``reps`` repetitions, printed with its range.
"""

from __future__ import annotations

import json
import math
import platform
import statistics
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from PIL import Image
from torch.nn import functional as F
from torch.utils.data import DataLoader
from torch.utils.flop_counter import FlopCounterMode
from torchvision import transforms
from torchvision.datasets import VisionDataset

from ..engine import data as d
from ..engine.checks import check_device, check_float, check_int
from ..engine.config import RunConfig
from ..engine.data import Dataset
from ..engine.models import build_model
from ..engine.store import RunStore
from ..engine.train import ENGINES, make_optimizer, prepare_model, resolve_engine, step_lr, train_epoch, train_members


@dataclass(frozen=True)
class BenchSettings:
    """What one benchmark run measures. ``quick`` is a ~1-minute smoke run; the default fits in
    ~5 minutes on a 2-core CPU; larger N and epochs by flag."""

    n_models: int = 2
    epochs: int = 4
    width: float = 0.25
    batch_size: int = 100
    reps: int = 3
    limit_width: float = 1.0     # width of the training-only FLOP/s measurement
    limit_steps: int = 6         # training steps per repetition of that measurement
    protocol_epochs: int = 3     # E of the timed protocol case (N = 1 there)
    device: str = "cpu"

    def __post_init__(self) -> None:
        for name in ("n_models", "epochs", "batch_size", "reps", "limit_steps", "protocol_epochs"):
            check_int(name, getattr(self, name), 1)
        for name in ("width", "limit_width"):
            check_float(name, getattr(self, name), low=0, low_open=True)
        check_device(self.device)

    def config(self) -> RunConfig:
        """The run every 'ours' and 'user loop' row trains: the book's base recipe at this size."""
        return RunConfig(width=self.width, n_models=self.n_models, epochs=self.epochs, lr=0.01, momentum=0.9,
                         batch_size=self.batch_size)


QUICK = BenchSettings(n_models=2, epochs=1, reps=2, limit_steps=3, protocol_epochs=2)


def _sync(device: str | torch.device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def _spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "values": values}


def matmul_flops(device: str = "cpu", n: int = 2048, reps: int = 5) -> dict[str, float]:
    """Dense fp32 ``n×n @ n×n`` FLOP/s (2n³ per product), one warm-up then ``reps`` timings."""
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    a @ b
    _sync(device)
    rates = []
    for _ in range(reps):
        started = time.perf_counter()
        a @ b
        _sync(device)
        rates.append(2 * n ** 3 / (time.perf_counter() - started))
    return _spread(rates)


def model_flops(config: RunConfig, dataset: Dataset) -> dict[str, float]:
    """FLOPs per image counted by ``FlopCounterMode``: one training step (forward + backward) of a
    batch and one evaluation forward pass, divided by the batch size."""
    model = build_model(config.arch, in_channels=dataset.in_channels, image_size=dataset.image_size,
                        n_classes=dataset.n_classes, width=config.width, dropout=config.dropout)
    x, y = dataset.x_train[:config.batch_size].cpu(), dataset.y_train[:config.batch_size].cpu()
    with FlopCounterMode(display=False) as counter:
        F.cross_entropy(model(x), y).backward()
    train = counter.get_total_flops() / len(y)
    model.eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x)
    return {"train_per_image": train, "eval_per_image": counter.get_total_flops() / len(y)}


def work_flops(config: RunConfig, dataset: Dataset, flops: dict[str, float]) -> float:
    """FLOPs of a whole run: every member's training epochs and its recording passes."""
    n_fit = len(dataset.y_train) if config.train_subset is None else len(config.train_subset)
    n_eval = len(dataset.y_train) + len(dataset.y_test)
    return config.n_models * (config.epochs * n_fit * flops["train_per_image"]
                              + len(config.recorded_epochs) * n_eval * flops["eval_per_image"])


# --------------------------------------------------------------------------- the user's loop

def _raw_fashion_tops(dataset: Dataset) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The uint8 32×32 images and labels behind ``dataset`` (fashion-tops), as a user would hold them."""
    xtr, ytr, xte, yte, _ = d._fashion_mnist(None, False)
    keep_tr = d._first_per_class(ytr, list(d.FASHION_TOPS), len(dataset.y_train) // len(d.FASHION_TOPS))
    keep_te = d._first_per_class(yte, list(d.FASHION_TOPS), len(dataset.y_test) // len(d.FASHION_TOPS))
    remap = np.full(10, -1, dtype=np.int64)
    remap[list(d.FASHION_TOPS)] = np.arange(len(d.FASHION_TOPS))
    return (d._pad_to(xtr[keep_tr], 32)[:, 0], remap[ytr[keep_tr]], d._pad_to(xte[keep_te], 32)[:, 0],
            remap[yte[keep_te]])


def user_loop(config: RunConfig, dataset: Dataset, device: str = "cpu", eval_batch: int = 500) -> dict[str, Any]:
    """The typical loop, written plainly: returns the final test accuracy of each member.

    torchvision ``VisionDataset`` over PIL images, ``ToTensor`` + ``Normalize`` per sample,
    ``DataLoader(shuffle=True)``, one model at a time, and after every epoch (and before the
    first) an evaluation pass over a train and a test ``DataLoader`` that keeps each image's
    predicted label and probability of its label, as our recording does.
    """
    xtr, ytr, xte, yte = _raw_fashion_tops(dataset)

    class ArrayImages(VisionDataset):
        def __init__(self, images: np.ndarray, labels: np.ndarray, transform: Callable) -> None:
            super().__init__(root="", transform=transform)
            self.images, self.labels = images, labels

        def __len__(self) -> int:
            return len(self.labels)

        def __getitem__(self, i: int):
            return self.transform(Image.fromarray(self.images[i], mode="L")), int(self.labels[i])

    mean, std = float(xtr.mean() / 255), float((xtr / 255).std(ddof=1))
    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((mean,), (std,))])
    train_set, test_set = ArrayImages(xtr, ytr, tf), ArrayImages(xte, yte, tf)
    accuracies = []
    for member in range(config.n_models):
        seed = config.member_seed(member)
        torch.manual_seed(seed)
        model = build_model(config.arch, in_channels=1, image_size=32, n_classes=5, width=config.width,
                            dropout=config.dropout).to(device)
        opt = make_optimizer(config.optimizer, model.parameters(), config.lr, config.momentum, config.weight_decay)
        loader = DataLoader(train_set, batch_size=config.batch_size, shuffle=True,
                            generator=torch.Generator().manual_seed(seed + 1))
        evals = {"train": DataLoader(train_set, batch_size=eval_batch), "test": DataLoader(test_set, batch_size=eval_batch)}
        history: dict[str, list] = {"train": [], "test": []}

        def evaluate() -> None:
            model.eval()
            with torch.no_grad():
                for split, eval_loader in evals.items():
                    preds, probs = [], []
                    for x, y in eval_loader:
                        x, y = x.to(device), y.to(device)
                        p = model(x).softmax(dim=1)
                        preds.append(p.argmax(dim=1).cpu())
                        probs.append(p.gather(1, y[:, None]).squeeze(1).cpu())
                    history[split].append((torch.cat(preds).numpy(), torch.cat(probs).numpy()))
            model.train()

        evaluate()
        for epoch in range(config.epochs):
            for group in opt.param_groups:
                group["lr"] = step_lr(config.lr, epoch, config.lr_decay, config.lr_decay_every)
            running = 0.0
            for x, y in loader:
                x, y = x.to(device), y.to(device)
                opt.zero_grad()
                loss = F.cross_entropy(model(x), y)
                loss.backward()
                opt.step()
                running += loss.item() * len(y)
            evaluate()
        accuracies.append(float((history["test"][-1][0] == yte).mean()))
    return {"test_accuracy": accuracies}


# --------------------------------------------------------------------------- parts

def _ours(config: RunConfig, dataset: Dataset, engine: str, device: str) -> tuple[float, list[float]]:
    with tempfile.TemporaryDirectory(prefix="equalnets-bench-") as tmp:
        _sync(device)
        started = time.perf_counter()
        run = RunStore(tmp).get_or_train(config, device=device, progress=False, dataset=dataset, engine=engine)
        _sync(device)
        seconds = time.perf_counter() - started
    return seconds, [float(a) for a in run.test.accuracy()[:, -1]]


def training_rate(width: float, dataset: Dataset, steps: int, reps: int, device: str,
                  channels_last: bool) -> dict[str, Any]:
    """Training-only FLOP/s of one st-VGG (forward, backward, SGD step on batches of 100)."""
    config = RunConfig(width=width, lr=0.01, momentum=0.9)
    torch.manual_seed(0)
    model = build_model("st-vgg", in_channels=dataset.in_channels, image_size=dataset.image_size,
                        n_classes=dataset.n_classes, width=width).to(device)
    x, y = dataset.x_train.to(device), dataset.y_train.to(device)
    with FlopCounterMode(display=False) as counter:
        F.cross_entropy(model(x[:100]), y[:100]).backward()
    per_step = counter.get_total_flops()
    model = prepare_model(model, channels_last=channels_last)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    opt = make_optimizer("sgd", model.parameters(), config.lr, config.momentum)
    sub_x, sub_y = x[:100 * steps], y[:100 * steps]
    gen = torch.Generator().manual_seed(0)
    train_epoch(model, opt, sub_x[:100], sub_y[:100], 100, gen)  # warm-up
    rates = []
    for _ in range(reps):
        _sync(device)
        started = time.perf_counter()
        train_epoch(model, opt, sub_x, sub_y, 100, gen)
        _sync(device)
        rates.append(per_step * len(sub_y) / 100 / (time.perf_counter() - started))
    return {"width": width, "channels_last": channels_last, "flops_per_step": per_step, **_spread(rates)}


def protocol(settings: BenchSettings, dataset: Dataset) -> dict[str, Any]:
    """Snapshot protocol vs the paper's fresh instance per epoch count: epochs counted for the
    benchmark's N and E and for the paper's §3 (N = 100, E = 140), and timed for one member
    with ``protocol_epochs`` epochs."""
    def counts(n: int, e: int) -> dict[str, int]:
        return {"n_models": n, "epochs": e, "ours_epochs": n * e, "paper_epochs": n * e * (e + 1) // 2}

    e = settings.protocol_epochs
    config = replace(settings.config(), n_models=1, epochs=e)
    device = settings.device
    data = dataset.to(device)
    ours, paper = [], []
    for _ in range(settings.reps):
        _sync(device)
        started = time.perf_counter()
        train_members(config, data, [0], engine="sequential", device=device, progress=False)
        _sync(device)
        ours.append(time.perf_counter() - started)
        started = time.perf_counter()
        for epochs in range(1, e + 1):  # a fresh network for every epoch count, recorded once at its end
            train_members(replace(config, epochs=epochs, record_epochs=(epochs,)), data, [0], engine="sequential",
                          device=device, progress=False)
        _sync(device)
        paper.append(time.perf_counter() - started)
    return {"this_run": counts(settings.n_models, settings.epochs), "paper_s3": counts(100, 140),
            "timed": {**counts(1, e), "ours_seconds": _spread(ours), "paper_seconds": _spread(paper)}}


def run_benchmark(settings: BenchSettings = BenchSettings(),
                  engines: tuple[str, ...] = ("sequential", "batched"),
                  log: Callable[[str], None] = print) -> dict[str, Any]:
    """Every part of the benchmark; a JSON-ready dict (see :func:`format_table`)."""
    for engine in engines:
        if engine not in ENGINES or engine == "auto":
            raise ValueError(f"engines must be among sequential, batched; got {engine!r}")
    config = settings.config()
    device = settings.device
    dataset = RunStore.dataset_for(config)
    result: dict[str, Any] = {
        "settings": {**settings.__dict__, "config": config.to_dict()},
        "machine": {"platform": platform.platform(), "processor": platform.processor(),
                    "torch": torch.__version__, "threads": torch.get_num_threads(),
                    "device": torch.cuda.get_device_name(device) if device.startswith("cuda") else "cpu"},
        "auto_engine": resolve_engine("auto", config, device)}
    log(f"benchmark: {config.describe()}; device {device}, {torch.get_num_threads()} threads, "
        f"{settings.reps} repetitions")
    first_matmul = matmul_flops(device)  # measured again at the end: the limit pools both
    result["matmul"] = first_matmul
    log(f"matmul limit: {result['matmul']['median'] / 1e9:.1f} GFLOP/s")
    result["flops"] = model_flops(config, dataset)
    total = work_flops(config, dataset, result["flops"])
    result["work_flops"] = total
    rows: dict[str, dict[str, Any]] = {}
    n_member_epochs = config.n_models * config.epochs
    n_images = n_member_epochs * len(dataset.y_train)

    # The repetitions interleave the contenders (ours per engine, then the user loop, then again), so
    # that a slow spell of a shared machine falls on all of them alike.
    names = [f"ours ({engine})" for engine in engines] + ["user loop"]
    timings: dict[str, list[float]] = {name: [] for name in names}
    accuracies: dict[str, list[float]] = {}
    for rep in range(settings.reps):
        for engine, name in zip(engines, names):
            seconds, acc = _ours(config, dataset, engine, device)
            timings[name].append(seconds)
            accuracies.setdefault(name, acc)  # the repetitions train the same seeds: one set of accuracies
        _sync(device)
        started = time.perf_counter()
        out = user_loop(config, dataset, device)
        _sync(device)
        timings["user loop"].append(time.perf_counter() - started)
        accuracies.setdefault("user loop", out["test_accuracy"])
        log(f"repetition {rep + 1} of {settings.reps}: "
            + ", ".join(f"{name} {timings[name][-1]:.1f} s" for name in names))
    result["matmul"] = _spread(first_matmul["values"] + matmul_flops(device)["values"])
    user = statistics.median(timings["user loop"])
    for name in names:
        med = statistics.median(timings[name])
        rows[name] = {"seconds": _spread(timings[name]), "member_epochs_per_s": n_member_epochs / med,
                      "train_images_per_s": n_images / med, "flops_per_s": total / med,
                      "of_matmul": total / med / result["matmul"]["median"], "test_accuracy": accuracies[name],
                      "speedup_vs_user": user / med,
                      "speedup_per_repetition": _spread([u / o for u, o in zip(timings["user loop"],
                                                                               timings[name])])}
        log(f"{name}: {med:.1f} s (median of {len(timings[name])})")
    result["rows"] = rows
    auto = f"ours ({result['auto_engine']})"
    if auto in rows:
        result["speedup_auto_vs_user"] = rows[auto]["speedup_vs_user"]
    result["accuracy_check"] = accuracy_check(rows[auto if auto in rows else next(iter(rows))]["test_accuracy"],
                                              rows["user loop"]["test_accuracy"])
    result["training_only"] = [training_rate(settings.limit_width, dataset, settings.limit_steps, settings.reps,
                                             device, cl) for cl in (False, True)]
    for r in result["training_only"]:
        r["of_matmul"] = r["median"] / result["matmul"]["median"]
    log("training-only rate measured")
    result["protocol"] = protocol(settings, dataset)
    return result


def accuracy_check(ours: list[float], user: list[float]) -> dict[str, Any]:
    """Whether two sets of final test accuracies agree within noise: the difference of the means
    within two standard errors (plus one test image's worth of slack)."""
    a, b = np.asarray(ours, float), np.asarray(user, float)
    se = math.sqrt((a.var(ddof=1) / len(a) if len(a) > 1 else 0.0) + (b.var(ddof=1) / len(b) if len(b) > 1 else 0.0))
    diff = float(a.mean() - b.mean())
    return {"ours_mean": float(a.mean()), "user_mean": float(b.mean()), "difference": diff,
            "standard_error": se, "same_within_noise": bool(abs(diff) <= 2 * se + 0.002)}


def format_table(result: dict[str, Any]) -> str:
    """The benchmark as a plain-text table, medians with [min-max] ranges."""
    s = result["settings"]
    lines = [f"st-VGG width {s['width']:g} on fashion-tops, N={s['n_models']}, {s['epochs']} epochs, batch "
             f"{s['batch_size']}, every epoch recorded (train+test); {result['machine']['device']}, "
             f"{result['machine']['threads']} threads; median [min-max] of {s['reps']} runs",
             f"matmul limit (fp32 2048^3, at the start and the end): {result['matmul']['median'] / 1e9:.1f} GFLOP/s "
             f"[{result['matmul']['min'] / 1e9:.1f}-{result['matmul']['max'] / 1e9:.1f}]",
             f"model FLOPs per image (FlopCounterMode): train step {result['flops']['train_per_image'] / 1e6:.1f} M, "
             f"eval {result['flops']['eval_per_image'] / 1e6:.1f} M; whole run {result['work_flops'] / 1e12:.3f} TFLOP",
             "",
             f"{'':18} {'wall s':>20} {'member-ep/s':>11} {'train img/s':>11} {'GFLOP/s':>8} {'of matmul':>9} "
             f"{'vs user [per repetition]':>24} {'test acc':>9}"]
    for name, r in result["rows"].items():
        sec = r["seconds"]
        lines.append(f"{name:18} {sec['median']:8.1f} [{sec['min']:.1f}-{sec['max']:.1f}]".ljust(39)
                     + f" {r['member_epochs_per_s']:11.2f} {r['train_images_per_s']:11.0f} "
                     f"{r['flops_per_s'] / 1e9:8.2f} {r['of_matmul']:9.1%} "
                     + f"{r['speedup_vs_user']:.2f}x [{r['speedup_per_repetition']['min']:.2f}-"
                       f"{r['speedup_per_repetition']['max']:.2f}]".rjust(24)
                     + f" {np.mean(r['test_accuracy']):9.3f}")
    acc = result["accuracy_check"]
    lines += ["", f"auto engine here: {result['auto_engine']}; accuracy ours {acc['ours_mean']:.3f} vs user loop "
                  f"{acc['user_mean']:.3f} (difference {acc['difference']:+.3f}, s.e. {acc['standard_error']:.3f}): "
                  + ("same within noise" if acc["same_within_noise"] else "NOT the same within noise")]
    for r in result["training_only"]:
        lines.append(f"training only, st-VGG width {r['width']:g}, {'channels-last' if r['channels_last'] else 'NCHW'}: "
                     f"{r['median'] / 1e9:.2f} GFLOP/s [{r['min'] / 1e9:.2f}-{r['max'] / 1e9:.2f}] = "
                     f"{r['of_matmul']:.1%} of matmul")
    p = result["protocol"]
    t = p["timed"]
    lines.append(f"protocol, training epochs ours (snapshots) vs paper (fresh per epoch count): this run "
                 f"{p['this_run']['ours_epochs']} vs {p['this_run']['paper_epochs']}; paper's §3 (N=100, E=140) "
                 f"{p['paper_s3']['ours_epochs']:,} vs {p['paper_s3']['paper_epochs']:,}")
    lines.append(f"protocol timed, N=1, E={t['epochs']}: ours {t['ours_seconds']['median']:.1f} s "
                 f"[{t['ours_seconds']['min']:.1f}-{t['ours_seconds']['max']:.1f}], paper's "
                 f"{t['paper_seconds']['median']:.1f} s [{t['paper_seconds']['min']:.1f}-{t['paper_seconds']['max']:.1f}] "
                 f"({t['paper_seconds']['median'] / t['ours_seconds']['median']:.2f}x)")
    return "\n".join(lines)


#: Where the benchmark's JSON results go by default (under the current folder).
RESULTS = Path("benchmarks") / "results"


def report(quick: bool = False, out: str | Path | None = None, **overrides: Any) -> dict[str, Any]:
    """Run, print the table, write the JSON (default ``benchmarks/results/bench-<quick|default>.json``
    under the current folder); ``overrides`` set :class:`BenchSettings` fields."""
    settings = replace(QUICK if quick else BenchSettings(), **{k: v for k, v in overrides.items() if v is not None})
    started = time.perf_counter()
    result = run_benchmark(settings, log=lambda m: print(m, flush=True))
    result["total_seconds"] = time.perf_counter() - started
    table = format_table(result)
    result["table"] = table
    print()
    print(table)
    path = write_result(result, out if out is not None else RESULTS / f"bench-{'quick' if quick else 'default'}.json")
    print(f"\nwrote {path} ({result['total_seconds']:.0f} s in all)")
    return result


def write_result(result: dict[str, Any], out: str | Path) -> Path:
    """Write ``result`` as indented JSON to ``out`` (its folder created); the path written."""
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1))
    return path


# --------------------------------------------------------------------------- the paper's §3 run

#: The paper's §3 run must take at most this long on one H100 (issue 6).
PAPER_S3_TARGET_S = 15 * 60


def paper_s3(device: str = "cpu", n_models: int = 100, epochs: int = 140, engine: str = "auto",
             precision: str | None = None, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Time the paper's §3 run (st-VGG width 1 on fashion-tops, its Supp. A recipe, N = 100 networks
    x 140 epochs, every epoch recorded) with our engine into an empty run store.

    ``n_models``/``epochs`` below the paper's time a part of it; the full run's time is then
    projected in proportion to member-epochs (recording included), and says so.
    """
    check_device(device)
    config = RunConfig(n_models=n_models, epochs=epochs, precision=precision)
    chosen = resolve_engine(engine, config, device)
    dataset = RunStore.dataset_for(config)
    log(f"paper §3 run: {config.describe()}; {chosen} engine on {device}")
    seconds, accuracy = _ours(config, dataset, chosen, device)
    full = 100 * 140
    projected = seconds * full / (n_models * epochs)
    result = {"config": config.to_dict(), "device": device, "engine": chosen,
              "device_name": torch.cuda.get_device_name(device) if device.startswith("cuda") else "cpu",
              "seconds": seconds, "member_epochs_per_s": n_models * epochs / seconds,
              "projected_full_seconds": projected, "projected": (n_models, epochs) != (100, 140),
              "target_seconds": PAPER_S3_TARGET_S, "meets_target": projected <= PAPER_S3_TARGET_S,
              "mean_final_test_accuracy": float(np.mean(accuracy))}
    log(f"{n_models} networks x {epochs} epochs: {seconds:.1f} s ({result['member_epochs_per_s']:.2f} member-epochs/s), "
        f"final test accuracy {result['mean_final_test_accuracy']:.3f}; the full run (N=100, E=140) "
        + ("projected at " if result["projected"] else "took ")
        + f"{projected / 60:.1f} min against the {PAPER_S3_TARGET_S // 60}-minute target: "
        + ("met" if result["meets_target"] else "NOT met"))
    return result
