"""The benchmark's parts on a tiny scale (its full run is `python -m equalnets bench`)."""

import json

import pytest

from equalnets.tools import bench
from equalnets.engine.config import RunConfig
from equalnets.engine.store import RunStore


def test_settings_are_validated():
    with pytest.raises(ValueError, match="n_models"):
        bench.BenchSettings(n_models=0)
    with pytest.raises(ValueError, match="width"):
        bench.BenchSettings(width=-1)
    with pytest.raises(ValueError, match="device"):
        bench.BenchSettings(device="tpu")
    with pytest.raises(ValueError, match="engines"):
        bench.run_benchmark(bench.BenchSettings(), engines=("warp",))


def test_flops_are_counted_and_add_up():
    config = RunConfig(width=0.25, n_models=2, epochs=1, train_per_class=4, test_per_class=2, batch_size=10)
    data = RunStore.dataset_for(config)
    flops = bench.model_flops(config, data)
    # A training step costs about three forward passes (forward, gradients of inputs and weights).
    assert 2.5 < flops["train_per_image"] / flops["eval_per_image"] < 3.5
    total = bench.work_flops(config, data, flops)
    assert total == pytest.approx(2 * (1 * 20 * flops["train_per_image"] + 2 * 30 * flops["eval_per_image"]))
    assert bench.matmul_flops(n=64, reps=2)["median"] > 0


def test_user_loop_matches_our_data_and_learns():
    config = RunConfig(width=0.25, n_models=1, epochs=1, train_per_class=20, test_per_class=10, lr=0.01,
                       momentum=0.9, batch_size=50)
    data = RunStore.dataset_for(config)
    xtr, ytr, xte, yte = bench._raw_fashion_tops(data)
    assert xtr.shape == (100, 32, 32) and xtr.dtype.name == "uint8"
    assert (ytr == data.y_train.numpy()).all() and (yte == data.y_test.numpy()).all()
    out = bench.user_loop(config, data)
    assert len(out["test_accuracy"]) == 1 and 0 <= out["test_accuracy"][0] <= 1


def test_accuracy_check():
    assert bench.accuracy_check([0.5, 0.52, 0.48], [0.51, 0.49, 0.5])["same_within_noise"]
    assert not bench.accuracy_check([0.9, 0.91, 0.9], [0.5, 0.52, 0.48])["same_within_noise"]


def test_format_table_and_json(tmp_path, monkeypatch):
    """The whole pipeline on a tiny run, with the data set shrunk."""
    real = RunStore.dataset_for

    def small(config):
        return real(RunConfig.from_dict(config.to_dict() | {"train_per_class": 10, "test_per_class": 4}))
    monkeypatch.setattr(RunStore, "dataset_for", staticmethod(small))
    out = tmp_path / "b.json"
    result = bench.report(quick=True, out=out, reps=1, limit_steps=1, limit_width=0.25)
    saved = json.loads(out.read_text())
    assert set(saved["rows"]) == {"ours (sequential)", "ours (batched)", "user loop"}
    assert saved["protocol"]["paper_s3"] == {"n_models": 100, "epochs": 140, "ours_epochs": 14000,
                                             "paper_epochs": 987000}
    assert "user loop" in result["table"] and "of matmul" in result["table"]


def test_paper_s3_times_a_part_and_projects_the_whole(tmp_path, monkeypatch):
    real = RunStore.dataset_for

    def small(config):
        return real(RunConfig.from_dict(config.to_dict() | {"train_per_class": 6, "test_per_class": 2, "width": 0.25}))
    monkeypatch.setattr(RunStore, "dataset_for", staticmethod(small))
    monkeypatch.setattr(bench, "RunConfig", lambda **kw: RunConfig(width=0.25, train_per_class=6, test_per_class=2, **kw))
    lines = []
    result = bench.paper_s3(n_models=2, epochs=1, log=lines.append)
    assert result["projected"] and result["engine"] == "sequential" and result["device"] == "cpu"
    assert result["projected_full_seconds"] == pytest.approx(result["seconds"] * 100 * 140 / 2)
    assert result["meets_target"] == (result["projected_full_seconds"] <= 900)
    assert "projected at" in lines[-1] and "15-minute target" in lines[-1]
    with pytest.raises(ValueError, match="device"):
        bench.paper_s3(device="tpu", n_models=2, epochs=1)
    with pytest.raises(ValueError, match="precision"):
        bench.paper_s3(n_models=2, epochs=1, precision="fp8")
