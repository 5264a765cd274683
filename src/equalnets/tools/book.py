"""Building the book: execute the notebooks of the table of contents with a profile, then run
Jupyter Book. The Makefile, the tests and ``python -m equalnets`` all go through here.

Source notebooks live in ``notebooks/``; their executed copies go to ``book/executed/`` (what
``_toc.yml`` lists). A notebook is executed into a temporary file that replaces the previous
executed copy only when the run succeeded, so a failure never leaves a half-executed page behind.
"""

from __future__ import annotations

import ast
import importlib
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import fields
from pathlib import Path
from typing import Any, Callable

import nbformat
import papermill
import yaml

PROFILES = ("smoke", "quick", "paper")
#: The notebook parameters that ``python -m equalnets book/run --executor ... --address ... --num-cpus ...
#: --num-gpus ...`` set, in a notebook that declares them (where its ensembles are trained).
EXECUTOR_PARAMETERS = ("executor", "ray_address", "num_cpus", "num_gpus")
EXECUTED = Path("book") / "executed"


class NotebookFailed(RuntimeError):
    """A chapter notebook raised; the message names it and gives the error."""


class ProfileProblems(ValueError):
    """The check before a book run (:func:`check_profile`) found problems: one line each; nothing
    was executed or trained."""

    def __init__(self, profile: str, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(f"profile {profile!r}: {len(problems)} problem{'s' if len(problems) != 1 else ''}, "
                         "nothing was executed or trained:\n" + "\n".join(f"  {line}" for line in problems))


def project_root() -> Path:
    """The folder holding ``_toc.yml``: the current directory or one of its parents."""
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "_toc.yml").exists():
            return folder
    raise FileNotFoundError("no _toc.yml in the current folder or above: run from the book's repository")


def toc_notebooks(root: Path) -> list[str]:
    """Names (stems) of the executed notebooks the table of contents lists, in order."""
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    names: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            target = node.get("file")
            if isinstance(target, str) and Path(target).parent == EXECUTED:
                names.append(Path(target).stem)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(toc)
    return names


def notebook_parameters(path: Path) -> dict[str, dict[str, Any]]:
    """The parameters a notebook declares (papermill's view: name → type, default, help)."""
    return papermill.inspect_notebook(str(path))


def profile_parameters(root: Path, profile: str, name: str) -> dict[str, Any]:
    """Parameters of notebook ``name`` under ``profile``: the profile's ``defaults`` that the
    notebook declares, then its own section. A key the notebook does not declare is an error."""
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {', '.join(PROFILES)}; got {profile!r}")
    spec = yaml.safe_load((root / "notebooks" / "profiles" / f"{profile}.yaml").read_text()) or {}
    declared = notebook_parameters(root / "notebooks" / f"{name}.ipynb")
    params = {k: v for k, v in (spec.get("defaults") or {}).items() if k in declared}
    own = (spec.get("notebooks") or {}).get(name) or {}
    unknown = sorted(set(own) - set(declared))
    if unknown:
        raise ValueError(f"profile {profile!r} sets {unknown} for {name}, which declares only "
                         f"{sorted(declared)}")
    params.update(own)
    if "profile" in declared:
        params["profile"] = profile
    return params


def executor_parameters(root: Path, name: str, executor: dict[str, Any] | None) -> dict[str, Any]:
    """Of ``executor`` (some of :data:`EXECUTOR_PARAMETERS` → value), what notebook ``name`` declares;
    one printed line names what it does not (its ensembles, if any, are trained locally)."""
    if not executor:
        return {}
    unknown = sorted(set(executor) - set(EXECUTOR_PARAMETERS))
    if unknown:
        raise ValueError(f"executor options must be among {', '.join(EXECUTOR_PARAMETERS)}; got {unknown}")
    declared = notebook_parameters(root / "notebooks" / f"{name}.ipynb")
    left_out = sorted(set(executor) - set(declared))
    if left_out:
        print(f"[{name}] declares no parameter {', '.join(left_out)}: left out for this notebook", flush=True)
    return {k: v for k, v in executor.items() if k in declared}


# --------------------------------------------------------------------------- the check before a run
# A profile's typo, or a parameter combination that only its sizes use, must stop a book run before
# its first network is trained, not hours later in whichever chapter reads it: every notebook's
# parameters go through its chapter module's Parameters (the engine's one set of checks) and the
# RunConfigs its runs() builds, and every data set a chapter reads is on disk or can be downloaded.

#: Where torchvision downloads the data sets that may be missing (``digits`` ships with
#: scikit-learn, ``gaussian`` is drawn): the file probed by :func:`check_profile`.
DOWNLOADS = {
    "fashion": "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/train-images-idx3-ubyte.gz",
    "mnist": "https://ossci-datasets.s3.amazonaws.com/mnist/train-images-idx3-ubyte.gz",
    "cifar10": "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
    "cifar100": "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
}
PROBE_TIMEOUT_S = 10


