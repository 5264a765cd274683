"""The Ray executor (:mod:`equalnets.engine.distributed`) on a local Ray cluster of 2 CPUs, one per
member task: the same records as the local executor, a worker killed mid-member is retried and
leaves no half-written member, two drivers train each member once, a killed driver leaves complete
members, bad arguments are one-line errors; and the GPU path where a GPU is present."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import ray
import torch

from equalnets.engine import distributed
from equalnets.engine.checks import ParameterError
from equalnets.engine.config import RunConfig
from equalnets.engine.store import SPLITS, CorruptMemberWarning, RunStore
from equalnets.engine.train import DivergenceError

# conftest's tiny_config: 3 small networks, 2 epochs, on 100 train / 50 test 8x8 digits
CONFIG = RunConfig(dataset="digits", train_per_class=10, test_per_class=5, arch="small-st-vgg", width=0.25,
                   n_models=3, epochs=2, lr=0.05, momentum=0.9)
FIELDS = ("pred", "p_label", "margin", "el2n")


@pytest.fixture(scope="module")
def cluster():
    """A local Ray cluster of 2 CPUs for the whole file (its address). With
    ``EQUALNETS_TEST_RAY_ADDRESS`` the tests join a 2-CPU cluster of this machine started beforehand
    (``ray start --head --num-cpus 2``) instead: Ray 2.60 gives up starting a node whose dashboard
    agent takes over 15 s to come up, as it can on an overloaded machine."""
    address = os.environ.get("EQUALNETS_TEST_RAY_ADDRESS")
    if address:
        ray.init(address=address)
    else:
        ray.init(address="local", num_cpus=2, include_dashboard=False, object_store_memory=100 * 2**20)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """CONFIG trained by the local executor, with one torch thread as each 1-CPU task has (the
    number of threads changes rounding)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return RunStore(tmp_path_factory.mktemp("local")).get_or_train(CONFIG, progress=False)
    finally:
        torch.set_num_threads(before)


def records(run) -> dict[str, np.ndarray]:
    return {"loss": run.loss, **{f"{s}/{f}": getattr(run.split(s), f) for s in SPLITS for f in FIELDS}}


def assert_same_run(run, reference) -> None:
    """Bit for bit: every record and every member's weights."""
    got, want = records(run), records(reference)
    for name in want:
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)
    for member in range(reference.n_models):
        a, b = run.model(member).state_dict(), reference.model(member).state_dict()
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), f"weights of member {member}"


def counting_trainings(log, release=None, free=()):
    """A stand-in for distributed.train_member that appends each member it trains to ``log`` (on the
    worker, around the worker's own train_members), then does exactly what train_member does;
    ``release``: a file whose creation it waits for first (at most 120 s), holding the member's claim;
    members in ``free`` do not wait."""
    def counted(*args):
        from equalnets.engine import distributed as worker_side  # the worker's module, never patched

        real = worker_side.train_members

        def train_and_log(config, dataset, members, **kw):
            with open(log, "a") as f:
                f.write(f"{members[0]}\n")
            deadline = time.monotonic() + 120
            waits = release is not None and members[0] not in free
            while waits and not os.path.exists(release) and time.monotonic() < deadline:
                time.sleep(0.05)
            return real(config, dataset, members, **kw)
        worker_side.train_members = train_and_log
        try:
            return worker_side.train_member(*args)
        finally:
            worker_side.train_members = real
    return counted


def trained_members(log) -> list[int]:
    return sorted(int(line) for line in log.read_text().split()) if log.exists() else []


def test_ray_gives_the_records_and_weights_of_the_local_executor(cluster, reference, tmp_path, capsys):
    store = RunStore(tmp_path)
    run = store.get_or_train(CONFIG, executor="ray", progress=False)
    assert_same_run(run, reference)
    assert [(i["engine"], i["layout"]) for i in store.member_info(CONFIG)] == \
        [(i["engine"], i["layout"]) for i in RunStore(reference.path.parent).member_info(CONFIG)]
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("member ")]
    assert sorted(line.split(":")[0] for line in lines) == ["member 0", "member 1", "member 2"]  # one per member
    # The executor is not part of the run: the same folder (hash) as the local run's, and a local
    # reader finds the members and trains nothing.
    assert run.path.name == reference.path.name
    assert_same_run(store.load(CONFIG), reference)


