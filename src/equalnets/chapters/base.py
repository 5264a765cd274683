"""What every chapter module shares: the base classes of its parameters (declared once in the module,
checked by the engine's one set of checks, handed over by the notebook in one call), the header and
wall time every executed chapter prints, and the opening of the runs a chapter needs.

A chapter module ``equalnets.chapters.<notebook stem>`` holds a frozen dataclass ``Parameters``
(a subclass of :class:`ChapterParameters` or :class:`EnsembleParameters`) whose defaults are the
``quick`` profile's; the notebook's papermill ``parameters`` cell lists the same names as literals
and its first code cell calls ``Parameters.from_namespace(globals())``. A bad value stops there
with one :class:`~equalnets.engine.checks.ParameterError` line naming it.
"""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass, field, fields
from typing import Any, Mapping, TypeVar

import torch

from ..engine.checks import ParameterError, check_bool, check_device, check_folder, check_int
from ..engine.config import RunConfig
from ..engine.data import Dataset
from ..engine.distributed import check_executor
from ..engine.store import Run, RunStore, open_run

P = TypeVar("P", bound="ChapterParameters")


@dataclass(frozen=True)
class ChapterParameters:
    """The parameters of every chapter: where it runs and stores its networks, and how it shows them."""

    profile: str = "quick"          # name of the parameter set that produced the page (display only)
    device: str = "cpu"             # cpu or cuda
    cache_dir: str | None = None    # run-store folder (None: $EQUALNETS_CACHE or ~/.cache/equalnets/runs)
    interactive: bool = True        # widgets and progress bars (JupyterLab); batch runs set False
    executor: str = "local"         # local, or ray: one Ray task per missing network
    ray_address: str | None = None  # the Ray cluster (None: $RAY_ADDRESS, else a local one)
    num_cpus: float | None = None   # CPUs per network on Ray (None: 1)
    num_gpus: float | None = None   # GPUs per network on Ray, fractions allowed (None: 1 on cuda, else 0)

    def __post_init__(self) -> None:
        if not isinstance(self.profile, str):
            raise ParameterError(f"profile must be a string (the name of a parameter set), got {self.profile!r}")
        check_device(self.device)
        check_folder("cache_dir", self.cache_dir, "$EQUALNETS_CACHE or ~/.cache/equalnets/runs")
        check_bool("interactive", self.interactive)
        check_executor(self.executor, num_cpus=self.num_cpus, num_gpus=self.num_gpus, address=self.ray_address,
                       device=self.device)
        self.check()

    def check(self) -> None:
        """The chapter's own checks (a subclass's); raise ``ParameterError`` naming the parameter."""

    def set(self, name: str, value: Any) -> None:
        """Store a checked (e.g. list → tuple) value in this frozen dataclass; for :meth:`check` only."""
        object.__setattr__(self, name, value)

    @classmethod
    def names(cls) -> list[str]:
        """The parameter names, in declaration order: those the notebook's parameters cell lists."""
        return [f.name for f in fields(cls)]

    @classmethod
    def from_namespace(cls: type[P], namespace: Mapping[str, Any]) -> P:
        """The parameters from a notebook's namespace (``globals()`` after its parameters cell), checked;
        one ``ParameterError`` line naming the first bad or missing parameter otherwise."""
        __tracebackhide__ = True  # IPython: show the notebook cell and the one line, not our frames
        missing = [name for name in cls.names() if name not in namespace]
        try:
            if missing:
                raise ParameterError(f"the notebook's parameters cell lacks {', '.join(missing)}; a chapter of "
                                     f"{cls.__module__} takes {', '.join(cls.names())}")
            return cls(**{name: namespace[name] for name in cls.names()})
        except ParameterError as err:
            raise ParameterError(str(err)) from None  # one frame, no chained traceback

    def values(self) -> dict[str, Any]:
        """Name → value of every parameter."""
        return {name: getattr(self, name) for name in self.names()}

    def train_options(self) -> dict[str, Any]:
        """How this chapter's missing networks are trained (``RunStore.get_or_train``'s options): on its
        device, by its executor, with progress bars when interactive (one log line per network otherwise)."""
        return {"device": self.device, "progress": self.interactive, "executor": self.executor,
                "num_cpus": self.num_cpus, "num_gpus": self.num_gpus, "address": self.ray_address}

    def store(self) -> RunStore:
        """This chapter's run store."""
        return RunStore(self.cache_dir)

    def open(self, config: RunConfig, dataset: Dataset | None = None) -> tuple[Run, Dataset]:
        """The run of ``config`` from this chapter's store (trained first where missing, see
        :meth:`train_options`) and its data set."""
        return open_run(config, cache_dir=self.cache_dir, dataset=dataset, **self.train_options())


@dataclass(frozen=True)
class EnsembleParameters(ChapterParameters):
    """A chapter built on one ensemble of the paper's kind (Part I, and the chapters that read its
    base run): the fields of its :class:`RunConfig`, with the ``quick`` profile's base ensemble as
    defaults (the ``paper`` profile has the paper's: N = 100 st-VGGs, 140 epochs, lr 0.05)."""

    dataset: str = "fashion-tops"
    train_per_class: int | None = None
    test_per_class: int | None = None
    arch: str = "st-vgg"
    width: float = 0.25
    activation: str = "relu"
    n_models: int = 10
    epochs: int = 25
    record_epochs: tuple[int, ...] | None = None
    optimizer: str = "sgd"
    lr: float = 0.01
    momentum: float = 0.9
    lr_decay: float = 1.8
    lr_decay_every: int = 20
    batch_size: int = 100
    seed: int = 0
    precision: str = "fp32"

    def __post_init__(self) -> None:
        check_int("n_models", self.n_models, 2, why=" (consistency compares networks)")
        super().__post_init__()
        self.base_config()  # every RunConfig field checked here, before anything is trained

    def base_config(self) -> RunConfig:
        """The chapter's base ensemble: the RunConfig of these parameters."""
        return RunConfig.from_dict({name: getattr(self, name) for name in EnsembleParameters.names()
                                    if name not in ChapterParameters.names()})


@dataclass
class Chapter:
    """Wall-clock and parameters of one executed chapter: ``Chapter.start(title, params)`` prints the
    header (the date, torch, the threads and every parameter); :meth:`finish` the wall time."""

    title: str
    params: ChapterParameters
    started: float = field(default_factory=time.perf_counter)

    @classmethod
    def start(cls, title: str, params: ChapterParameters) -> "Chapter":
        chapter = cls(title, params)
        chapter.print_header()
        return chapter

    def print_header(self) -> None:
        print(f"{self.title}: run on {time.strftime('%Y-%m-%d %H:%M')} with torch {torch.__version__}, "
              f"python {platform.python_version()}, {torch.get_num_threads()} CPU threads")
        for key, value in self.params.values().items():
            print(f"  {key} = {value!r}")

    def elapsed(self) -> float:
        """Seconds since the chapter started."""
        return time.perf_counter() - self.started

    def finish(self) -> str:
        """One line with the chapter's wall time (also returned, for glue)."""
        line = f"{self.title}: wall time {self.elapsed() / 60:.1f} min ({self.elapsed():.0f} s)"
        print(line)
        return line

