"""Nothing lost, nothing wrong: bad parameters, kills, two processes at once, corrupt caches and
data files, a read-only or full disk, a failing notebook. Every case ends in the right result or
in one clear error; none in a silently wrong figure.

Killed and concurrent runs are real subprocesses (the script ``CHILD`` below) that log every
member they start and finish, so the tests can count trainings across processes.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import nbformat
import numpy as np
import papermill
import pytest
import torch

from equalnets.engine import data as data_module
from equalnets.chapters.base import EnsembleParameters
from equalnets.engine import ensemble
from equalnets.engine import store as store_module
from equalnets.engine.checks import ParameterError
from equalnets.engine.config import FORMAT_VERSION, RunConfig
from equalnets.engine.data import DataFileError, DatasetNotFoundError, load_dataset, read_idx
from equalnets.engine.store import CacheError, CorruptMemberWarning, RunStore, default_cache_dir
from equalnets.engine.train import DivergenceError

ROOT = Path(__file__).resolve().parents[1]
S3 = ROOT / "notebooks" / "part1_s3_single_architecture.ipynb"
FIELDS = ("pred", "p_label", "margin", "el2n")


# --------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def digits():
    """50 train / 20 test 8×8 digits, loaded once."""
    return load_dataset("digits", train_per_class=5, test_per_class=2)


@pytest.fixture
def config() -> RunConfig:
    """4 networks × 3 epochs of a narrow mnist-net: milliseconds per member once torch is warm."""
    return RunConfig(dataset="digits", train_per_class=5, test_per_class=2, arch="mnist-net", width=0.25,
                     n_models=4, epochs=3, batch_size=25, lr=0.05, momentum=0.9)


@pytest.fixture
def one_thread():
    """Children train with one thread; so does the in-process reference, for bit-equal results."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def reference(config, digits, tmp_path, one_thread):
    """The arrays of an uninterrupted run of ``config``."""
    return arrays_of(RunStore(tmp_path / "reference").get_or_train(config, progress=False, dataset=digits))


def arrays_of(run) -> dict[str, np.ndarray]:
    out = {f"{s}/{f}": getattr(run.split(s), f) for s in ("train", "test") for f in FIELDS}
    return out | {"loss": run.loss}