def download_url(dataset: str) -> str | None:
    """The file torchvision downloads for ``dataset`` (a name of ``engine.data.DATASETS``), or None
    for a data set that needs no download."""
    if dataset.startswith("fashion"):
        return DOWNLOADS["fashion"]
    if dataset.startswith("cifar100"):
        return DOWNLOADS["cifar100"]
    return DOWNLOADS.get(dataset)


def reachable(url: str) -> str | None:
    """None if ``url`` answers (a HEAD request within :data:`PROBE_TIMEOUT_S`), else why not."""
    try:
        request = urllib.request.Request(url, method="HEAD")
        with urllib.request.urlopen(request, timeout=PROBE_TIMEOUT_S):
            return None
    except urllib.error.HTTPError as err:
        return f"HTTP {err.code} {err.reason}"
    except (OSError, ValueError) as err:
        reason = getattr(err, "reason", err)
        return f"{type(reason).__name__}: {reason}"


def notebook_defaults(path: Path) -> dict[str, Any]:
    """The values of a notebook's ``parameters`` cell (its literals), by name."""
    out = {}
    for name, spec in notebook_parameters(path).items():
        try:
            out[name] = ast.literal_eval(spec["default"])
        except (ValueError, SyntaxError):
            pass  # not a literal: the chapter module's default applies
    return out


def _data_problem(dataset: str, readers: list[str], probe: Callable[[str], str | None]) -> tuple[str | None, str | None]:
    """(problem, note) for one data set: on disk and readable → (None, None); missing but
    downloadable → (None, a note); else (one line, None)."""
    from ..engine.data import DataFileError, DatasetNotFoundError, load_dataset

    who = ", ".join(readers)
    try:
        load_dataset(dataset, train_per_class=1, test_per_class=1, download=False)
        return None, None
    except DataFileError as err:
        return f"data set {dataset!r} (read by {who}): {err}", None
    except DatasetNotFoundError as err:
        url = download_url(dataset)
        why = probe(url) if url else "no download source"
        if why is None:
            return None, f"data set {dataset!r} (read by {who}) is not on disk: it will be downloaded from {url}"
        return (f"data set {dataset!r} (read by {who}) is not on disk and its download fails here "
                f"({url}: {why}): {err}"), None


def check_profile(root: Path, profile: str, only: list[str] | None = None, overrides: dict[str, Any] | None = None,
                  executor: dict[str, Any] | None = None, *, check_device: bool = True,
                  probe: Callable[[str], str | None] = reachable) -> list[str]:
    """The problems (one line each; empty: none) that would stop the book's notebooks (``only``
    those) under ``profile`` with ``overrides`` and ``executor`` (as for :func:`build_book`), found
    without executing or training anything:

    * each notebook's parameters (its parameters cell, the profile's values, then the overrides)
      through its chapter module's ``Parameters``, and the RunConfigs of its ``runs()``;
    * each data set a chapter reads (its ``dataset`` and ``*_dataset`` parameters) on disk and
      readable, or missing but downloadable (``probe(url)`` returns None; printed as a note). A
      chapter whose ``runs()`` reads its data (prediction depth splits it, random labels counts
      it) downloads it here.

    ``check_device=False`` checks a profile for another machine: a device this one lacks (``cuda``
    on a laptop) is not a problem, and the other checks run as on the CPU.
    """
    from ..engine.data import DatasetNotFoundError
    from ..engine.distributed import check_executor

    names = only or toc_notebooks(root)
    problems: dict[str, list[str]] = {}        # problem → notebooks (one line for a shared one)
    chapters: dict[str, tuple[Any, Any]] = {}  # name → (module, Parameters)
    readers: dict[str, list[str]] = {}         # data set → notebooks
    for name in names:
        try:
            module = _chapter_module(name)
            if module is None:
                print(f"[{name}] has no chapter module: its parameters are checked when it runs", flush=True)
                continue
            namespace = _namespace(root, name, profile, overrides, executor)
            device = namespace.get("device", "cpu")
            elsewhere = not check_device and isinstance(device, str) and device.split(":")[0] == "cuda"
            if elsewhere:
                namespace["device"] = "cpu"  # checked for a GPU machine: the rest as on this one
            params = module.Parameters.from_namespace(namespace)
            if elsewhere:  # what the executor asks of a GPU device (num_gpus > 0 on Ray)
                check_executor(params.executor, num_cpus=params.num_cpus, num_gpus=params.num_gpus,
                               address=params.ray_address, device=device)
        except Exception as err:  # noqa: BLE001 - one line per problem, whatever a module raised
            problems.setdefault(_one_line(err), []).append(name)
            continue
        chapters[name] = (module, params)
        for note in _short_records(name, params):
            print(note, flush=True)
        for field in fields(params):
            value = getattr(params, field.name)
            if (field.name == "dataset" or field.name.endswith("_dataset")) and isinstance(value, str):
                readers.setdefault(value, []).append(name)
    unavailable: set[str] = set()
    for dataset, who in readers.items():
        problem, note = _data_problem(dataset, who, probe)
        if problem:
            problems.setdefault(problem, [])
            unavailable.add(dataset)
        if note:
            print(note, flush=True)
    for name, (module, params) in chapters.items():
        try:  # a chapter whose runs() reads its data loads it here: downloads it if missing
            module.runs(params)
        except DatasetNotFoundError as err:  # reported above, unless the chapter reads a data set of no parameter
            if not {d for d, who in readers.items() if name in who} & unavailable:
                problems.setdefault(_one_line(err), []).append(name)
        except Exception as err:  # noqa: BLE001 - as above
            problems.setdefault(_one_line(err), []).append(name)
    return [f"{', '.join(who)}: {problem}" if who else problem for problem, who in problems.items()]


