"""The run store: one folder per RunConfig hash, one file per trained member.

Layout of a run folder ``<root>/<arch>-<dataset>-<hash>/``::

    config.json          the full RunConfig and the file-format version
    member-0000.sha256   checksum of member 0's file, written (atomically) just before it
    member-0000.npz      arrays of member 0, written to a temporary file and renamed when complete
    .claim-0000          locked (flock) by the process that is training member 0

A member counts as present only when its file, its checksum and its contents agree with the
config; anything else is reported and retrained, never trusted. The rename of the ``.npz`` is
the one moment a member becomes present: a process killed before it leaves at most a checksum
and a hidden temporary file, which the next run removes and retrains, and one killed after it
has lost nothing. Processes that ask for the same run share its work: each trains the members
nobody has claimed, then waits for the others' claims. A complete run is read without writing
anything, so a read-only cache serves the runs it holds.

Members are trained by one of two engines (``engine='auto'|'batched'|'sequential'``, see
:mod:`equalnets.train`): one at a time, or a group of claimed members at once. The engine, like
the device, is not part of a run's identity: both give each member the same initialisation,
mini-batches and dropout masks, and differ by floating-point rounding only. It is not silent
either: each member file records the engine, layout and device that trained it
(:meth:`RunStore.member_info`), and a run completed by another engine than the one that started
it says so. The batched engine claims its whole group before training it and writes each member
as above, so a killed group leaves its members missing, never half-written.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import io
import json
import os
import sys
import time
import warnings
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from tqdm.auto import tqdm

from . import scores
from .config import FORMAT_VERSION, RunConfig
from .data import Dataset, load_dataset
from .train import (RECORDED, default_channels_last, resolve_engine, train_labels, train_member,
                    train_members)

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
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
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
        self.root = Path(root).expanduser() if root is not None else default_cache_dir()

    def path(self, config: RunConfig) -> Path:
        """The folder of ``config``'s run."""
        return self.root / f"{config.arch}-{config.dataset}-{config.key}"

    # -- members ------------------------------------------------------------------------
    def _member_file(self, config: RunConfig, member: int) -> Path:
        return self.path(config) / f"member-{member:04d}.npz"

    def _read_member(self, config: RunConfig, member: int, *, warn: bool = True) -> dict[str, np.ndarray] | None:
        """The arrays of a member if its file is complete and consistent, else None.

        A missing ``.npz`` is a member not (yet) written, even if a checksum is there: a write
        interrupted before its rename. Anything else that fails a check is reported (``warn``).
        """
        path = self._member_file(config, member)
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
                    arrays = {k: npz[k] for k in npz.files}
                meta = json.loads(str(arrays.pop("meta")))
                if meta.get("key") != config.key or meta.get("member") != member:
                    problem = "it belongs to another run or member"
                elif meta.get("format") != FORMAT_VERSION:
                    problem = f"it has file format {meta.get('format')!r}, not {FORMAT_VERSION}"
                else:
                    problem = self._check_arrays(config, arrays)
                    if problem is None:
                        return arrays
        except (OSError, ValueError, KeyError, EOFError, AttributeError) as err:
            problem = f"it cannot be read ({type(err).__name__}: {err})"
        if warn:
            warnings.warn(f"member {member} of run {path.parent.name} is corrupt: {problem}; "
                          "it will be retrained", CorruptMemberWarning, stacklevel=3)
        return None

    @staticmethod
    def _check_arrays(config: RunConfig, arrays: dict[str, np.ndarray]) -> str | None:
        """What is wrong with a member's arrays (names, dtypes, shapes), or None."""
        expected = {"loss", *(f"{s}/{f}" for s in SPLITS for f in ("pred", *RECORDED))}
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
        return None

    def member_info(self, config: RunConfig) -> list[dict | None]:
        """Per member: the metadata its file records (key, seed, device, engine, layout, torch
        version, time written), or None where the member is not stored. Members written before
        engines existed have no ``engine``: they were trained sequentially in NCHW layout."""
        out: list[dict | None] = []
        for member in range(config.n_models):
            path = self._member_file(config, member)
            try:
                with np.load(path, allow_pickle=False) as npz:
                    info = json.loads(str(npz["meta"]))
                out.append(info if isinstance(info, dict) else None)
            except Exception:  # noqa: BLE001 - any unreadable file (BadZipFile too) has no info
                out.append(None)
        return out

    def _write_member(self, config: RunConfig, member: int, arrays: dict[str, np.ndarray],
                      device: str, engine: str = "sequential", layout: str = "nchw") -> None:
        meta = json.dumps({"key": config.key, "member": member, "format": FORMAT_VERSION,
                           "device": device, "engine": engine, "layout": layout, "torch": torch.__version__,
                           "seed": config.member_seed(member), "written": time.time()})
        buffer = io.BytesIO()
        np.savez_compressed(buffer, meta=np.array(meta), **arrays)
        blob = buffer.getvalue()
        path = self._member_file(config, member)
        # Checksum first: the rename of the .npz is then the one moment the member appears.
        with self._writing(path):
            _atomic_write(path.with_suffix(".sha256"), hashlib.sha256(blob).hexdigest().encode())
            _atomic_write(path, blob)

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
        return [m for m in range(config.n_models) if self._read_member(config, m) is None]

    # -- runs ---------------------------------------------------------------------------
    def _prepare(self, config: RunConfig) -> Path:
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
    def _claim(self, folder: Path, member: int, *, wait: bool) -> Iterator[bool]:
        """Hold the claim on ``member`` (True), or False if another process holds it and not ``wait``.

        An flock: the kernel releases it when its process dies, so a killed run leaves no stale claim.
        """
        path = folder / f".claim-{member:04d}"
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
                     dataset: Dataset | None = None, engine: str = "auto",
                     group_size: int | None = None) -> Run:
        """The complete run of ``config``: loaded if stored, its missing members trained first.

        ``device``, ``progress`` and ``engine`` do not change the run's identity (a run trained on
        a GPU is served to a CPU reader); ``dataset`` may pass data already loaded for ``config``.
        ``engine``: ``'sequential'`` trains one member at a time, ``'batched'`` up to
        ``group_size`` members at once (default: every missing member on a GPU, 10 on the CPU),
        ``'auto'`` the faster for the device (:func:`equalnets.train.resolve_engine`; BatchNorm
        networks fall back to sequential). Several processes may ask for one run at once: each
        member is trained by one of them.
        """
        if group_size is not None and (isinstance(group_size, bool) or not isinstance(group_size, int)
                                       or group_size < 1):
            raise ValueError(f"group_size must be an integer >= 1 or None, got {group_size!r}")
        members = [self._read_member(config, m, warn=False) for m in range(config.n_models)]
        if all(a is not None for a in members):  # nothing to write: read-only caches work
            return self._assemble(config, members, dataset)
        chosen = resolve_engine(engine, config, device)
        if chosen == "sequential":
            group = 1
        else:
            group = group_size or (config.n_models if torch.device(device).type == "cuda" else 10)
        layout = "channels-last" if chosen == "sequential" and default_channels_last(device) else "nchw"
        folder = self._prepare(config)
        pending = [m for m, a in enumerate(members) if a is None]
        others = sorted({(i.get("engine", "sequential"), i.get("layout", "nchw"))
                         for i, a in zip(self.member_info(config), members) if i is not None and a is not None}
                        - {(chosen, layout)})
        print(f"training {len(pending)} of {config.n_models} members of {folder.name} with the {chosen} engine"
              + (f" (groups of {group})" if chosen == "batched" else "") + f": {config.describe()}",
              file=sys.stderr)
        if others:
            print(f"note: the stored members of {folder.name} were trained by {others} (engine, layout); "
                  "the engines differ by rounding only (same seeds, batches and masks)", file=sys.stderr)
        data = None
        bar = tqdm(total=len(pending), desc="members", disable=not progress)
        while pending:
            elsewhere: list[int] = []
            queue = list(pending)
            while queue:
                with ExitStack() as claims:
                    mine: list[int] = []
                    while queue and len(mine) < group:
                        member = queue.pop(0)
                        if not claims.enter_context(self._claim(folder, member, wait=False)):
                            elsewhere.append(member)
                            continue
                        arrays = self._read_member(config, member)  # written meanwhile by another process?
                        if arrays is not None:
                            members[member] = arrays
                            bar.update()
                            continue
                        for partial in folder.glob(f".member-{member:04d}.*.tmp"):
                            partial.unlink(missing_ok=True)  # left by a killed process; the claim is ours
                        mine.append(member)
                    if not mine:
                        continue
                    if data is None:
                        dataset = dataset if dataset is not None else self.dataset_for(config)
                        data = dataset.to(device)
                    started = time.perf_counter()
                    if chosen == "sequential":
                        trained = [train_member(config, data, mine[0], device=device, progress=progress)]
                    else:
                        trained = train_members(config, data, mine, device=device, progress=progress)
                    seconds = time.perf_counter() - started
                    for member, arrays in zip(mine, trained):
                        self._write_member(config, member, arrays, str(device), chosen, layout)
                        # One plain line per member: a log for batch runs, where no bar is drawn.
                        test_acc = float((arrays["test/pred"][-1] == data.y_test.cpu().numpy()).mean())
                        print(f"member {member}: {seconds / len(mine):.0f} s, final loss "
                              f"{arrays['loss'][-1]:.3f}, test accuracy {test_acc:.3f}", file=sys.stderr)
                        members[member] = arrays
                        bar.update()
            if elsewhere:
                print(f"another process is training member(s) {elsewhere} of {folder.name}; waiting for it",
                      file=sys.stderr)
                with self._claim(folder, elsewhere[0], wait=True):
                    pass
            pending = elsewhere
        bar.close()
        return self._assemble(config, members, dataset)  # every member read or trained once, not re-read

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
        return self._assemble(config, members, dataset)

    def _assemble(self, config: RunConfig, members: list[dict[str, np.ndarray]],
                  dataset: Dataset | None) -> Run:
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
                   classes=data.classes, path=self.path(config), **splits)


def open_run(config: RunConfig, *, cache_dir: str | Path | None = None, device: str = "cpu",
             progress: bool = True, engine: str = "auto") -> tuple[Run, Dataset]:
    """The run of ``config`` from the store at ``cache_dir`` (its missing members trained first, by
    ``engine``: see :meth:`RunStore.get_or_train`) and its data set, each described in one printed
    line: what a chapter needs before its figures."""
    store = RunStore(cache_dir)
    dataset = store.dataset_for(config)
    print(dataset.describe())
    run = store.get_or_train(config, device=device, dataset=dataset, progress=progress, engine=engine)
    print(f"run {run.path.name}: {run.n_models} networks, {len(run.epochs)} recorded epochs")
    return run, dataset
