"""The run store: one folder per RunConfig hash, one file per trained member.

Layout of a run folder ``<root>/<arch>-<dataset>-<hash>/``::

    config.json          the full RunConfig and the file-format version
    member-0000.npz      arrays of member 0, written to a temporary file and renamed when complete
    member-0000.sha256   checksum of that file, written (atomically) after it
    .lock                held while a process trains members of this run

A member counts as present only when its file, its checksum and its contents agree with the
config; anything else is reported and retrained, never trusted. A killed run resumes at the first
missing member; a second process asking for the same run waits for the first one's lock.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import os
import sys
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from tqdm.auto import tqdm

from . import scores
from .config import FORMAT_VERSION, RunConfig
from .data import Dataset, load_dataset
from .train import RECORDED, train_labels, train_member

SPLITS = ("train", "test")


class CorruptMemberWarning(UserWarning):
    """A member file failed its checks and will be retrained."""


def default_cache_dir() -> Path:
    """``$EQUALNETS_CACHE`` if set, else ``~/.cache/equalnets/runs``."""
    env = os.environ.get("EQUALNETS_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "equalnets" / "runs"


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


@dataclass(frozen=True)
class SplitRecord:
    """Per-example records of one split: arrays ``(N members, E recorded epochs, M examples)``."""

    labels: np.ndarray   # (M,) the labels the scores refer to (random ones for a random-label run)
    pred: np.ndarray     # (N, E, M) int16
    p_label: np.ndarray  # (N, E, M) float16
    margin: np.ndarray   # (N, E, M) float16
    el2n: np.ndarray     # (N, E, M) float16

    def accuracy(self) -> np.ndarray:
        """``(N, E)``: accuracy of each member at each recorded epoch."""
        return (self.pred == self.labels).mean(axis=2)

    def consistency(self) -> np.ndarray:
        """``(E, M)``: consistency score of every example at every recorded epoch."""
        return scores.consistency(self.pred, self.labels)

    def consensus(self, n_classes: int) -> np.ndarray:
        """``(E, M)``: consensus score of every example at every recorded epoch."""
        return scores.consensus(self.pred, n_classes)


@dataclass(frozen=True)
class Run:
    """A complete ensemble run loaded from the store."""

    config: RunConfig
    epochs: np.ndarray         # (E,) recorded epochs
    train: SplitRecord
    test: SplitRecord
    loss: np.ndarray           # (N, epochs) mean training loss
    classes: tuple[str, ...]
    path: Path

    @property
    def n_models(self) -> int:
        return int(self.train.pred.shape[0])

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def split(self, name: str) -> SplitRecord:
        if name not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {name!r}")
        return getattr(self, name)


class RunStore:
    """Trains what is missing, loads what is there: ``RunStore().get_or_train(config)``."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else default_cache_dir()

    def path(self, config: RunConfig) -> Path:
        """The folder of ``config``'s run."""
        return self.root / f"{config.arch}-{config.dataset}-{config.key}"

    # -- members ------------------------------------------------------------------------
    def _member_file(self, config: RunConfig, member: int) -> Path:
        return self.path(config) / f"member-{member:04d}.npz"

    def _read_member(self, config: RunConfig, member: int) -> dict[str, np.ndarray] | None:
        """The arrays of a member if its file is complete and consistent, else None."""
        path = self._member_file(config, member)
        checksum = path.with_suffix(".sha256")
        if not path.exists() and not checksum.exists():
            return None
        problem = None
        try:
            blob = path.read_bytes()
            if not checksum.exists():
                problem = "its checksum file is missing"
            elif hashlib.sha256(blob).hexdigest() != checksum.read_text().strip():
                problem = "its checksum does not match"
            else:
                with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
                    arrays = {k: npz[k] for k in npz.files}
                meta = json.loads(str(arrays.pop("meta")))
                n_epochs = len(config.recorded_epochs)
                if meta.get("key") != config.key or meta.get("member") != member:
                    problem = "it belongs to another run or member"
                elif any(arrays[f"{s}/pred"].shape[0] != n_epochs for s in SPLITS):
                    problem = "its number of recorded epochs is wrong"
                else:
                    return arrays
        except (OSError, ValueError, KeyError, EOFError) as err:
            problem = f"it cannot be read ({type(err).__name__}: {err})"
        warnings.warn(f"member {member} of run {path.parent.name} is corrupt: {problem}; "
                      "it will be retrained", CorruptMemberWarning, stacklevel=3)
        return None

    def _write_member(self, config: RunConfig, member: int, arrays: dict[str, np.ndarray],
                      device: str) -> None:
        meta = json.dumps({"key": config.key, "member": member, "format": FORMAT_VERSION,
                           "device": device, "torch": torch.__version__,
                           "seed": config.member_seed(member), "written": time.time()})
        buffer = io.BytesIO()
        np.savez_compressed(buffer, meta=np.array(meta), **arrays)
        blob = buffer.getvalue()
        path = self._member_file(config, member)
        _atomic_write(path, blob)
        _atomic_write(path.with_suffix(".sha256"), hashlib.sha256(blob).hexdigest().encode())

    def missing_members(self, config: RunConfig) -> list[int]:
        """Members of ``config`` not (validly) in the store, in order."""
        return [m for m in range(config.n_models) if self._read_member(config, m) is None]

    # -- runs ---------------------------------------------------------------------------
    def _prepare(self, config: RunConfig) -> Path:
        folder = self.path(config)
        folder.mkdir(parents=True, exist_ok=True)
        cfg_file = folder / "config.json"
        text = json.dumps({"format": FORMAT_VERSION, "config": config.to_dict()}, indent=1, sort_keys=True)
        if cfg_file.exists():
            stored = json.loads(cfg_file.read_text())
            if stored.get("format") != FORMAT_VERSION:
                raise RuntimeError(f"run folder {folder} has file format {stored.get('format')}, this "
                                   f"version reads format {FORMAT_VERSION}; delete the folder to retrain")
            if stored.get("config") != config.to_dict():
                raise RuntimeError(f"run folder {folder} holds another config than {config.key}")
        else:
            _atomic_write(cfg_file, text.encode())
        return folder

    @contextmanager
    def _locked(self, folder: Path) -> Iterator[None]:
        with open(folder / ".lock", "a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                print(f"another process is training {folder.name}; waiting for it", file=sys.stderr)
                fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def get_or_train(self, config: RunConfig, *, device: str = "cpu", progress: bool = True,
                     dataset: Dataset | None = None) -> Run:
        """The complete run of ``config``: loaded if stored, its missing members trained first.

        ``device`` and ``progress`` do not change the run's identity (a run trained on a GPU is
        served to a CPU reader); ``dataset`` may pass data already loaded for ``config``.
        """
        folder = self._prepare(config)
        with self._locked(folder):
            missing = self.missing_members(config)
            if missing:
                dataset = dataset if dataset is not None else self.dataset_for(config)
                data = dataset.to(device)
                print(f"training {len(missing)} of {config.n_models} members of {folder.name}: "
                      f"{config.describe()}", file=sys.stderr)
                for member in tqdm(missing, desc="members", disable=not progress):
                    arrays = train_member(config, data, member, device=device, progress=progress)
                    self._write_member(config, member, arrays, str(device))
        return self.load(config, dataset=dataset)

    @staticmethod
    def dataset_for(config: RunConfig) -> Dataset:
        """The data set a config trains on."""
        return load_dataset(config.dataset, train_per_class=config.train_per_class,
                            test_per_class=config.test_per_class)

    def load(self, config: RunConfig, dataset: Dataset | None = None) -> Run:
        """Load a complete run; raises ``FileNotFoundError`` naming the missing members."""
        members = [self._read_member(config, m) for m in range(config.n_models)]
        missing = [m for m, arrays in enumerate(members) if arrays is None]
        if missing:
            raise FileNotFoundError(f"run {self.path(config)} lacks members {missing}; "
                                    "call get_or_train to train them")
        data = (dataset if dataset is not None else self.dataset_for(config)).to("cpu")
        labels = {"train": train_labels(config, data).numpy(), "test": data.y_test.numpy()}
        splits = {s: SplitRecord(labels=labels[s],
                                 **{f: np.stack([a[f"{s}/{f}"] for a in members]) for f in ("pred", *RECORDED)})
                  for s in SPLITS}
        return Run(config=config, epochs=np.asarray(config.recorded_epochs), loss=np.stack([a["loss"] for a in members]),
                   classes=data.classes, path=self.path(config), **splits)