def assert_same(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert set(a) == set(b)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def spy_training(monkeypatch) -> list[int]:
    """The members ``RunStore`` trains in this process, in order."""
    trained: list[int] = []
    real = ensemble.train_members

    def spy(config, dataset, members, **kw):
        trained.extend(members)
        return real(config, dataset, members, **kw)
    monkeypatch.setattr(ensemble, "train_members", spy)
    return trained


def files_of(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith(".claim-"))


# --------------------------------------------------------------------------- 1. parameters

@pytest.mark.parametrize("params, words", [
    (dict(dataset="imagenet"), ["dataset must be one of", "fashion-tops", "cifar100-small-mammals"]),
    (dict(dataset="cifar100-small-mamals"), ["did you mean 'cifar100-small-mammals'"]),
    (dict(arch="resnet"), ["arch must be one of", "st-vgg", "linear-mnist-net"]),
    (dict(n_models="20"), ["n_models must be an integer >= 2", "'20' (str)"]),
    (dict(n_models=1), ["n_models must be an integer >= 2 (consistency compares networks), got 1"]),
    (dict(epochs=0), ["epochs must be an integer >= 1, got 0"]),
    (dict(epochs=2.5), ["epochs must be an integer >= 1", "(float)"]),
    (dict(width=0), ["width must be a finite number > 0, got 0"]),
    (dict(width=-1.0), ["width must be a finite number > 0"]),
    (dict(lr=0), ["lr must be a finite number > 0, got 0"]),
    (dict(lr=float("inf")), ["lr must be a finite number > 0, got inf"]),
    (dict(record_epochs=5), ["record_epochs must be a list of epochs", "got 5"]),
    (dict(device="tpu"), ["device must be one of cpu", "got 'tpu'"]),
    (dict(cache_dir=3), ["cache_dir must be a folder path or None", "(int)"]),
])
def test_bad_parameter_is_one_line_naming_it(params, words):
    with pytest.raises(ParameterError) as err:
        EnsembleParameters.from_namespace(EnsembleParameters().values() | params)
    message = str(err.value)
    assert "\n" not in message and isinstance(err.value, ValueError)
    for word in words:
        assert word in message
    assert err.value.__cause__ is None and err.value.__suppress_context__


def test_good_parameters_give_the_config():
    params = EnsembleParameters(device="cpu", cache_dir="/tmp/x", n_models=2, epochs=10, record_epochs=[5, 2])
    assert params.base_config() == RunConfig(n_models=2, epochs=10, record_epochs=(2, 5), width=0.25, lr=0.01,
                                             momentum=0.9)
    with pytest.raises(ParameterError, match="unknown RunConfig field.*did you mean 'n_models'"):
        RunConfig.from_dict({"n_model": 3})
    with pytest.raises(ParameterError, match="parameters cell lacks interactive"):
        EnsembleParameters.from_namespace({k: v for k, v in EnsembleParameters().values().items()
                                           if k != "interactive"})


def test_bad_parameter_in_the_notebook_fails_in_the_validation_cell(tmp_path):
    out = tmp_path / "out.ipynb"
    with pytest.raises(papermill.PapermillExecutionError) as err:
        papermill.execute_notebook(str(S3), str(out), parameters=dict(n_models=1, dataset="digits"),
                                   kernel_name="python3", progress_bar=False, cwd=str(ROOT / "notebooks"))
    assert err.value.ename == "ParameterError"
    assert err.value.evalue == "n_models must be an integer >= 2 (consistency compares networks), got 1"
    failed = [c for c in nbformat.read(out, as_version=4).cells if c.cell_type == "code"
              and any(o.output_type == "error" for o in c.outputs)]
    assert len(failed) == 1 and "Parameters.from_namespace(" in failed[0].source
    assert failed[0].execution_count == err.value.exec_count
    assert "torch" not in "".join(err.value.traceback)  # no frames from deep inside a library


# --------------------------------------------------------------------------- 2. kills, 3. concurrency

CHILD = r'''
import json, os, sys, time
import torch
torch.set_num_threads(1)
from equalnets.engine import ensemble, store, train
from equalnets.engine.config import RunConfig
from equalnets.engine.data import Dataset

root, config, data, fault, log, marker, out = sys.argv[1:8]
config = RunConfig.from_dict(json.loads(config))
dataset = Dataset(**torch.load(data))
kind, arg, *flag = fault.split(":", 2)
state = {"member": None, "epochs": 0}

def note(line):
    with open(log, "a") as f:  # one short O_APPEND write per line
        f.write(f"{os.getpid()} {line}\n")

def pause(what):  # the parent kills us here
    note("paused " + what)
    open(marker, "w").close()
    time.sleep(300)

real_members, real_epoch, real_fsync, real_replace = ensemble.train_members, train.train_epoch, os.fsync, os.replace

def members(config, data, ms, **kw):
    (m,) = ms  # the sequential strategy: one member at a time
    state.update(member=m, epochs=0)
    note(f"start {m}")
    if kind == "share":
        time.sleep(0.4)  # slow enough that the other process asks for members meanwhile
    result = real_members(config, data, ms, **kw)
    note(f"end {m}")
    return result

def epoch(*args):
    state["epochs"] += 1
    if kind == "epoch" and state["member"] == int(arg) and state["epochs"] == 2:
        pause("in epoch 2")
    return real_epoch(*args)

def fsync(fd):  # the bytes of a temporary file are written, not yet renamed: cut them in half, pause
    name = os.path.basename(os.readlink(f"/proc/self/fd/{fd}"))
    if kind == "writing" and name.startswith(f".member-{int(arg):04d}.npz."):
        os.ftruncate(fd, os.fstat(fd).st_size // 2)
        pause("writing " + name)
    return real_fsync(fd)

def replace(src, dst):
    real_replace(src, dst)
    name = os.path.basename(dst)
    if kind == "renamed" and name == f"member-{int(arg):04d}.{flag[0] if flag else 'npz'}":
        pause("after renaming " + name)

ensemble.train_members, train.train_epoch, os.fsync, os.replace = members, epoch, fsync, replace
if kind == "share":  # start together
    open(marker, "w").close()
    while not os.path.exists(arg):
        time.sleep(0.02)
run = store.RunStore(root).get_or_train(config, progress=False, dataset=dataset)
import numpy as np
np.savez(out, **{f"{s}/{f}": getattr(run.split(s), f) for s in ("train", "test")
                 for f in ("pred", "p_label", "margin", "el2n")}, loss=run.loss)
note("done")
'''


def start_child(tmp_path: Path, config: RunConfig, digits, fault: str, name: str, root: Path) -> tuple:
    script = tmp_path / "child.py"
    if not script.exists():
        script.write_text(CHILD)
    data = tmp_path / "digits.pt"
    if not data.exists():
        torch.save({k: getattr(digits, k) for k in ("name", "x_train", "y_train", "x_test", "y_test", "classes")},
                   data)
    log, marker, out = (tmp_path / f"{name}.{ext}" for ext in ("log", "ready", "npz"))
    proc = subprocess.Popen([sys.executable, str(script), str(root), json.dumps(config.to_dict()), str(data),
                             fault, str(log), str(marker), str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    return proc, log, marker, out


def wait_for(path: Path, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"child exited early ({proc.returncode}): {proc.stderr.read()}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"child never reached {path.name}")
        time.sleep(0.02)


def log_lines(log: Path, word: str) -> list[int]:
    return [int(line.split()[2]) for line in log.read_text().splitlines() if line.split()[1] == word]


# Where the child is killed, the files it leaves (tmp: a hidden temporary file), and the members
# a rerun must train. A member counts from the rename of its .npz on: only a kill after that keeps it.
DONE_0 = ["config.json", "member-0000.npz", "member-0000.sha256", "member-0000.weights.pt"]
KILLS = {
    "epoch:1": (DONE_0, [1, 2, 3]),                                     # in member 1's second epoch
    "writing:1": (DONE_0 + ["member-0001.sha256", "member-0001.weights.pt", "tmp"], [1, 2, 3]),  # .npz half written
    "renamed:1:weights.pt": (DONE_0 + ["member-0001.weights.pt"], [1, 2, 3]),  # its weights in place, nothing else
    "renamed:1:sha256": (DONE_0 + ["member-0001.sha256", "member-0001.weights.pt"], [1, 2, 3]),  # no .npz yet
    "renamed:1": (DONE_0 + ["member-0001.npz", "member-0001.sha256", "member-0001.weights.pt"], [2, 3]),  # complete
}


def test_killed_runs_resume_without_loss_or_repeats(config, digits, reference, tmp_path, monkeypatch):
    children = {fault: start_child(tmp_path, config, digits, fault, f"kill{i}", tmp_path / f"kill{i}")
                for i, fault in enumerate(KILLS)}  # all at once: each pays for starting python once
    for fault, (proc, log, marker, _) in children.items():
        wait_for(marker, proc)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close(), proc.stderr.close()
    for i, (fault, (proc, log, marker, out)) in enumerate(children.items()):
        left, expected = KILLS[fault]
        store = RunStore(tmp_path / f"kill{i}")
        folder = store.path(config)
        assert sorted("tmp" if name.endswith(".tmp") else name for name in files_of(folder)) == sorted(left), fault
        assert not out.exists() and log_lines(log, "end")[:1] == [0], fault
        trained = spy_training(monkeypatch)
        with warnings.catch_warnings():
            warnings.simplefilter("error", CorruptMemberWarning)  # a kill never leaves a corrupt member
            run = store.get_or_train(config, progress=False, dataset=digits)
        assert trained == expected, fault
        kept = set(range(config.n_models)) - set(expected)  # complete before the kill: never trained again
        assert kept.isdisjoint(trained) and kept | set(trained) == set(range(config.n_models))
        assert_same(arrays_of(run), reference)  # as if never killed
        assert files_of(folder) == ["config.json"] + [f"member-{m:04d}.{x}" for m in range(4) for x in ("npz", "sha256", "weights.pt")]


def test_two_processes_share_one_run(config, digits, reference, tmp_path):
    root = tmp_path / "shared"
    a = start_child(tmp_path, config, digits, f"share:{tmp_path / 'b.ready'}", "a", root)
    b = start_child(tmp_path, config, digits, f"share:{tmp_path / 'a.ready'}", "b", root)
    for proc, *_ in (a, b):
        _, stderr = proc.communicate(timeout=80)
        assert proc.returncode == 0, stderr
    started = {name: log_lines(log, "start") for name, (_, log, _, _) in (("a", a), ("b", b))}
    all_started = sorted(started["a"] + started["b"])
    assert all_started == list(range(config.n_models)), started  # each member trained exactly once
    assert started["a"] and started["b"], f"the work was not shared: {started}"
    for _, _, _, out in (a, b):
        with np.load(out) as got:
            assert_same(dict(got), reference)


def test_a_claimed_member_is_awaited_then_trained_if_its_claimant_gives_up(config, digits, reference,
                                                                          monkeypatch, one_thread):
    """Another process holds member 1's claim and dies without writing it: we wait, then train it."""
    store = RunStore()
    folder = store.prepare(config)
    claimant = open(folder / ".claim-0001", "a+")
    fcntl.flock(claimant, fcntl.LOCK_EX)  # another open file: conflicts as another process's claim does
    trained = spy_training(monkeypatch)
    real = ensemble.train_members

    def train_then_die(config, dataset, members, **kw):
        if members == [3]:  # the claimant dies while we wait for it (closing drops the flock, as death does)
            threading.Timer(0.5, claimant.close).start()
        return real(config, dataset, members, **kw)
    monkeypatch.setattr(ensemble, "train_members", train_then_die)
    started = time.monotonic()
    run = store.get_or_train(config, progress=False, dataset=digits)
    assert trained == [0, 2, 3, 1] and time.monotonic() - started >= 0.5
    assert_same(arrays_of(run), reference)


# --------------------------------------------------------------------------- 4. corruption

def test_run_folder_of_another_format_is_refused_with_what_to_do(config):
    store = RunStore()
    folder = store.path(config)
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"format": 0, "config": config.to_dict()}))
    with pytest.raises(RuntimeError, match=rf"has file format 0, this version reads format {FORMAT_VERSION}; delete the folder"):
        store.get_or_train(config, progress=False)


def test_unreadable_config_file_is_reported_and_rewritten(config, digits, one_thread, reference):
    store = RunStore()
    store.get_or_train(config, progress=False, dataset=digits)
    folder = store.path(config)
    (folder / "config.json").write_text('{"format": 1, "conf')
    (folder / "member-0003.npz").unlink()
    with pytest.warns(CorruptMemberWarning, match="config.json is unreadable"):
        run = store.get_or_train(config, progress=False, dataset=digits)
    assert json.loads((folder / "config.json").read_text())["config"] == config.to_dict()
    assert_same(arrays_of(run), reference)


# --------------------------------------------------------------------------- 5. divergence

def test_divergence_names_the_config_writes_nothing_and_leaves_reruns_alone(config, digits, reference,
                                                                             one_thread):
    store = RunStore()
    wild = RunConfig.from_dict(config.to_dict() | {"lr": 1e12})
    with pytest.raises(DivergenceError) as err:
        store.get_or_train(wild, progress=False, dataset=digits)
    message = str(err.value)
    assert message.startswith(f"member 0 of run {wild.key} diverged in epoch 1")
    assert "try a lower learning rate than lr=1e+12" in message and wild.describe() in message
    assert files_of(store.path(wild)) == ["config.json"]  # nothing of the member
    assert not list(store.path(wild).glob(".*.tmp"))
    assert_same(arrays_of(store.get_or_train(config, progress=False, dataset=digits)), reference)


# --------------------------------------------------------------------------- 6. data files

def write_idx(path: Path, array: np.ndarray) -> None:
    import gzip
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    blob = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(blob) if path.suffix == ".gz" else blob)