def test_a_worker_that_dies_mid_member_is_retried_and_leaves_no_half_member(cluster, reference, tmp_path,
                                                                           monkeypatch):
    killed, seen = tmp_path / "killed", tmp_path / "seen.json"

    def dies_once_writing_member_1(store, config, member, *args):
        from equalnets.engine import distributed as worker_side, store as store_module

        if member == 1 and not killed.exists():  # first attempt: die after the weights and checksum, before the records
            write = store_module._atomic_write

            def write_then_die(path, data):
                if path.suffix == ".npz":
                    killed.touch()
                    os._exit(1)
                write(path, data)
            store_module._atomic_write = write_then_die
        elif member == 1:  # the retry, on a fresh worker: what the dead one left is no member
            seen.write_text(json.dumps({"present": store.read_member(config, 1) is not None,
                                        "files": sorted(p.name for p in store.path(config).iterdir())}))
        return worker_side.train_member(store, config, member, *args)

    monkeypatch.setattr(distributed, "train_member", dies_once_writing_member_1)
    store = RunStore(tmp_path / "runs")
    with warnings.catch_warnings():
        warnings.simplefilter("error", CorruptMemberWarning)
        run = store.get_or_train(CONFIG, executor="ray", progress=False)
    assert killed.exists()
    left = json.loads(seen.read_text())
    assert not left["present"] and {"member-0001.weights.pt", "member-0001.sha256"} <= set(left["files"])
    assert "member-0001.npz" not in left["files"]
    assert_same_run(run, reference)
    assert not [p.name for p in store.path(CONFIG).iterdir() if p.name.endswith(".tmp")]


