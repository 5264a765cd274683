"""The run store: one folder per RunConfig hash, one set of files per trained member; it persists.

Layout of a run folder ``<root>/<arch>-<dataset>-<hash>/``::

    config.json              the full RunConfig and the file-format version
    member-0000.weights.pt   member 0's final weights (a state_dict), written atomically first
    member-0000.sha256       checksum of member 0's records, written (atomically) next
    member-0000.npz          member 0's records, written to a temporary file and renamed last;
                             its metadata holds the checksum of the weights file
    .claim-0000              locked (flock) by the process that is training member 0

A member counts as present only when its records, their checksum, its weights and the weights'
checksum agree with the config; anything else is reported and retrained, never trusted. The
rename of the ``.npz`` is the one moment a member becomes present: a process killed before it
leaves at most weights, a checksum and a hidden temporary file, which the next run replaces, and
one killed after it has lost nothing. A complete run is read without writing anything, so a
read-only cache serves the runs it holds.

The store does not train: :meth:`RunStore.get_or_train` hands what is missing to the orchestrator
(:mod:`equalnets.engine.ensemble`), which claims, trains and gives each member back to
:meth:`RunStore.write_member`.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import io
import json
import os
import threading
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch
from torch import nn

from . import ensemble
from .checks import check_int
from .config import FORMAT_VERSION, RunConfig
from .data import Dataset, load_dataset
from .models import network
from .train import RECORDED, TrainedMember, train_labels

SPLITS = ("train", "test")


class CorruptMemberWarning(UserWarning):
    """A member file failed its checks and will be retrained."""


class CacheError(OSError):
    """The run cache cannot be written (read-only, disk full, no home folder); the message names
    the folder and how to choose another one."""


#: How to point the store elsewhere; every CacheError ends with it.
CHOOSE_CACHE = ("set the environment variable EQUALNETS_CACHE or the notebook parameter cache_dir "
                "(RunStore(root)) to a writable folder")


def default_cache_dir() -> Path:
    """``$EQUALNETS_CACHE`` if set, else ``~/.cache/equalnets/runs``.

    Without ``$HOME`` the home folder comes from the password database; a user without one
    gets a ``CacheError`` that says how to choose the folder.
    """
    env = os.environ.get("EQUALNETS_CACHE")
    if env:
        return Path(env).expanduser()
    try:
        home = Path.home()
    except (RuntimeError, KeyError):
        raise CacheError("no home folder to put the run cache ~/.cache/equalnets/runs in (HOME is not set "
                         f"and the user has no entry in the password database); {CHOOSE_CACHE}") from None
    return home / ".cache" / "equalnets" / "runs"


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")  # per process and thread
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a full disk or an interrupt leaves no half-written file
        raise


def _cache_error(err: OSError, path: Path, root: Path) -> CacheError:
    """A CacheError for a failed write of ``path`` under ``root``, saying what to do."""
    if err.errno == errno.ENOSPC:
        what = f"no space left on the device of the run cache {root} while writing {path.name}"
        todo = "free some space or " + CHOOSE_CACHE.replace("a writable folder", "a folder on another disk")
    elif err.errno == errno.EDQUOT:
        what = f"disk quota exceeded in the run cache {root} while writing {path.name}"
        todo = "free some space or " + CHOOSE_CACHE
    else:
        what = f"cannot write to the run cache {root} ({err.strerror or err}: {path})"
        todo = CHOOSE_CACHE
    error = CacheError(f"{what}; {todo}. Members already stored are kept and a rerun trains only the "
                       "missing ones")
    error.errno = err.errno
    return error


def _weights_blob(weights: dict[str, torch.Tensor], input_shape: tuple[int, int, int], n_classes: int) -> bytes:
    buffer = io.BytesIO()
    torch.save({"state_dict": weights, "input_shape": list(input_shape), "n_classes": n_classes}, buffer)
    return buffer.getvalue()


def load_weights(path: Path, sha256: str) -> dict[str, Any]:
    """The contents of a member's weights file, checked against its checksum; ``ValueError`` otherwise."""
    blob = path.read_bytes()
    if hashlib.sha256(blob).hexdigest() != sha256:
        raise ValueError(f"{path.name} does not match its checksum")
    return torch.load(io.BytesIO(blob), map_location="cpu", weights_only=True)


