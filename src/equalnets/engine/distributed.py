"""The Ray executor: an ensemble's missing members trained on a Ray cluster, one task per member.

Each task runs :func:`train_member` on a worker: it takes the member's claim there (the store's
lock file, so two drivers asking for one run never train a member twice), trains the member with
:func:`equalnets.engine.train.train_members` and writes it with :meth:`RunStore.write_member`,
exactly as the local executor does: atomically and checksummed. The store's folder must
therefore be visible to every worker under the same path (a local or network file system). The
driver only waits, shows progress and reads the members back from the store. A task's torch uses
as many threads as the task reserves CPUs (at least one); on the CPU its member is then bit for
bit the member the local executor trains with that many threads (the thread count changes rounding).

A worker that dies mid-member (killed, out of memory, its node lost) leaves at most files that do
not count as a member (see :mod:`equalnets.engine.store`); Ray runs the task again (up to
:data:`MAX_RETRIES` times) on a fresh worker, which takes the released claim and trains the member
from scratch. A driver that dies takes its tasks with it and leaves the members already written;
asking for the run again trains only the missing ones.

``ray.init`` joins the cluster at ``address`` (or ``$RAY_ADDRESS``) or starts a local one; a
process already connected to Ray keeps its connection.
"""

from __future__ import annotations

import copy
import math
import os
import socket
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

import ray
import torch
from tqdm.auto import tqdm

from .checks import ParameterError, check_choice, check_float
from .config import RunConfig
from .train import resolve_engine, train_members

if TYPE_CHECKING:
    from .data import Dataset
    from .store import RunStore

#: Where the missing members of a run are trained: in this process, or as Ray tasks.
EXECUTORS = ("local", "ray")
#: How often Ray starts a member's task again after its worker died (an exception in the task,
#: such as a diverged member, is not retried: it would only fail again).
MAX_RETRIES = 3

_connecting = threading.Lock()


def check_executor(executor: Any, *, num_cpus: Any = None, num_gpus: Any = None, address: Any = None,
                   device: Any = "cpu") -> str:
    """``executor`` if it and the Ray options are valid, else a one-line ``ParameterError`` naming
    the argument. ``num_cpus`` and ``num_gpus`` are per member (task); ``None``: 1 CPU, and 1 GPU
    where ``device`` is a GPU, none otherwise."""
    check_choice("executor", executor, EXECUTORS)
    if num_cpus is not None:
        check_float("num_cpus", num_cpus, low=0, low_open=True)
    if num_gpus is not None:
        gpus = check_float("num_gpus", num_gpus, low=0)
        if gpus > 1 and gpus != int(gpus):
            raise ParameterError(f"num_gpus must be a fraction of one GPU (at most 1) or a whole number of "
                                 f"GPUs per member, got {num_gpus!r}")
    if address is not None and (not isinstance(address, str) or not address.strip()):
        raise ParameterError(f"address must be a Ray cluster address such as 'head-node:6379' or None "
                             f"($RAY_ADDRESS, else a local cluster), got {address!r}")
    is_cuda = isinstance(device, str) and device.split(":")[0] == "cuda"
    if executor == "ray" and not (device == "cpu" or is_cuda):
        raise ParameterError(f"device must be 'cpu' or 'cuda' with executor='ray', got {device!r}")
    if executor == "ray" and is_cuda and num_gpus is not None and num_gpus == 0:
        raise ParameterError("num_gpus must be > 0 with device='cuda' and executor='ray' (a task without a "
                             "GPU sees none), got 0")
    return executor


def connect(address: str | None = None) -> str:
    """Connect this process to Ray (once): the cluster at ``address``, else at ``$RAY_ADDRESS``,
    else a new local cluster of this machine's CPUs and GPUs (a process already connected keeps its
    connection). Returns the address of the cluster's head."""
    with _connecting:
        if not ray.is_initialized():
            target = address or os.environ.get("RAY_ADDRESS") or "local"
            try:
                ray.init(address=target, include_dashboard=False if target == "local" else None)
            except ConnectionError as err:
                raise ConnectionError(
                    f"cannot join the Ray cluster at {target} ({err}): is it running (RAY_AUTH_MODE=token ray status "
                    f"--address {target})? A cluster started by `ray start` asks for its token: export "
                    "RAY_AUTH_MODE=token here too, with the head's token in ~/.ray/auth_token or $RAY_AUTH_TOKEN") from None
        return ray.get_runtime_context().gcs_address