def _chapter_module(name: str) -> Any:
    """``equalnets.chapters.<name>``, or None where the notebook has none."""
    try:
        return importlib.import_module(f"equalnets.chapters.{name}")
    except ModuleNotFoundError as err:
        if err.name != f"equalnets.chapters.{name}":
            raise
        return None


def _namespace(root: Path, name: str, profile: str, overrides: dict[str, Any] | None,
               executor: dict[str, Any] | None) -> dict[str, Any]:
    """A notebook's parameters as papermill gives them: its parameters cell, the profile's values,
    the executor's, then the overrides."""
    return {**notebook_defaults(root / "notebooks" / f"{name}.ipynb"), **profile_parameters(root, profile, name),
            **executor_parameters(root, name, executor), **(overrides or {})}


def stored(root: Path, name: str, profile: str, overrides: dict[str, Any] | None = None,
           executor: dict[str, Any] | None = None) -> bool:
    """Whether executing notebook ``name`` trains nothing: its chapter module's ``runs()`` are all
    complete in its run store. False where that cannot be told (no chapter module, parameters that
    its ``Parameters`` refuse: the notebook itself will say why)."""
    try:
        module = _chapter_module(name)
        if module is None:
            return False
        params = module.Parameters.from_namespace(_namespace(root, name, profile, overrides, executor))
        store = params.store()
        return all(not store.missing_members(config) for config in module.runs(params).values())
    except Exception:  # noqa: BLE001 - any doubt: the notebook runs alone, and reports its own error
        return False


def _short_records(name: str, params: Any) -> list[str]:
    """A note for each ``*record_epochs`` list that stops before its ``*epochs`` (the run then records
    nothing between the list's last epoch and the last one): legitimate, but easily a default left
    from a shorter profile."""
    notes = []
    for field in fields(params):
        value, epochs = getattr(params, field.name), field.name.replace("record_epochs", "epochs")
        if field.name.endswith("record_epochs") and value and isinstance(getattr(params, epochs, None), int):
            if max(value) < getattr(params, epochs):
                notes.append(f"note: {name}: {field.name} stops at epoch {max(value)} of {epochs}="
                             f"{getattr(params, epochs)} (nothing is recorded in between but the last epoch)")
    return notes


def _one_line(err: BaseException) -> str:
    """A checked error's own message (``ParameterError``, a missing file); others with their type."""
    text = " ".join(str(err).split())
    return text if isinstance(err, (ValueError, FileNotFoundError)) else f"{type(err).__name__}: {text}"


def execute(root: Path, name: str, profile: str, overrides: dict[str, Any] | None = None,
            output_dir: Path | None = None, executor: dict[str, Any] | None = None) -> Path:
    """Execute ``notebooks/<name>.ipynb`` with a profile (and overrides) into the book; its path.
    ``executor``: where the notebook's ensembles are trained (:func:`executor_parameters`)."""
    source = root / "notebooks" / f"{name}.ipynb"
    if not source.exists():
        raise FileNotFoundError(f"no notebook {source}")
    params = {**profile_parameters(root, profile, name), **executor_parameters(root, name, executor),
              **(overrides or {})}
    out_dir = output_dir or root / EXECUTED
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{name}.ipynb"
    partial = out_dir / f".{name}.running.ipynb"
    started = time.perf_counter()
    print(f"[{name}] executing with profile {profile!r}: {params}", flush=True)
    try:
        papermill.execute_notebook(str(source), str(partial), parameters=params, cwd=str(root / "notebooks"),
                                   kernel_name="python3", progress_bar=False, request_save_on_cell_execute=False,
                                   stderr_file=sys.stderr)  # the chapter's log lines (one per trained network)
    except papermill.PapermillExecutionError as err:
        failed = out_dir / f".{name}.failed.ipynb"
        os.replace(partial, failed)
        raise NotebookFailed(f"notebook {name} failed in cell {err.exec_count}: {err.ename}: {err.evalue} "
                             f"(the executed copy with the traceback is {failed}; "
                             f"the previous page, if any, is kept)") from None
    _hide_parameter_cells(partial)
    os.replace(partial, target)
    print(f"[{name}] done in {time.perf_counter() - started:.0f} s -> {target}", flush=True)
    return target


