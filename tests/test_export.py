"""``python -m equalnets export`` (equalnets.tools.export): the atlas table of a made-up run written as
CSV and Parquet and read back unchanged, its data dictionary, clear one-line errors for bad arguments,
and the command end to end on a tiny run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from ensembles import make_run, ordered_run
from equalnets.analysis.atlas import ID_COLUMNS, SCORES
from equalnets.chapters import part5_difficulty_atlas as pd5
from equalnets.engine.config import RunConfig
from equalnets.engine.data import Dataset
from equalnets.tools import cli, export

ROOT = Path(__file__).resolve().parents[1]
K = 5


@pytest.fixture(scope="module")
def table() -> tuple[pd.DataFrame, pd5.Atlas]:
    """The export frame of a made-up base run (60 train / 20 test images) with two half-split runs."""
    base = ordered_run(n=4, e=6, m_train=60, m_test=20, k=K)
    rng = np.random.default_rng(0)
    halves, probs = [], {}
    for i, rows in enumerate((np.arange(0, 60, 2), np.arange(1, 60, 2))):
        config = RunConfig(n_models=2, epochs=1, width=0.25, train_subset=rows.tolist(), seed=10 + i)
        pred = {s: rng.integers(0, K, (2, 2, m)) for s, m in (("train", 60), ("test", 20))}
        halves.append(make_run(pred["train"], base.train.labels, pred["test"], base.test.labels, n_classes=K,
                               epochs=np.array([0, 1]), config=config))
        probs[config.key] = rng.dirichlet(np.ones(K), (2, 80))
    depths = {"depth_train": rng.integers(0, 9, (2, 60)), "depth_test": rng.integers(0, 9, (2, 20))}
    result = pd5.build_atlas(base, depths, {0.5: halves}, probs, el2n_epoch=2)
    data = Dataset("fashion-tops", torch.zeros(60, 1, 2, 2), torch.as_tensor(base.train.labels), torch.zeros(20, 1, 2, 2),
                   torch.as_tensor(base.test.labels), base.classes, train_source=np.arange(60) * 2,
                   test_source=np.arange(20) + 1000)
    return pd5.export_frame(result, data, base), result


def test_csv_and_parquet_round_trip(table, tmp_path):
    frame, result = table
    paths = export.write_atlas(frame, tmp_path, about={"base run": "made up"}, holdout_networks=result.holdout_networks)
    assert set(paths) == {"csv", "parquet", "json", "md"} and all(p.exists() for p in paths.values())
    assert paths["csv"].name == "difficulty-atlas.csv" and paths["parquet"].read_bytes()[:4] == b"PAR1"
    pd.testing.assert_frame_equal(pd.read_parquet(paths["parquet"]), frame)
    pd.testing.assert_frame_equal(pd.read_csv(paths["csv"]), frame, check_exact=False, rtol=1e-12)
    assert list(frame.columns) == [*ID_COLUMNS, *SCORES, "c_score_r50"] and len(frame) == 80


def test_the_data_dictionary_defines_every_column(table, tmp_path):
    frame, result = table
    paths = export.write_atlas(frame, tmp_path, "atlas", about={"base run": "made up"},
                               holdout_networks=result.holdout_networks, formats=("parquet",))
    assert "csv" not in paths and paths["parquet"].name == "atlas.parquet"
    spec = json.loads(paths["json"].read_text())
    assert [c["name"] for c in spec["columns"]] == list(frame.columns) and spec["base run"] == "made up"
    for c in spec["columns"]:
        assert c["definition"] and c["dtype"]
        if c["name"] in SCORES:
            assert c["source"] == SCORES[c["name"]].source and c["range"].startswith(SCORES[c["name"]].range)
    ratio = next(c for c in spec["columns"] if c["name"] == "c_score_r50")
    assert "ratio 0.5" in ratio["definition"] and "4 networks" in ratio["definition"]
    md = paths["md"].read_text()
    assert md.startswith("# Data dictionary") and sum(line.startswith("| ") for line in md.splitlines()) == len(frame.columns) + 2  # header, rule, columns


@pytest.mark.parametrize("kw, match", [
    (dict(folder="missing"), "does not exist"), (dict(folder="file"), "is a file"),
    (dict(stem="a/b"), "file stem"), (dict(stem=".hidden"), "file stem"), (dict(formats=("xlsx",)), "formats"),
    (dict(formats=()), "formats")])
def test_write_atlas_bad_input(table, tmp_path, kw, match):
    frame, result = table
    (tmp_path / "file").write_text("")
    folder = tmp_path / kw.pop("folder", ".")
    with pytest.raises(ValueError, match=match):
        export.write_atlas(frame, folder, about={}, holdout_networks=result.holdout_networks, **kw)


def test_a_column_the_dictionary_does_not_know_is_an_error(table):
    frame, result = table
    with pytest.raises(ValueError, match="surprise"):
        export.column_dictionary(frame.assign(surprise=1), result.holdout_networks)


def test_publish_writes_only_into_an_existing_folder(table, tmp_path, capsys):
    frame, result = table
    assert export.publish(frame, tmp_path / "nope", about={}, holdout_networks=result.holdout_networks) == {}
    assert "not written" in capsys.readouterr().out
    assert export.publish(frame, None, about={}, holdout_networks={}) == {}
    assert set(export.publish(frame, tmp_path, about={}, holdout_networks=result.holdout_networks)) == \
        {"csv", "parquet", "json", "md"}


@pytest.mark.parametrize("argv, message", [
    (["--out", "/nonexistent/folder"], "--out must be an existing folder"),
    (["--name", "../x"], "--name must be a plain file stem"),
    (["-p", "n_modls", "3"], "unknown parameter(s) ['n_modls']"),
    (["-p", "n_models", "two"], "n_models must be an integer"),
    (["-p", "cscore_ratios", "[0.3]"], "multiple of 1/cscore_subsets"),
    (["--profile", "smoke"], "lacks the run 'base'")])
def test_cli_bad_arguments_give_one_clear_line(argv, message, capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(ROOT)
    assert cli.main(["export", *argv]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("equalnets: ") and message in err and "\n" not in err, err


def test_cli_rejects_an_unknown_format_and_profile(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    for argv in (["--format", "xlsx"], ["--profile", "fast"]):
        with pytest.raises(SystemExit) as exit_info:
            cli.main(["export", *argv])
        assert exit_info.value.code == 2
        assert "invalid choice" in capsys.readouterr().err


def test_cli_exports_a_tiny_run_end_to_end(tmp_path, monkeypatch, capsys):
    """Trains (``--train``) a tiny base run, its half-split and C-score ensembles in the test's own run
    cache, then writes the table: one row per image with its index in the original file."""
    monkeypatch.chdir(ROOT)
    tiny = ["-p", "train_per_class", "10", "-p", "test_per_class", "4", "-p", "n_models", "2", "-p", "epochs", "2",
            "-p", "el2n_epoch", "1", "-p", "k", "5", "-p", "depth_members", "2", "-p", "half_models", "2",
            "-p", "half_epochs", "1", "-p", "cscore_epochs", "1", "-p", "n_boot", "10"]
    assert cli.main(["export", "--profile", "smoke", "--out", str(tmp_path), "--name", "tiny", "--train", *tiny]) == 0
    out = capsys.readouterr().out
    assert "70 rows" in out and "tiny.parquet" in out
    frame = pd.read_parquet(tmp_path / "tiny.parquet")
    assert len(frame) == 70 and (frame["split"] == "train").sum() == 50 and frame["dataset"].eq("fashion-tops").all()
    assert all(part["source_index"].is_unique for _, part in frame.groupby("split"))
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "tiny.csv"), frame, check_exact=False, rtol=1e-12)
    assert frame[list(SCORES)].notna().all().all()
    about = json.loads((tmp_path / "tiny-dictionary.json").read_text())
    assert about["profile"] == "smoke" and about["rows"] == 70
