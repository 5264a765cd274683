"""``python -m equalnets export``: the difficulty atlas of a run as data. One row per example of both
splits (data set, split, row, index in the original file, label, class name, then every score of
:data:`equalnets.analysis.atlas.SCORES` and the holdout accuracy per subset ratio), written as CSV and
as Parquet (pyarrow), with a data dictionary beside them (JSON and Markdown: each column's definition,
source paper and range, and the runs the scores come from).

    python -m equalnets export [--profile quick] [-p KEY VALUE ...] [--out DIR] [--name STEM]
                              [--format csv parquet] [--train]

The run is the base ensemble of the profile's atlas chapter (``part5_difficulty_atlas``), with any
``-p`` override of that chapter's parameters. By default the runs are read from the store only (a
missing one is an error that says how to make it); ``--train`` trains what is missing.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from ..analysis.atlas import ID_COLUMNS, SCORES
from ..chapters import part5_difficulty_atlas as atlas_chapter
from ..engine.checks import ParameterError
from ..engine.config import RunConfig
from .book import profile_parameters

FORMATS = ("csv", "parquet")
CHAPTER = "part5_difficulty_atlas"


def column_dictionary(frame: pd.DataFrame, holdout_networks: Mapping[float, int]) -> list[dict[str, str]]:
    """One entry per column of ``frame`` (an export table): its name, type, definition, source and range;
    ``holdout_networks`` ratio → networks of the C-score ensembles of that ratio."""
    out = []
    for name in frame.columns:
        if name in ID_COLUMNS:
            entry = {"definition": ID_COLUMNS[name], "source": "", "range": ""}
        elif name in SCORES:
            s = SCORES[name]
            orientation = {1: "high = easy", -1: "high = hard", 0: "high = ambiguous"}[s.easy]
            entry = {"definition": s.definition, "source": s.source, "range": f"{s.range}; {orientation}"}
        elif name.startswith("c_score_r"):
            ratio = int(name.removeprefix("c_score_r")) / 100
            n = holdout_networks.get(ratio)
            entry = {"definition": f"holdout accuracy at subset ratio {ratio:g}: the accuracy of the networks trained on "
                                   f"{ratio:.0%} of the training split without the example"
                                   + (f" ({n} networks in all, a share {1 - ratio:g} of them hold each training "
                                      "image out; every one holds a test image out)" if n else ""),
                     "source": "Jiang et al. 2021", "range": "[0, 1]; high = easy"}
        else:
            raise ValueError(f"frame has a column {name!r} that the data dictionary does not know")
        out.append({"name": name, "dtype": str(frame[name].dtype), **entry})
    return out


def dictionary_markdown(columns: list[dict[str, str]], about: Mapping[str, Any]) -> str:
    """The data dictionary as a Markdown page: what the table is, then one table row per column."""
    lines = [f"# Data dictionary of {about.get('table', 'the difficulty atlas')}", ""]
    for key, value in about.items():
        if key != "table":
            lines.append(f"* **{key}**: {value if not isinstance(value, (list, dict)) else json.dumps(value)}")
    lines += ["", "| column | type | definition | source | range |", "| --- | --- | --- | --- | --- |"]
    for c in columns:
        cells = [c["name"], c["dtype"], c["definition"], c["source"], c["range"]]
        lines.append("| " + " | ".join(str(v).replace("|", "\\|") for v in cells) + " |")
    return "\n".join(lines) + "\n"


def write_atlas(frame: pd.DataFrame, folder: str | Path, stem: str = atlas_chapter.TABLE_STEM, *,
                about: Mapping[str, Any], holdout_networks: Mapping[float, int],
                formats: tuple[str, ...] = FORMATS) -> dict[str, Path]:
    """Write ``frame`` as ``<stem>.csv`` and ``<stem>.parquet`` (``formats``) into the existing folder
    ``folder``, with the data dictionary ``<stem>-dictionary.json`` and ``.md`` (``about``: what the
    table is, e.g. the runs). Returns format → path."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"the output folder {folder} {'is a file' if folder.exists() else 'does not exist'}: "
                         "give an existing folder")
    if not stem or "/" in stem or stem.startswith("."):
        raise ValueError(f"the table's name must be a plain file stem (no folder, not hidden), got {stem!r}")
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown or not formats:
        raise ValueError(f"formats must be among {', '.join(FORMATS)}, got {list(formats)}")
    columns = column_dictionary(frame, holdout_networks)
    paths: dict[str, Path] = {}
    if "csv" in formats:
        paths["csv"] = folder / f"{stem}.csv"
        frame.to_csv(paths["csv"], index=False)
    if "parquet" in formats:
        paths["parquet"] = folder / f"{stem}.parquet"
        frame.to_parquet(paths["parquet"], engine="pyarrow", index=False)
    info = {"table": f"{stem} ({', '.join(f'{stem}.{f}' for f in formats)})", **about}
    paths["json"] = folder / f"{stem}-dictionary.json"
    paths["json"].write_text(json.dumps({**info, "columns": columns}, indent=1, default=str) + "\n")
    paths["md"] = folder / f"{stem}-dictionary.md"
    paths["md"].write_text(dictionary_markdown(columns, info))
    return paths


