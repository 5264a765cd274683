"""``python -m equalnets``: execute the book's notebooks with a profile and build the site.

    python -m equalnets book [--profile quick] [--only NAME ...] [--no-site] [--strict] [--jobs J] [EXECUTOR]
    python -m equalnets run NAME [--profile quick] [-p KEY VALUE ...] [EXECUTOR]
    python -m equalnets check [--profile paper] [--only NAME ...] [-p KEY VALUE ...] [--for-gpu] [EXECUTOR]
    python -m equalnets site [--strict]
    python -m equalnets stability [--profile quick] [--seeds 0 1] [--only NAME ...] [--from DIR DIR [--commit REV]]
    python -m equalnets list
    python -m equalnets export [--profile quick] [-p KEY VALUE ...] [--out DIR] [--format csv parquet] [--train]
    python -m equalnets bench [--quick] [--n-models N] [--epochs E] [--width W] [--reps R] [--device cuda]
    python -m equalnets bench --paper-s3 [--device cuda] [--n-models N] [--epochs E] [--precision bf16]

``book`` and ``run`` with ``--profile paper`` (or ``--check``) first check every notebook's
parameters (through its chapter module's ``Parameters`` and ``runs()``) and that every data set it
reads is on disk or can be downloaded, and stop before anything is trained with one line per
problem (``--no-check`` skips it); ``check`` does only that, for any profile (``--for-gpu``: for a
GPU machine, so that ``device: cuda`` is no problem on a laptop).

EXECUTOR: ``--executor ray [--address HEAD:6379] [--num-cpus C] [--num-gpus G]`` trains the
notebooks' ensembles on a Ray cluster, one task per member (in the notebooks that declare the
parameters executor, ray_address, num_cpus, num_gpus).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from . import export, stability
from .bench import RESULTS, paper_s3, report, write_result
from ..engine.distributed import EXECUTORS, check_executor
from .book import PROFILES, NotebookFailed, build_book, build_site, check_profile, project_root, toc_notebooks


def _overrides(pairs: list[list[str]] | None) -> dict:
    # Values are read as YAML, as papermill's -y does: 20 -> int, 0.1 -> float, none -> None.
    return {key: yaml.safe_load(value) for key, value in (pairs or [])}


def _add_executor_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("where the ensembles are trained (notebook parameters executor, "
                                      "ray_address, num_cpus, num_gpus)")
    group.add_argument("--executor", choices=EXECUTORS, help="local (this process) or ray (one Ray task per member)")
    group.add_argument("--address", help="the Ray cluster to join, e.g. HEAD:6379 (default: $RAY_ADDRESS, else a "
                                         "new local cluster)")
    group.add_argument("--num-cpus", type=float, help="CPUs per member (Ray task; default 1)")
    group.add_argument("--num-gpus", type=float, help="GPUs per member, fractions allowed (default: 1 with "
                                                      "device cuda, else 0)")


def _executor(args: argparse.Namespace) -> dict:
    """The notebook parameters the executor options set (only those given), checked."""
    check_executor(args.executor or "local", num_cpus=args.num_cpus, num_gpus=args.num_gpus, address=args.address)
    given = {"executor": args.executor, "ray_address": args.address, "num_cpus": args.num_cpus,
             "num_gpus": args.num_gpus}
    return {k: v for k, v in given.items() if v is not None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="equalnets", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    book = sub.add_parser("book", help="execute every notebook of the table of contents, then build the site")
    book.add_argument("--profile", default="quick", choices=PROFILES)
    book.add_argument("--only", nargs="+", metavar="NAME", help="execute only these notebooks")
    book.add_argument("--no-site", action="store_true", help="execute notebooks, skip the site build")
    book.add_argument("--strict", action="store_true", help="Sphinx warnings are errors")
    book.add_argument("--jobs", type=int, default=None, metavar="J",
                      help="notebooks whose networks are all stored run J at a time (default 2, at most the "
                           "CPUs); a notebook that trains runs alone")
    book.add_argument("-p", "--param", nargs=2, action="append", metavar=("KEY", "VALUE"),
                      help="override a parameter of every executed notebook")
    _add_executor_options(book)
    run = sub.add_parser("run", help="execute one notebook into the book")
    run.add_argument("name")
    run.add_argument("--profile", default="quick", choices=PROFILES)
    run.add_argument("-p", "--param", nargs=2, action="append", metavar=("KEY", "VALUE"))
    _add_executor_options(run)
    for command in (book, run):
        command.add_argument("--check", action=argparse.BooleanOptionalAction, default=None,
                             help="check parameters and data sets before executing anything (default: with "
                                  "--profile paper)")
    check = sub.add_parser("check", help="check a profile's parameters and data sets; execute nothing")
    check.add_argument("--profile", default="paper", choices=PROFILES)
    check.add_argument("--only", nargs="+", metavar="NAME", help="check only these notebooks")
    check.add_argument("-p", "--param", nargs=2, action="append", metavar=("KEY", "VALUE"))
    check.add_argument("--for-gpu", action="store_true", help="check for a GPU machine: device cuda is no problem "
                                                            "here (the rest is checked as on the CPU)")
    _add_executor_options(check)
    site = sub.add_parser("site", help="build the site from the executed notebooks")
    site.add_argument("--strict", action="store_true")
    stab = sub.add_parser("stability", help="execute chapters at two base seeds and record which verdicts differ "
                                            "(notebooks/profiles/stability-<profile>.json; the pages mark them)")
    stab.add_argument("--profile", default="quick", choices=PROFILES)
    stab.add_argument("--seeds", nargs="+", type=int, default=[0, 1], metavar="SEED",
                      help="base seeds, the book's own first (default 0 1)")
    stab.add_argument("--only", nargs="+", metavar="NAME", help="these notebooks (default: Part I's)")
    stab.add_argument("--from", dest="folders", nargs="+", metavar="DIR",
                      help="compare notebooks already executed in these folders, one per seed, instead")
    stab.add_argument("--commit", help="with --from: the commit they were executed with (recorded)")
    sub.add_parser("list", help="list the book's notebooks")
    export.add_parser(sub, PROFILES)
    bench = sub.add_parser("bench", help="benchmark the ensemble engine against a typical training loop")
    bench.add_argument("--quick", action="store_true", help="a ~1-minute run (N=2, 1 epoch, 2 repetitions)")
    bench.add_argument("--out", help="JSON file to write (default benchmarks/results/bench-<quick|default>.json)")
    bench.add_argument("--n-models", type=int, help="networks per ensemble")
    bench.add_argument("--epochs", type=int, help="training epochs")
    bench.add_argument("--width", type=float, help="st-VGG width")
    bench.add_argument("--reps", type=int, help="repetitions of every timing")
    bench.add_argument("--device", help="cpu or cuda")
    bench.add_argument("--paper-s3", action="store_true",
                       help="time only our engine on the paper's §3 run (N=100, 140 epochs, width 1; fewer by "
                            "--n-models/--epochs, then projected) against the 15-minute GPU target")
    bench.add_argument("--precision", help="fp32 or bf16 (with --paper-s3)")
    bench.add_argument("--engine", default="auto", help="auto, batched or sequential (with --paper-s3)")
    args = parser.parse_args(argv)
    if args.command == "bench":
        try:
            if args.paper_s3:
                device = args.device or "cpu"
                result = paper_s3(device=device, n_models=args.n_models or 100, epochs=args.epochs or 140,
                                  engine=args.engine, precision=args.precision)
                default = RESULTS / ("paper-s3-" + device.replace(":", "") + ".json")
                print(f"wrote {write_result(result, args.out or default)}")
                return 0
            report(quick=args.quick, out=args.out, n_models=args.n_models, epochs=args.epochs,
                       width=args.width, reps=args.reps, device=args.device)
        except ValueError as err:
            print(f"equalnets: {err}", file=sys.stderr)
            return 1
        return 0

    root = project_root()
    try:
        if args.command == "book":
            build_book(root, args.profile, args.only, _overrides(args.param), site=not args.no_site,
                       strict=args.strict, executor=_executor(args), check=args.check, jobs=args.jobs)
        elif args.command == "run":
            build_book(root, args.profile, [args.name], _overrides(args.param), site=False,
                       executor=_executor(args), check=args.check)
        elif args.command == "check":
            if args.only:
                unknown = sorted(set(args.only) - set(toc_notebooks(root)))
                if unknown:
                    raise ValueError(f"unknown notebook(s) {unknown}; the book has {toc_notebooks(root)}")
            problems = check_profile(root, args.profile, args.only, _overrides(args.param), _executor(args),
                                     check_device=not args.for_gpu)
            for line in problems:
                print(line)
            print(f"profile {args.profile!r}: {len(problems)} problem(s)" if problems else
                  f"profile {args.profile!r}: parameters and data sets are fine", file=sys.stderr)
            return 1 if problems else 0
        elif args.command == "site":
            build_site(root, strict=args.strict)
        elif args.command == "stability":
            stability.measure(root, args.profile, args.seeds, args.only or stability.PART_ONE,
                              [Path(f) for f in args.folders] if args.folders else None, args.commit)
        elif args.command == "export":
            export.run(root, args, _overrides(args.param))
        else:
            print("\n".join(toc_notebooks(root)))
    except (NotebookFailed, ValueError, OSError, RuntimeError) as err:  # OSError: FileNotFoundError, a failed write
        print(f"equalnets: {err}", file=sys.stderr)
        return 1
    return 0