def _member_weights(folder: Path, member: int, sha256: str) -> dict[str, Any]:
    """A stored member's weights file (state dict, input shape, classes), or a ValueError saying what to do."""
    try:
        return load_weights(folder / f"member-{member:04d}.weights.pt", sha256)
    except (OSError, ValueError, RuntimeError) as err:
        raise ValueError(f"the weights of member {member} of run {folder.name} cannot be read ({err}); "
                         "delete its member-*.npz file and open the run again to retrain it") from None


@dataclass(frozen=True)
class SplitRecord:
    """Per-example records of one split: arrays ``(N members, E recorded epochs, M examples)``.
    The scores computed from them live in :mod:`equalnets.analysis.scores`."""

    labels: np.ndarray   # (M,) the labels the scores refer to (random ones for a random-label run)
    pred: np.ndarray     # (N, E, M) int16
    p_label: np.ndarray  # (N, E, M) float16
    margin: np.ndarray   # (N, E, M) float16
    el2n: np.ndarray     # (N, E, M) float16

    def accuracy(self) -> np.ndarray:
        """``(N, E)``: accuracy of each member at each recorded epoch."""
        return (self.pred == self.labels).mean(axis=2)


@dataclass(frozen=True)
class Run:
    """A complete ensemble run loaded from the store (or made up by a test: every field after
    ``path`` is optional).

    ``active`` ``(N, E, L)``: q⁺ of every dropout layer's input at every recorded epoch
    (``RunConfig.record_active``); ``first_layer`` ``(N, E, filters, fan-in)``: the first weighted
    layer at every recorded epoch (``RunConfig.record_first_layer``); ``seconds`` ``(N,)``: each
    member's training time (steps only); ``weights_sha256``: the checksum of each member's weights
    file, for :meth:`model`.
    """

    config: RunConfig
    epochs: np.ndarray         # (E,) recorded epochs
    train: SplitRecord
    test: SplitRecord
    loss: np.ndarray           # (N, epochs) mean training loss
    classes: tuple[str, ...]
    path: Path
    active: np.ndarray | None = None
    first_layer: np.ndarray | None = None
    seconds: np.ndarray | None = None
    weights_sha256: tuple[str, ...] | None = None

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

    def model(self, member: int) -> nn.Module:
        """Member ``member``'s trained network, rebuilt from its stored weights, in eval mode on the CPU."""
        check_int("member", member, 0, self.n_models - 1)
        if self.weights_sha256 is None:
            raise ValueError("this run holds no weights (it was not loaded from a run store)")
        saved = _member_weights(self.path, int(member), self.weights_sha256[member])
        channels, size, _ = saved["input_shape"]
        model = network(self.config, in_channels=channels, image_size=size, n_classes=saved["n_classes"])
        model.load_state_dict(saved["state_dict"])
        return model.eval()