def fake_fashion(folder: Path, suffix: str = ".gz") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 40), ("t10k", 20)):
        write_idx(folder / f"{prefix}-images-idx3-ubyte{suffix}", rng.integers(0, 256, (n, 28, 28)))
        write_idx(folder / f"{prefix}-labels-idx1-ubyte{suffix}", np.arange(n) % 10)


@pytest.mark.parametrize("damage, words", [
    ("gzip-cut", ["is not a complete gzip file (EOFError"]),
    ("not-gzip", ["is not a complete gzip file (BadGzipFile"]),
    ("idx-cut", ["is truncated: header says (40, 28, 28)"]),
    ("swapped", ["holds an array of shape (40,), not images"]),
])
def test_damaged_fashion_file_is_named_with_how_to_fix(tmp_path, monkeypatch, damage, words):
    folder = tmp_path / "debian"
    fake_fashion(folder)
    monkeypatch.setattr(data_module, "DEBIAN_FASHION_MNIST", folder)
    assert load_dataset("fashion-tops").x_train.shape == (20, 1, 32, 32)  # the fakes are good
    images = folder / "train-images-idx3-ubyte.gz"
    import gzip
    if damage == "gzip-cut":
        images.write_bytes(images.read_bytes()[:-40])
    elif damage == "not-gzip":
        images.write_bytes(b"<html>404 Not Found</html>")
    elif damage == "idx-cut":
        images.write_bytes(gzip.compress(gzip.decompress(images.read_bytes())[:-100]))
    else:
        shutil.copy(folder / "train-labels-idx1-ubyte.gz", images)
    with pytest.raises(DataFileError) as err:
        load_dataset("fashion-tops")
    message = str(err.value)
    assert str(images) in message and "apt-get install --reinstall dataset-fashion-mnist" in message
    for word in words:
        assert word in message