def test_two_drivers_on_one_run_train_each_member_once(cluster, reference, tmp_path, monkeypatch, capsys):
    """Two driver processes on one cluster ask for one run: another process first, whose tasks (half a
    CPU each, so all three run at once) hold their members' claims until this driver has found them
    held and said it waits; then they train, and this driver reads what they wrote."""
    log, release = tmp_path / "trained.log", tmp_path / "release"
    store = RunStore(tmp_path / "runs")
    folder = store.path(CONFIG)
    other = subprocess.Popen([sys.executable, "-c", COUNTING_CHILD, str(store.root), json.dumps(CONFIG.to_dict()),
                              cluster, str(log), str(Path(__file__).parent), str(release), "0.5", "[]"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    monkeypatch.setattr(distributed, "train_member", counting_trainings(log))
    result: dict = {}

    def drive() -> None:
        try:
            result["run"] = store.get_or_train(CONFIG, executor="ray", progress=False, num_cpus=0.5)
        except BaseException as err:  # noqa: BLE001 - reported below
            result["error"] = err
    this = threading.Thread(target=drive)
    try:
        deadline = time.monotonic() + 120
        while sum(held(path) for path in folder.glob(".claim-*")) < CONFIG.n_models:  # the other holds all three
            assert other.poll() is None, f"the other driver ended early: {other.stderr.read()}"
            assert time.monotonic() < deadline, "the other driver's tasks do not hold every claim"
            time.sleep(0.05)
        this.start()
        said = ""
        while "another process is training member(s) [0, 1, 2]" not in said:
            said += capsys.readouterr().err
            assert this.is_alive() and time.monotonic() < deadline, f"this driver did not wait: {result} {said}"
            time.sleep(0.05)
        release.touch()
        this.join(120)
        assert other.wait(120) == 0, other.stderr.read()
    finally:
        release.touch()
        if other.poll() is None:
            other.kill()
            other.wait()
        other.stderr.close()
    assert "error" not in result, result
    assert trained_members(log) == [0, 1, 2]  # once each, all by the other driver
    assert_same_run(result["run"], reference)
    assert_same_run(store.load(CONFIG), reference)


# A driver that counts the members its tasks train in a log (counting_trainings), each holding its claim
# until the file ``release`` exists, except the members listed (JSON) in ``free``.
COUNTING_CHILD = """
import json, sys
from pathlib import Path
root, config, address, log, tests, release, cpus, free = sys.argv[1:]
sys.path.insert(0, tests)
from test_ray import counting_trainings
from equalnets.engine import distributed
from equalnets.engine.config import RunConfig
from equalnets.engine.store import RunStore
distributed.train_member = counting_trainings(Path(log), release, json.loads(free))
RunStore(root).get_or_train(RunConfig.from_dict(json.loads(config)), executor="ray", address=address, progress=False,
                            num_cpus=float(cpus))
"""


def test_a_killed_driver_leaves_complete_members_and_a_rerun_trains_only_the_missing(cluster, reference, tmp_path,
                                                                                    monkeypatch):
    store = RunStore(tmp_path / "runs")
    folder = store.path(CONFIG)
    # Another process joins the cluster at its address and is killed once its member 0 is written; its
    # tasks for members 1 and 2 hold their claims until then (a release that never comes), so the kill
    # always falls mid-run (without the hold, a fast machine finished every member before the kill).
    child = subprocess.Popen([sys.executable, "-c", COUNTING_CHILD, str(store.root), json.dumps(CONFIG.to_dict()),
                              cluster, str(tmp_path / "child.log"), str(Path(__file__).parent),
                              str(tmp_path / "never"), "0.5", "[0]"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 90
    while not list(folder.glob("member-*.npz")):
        assert child.poll() is None, f"the driver ended early: {child.stderr.read()}"
        assert time.monotonic() < deadline, "the driver wrote no member"
        time.sleep(0.02)
    child.kill()
    child.wait()
    child.stderr.close()
    deadline = time.monotonic() + 30  # Ray ends the dead driver's tasks: wait until they hold no claim
    while any(held(path) for path in folder.glob(".claim-*")):
        assert time.monotonic() < deadline, "the dead driver's tasks still hold claims"
        time.sleep(0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CorruptMemberWarning)  # what is there is complete, or not there
        kept = [m for m in range(CONFIG.n_models) if store.read_member(CONFIG, m) is not None]
    assert kept == [0]
    log = tmp_path / "trained.log"
    monkeypatch.setattr(distributed, "train_member", counting_trainings(log))
    run = store.get_or_train(CONFIG, executor="ray", progress=False)
    assert trained_members(log) == sorted(set(range(CONFIG.n_models)) - set(kept))
    assert_same_run(run, reference)


def test_a_diverging_member_raises_its_own_one_line_error_and_writes_nothing(cluster, tmp_path):
    wild = CONFIG.replace(lr=1e12)
    store = RunStore(tmp_path)
    with pytest.raises(DivergenceError) as err:
        store.get_or_train(wild, executor="ray", progress=False)
    message = str(err.value)
    assert " diverged in epoch " in message and wild.describe() in message and "\n" not in message
    assert not list(store.path(wild).glob("member-*"))


def held(path) -> bool:
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(f, fcntl.LOCK_UN)
        return False


def test_the_executor_is_not_part_of_a_chapters_runs():
    """A chapter's executor parameters (notebook parameters, CLI flags) leave its RunConfigs and their
    hashes alone: a run trained on a cluster is the run a laptop reads."""
    from equalnets.chapters import part1_s3_single_architecture as chapter

    local = chapter.runs(chapter.Parameters())
    on_ray = chapter.runs(chapter.Parameters(executor="ray", ray_address="head:6379", num_cpus=2, num_gpus=0.25,
                                             device="cpu"))
    assert {k: c.key for k, c in on_ray.items()} == {k: c.key for k, c in local.items()}
    assert not {"executor", "ray_address", "address", "num_cpus", "num_gpus"} & set(CONFIG.to_dict())


@pytest.mark.parametrize(("options", "words"), [
    ({"executor": "spark"}, "executor must be one of local, ray"),
    ({"executor": "ray", "num_cpus": 0}, "num_cpus must be a finite number > 0"),
    ({"executor": "ray", "num_cpus": "2"}, "num_cpus must be a number"),
    ({"executor": "ray", "num_gpus": -1}, "num_gpus must be a finite number >= 0"),
    ({"executor": "ray", "num_gpus": 1.5}, "num_gpus must be a fraction of one GPU"),
    ({"executor": "ray", "address": 6379}, "address must be a Ray cluster address"),
    ({"executor": "ray", "address": ""}, "address must be a Ray cluster address"),
    ({"executor": "ray", "device": "mps"}, "device must be 'cpu' or 'cuda' with executor='ray'"),
    ({"executor": "ray", "device": "cuda", "num_gpus": 0}, "num_gpus must be > 0 with device='cuda'"),
])
def test_bad_executor_arguments_are_one_line_errors_naming_them(options, words, tmp_path):
    with pytest.raises(ParameterError) as err:
        RunStore(tmp_path).get_or_train(CONFIG, progress=False, **options)
    assert words in str(err.value) and "\n" not in str(err.value)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_the_engines_and_ray_run_on_the_gpu(cluster, tmp_path, precision):
    """Sequential and batched on ``device='cuda'``, and Ray tasks on half a GPU each. Dropout off:
    on a GPU the two engines draw their masks from different generators."""
    config = CONFIG.replace(precision=precision, dropout=False)
    runs = {engine: RunStore(tmp_path / engine).get_or_train(config, device="cuda", engine=engine, progress=False)
            for engine in ("sequential", "batched")}
    runs["ray"] = RunStore(tmp_path / "ray").get_or_train(config, device="cuda", executor="ray", num_gpus=0.5,
                                                          progress=False)
    for name, run in runs.items():
        info = RunStore(run.path.parent).member_info(config)
        assert all(i["device"].startswith("cuda") for i in info), name
        assert all(np.isfinite(records(run)[k].astype(np.float32)).all() for k in records(run)), name
    # One step per epoch: the first epoch's loss is the initial network's on the same batch, equal
    # up to rounding (TF32 convolutions in fp32, bfloat16 in bf16).
    tolerance = 1e-2 if precision == "fp32" else 5e-2
    for name in ("batched", "ray"):
        np.testing.assert_allclose(runs[name].loss[:, 0], runs["sequential"].loss[:, 0], rtol=tolerance, err_msg=name)