def publish(frame: pd.DataFrame, table_dir: str | Path | None, *, about: Mapping[str, Any],
            holdout_networks: Mapping[float, int]) -> dict[str, Path]:
    """What the atlas chapter does with the base run's table: :func:`write_atlas` into ``table_dir`` when
    it is an existing folder (the book's ``book/executed``, where the site offers the files for
    download), and one printed line saying so otherwise; returns what was written."""
    if table_dir is None:
        print("table_dir is None: the table is not written")
        return {}
    if not Path(table_dir).is_dir():
        print(f"no folder {Path(table_dir).resolve()}: the table is not written (set table_dir to an existing folder)")
        return {}
    paths = write_atlas(frame, table_dir, about=about, holdout_networks=holdout_networks)
    for path in paths.values():
        print(f"wrote {path} ({path.stat().st_size:,} bytes)")
    return paths


def about_runs(params: atlas_chapter.Parameters, configs: Mapping[str, RunConfig], atlas: atlas_chapter.Atlas,
               n_rows: int) -> dict[str, Any]:
    """What a table was computed from: the base run, the C-score and label-noise runs, the chapter's
    profile and the atlas's own parameters."""
    return {"rows": n_rows, "base run": f"{configs['base'].describe()} (run key {configs['base'].key})",
            "profile": params.profile, "early epoch of EL2N": params.el2n_epoch,
            "networks whose prediction depth is averaged": atlas.depth_networks,
            "C-score ensembles (subset ratio: networks)": {f"{r:g}": n for r, n in atlas.holdout_networks.items()},
            "C-score ensembles' run keys": {name: c.key for name, c in configs.items()
                                            if name.startswith(("c-score", "half"))},
            "cleanlab method": params.cleanlab_method, "created": time.strftime("%Y-%m-%d %H:%M %Z"),
            "load with": "pandas.read_parquet(path) or pandas.read_csv(path)"}


def atlas_table(params: atlas_chapter.Parameters, *, train: bool = False) -> tuple[pd.DataFrame, dict[str, Any],
                                                                                     atlas_chapter.Atlas]:
    """The export table of ``params``' base run, what it was computed from, and the atlas."""
    store = params.store()
    dataset = store.dataset_for(params.base_config())
    configs = atlas_chapter.runs(params, dataset)
    opened = atlas_chapter.open_runs(params, atlas_chapter.atlas_configs(configs), dataset, train=train)
    result = atlas_chapter.atlas_of(params, opened, dataset)
    frame = atlas_chapter.export_frame(result, dataset, opened["base"])
    return frame, about_runs(params, configs, result, len(frame)), result


def parameters(root: Path, profile: str, overrides: Mapping[str, Any] | None = None) -> atlas_chapter.Parameters:
    """The atlas chapter's parameters under ``profile`` with ``overrides`` (widgets off), checked."""
    given = {**profile_parameters(root, profile, CHAPTER), "interactive": False, **(overrides or {})}
    unknown = sorted(set(given) - set(atlas_chapter.Parameters.names()))
    if unknown:
        raise ParameterError(f"unknown parameter(s) {unknown} of {CHAPTER}; it takes "
                             f"{', '.join(atlas_chapter.Parameters.names())}")
    return atlas_chapter.Parameters(**given)


def add_parser(sub: argparse._SubParsersAction, profiles: tuple[str, ...]) -> argparse.ArgumentParser:
    """The ``export`` sub-command's options."""
    p = sub.add_parser("export", help="write the difficulty atlas of a run (every score of every example) as CSV and "
                                      "Parquet with a data dictionary")
    p.add_argument("--profile", default="quick", choices=profiles, help="the profile whose base run is exported")
    p.add_argument("-p", "--param", nargs=2, action="append", metavar=("KEY", "VALUE"),
                   help=f"override a parameter of {CHAPTER} (e.g. -p n_models 20)")
    p.add_argument("--out", default=".", help="existing folder to write into (default: the current one)")
    p.add_argument("--name", default=atlas_chapter.TABLE_STEM, help="file stem of the table (default %(default)s)")
    p.add_argument("--format", nargs="+", choices=FORMATS, default=list(FORMATS), help="csv and/or parquet")
    p.add_argument("--train", action="store_true", help="train the runs the store lacks (default: only read them)")
    return p


def run(root: Path, args: argparse.Namespace, overrides: Mapping[str, Any]) -> dict[str, Path]:
    """The ``export`` command: check the arguments before any work, compute, write; returns the paths."""
    out = Path(args.out)
    if not out.is_dir():
        raise ValueError(f"--out must be an existing folder, got {args.out!r} "
                         f"({'a file' if out.exists() else 'no such folder'})")
    if not args.name or "/" in args.name or args.name.startswith("."):
        raise ValueError(f"--name must be a plain file stem (no folder, not hidden), got {args.name!r}")
    params = parameters(root, args.profile, overrides)
    frame, about, result = atlas_table(params, train=args.train)
    paths = write_atlas(frame, out, args.name, about=about, holdout_networks=result.holdout_networks,
                        formats=tuple(dict.fromkeys(args.format)))
    for kind, path in paths.items():
        print(f"wrote {path} ({path.stat().st_size:,} bytes)")
    print(f"{len(frame)} rows × {len(frame.columns)} columns")
    return paths