def test_damaged_file_in_torchvision_folder_says_download_again(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    fake_fashion(raw, suffix="")
    assert load_dataset("mnist", data_dir=tmp_path, download=False).n_classes == 10
    labels = raw / "t10k-labels-idx1-ubyte"
    labels.write_bytes(labels.read_bytes()[:-5])
    with pytest.raises(DataFileError, match=rf"{labels} is truncated.*delete it and run again with download=True"):
        load_dataset("mnist", data_dir=tmp_path, download=False)
    html = raw / "train-images-idx3-ubyte"
    html.write_bytes(b"<html>404 Not Found</html>")
    with pytest.raises(DataFileError, match=rf"{html} is not an unsigned-byte IDX file \(bad magic number\); delete it"):
        read_idx(html)


def test_damaged_cifar_files_are_named(tmp_path):
    import pickle
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        entry = {"data": rng.integers(0, 256, (20, 3072), dtype=np.uint8), "labels": (np.arange(20) % 10).tolist()}
        (folder / name).write_bytes(pickle.dumps(entry))
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": [f"c{i}" for i in range(10)]}))
    assert load_dataset("cifar10", data_dir=tmp_path, download=False).n_classes == 10
    batch = folder / "data_batch_3"
    good = batch.read_bytes()
    cases = [
        (good[: len(good) // 2], DataFileError, "data_batch_3 is not a readable CIFAR pickle"),
        (b"", DataFileError, "data_batch_3 is not a readable CIFAR pickle (EOFError"),
        (pickle.dumps([1, 2, 3]), DataFileError, "data_batch_3 holds a list, not a CIFAR dict"),
        (pickle.dumps({"data": np.zeros((20, 100), np.uint8), "labels": [0] * 20}), DataFileError,
         "data_batch_3 is not a CIFAR batch (ValueError"),
        (pickle.dumps({"data": np.zeros((20, 3072), np.uint8), "labels": [12] * 20}), DataFileError,
         "data_batch_3 has labels from 12 to 12, not 0..9"),
        (None, DatasetNotFoundError, "data_batch_3 is missing"),
    ]
    for blob, kind, words in cases:
        if blob is None:
            batch.unlink()
        else:
            batch.write_bytes(blob)
        with pytest.raises(kind) as err:
            load_dataset("cifar10", data_dir=tmp_path, download=False)
        message = str(err.value)
        assert words in message and f"delete the folder {folder} and run again with download=True" in message
        assert "\n" not in message


# --------------------------------------------------------------------------- 7. environment

def read_only(monkeypatch, root: Path) -> None:
    """Make ``root`` behave like a read-only file system (chmod does not stop root, who runs CI)."""
    def refuse(path, *args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
    real_mkdir = pathlib.Path.mkdir

    def mkdir(self, *args, **kwargs):
        if self == root or root in self.parents:
            if self.is_dir() and kwargs.get("exist_ok"):
                return
            refuse(self)
        return real_mkdir(self, *args, **kwargs)
    monkeypatch.setattr(store_module, "open", refuse, raising=False)  # the store writes only through open
    monkeypatch.setattr(pathlib.Path, "mkdir", mkdir)


def test_read_only_cache_serves_complete_runs_and_names_itself_otherwise(config, digits, tmp_path,
                                                                         monkeypatch, one_thread, reference):
    shared = tmp_path / "shared"
    partly = RunConfig.from_dict(config.to_dict() | {"seed": 2})  # its folder is there, one member short
    for c in (config, partly):
        RunStore(shared).get_or_train(c, progress=False, dataset=digits)
    (RunStore(shared).path(partly) / "member-0002.npz").unlink()
    with monkeypatch.context() as mp:
        read_only(mp, shared)
        assert_same(arrays_of(RunStore(shared).get_or_train(config, progress=False, dataset=digits)), reference)
        other = RunConfig.from_dict(config.to_dict() | {"seed": 1})
        with pytest.raises(CacheError) as err:
            RunStore(shared).get_or_train(other, progress=False, dataset=digits)
        message = str(err.value)
        assert message.startswith(f"cannot write to the run cache {shared} (Read-only file system: "
                                  f"{RunStore(shared).path(other)}); set the environment variable EQUALNETS_CACHE "
                                  "or the notebook parameter cache_dir")
        assert "\n" not in message
        with pytest.raises(CacheError, match=r"cannot write to the run cache .*\.claim-0002\).*EQUALNETS_CACHE"):
            RunStore(shared).get_or_train(partly, progress=False, dataset=digits)


def test_full_disk_keeps_what_was_stored_and_says_what_to_do(config, digits, reference, monkeypatch,
                                                             one_thread, isolated_cache):
    real_open = open

    class FullDisk:
        def __init__(self, path, mode):
            self.file = real_open(path, mode)

        def write(self, blob):  # half of it lands, then the device is full
            self.file.write(blob[: len(blob) // 2])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        def __getattr__(self, name):
            return getattr(self.file, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.file.close()

    def full_from_member_2(path, mode="r", *args, **kwargs):
        if "member-0002" in str(path) and "w" in mode:
            return FullDisk(path, mode)
        return real_open(path, mode, *args, **kwargs)
    store = RunStore()
    with monkeypatch.context() as mp, pytest.raises(CacheError) as err:
        mp.setattr(store_module, "open", full_from_member_2, raising=False)
        store.get_or_train(config, progress=False, dataset=digits)
    message = str(err.value)
    assert err.value.errno == errno.ENOSPC
    assert message.startswith(f"no space left on the device of the run cache {isolated_cache} while writing")
    assert "free some space or set the environment variable EQUALNETS_CACHE or the notebook parameter cache_dir" in message
    assert "Members already stored are kept" in message
    folder = store.path(config)
    assert files_of(folder) == ["config.json"] + [f"member-{m:04d}.{x}" for m in range(2)
                                                  for x in ("npz", "sha256", "weights.pt")]  # no half-written file
    trained = spy_training(monkeypatch)  # space freed
    assert_same(arrays_of(store.get_or_train(config, progress=False, dataset=digits)), reference)
    assert trained == [2, 3]


def test_cache_location_env_parameter_and_no_home(tmp_path, monkeypatch):
    monkeypatch.delenv("EQUALNETS_DATA", raising=False)
    monkeypatch.setenv("EQUALNETS_CACHE", str(tmp_path / "env"))
    assert RunStore().root == tmp_path / "env" == default_cache_dir()
    assert RunStore(tmp_path / "param").root == tmp_path / "param"  # the parameter wins
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("EQUALNETS_CACHE", "~/runs")
    assert RunStore().root == tmp_path / "home" / "runs"
    monkeypatch.delenv("EQUALNETS_CACHE")
    assert RunStore().root == tmp_path / "home" / ".cache" / "equalnets" / "runs"
    monkeypatch.delenv("HOME")  # documented fallback: the home folder of the password database
    import pwd
    assert RunStore().root == Path(pwd.getpwuid(os.getuid()).pw_dir) / ".cache" / "equalnets" / "runs"

    def nobody(uid):
        raise KeyError(uid)
    monkeypatch.setattr(pwd, "getpwuid", nobody)  # a container user without a home
    with pytest.raises(CacheError, match=r"no home folder .*HOME is not set.*set the environment variable "
                                         r"EQUALNETS_CACHE or the notebook parameter cache_dir"):
        RunStore()
    with pytest.raises(DatasetNotFoundError, match="set EQUALNETS_DATA or pass data_dir"):
        load_dataset("mnist", download=False)
    assert load_dataset("digits", train_per_class=1, test_per_class=1).n_classes == 10  # needs no folder


# --------------------------------------------------------------------------- 8. the book

TINY = {"cells": [
    {"cell_type": "code", "metadata": {"tags": ["parameters"]}, "execution_count": None, "outputs": [],
     "source": 'profile: str = "quick"  # parameter set\ndevice: str = "cpu"  # cpu or cuda'},
    {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [], "source": "print('tiny ran')"},
], "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    "nbformat": 4, "nbformat_minor": 5}


def test_book_command_reports_the_failed_notebook_and_runs_the_others(tmp_path):
    shutil.copy(ROOT / "_config.yml", tmp_path / "_config.yml")
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: book/intro\nchapters:\n"
                                       "- file: book/executed/part1_s3_single_architecture\n"
                                       "- file: book/executed/tiny\n")
    notebooks = tmp_path / "notebooks"
    (notebooks / "profiles").mkdir(parents=True)
    shutil.copy(S3, notebooks / S3.name)
    nb = nbformat.from_dict(TINY)
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"tiny{i}"
    nbformat.write(nb, notebooks / "tiny.ipynb")
    (notebooks / "profiles" / "smoke.yaml").write_text(
        "defaults:\n  device: cpu\nnotebooks:\n  part1_s3_single_architecture:\n    dataset: digitz\n  tiny: {}\n")
    executed = tmp_path / "book" / "executed"
    executed.mkdir(parents=True)
    (executed / S3.name).write_text('{"marker": "previous"}')
    result = subprocess.run([sys.executable, "-m", "equalnets", "book", "--profile", "smoke", "--no-site"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("equalnets: notebook part1_s3_single_architecture failed in cell 3: ParameterError: "
                           "dataset must be one of fashion-tops"), result.stderr
    assert "got 'digitz' (did you mean 'digits'?)" in last and "the previous page, if any, is kept" in last
    assert (executed / S3.name).read_text() == '{"marker": "previous"}'
    assert "tiny ran" in (executed / "tiny.ipynb").read_text()