def _hide_parameter_cells(path: Path) -> None:
    """On the site, a chapter starts with its title: the parameters cell and papermill's injected
    one are removed from the page (the box under the title lists what papermill injected, and the
    chapter's header cell prints its main parameters)."""
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        if {"parameters", "injected-parameters"} & set(tags) and "remove-cell" not in tags:
            cell.metadata["tags"] = [*tags, "remove-cell"]
    nbformat.write(nb, path)


def build_site(root: Path, *, strict: bool = False) -> Path:
    """Run Jupyter Book 1.x on ``root`` into ``_build/html``; ``strict`` turns warnings into errors."""
    jb = Path(sys.executable).parent / "jupyter-book"
    cmd = [str(jb) if jb.exists() else "jupyter-book", "build", str(root), "--keep-going"]
    if strict:
        cmd += ["-W", "-n"]
    started = time.perf_counter()
    result = subprocess.run(cmd, cwd=root)
    if result.returncode:
        raise RuntimeError(f"jupyter-book build failed (exit {result.returncode}); see the log above")
    print(f"site built in {time.perf_counter() - started:.0f} s -> {root / '_build' / 'html' / 'index.html'}")
    return root / "_build" / "html"


def build_book(root: Path, profile: str = "quick", only: list[str] | None = None,
               overrides: dict[str, Any] | None = None, *, site: bool = True, strict: bool = False,
               executor: dict[str, Any] | None = None, check: bool | None = None, jobs: int | None = None) -> None:
    """Execute the table of contents' notebooks (or ``only`` those) and build the site; ``executor``
    as for :func:`execute`. Notebooks whose networks are all stored (:func:`stored`) run up to
    ``jobs`` at a time (default 2, at most the CPUs; 1: one after another); a notebook that trains
    runs alone.

    First, if ``check`` (default: for the ``paper`` profile, whose runs take GPU hours),
    :func:`check_profile`: any problem stops the build with :class:`ProfileProblems` before a
    notebook is executed. Then every notebook is tried even if one fails; the failures are reported
    together.
    """
    names = toc_notebooks(root)
    unknown = sorted(set(only or []) - set(names))
    if unknown:
        raise ValueError(f"unknown notebook(s) {unknown}; the book has {names}")
    if jobs is not None and (isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1):
        raise ValueError(f"jobs must be an integer >= 1, got {jobs!r}")
    started = time.perf_counter()
    if check if check is not None else profile == "paper":
        problems = check_profile(root, profile, only, overrides, executor)
        if problems:
            raise ProfileProblems(profile, problems)
        print(f"profile {profile!r} checked for {len(only or names)} notebook(s) in "
              f"{time.perf_counter() - started:.0f} s: parameters and data sets are fine", flush=True)
    failures: list[str] = []

    def run(name: str) -> None:
        try:
            execute(root, name, profile, overrides, executor=executor)
        except NotebookFailed as err:
            print(f"FAILED: {err}", file=sys.stderr, flush=True)
            failures.append(str(err))

    # A notebook whose networks are all stored trains nothing: up to ``jobs`` of those run side by
    # side (a warm rebuild is mostly kernels starting); one that trains runs alone, after the others
    # in flight, so that its training has every core and the order of the table of contents (the
    # base ensemble first) still decides which notebook trains a shared run.
    jobs = max(1, min(jobs if jobs is not None else 2, os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        in_flight: list[Future] = []
        for name in only or names:
            if jobs > 1 and stored(root, name, profile, overrides, executor):
                print(f"[{name}] every network is stored: it runs beside the others (up to {jobs} at a time)",
                      flush=True)
                in_flight.append(pool.submit(run, name))
                continue
            wait(in_flight)
            in_flight = []
            run(name)
        wait(in_flight)
    print(f"notebooks executed in {(time.perf_counter() - started) / 60:.1f} min", flush=True)
    if failures:
        raise NotebookFailed("; ".join(failures))
    if site:
        build_site(root, strict=strict)
    print(f"book ({profile}) done in {(time.perf_counter() - started) / 60:.1f} min")