class RunStore:
    """Loads what is there, has what is missing trained: ``RunStore().get_or_train(config)``."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root).expanduser() if root is not None else default_cache_dir()

    def path(self, config: RunConfig) -> Path:
        """The folder of ``config``'s run."""
        return self.root / f"{config.arch}-{config.dataset}-{config.key}"

    # -- members ------------------------------------------------------------------------
    def member_file(self, config: RunConfig, member: int) -> Path:
        """The records file of ``member``; its checksum and weights files sit beside it."""
        return self.path(config) / f"member-{member:04d}.npz"

    def read_member(self, config: RunConfig, member: int, *, warn: bool = True) -> dict[str, np.ndarray] | None:
        """The arrays of a member (and its ``meta`` dict under ``'meta'``) if its files are complete
        and consistent, else None.

        A missing ``.npz`` is a member not (yet) written, even if a checksum is there: a write
        interrupted before its rename. Anything else that fails a check is reported (``warn``).
        """
        path = self.member_file(config, member)
        checksum = path.with_suffix(".sha256")
        if not path.exists():
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
                    arrays: dict[str, Any] = {k: npz[k] for k in npz.files}
                meta = json.loads(str(arrays.pop("meta")))
                if meta.get("key") != config.key or meta.get("member") != member:
                    problem = "it belongs to another run or member"
                elif meta.get("format") != FORMAT_VERSION:
                    problem = f"it has file format {meta.get('format')!r}, not {FORMAT_VERSION}"
                else:
                    problem = self._check_arrays(config, arrays) or self._check_weights(path, meta)
                    if problem is None:
                        arrays["meta"] = meta
                        return arrays
        except (OSError, ValueError, KeyError, EOFError, AttributeError, TypeError) as err:
            problem = f"it cannot be read ({type(err).__name__}: {err})"
        if warn:
            warnings.warn(f"member {member} of run {path.parent.name} is corrupt: {problem}; "
                          "it will be retrained", CorruptMemberWarning, stacklevel=3)
        return None

    @staticmethod
    def _check_weights(records: Path, meta: dict) -> str | None:
        weights = records.with_suffix(".weights.pt")
        if not weights.exists():
            return "its weights file is missing"
        if hashlib.sha256(weights.read_bytes()).hexdigest() != meta.get("weights_sha256"):
            return "its weights file does not match its checksum"
        return None

    @staticmethod
    def _check_arrays(config: RunConfig, arrays: dict[str, np.ndarray]) -> str | None:
        """What is wrong with a member's arrays (names, dtypes, shapes), or None."""
        expected = {"loss", *(f"{s}/{f}" for s in SPLITS for f in ("pred", *RECORDED))}
        if config.record_active is not None:
            expected.add("active")
        if config.record_first_layer:
            expected.add("first_layer")
        if set(arrays) != expected:
            return f"its arrays are {sorted(arrays)}, not {sorted(expected)}"
        if arrays["loss"].shape != (config.epochs,):
            return f"its loss has shape {arrays['loss'].shape}, not ({config.epochs},)"
        n_epochs = len(config.recorded_epochs)
        for s in SPLITS:
            shape = arrays[f"{s}/pred"].shape
            if len(shape) != 2 or shape[0] != n_epochs:
                return f"its number of recorded epochs is wrong ({s}/pred has shape {shape})"
            for f, dtype in (("pred", np.int16), *((f, np.float16) for f in RECORDED)):
                a = arrays[f"{s}/{f}"]
                if a.shape != shape or a.dtype != dtype:
                    return f"{s}/{f} is {a.dtype} {a.shape}, not {np.dtype(dtype)} {shape}"
        if "active" in arrays and (arrays["active"].ndim != 2 or arrays["active"].shape[0] != n_epochs):
            return f"its active fractions have shape {arrays['active'].shape}, not ({n_epochs}, layers)"
        if "first_layer" in arrays and (arrays["first_layer"].ndim != 3 or arrays["first_layer"].shape[0] != n_epochs):
            return f"its first-layer weights have shape {arrays['first_layer'].shape}, not ({n_epochs}, out, fan-in)"
        return None

    def member_info(self, config: RunConfig) -> list[dict | None]:
        """Per member: the metadata its file records (key, seed, device, engine, layout, torch
        version, seconds, time written), or None where the member is not stored."""
        out: list[dict | None] = []
        for member in range(config.n_models):
            try:
                with np.load(self.member_file(config, member), allow_pickle=False) as npz:
                    info = json.loads(str(npz["meta"]))
                out.append(info if isinstance(info, dict) else None)
            except Exception:  # noqa: BLE001 - any unreadable file (BadZipFile too) has no info
                out.append(None)
        return out

    def write_member(self, config: RunConfig, trained: TrainedMember, dataset: Dataset,
                     device: str) -> dict[str, Any]:
        """Store a trained member: its weights, then its records' checksum, then its records. Returns
        what :meth:`read_member` would now read (the arrays and ``'meta'``)."""
        member = trained.member
        path = self.member_file(config, member)
        weights = _weights_blob(trained.weights, tuple(dataset.x_train.shape[1:]), dataset.n_classes)
        meta = {"key": config.key, "member": member, "format": FORMAT_VERSION, "device": str(device),
                "engine": trained.engine, "layout": trained.layout, "torch": torch.__version__,
                "seed": config.member_seed(member), "seconds": trained.seconds,
                "weights_sha256": hashlib.sha256(weights).hexdigest(), "written": time.time()}
        buffer = io.BytesIO()
        np.savez_compressed(buffer, meta=np.array(json.dumps(meta)), **trained.arrays)
        blob = buffer.getvalue()
        # Weights and checksum first: the rename of the .npz is then the one moment the member appears.
        with self._writing(path):
            _atomic_write(path.with_suffix(".weights.pt"), weights)
            _atomic_write(path.with_suffix(".sha256"), hashlib.sha256(blob).hexdigest().encode())
            _atomic_write(path, blob)
        return {**trained.arrays, "meta": meta}

    @contextmanager
    def _writing(self, path: Path) -> Iterator[None]:
        """Turn a failed write under the cache into a CacheError naming the folder and the fix."""
        try:
            yield
        except CacheError:
            raise
        except OSError as err:
            raise _cache_error(err, path, self.root) from None

    def missing_members(self, config: RunConfig) -> list[int]:
        """Members of ``config`` not (validly) in the store, in order."""
        return [m for m in range(config.n_models) if self.read_member(config, m) is None]

    def remove_partial(self, config: RunConfig, member: int) -> None:
        """Delete what a killed writer of ``member`` left (hidden temporary files); call with its claim held."""
        for partial in self.path(config).glob(f".member-{member:04d}.*.tmp"):
            partial.unlink(missing_ok=True)

    # -- runs ---------------------------------------------------------------------------
    def prepare(self, config: RunConfig) -> Path:
        """The run's folder, created with its ``config.json`` (or checked against the one there)."""
        folder = self.path(config)
        cfg_file = folder / "config.json"
        text = json.dumps({"format": FORMAT_VERSION, "config": config.to_dict()}, indent=1, sort_keys=True)
        with self._writing(folder):
            folder.mkdir(parents=True, exist_ok=True)
            stored = None
            if cfg_file.exists():
                try:
                    stored = json.loads(cfg_file.read_text())
                    if not isinstance(stored, dict):
                        raise ValueError(f"a JSON {type(stored).__name__}, not an object")
                except ValueError as err:  # members carry their run's key, so the file can be rewritten
                    warnings.warn(f"{cfg_file} is unreadable ({err}); writing it again", CorruptMemberWarning,
                                  stacklevel=3)
                    stored = None
            if stored is None:
                _atomic_write(cfg_file, text.encode())
        if stored is not None:
            if stored.get("format") != FORMAT_VERSION:
                raise RuntimeError(f"run folder {folder} has file format {stored.get('format')}, this "
                                   f"version reads format {FORMAT_VERSION}; delete the folder to retrain")
            if stored.get("config") != config.to_dict():
                raise RuntimeError(f"run folder {folder} holds another config than {config.key}")
        return folder

    @contextmanager
    def claim(self, config: RunConfig, member: int, *, wait: bool) -> Iterator[bool]:
        """Hold the claim on ``member`` (True), or False if another process holds it and not ``wait``.

        An flock: the kernel releases it when its process dies, so a killed run leaves no stale claim.
        """
        path = self.path(config) / f".claim-{member:04d}"
        with self._writing(path):
            handle = open(path, "a+")
        with handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def get_or_train(self, config: RunConfig, *, device: str = "cpu", progress: bool = True,
                     dataset: Dataset | None = None, engine: str = "auto", group_size: int | None = None,
                     **executor: Any) -> Run:
        """The complete run of ``config``: loaded if stored, its missing members trained first by the
        orchestrator (:func:`equalnets.engine.ensemble.complete`, which documents ``engine``,
        ``group_size`` and the executor options).

        ``device``, ``progress``, ``engine`` and the executor do not change the run's identity (a
        run trained on a GPU is served to a CPU reader); ``dataset`` may pass data already loaded
        for ``config``. Several processes may ask for one run at once: each member is trained by
        one of them.
        """
        ensemble.check_options(engine=engine, group_size=group_size, device=device, **executor)  # even if stored
        members = [self.read_member(config, m, warn=False) for m in range(config.n_models)]
        if any(a is None for a in members):  # nothing to write otherwise: read-only caches work
            members = ensemble.complete(self, config, members, device=device, progress=progress, dataset=dataset,
                                        engine=engine, group_size=group_size, **executor)
        return self._assemble(config, members, dataset)  # every member read or trained once, not re-read

    def find(self, key: str) -> RunConfig:
        """The config of the stored run whose key is ``key`` (from its folder's ``config.json``)."""
        folders = sorted(self.root.glob(f"*-{key}")) if self.root.exists() else []
        if len(folders) != 1:
            raise FileNotFoundError(f"no run with key {key} in the run store {self.root}: train it first")
        stored = json.loads((folders[0] / "config.json").read_text())
        return RunConfig.from_dict(stored["config"])

    def source_weights(self, config: RunConfig) -> dict[int, dict[str, torch.Tensor]]:
        """For ``config.init_from``: member → the state dict it starts from (member k of the source run,
        modulo its size). The source run must be complete."""
        source = self.find(config.init_from)
        records = [self.read_member(source, m) for m in range(source.n_models)]
        missing = [m for m, r in enumerate(records) if r is None]
        if missing:
            raise FileNotFoundError(f"run {config.init_from}, which {config.key} starts from, lacks members {missing}")
        return {m: _member_weights(self.path(source), m % source.n_models,
                                   records[m % source.n_models]["meta"]["weights_sha256"])["state_dict"]
                for m in range(config.n_models)}

    def artifact(self, kind: str, spec: dict[str, Any], compute: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        """Arrays computed once from stored runs and kept beside them (e.g. prediction depths, samples of
        a posterior): ``<root>/artifacts/<kind>-<hash of spec>.npz``, checksummed and written atomically.
        ``spec`` must name everything the arrays depend on (the runs' keys, the method's parameters);
        a damaged file is reported and computed again."""
        blob = json.dumps({"format": FORMAT_VERSION, "kind": kind, **spec}, sort_keys=True, default=str)
        path = self.root / "artifacts" / f"{kind}-{hashlib.sha256(blob.encode()).hexdigest()[:16]}.npz"
        if path.exists():
            try:
                data = path.read_bytes()
                if hashlib.sha256(data).hexdigest() == path.with_suffix(".sha256").read_text().strip():
                    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
                        return {k: npz[k] for k in npz.files}
                problem = "its checksum does not match"
            except (OSError, ValueError, EOFError) as err:
                problem = f"it cannot be read ({type(err).__name__}: {err})"
            warnings.warn(f"{path} is corrupt: {problem}; it will be computed again", CorruptMemberWarning, stacklevel=2)
        arrays = compute()
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)
        with self._writing(path):
            path.parent.mkdir(parents=True, exist_ok=True)
            _atomic_write(path.with_suffix(".sha256"), hashlib.sha256(buffer.getvalue()).hexdigest().encode())
            _atomic_write(path, buffer.getvalue())
        return arrays

    @staticmethod
    def dataset_for(config: RunConfig) -> Dataset:
        """The data set a config trains on."""
        return load_dataset(config.dataset, train_per_class=config.train_per_class,
                            test_per_class=config.test_per_class, inputs=config.inputs)

    def load(self, config: RunConfig, dataset: Dataset | None = None) -> Run:
        """Load a complete run; raises ``FileNotFoundError`` naming the missing members."""
        members = [self.read_member(config, m) for m in range(config.n_models)]
        missing = [m for m, arrays in enumerate(members) if arrays is None]
        if missing:
            raise FileNotFoundError(f"run {self.path(config)} lacks members {missing}; "
                                    "call get_or_train to train them")
        return self._assemble(config, members, dataset)

    def _assemble(self, config: RunConfig, members: list[dict[str, Any]], dataset: Dataset | None) -> Run:
        data = (dataset if dataset is not None else self.dataset_for(config)).to("cpu")
        labels = {"train": train_labels(config, data).numpy(), "test": data.y_test.numpy()}
        for s in SPLITS:
            found = sorted({a[f"{s}/pred"].shape[1] for a in members})
            if found != [len(labels[s])]:
                raise RuntimeError(f"run {self.path(config)} recorded {found} {s} examples but the data set "
                                   f"{config.dataset} now has {len(labels[s])}: its files changed since the "
                                   "run was trained; delete the run folder to retrain")
        splits = {s: SplitRecord(labels=labels[s],
                                 **{f: np.stack([a[f"{s}/{f}"] for a in members]) for f in ("pred", *RECORDED)})
                  for s in SPLITS}
        return Run(config=config, epochs=np.asarray(config.recorded_epochs), loss=np.stack([a["loss"] for a in members]),
                   classes=data.classes, path=self.path(config),
                   active=np.stack([a["active"] for a in members]) if config.record_active else None,
                   first_layer=np.stack([a["first_layer"] for a in members]) if config.record_first_layer else None,
                   seconds=np.array([a["meta"]["seconds"] for a in members]),
                   weights_sha256=tuple(a["meta"]["weights_sha256"] for a in members), **splits)


def open_run(config: RunConfig, *, cache_dir: str | Path | None = None, device: str = "cpu",
             progress: bool = True, engine: str = "auto", dataset: Dataset | None = None,
             **executor: Any) -> tuple[Run, Dataset]:
    """The run of ``config`` from the store at ``cache_dir`` (its missing members trained first: see
    :meth:`RunStore.get_or_train`) and its data set, each described in one printed line: what a
    chapter needs before its figures."""
    store = RunStore(cache_dir)
    dataset = dataset if dataset is not None else store.dataset_for(config)
    print(dataset.describe())
    run = store.get_or_train(config, device=device, dataset=dataset, progress=progress, engine=engine, **executor)
    print(f"run {run.path.name}: {run.n_models} networks, {len(run.epochs)} recorded epochs")
    return run, dataset
