"""The orchestrator: given what the store lacks of a run, claim those members, train them and hand
each back to the store as soon as it is complete.

Every missing member is claimed (a lock file per member, see :meth:`RunStore.claim`) before it is
trained, so several processes asking for one run share its work: each trains the members nobody
has claimed, then waits for the others' claims and reads what they wrote. Members are trained by
:func:`equalnets.engine.train.train_members`, one at a time (``sequential``) or as groups
(``batched``). With ``executor='ray'`` each missing member is a Ray task instead
(:mod:`equalnets.engine.distributed`), claimed and written the same way on its worker.
"""

from __future__ import annotations

import sys
import time
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

import torch
from tqdm.auto import tqdm

from . import distributed
from .checks import check_choice, check_int
from .config import RunConfig
from .distributed import check_executor
from .train import ENGINES, default_channels_last, resolve_engine, train_members

if TYPE_CHECKING:
    from .data import Dataset
    from .store import RunStore


def check_options(*, engine: str = "auto", group_size: int | None = None, device: str = "cpu",
                  executor: str = "local", num_cpus: float | None = None, num_gpus: float | None = None,
                  address: str | None = None) -> None:
    """The orchestrator's options, checked: a one-line ``ParameterError`` naming the bad one."""
    check_choice("engine", engine, ENGINES)
    if group_size is not None:
        check_int("group_size", group_size, 1)
    check_executor(executor, num_cpus=num_cpus, num_gpus=num_gpus, address=address, device=device)


def complete(store: "RunStore", config: RunConfig, members: list[dict[str, Any] | None], *, device: str = "cpu",
             progress: bool = True, dataset: "Dataset | None" = None, engine: str = "auto",
             group_size: int | None = None, executor: str = "local", num_cpus: float | None = None,
             num_gpus: float | None = None, address: str | None = None) -> list[dict[str, Any]]:
    """``members`` (one entry per member, ``None`` where the store lacks it) with every gap filled.

    ``engine``: ``'sequential'`` trains one member at a time, ``'batched'`` up to ``group_size``
    members at once (default: every missing member on a GPU, 10 on the CPU), ``'auto'`` the
    faster for the device (:func:`equalnets.engine.train.resolve_engine`; BatchNorm and Jumpout
    networks fall back to sequential).

    ``executor``: ``'local'`` trains in this process, ``'ray'`` one Ray task per missing member
    (:mod:`equalnets.engine.distributed`), each reserving ``num_cpus`` CPUs and ``num_gpus`` GPUs
    (fractions allowed), on the cluster at ``address`` (None: ``$RAY_ADDRESS``, else a new local
    cluster); ``group_size`` does not apply there. None of these changes the run.
    """
    check_options(engine=engine, group_size=group_size, device=device, executor=executor, num_cpus=num_cpus,
                  num_gpus=num_gpus, address=address)
    if executor == "ray":
        return distributed.complete_on_ray(store, config, members, device=device, progress=progress, dataset=dataset,
                                           engine=engine, num_cpus=num_cpus, num_gpus=num_gpus, address=address)
    members = list(members)
    chosen = resolve_engine(engine, config, device)
    group = 1 if chosen == "sequential" else group_size or (config.n_models if torch.device(device).type == "cuda" else 10)
    layout = "channels-last" if chosen == "sequential" and default_channels_last(device) else "nchw"
    folder = store.prepare(config)
    sources = store.source_weights(config) if config.init_from else None
    pending = [m for m, a in enumerate(members) if a is None]
    others = sorted({(a["meta"].get("engine"), a["meta"].get("layout")) for a in members if a is not None}
                    - {(chosen, layout)})
    print(f"training {len(pending)} of {config.n_models} members of {folder.name} with the {chosen} engine"
          + (f" (groups of {group})" if chosen == "batched" else "") + f": {config.describe()}", file=sys.stderr)
    if others:
        print(f"note: the stored members of {folder.name} were trained by {others} (engine, layout); "
              "the engines give the same distribution of networks, not the same networks", file=sys.stderr)
    loaded: list[Dataset] = []  # the data on the device, loaded once, when the first member is trained

    def data() -> "Dataset":
        if not loaded:
            loaded.append((dataset if dataset is not None else store.dataset_for(config)).to(device))
        return loaded[0]

    bar = tqdm(total=len(pending), desc="members", disable=not progress)
    while pending:
        elsewhere: list[int] = []
        queue = list(pending)
        while queue:
            with ExitStack() as claims:
                mine = _claim_next(store, config, members, queue, group, claims, elsewhere, bar)
                if mine:
                    _train_and_write(store, config, members, mine, data(), chosen, device, progress, bar, sources)
        if elsewhere:
            print(f"another process is training member(s) {elsewhere} of {folder.name}; waiting for it",
                  file=sys.stderr)
            with store.claim(config, elsewhere[0], wait=True):
                pass
        pending = elsewhere
    bar.close()
    return members


def _claim_next(store: "RunStore", config: RunConfig, members: list, queue: list[int], group: int,
                claims: ExitStack, elsewhere: list[int], bar: tqdm) -> list[int]:
    """Up to ``group`` members of ``queue`` claimed for this process (held until ``claims`` closes);
    members another process holds go to ``elsewhere``, members it wrote meanwhile are read."""
    mine: list[int] = []
    while queue and len(mine) < group:
        member = queue.pop(0)
        if not claims.enter_context(store.claim(config, member, wait=False)):
            elsewhere.append(member)
            continue
        arrays = store.read_member(config, member)  # written meanwhile by another process?
        if arrays is not None:
            members[member] = arrays
            bar.update()
            continue
        store.remove_partial(config, member)  # left by a killed process; the claim is ours
        mine.append(member)
    return mine


def _train_and_write(store: "RunStore", config: RunConfig, members: list, mine: list[int], data: "Dataset",
                     engine: str, device: str, progress: bool, bar: tqdm, sources: dict | None) -> None:
    started = time.perf_counter()
    trained = train_members(config, data, mine, engine=engine, device=device, progress=progress, sources=sources)
    seconds = time.perf_counter() - started
    y_test = data.y_test.cpu().numpy()
    for member in trained:
        members[member.member] = store.write_member(config, member, data, device)
        # One plain line per member: a log for batch runs, where no bar is drawn.
        test_acc = float((member.arrays["test/pred"][-1] == y_test).mean())
        print(f"member {member.member}: {seconds / len(mine):.0f} s, final loss {member.arrays['loss'][-1]:.3f}, "
              f"test accuracy {test_acc:.3f}", file=sys.stderr)
        bar.update()
