"""Building the book: execute the notebooks of the table of contents with a profile, then run
Jupyter Book. The Makefile, the tests and ``python -m equalnets`` all go through here.

Source notebooks live in ``notebooks/``; their executed copies go to ``book/executed/`` (what
``_toc.yml`` lists). A notebook is executed into a temporary file that replaces the previous
executed copy only when the run succeeded, so a failure never leaves a half-executed page behind.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

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
               executor: dict[str, Any] | None = None) -> None:
    """Execute the table of contents' notebooks (or ``only`` those) and build the site; ``executor``
    as for :func:`execute`.

    Every notebook is tried even if one fails; then the failures are reported together.
    """
    names = toc_notebooks(root)
    unknown = sorted(set(only or []) - set(names))
    if unknown:
        raise ValueError(f"unknown notebook(s) {unknown}; the book has {names}")
    started = time.perf_counter()
    failures = []
    for name in only or names:
        try:
            execute(root, name, profile, overrides, executor=executor)
        except NotebookFailed as err:
            print(f"FAILED: {err}", file=sys.stderr, flush=True)
            failures.append(str(err))
    print(f"notebooks executed in {(time.perf_counter() - started) / 60:.1f} min", flush=True)
    if failures:
        raise NotebookFailed("; ".join(failures))
    if site:
        build_site(root, strict=strict)
    print(f"book ({profile}) done in {(time.perf_counter() - started) / 60:.1f} min")