def train_member(store: "RunStore", config: RunConfig, member: int, dataset: "Dataset", engine: str,
                 device: str, threads: int, source: dict[str, torch.Tensor] | None, wait: bool) -> dict[str, Any]:
    """One member of ``config`` trained and written into ``store`` under its claim: the body of one
    Ray task, run on a worker. Returns a small summary for the driver, with ``status``:
    ``'trained'``, ``'present'`` (written meanwhile by someone else) or ``'busy'`` (another process
    holds the claim and not ``wait``)."""
    torch.set_num_threads(threads)
    with store.claim(config, member, wait=wait) as mine:
        if not mine:
            return {"member": member, "status": "busy"}
        if store.read_member(config, member) is not None:
            return {"member": member, "status": "present"}
        store.remove_partial(config, member)  # left by a worker that died mid-member
        started = time.perf_counter()
        data = dataset.to(device)
        (trained,) = train_members(config, data, [member], engine=engine, device=device, progress=False,
                                   sources=None if source is None else {member: source})
        store.write_member(config, trained, data, device)
    accuracy = float((trained.arrays["test/pred"][-1] == data.y_test.cpu().numpy()).mean())
    return {"member": member, "status": "trained", "seconds": time.perf_counter() - started,
            "loss": float(trained.arrays["loss"][-1]), "test_accuracy": accuracy, "host": socket.gethostname()}


def complete_on_ray(store: "RunStore", config: RunConfig, members: list[dict[str, Any] | None], *, device: str = "cpu",
             progress: bool = True, dataset: "Dataset | None" = None, engine: str = "auto",
             num_cpus: float | None = None, num_gpus: float | None = None,
             address: str | None = None) -> list[dict[str, Any]]:
    """``members`` with every gap filled by a Ray task (:func:`train_member`) per missing member.

    ``engine``: as for the local executor; ``'auto'`` is the sequential strategy (a task trains
    one member). ``num_cpus`` / ``num_gpus``: what each task reserves (fractions of a GPU let
    several members share one). The data set goes to the workers through Ray's object store.
    """
    check_executor("ray", num_cpus=num_cpus, num_gpus=num_gpus, address=address, device=device)
    members = list(members)
    chosen = resolve_engine("sequential" if engine == "auto" else engine, config, device)
    is_cuda = device.startswith("cuda")
    cpus = 1.0 if num_cpus is None else float(num_cpus)
    gpus = float(num_gpus) if num_gpus is not None else (1.0 if is_cuda else 0.0)
    folder = store.prepare(config)
    shared = copy.copy(store)
    shared.root = store.root.resolve()  # workers need not share the driver's working directory
    sources = store.source_weights(config) if config.init_from else {}
    pending = [m for m, a in enumerate(members) if a is None]
    cluster = connect(address)
    data = ray.put((dataset if dataset is not None else store.dataset_for(config)).to("cpu"))
    task = ray.remote(train_member)
    options = {"num_cpus": cpus, "num_gpus": gpus, "max_retries": MAX_RETRIES, "retry_exceptions": False}
    print(f"training {len(pending)} of {config.n_models} members of {folder.name} on the Ray cluster at {cluster} "
          f"({cpus:g} CPU{'s' if cpus != 1 else ''}" + (f", {gpus:g} GPU" if gpus else "") + " per member) with "
          f"the {chosen} engine: {config.describe()}", file=sys.stderr)
    bar = tqdm(total=len(pending), desc="members", disable=not progress)
    todo, wait = pending, False
    while todo:  # first the members nobody holds; then, waiting for their claims, those others held
        refs = {task.options(name=f"{folder.name}/member-{m:04d}", **options).remote(
                    shared, config, m, data, chosen, "cuda" if is_cuda else "cpu", max(1, math.floor(cpus)),
                    sources.get(m), wait): m for m in todo}
        busy = _collect(refs, bar)
        if busy:
            print(f"another process is training member(s) {busy} of {folder.name}; waiting for it", file=sys.stderr)
        todo, wait = busy, True
    bar.close()
    for m in pending:
        members[m] = store.read_member(config, m)
        if members[m] is None:
            raise RuntimeError(f"member {m} of run {folder.name} was written by a Ray worker but this process "
                               f"cannot read it from {folder}: the run store must be on a file system that "
                               "every worker and the driver see under the same path")
    return members


def _collect(refs: dict, bar: tqdm) -> list[int]:
    """Wait for every task of ``refs`` (ref → member), one stderr line per trained member; the
    members whose claim another process held. On an error (or an interrupt) the other tasks are
    cancelled: the members they completed are kept, the others are left unwritten."""
    busy: list[int] = []
    try:
        while refs:
            done, _ = ray.wait(list(refs), num_returns=1)
            for ref in done:
                refs.pop(ref)
                result = ray.get(ref)
                if result["status"] == "busy":
                    busy.append(result["member"])
                    continue
                if result["status"] == "trained":  # one plain line per member, as the local executor writes
                    print(f"member {result['member']}: {result['seconds']:.0f} s, final loss {result['loss']:.3f}, "
                          f"test accuracy {result['test_accuracy']:.3f} (on {result['host']})", file=sys.stderr)
                bar.update()
    except BaseException as err:
        for ref in refs:
            ray.cancel(ref)
        if isinstance(err, ray.exceptions.RayTaskError) and isinstance(err.cause, Exception):
            raise err.cause from None  # the member's own error (a DivergenceError, a CacheError), as locally
        raise
    return sorted(busy)
