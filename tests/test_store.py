import numpy as np
import torch
import pytest

from equalnets.analysis import scores
from equalnets.engine.config import RunConfig
from equalnets.engine.store import CorruptMemberWarning, RunStore, open_run
from equalnets.engine import train as train_module


def test_train_then_load_without_retraining(tiny_config, isolated_cache, monkeypatch):
    store = RunStore()
    assert store.root == isolated_cache
    run = store.get_or_train(tiny_config, progress=False)
    n, e = tiny_config.n_models, len(tiny_config.recorded_epochs)
    assert run.train.pred.shape == (n, e, 100) and run.test.pred.shape == (n, e, 50)
    assert run.train.p_label.dtype == np.float16 and run.train.pred.dtype == np.int16
    assert run.loss.shape == (n, tiny_config.epochs)
    assert scores.consistency(run.train.pred, run.train.labels).shape == (e, 100)

    def fail(*args, **kwargs):
        raise AssertionError("a stored run was retrained")
    monkeypatch.setattr("equalnets.engine.ensemble.train_members", fail)
    again = store.get_or_train(tiny_config, progress=False)
    np.testing.assert_array_equal(again.test.pred, run.test.pred)


def test_same_config_gives_identical_predictions(tiny_config, tmp_path):
    a = RunStore(tmp_path / "a").get_or_train(tiny_config, progress=False)
    b = RunStore(tmp_path / "b").get_or_train(tiny_config, progress=False)
    np.testing.assert_array_equal(a.train.pred, b.train.pred)
    np.testing.assert_array_equal(a.test.margin, b.test.margin)
    other = RunStore(tmp_path / "c").get_or_train(RunConfig.from_dict(tiny_config.to_dict() | {"seed": 1}), progress=False)
    assert not np.array_equal(a.train.p_label, other.train.p_label)


def test_resume_trains_only_the_missing_member(tiny_config, monkeypatch):
    store = RunStore()
    run = store.get_or_train(tiny_config, progress=False)
    (store.path(tiny_config) / "member-0001.npz").unlink()
    (store.path(tiny_config) / "member-0001.sha256").unlink()
    trained = []
    real = train_module.train_members

    def spy(config, dataset, members, **kw):
        trained.extend(members)
        return real(config, dataset, members, **kw)
    monkeypatch.setattr("equalnets.engine.ensemble.train_members", spy)
    again = store.get_or_train(tiny_config, progress=False)
    assert trained == [1]
    np.testing.assert_array_equal(again.train.pred, run.train.pred)


@pytest.mark.parametrize("damage", ["truncate", "empty", "flip", "no-checksum", "wrong-member"])
def test_corrupt_member_is_detected_and_retrained(tiny_config, damage):
    store = RunStore()
    run = store.get_or_train(tiny_config, progress=False)
    path = store.path(tiny_config) / "member-0002.npz"
    blob = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(blob[: len(blob) // 2])
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "flip":
        path.write_bytes(blob[:100] + bytes([blob[100] ^ 0xFF]) + blob[101:])
    elif damage == "no-checksum":
        path.with_suffix(".sha256").unlink()
    else:  # a valid file of another member, with a matching checksum
        other = store.path(tiny_config) / "member-0000.npz"
        path.write_bytes(other.read_bytes())
        path.with_suffix(".sha256").write_text(other.with_suffix(".sha256").read_text())
    with pytest.warns(CorruptMemberWarning, match="member 2"):
        assert store.missing_members(tiny_config) == [2]
    with pytest.warns(CorruptMemberWarning):
        again = store.get_or_train(tiny_config, progress=False)
    np.testing.assert_array_equal(again.train.pred, run.train.pred)
    assert store.missing_members(tiny_config) == []


def test_writes_are_atomic(tiny_config, monkeypatch):
    """A crash while a member file is written leaves no member file behind."""
    store = RunStore()

    def crash(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr("equalnets.engine.store.os.replace", crash)
    with pytest.raises(KeyboardInterrupt):
        store.get_or_train(tiny_config, progress=False)
    monkeypatch.undo()
    assert not list(store.path(tiny_config).glob("member-*"))


def test_incomplete_run_cannot_be_loaded(tiny_config):
    with pytest.raises(FileNotFoundError, match=r"lacks members \[0, 1, 2\]"):
        RunStore().load(tiny_config)


def test_other_format_is_refused(tiny_config):
    store = RunStore()
    folder = store.path(tiny_config)
    folder.mkdir(parents=True)
    (folder / "config.json").write_text('{"format": 0, "config": {}}')
    with pytest.raises(RuntimeError, match="file format 0"):
        store.get_or_train(tiny_config, progress=False)


def test_random_labels_are_fixed_per_run(tiny_config):
    config = RunConfig.from_dict(tiny_config.to_dict() | {"labels": "random", "dropout": False})
    run = RunStore().get_or_train(config, progress=False)
    data = RunStore.dataset_for(config)
    assert not np.array_equal(run.train.labels, data.y_train.numpy())
    np.testing.assert_array_equal(run.test.labels, data.y_test.numpy())


def test_tampered_payload_with_a_recomputed_checksum_is_retrained(tiny_config):
    """A file whose checksum was recomputed over a wrong payload is caught by its contents."""
    import hashlib
    import io
    import json

    store = RunStore()
    run = store.get_or_train(tiny_config, progress=False)
    path = store.path(tiny_config) / "member-0001.npz"
    with np.load(path) as npz:
        good = {k: npz[k] for k in npz.files}
    meta = json.loads(str(good["meta"]))

    def payloads():
        yield "missing", {k: v for k, v in good.items() if k != "test/el2n"}, "its arrays are"
        yield "dtype", good | {"train/pred": good["train/pred"].astype(np.float32)}, "train/pred is float32"
        yield "examples", good | {"test/margin": good["test/margin"][:, :-1]}, "test/margin is float16"
        yield "loss", good | {"loss": good["loss"][:1]}, "its loss has shape"
        yield "format", good | {"meta": np.array(json.dumps(meta | {"format": 0}))}, "file format 0"
        yield "meta", good | {"meta": np.array("not json")}, "cannot be read"
        yield "pickle", good | {"extra": np.array([object()], dtype=object)}, "cannot be read"
    for name, arrays, problem in payloads():
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)
        path.write_bytes(buffer.getvalue())
        path.with_suffix(".sha256").write_text(hashlib.sha256(buffer.getvalue()).hexdigest())
        with pytest.warns(CorruptMemberWarning, match=f"member 1 .*{problem}"):
            assert store.missing_members(tiny_config) == [1], name
    with pytest.warns(CorruptMemberWarning):
        again = store.get_or_train(tiny_config, progress=False)
    for field in ("pred", "p_label", "margin", "el2n"):
        np.testing.assert_array_equal(getattr(again.test, field), getattr(run.test, field))
    assert store.missing_members(tiny_config) == []


def test_open_run_gives_the_run_and_its_data(tiny_config, isolated_cache, capsys):
    run, data = open_run(tiny_config, progress=False)
    assert run.path.parent == isolated_cache and len(data.y_test) == run.test.pred.shape[-1]
    out = capsys.readouterr().out
    assert data.describe() in out and f"run {run.path.name}: 3 networks, 3 recorded epochs" in out


def test_stored_weights_rebuild_each_member(tiny_config):
    import torch

    from equalnets.engine.train import predict_logits

    store = RunStore()
    run = store.get_or_train(tiny_config, progress=False)
    data = RunStore.dataset_for(tiny_config)
    for k in range(run.n_models):
        model = run.model(k)
        assert not model.training
        logits = predict_logits(model, data.x_test)
        # The member's last recorded epoch, rebuilt from its weights (trained channels-last, evaluated NCHW).
        assert (logits.argmax(1).numpy() == run.test.pred[k, -1]).mean() >= 0.98
    with pytest.raises(ValueError, match="member"):
        run.model(run.n_models)
    assert run.seconds.shape == (run.n_models,) and (run.seconds > 0).all()
    # A damaged weights file makes the member corrupt: reported, retrained, the same network again.
    weights = store.path(tiny_config) / "member-0001.weights.pt"
    weights.write_bytes(weights.read_bytes()[:-10])
    with pytest.warns(CorruptMemberWarning, match="member 1 .*weights file does not match"):
        assert store.missing_members(tiny_config) == [1]
    with pytest.warns(CorruptMemberWarning):
        again = store.get_or_train(tiny_config, progress=False)
    np.testing.assert_array_equal(again.test.pred, run.test.pred)
    torch.testing.assert_close(dict(again.model(1).state_dict()), dict(run.model(1).state_dict()))
    weights.unlink()
    with pytest.raises(ValueError, match="weights of member 1 .* cannot be read"):
        again.model(1)


def test_small_networks_with_jumpout_record_q_plus(tmp_path):
    config = RunConfig(dataset="digits", train_per_class=10, test_per_class=5, arch="mlp", hidden=(32, 16),
                       dropout_kind="jumpout", n_models=2, epochs=2, lr=0.05, momentum=0.9, record_active=20,
                       inputs="unit")
    run = RunStore(tmp_path).get_or_train(config, progress=False, engine="auto")
    assert run.active.shape == (2, 3, 2) and ((run.active > 0) & (run.active <= 1)).all()
    assert [type(m).__name__ for m in run.model(0)].count("Jumpout") == 2
    assert RunStore(tmp_path).member_info(config)[0]["engine"] == "sequential"  # Jumpout is not batched
    data = RunStore.dataset_for(config)
    assert float(data.x_train.min()) == 0.0 and float(data.x_train.max()) == 1.0  # raw intensities


def test_label_noise_flips_a_fixed_share_to_other_classes(tiny_config):
    from equalnets.engine.train import train_labels

    data = RunStore.dataset_for(tiny_config)
    noisy = tiny_config.replace(label_noise=0.3)
    labels = train_labels(noisy, data)
    flipped = labels != data.y_train
    assert flipped.float().mean().item() == pytest.approx(0.3) and labels.max() < data.n_classes
    assert torch.equal(labels, train_labels(noisy, data))  # one fixed draw per run
    assert not torch.equal(labels, train_labels(noisy.replace(seed=1), data))
    assert noisy.key != tiny_config.key and "30% of its training labels flipped" in noisy.describe()
    with pytest.raises(ValueError, match="label_noise"):
        tiny_config.replace(labels="random", label_noise=0.1)


def test_first_layer_records_and_starting_from_a_stored_run(tiny_config, tmp_path):
    store = RunStore(tmp_path)
    source = tiny_config.replace(record_first_layer=True)
    run = store.get_or_train(source, progress=False)
    assert run.first_layer.shape == (3, 3, 8, 9)  # (N, E, filters, fan-in) of small-st-vgg's first conv
    batched = store.get_or_train(source.replace(seed=4), progress=False, engine="batched")
    sequential = RunStore(tmp_path / "b").get_or_train(source.replace(seed=4), progress=False, engine="sequential")
    np.testing.assert_array_equal(batched.first_layer[:, 0], sequential.first_layer[:, 0])  # the same initialisation
    final = run.first_layer[:, -1]
    for mode in ("copy", "first-layer"):
        started = store.get_or_train(source.replace(init_from=source.key, init_mode=mode, seed=3), progress=False)
        np.testing.assert_array_equal(started.first_layer[:, 0], final)
    fresh = store.get_or_train(source.replace(seed=3), progress=False).first_layer[:, 0]
    rescaled = store.get_or_train(source.replace(init_from=source.key, init_mode="rescaled", seed=3),
                                  progress=False).first_layer[:, 0]
    np.testing.assert_allclose(np.linalg.norm(rescaled, axis=(1, 2)), np.linalg.norm(fresh, axis=(1, 2)), rtol=1e-5)
    np.testing.assert_allclose(rescaled / np.linalg.norm(rescaled, axis=(1, 2))[:, None, None],
                               final / np.linalg.norm(final, axis=(1, 2))[:, None, None], atol=1e-6)
    covariance = store.get_or_train(source.replace(init_from=source.key, init_mode="covariance", seed=3),
                                    progress=False).first_layer[:, 0]
    assert not np.allclose(covariance, final) and not np.allclose(covariance, fresh)
    with pytest.raises(FileNotFoundError, match="no run with key"):
        store.get_or_train(source.replace(init_from="0" * 16), progress=False)
    with pytest.raises(ValueError, match="init_from"):
        source.replace(init_from="short")


def test_artifacts_are_computed_once_and_checked(tmp_path):
    store = RunStore(tmp_path)
    calls = []

    def compute():
        calls.append(1)
        return {"depth": np.arange(4)}
    assert store.artifact("depth", {"run": "abc", "k": 30}, compute)["depth"].tolist() == [0, 1, 2, 3]
    assert store.artifact("depth", {"run": "abc", "k": 30}, compute)["depth"].tolist() == [0, 1, 2, 3]
    assert len(calls) == 1
    store.artifact("depth", {"run": "abc", "k": 10}, compute)  # another spec, another artifact
    assert len(calls) == 2
    for path in (tmp_path / "artifacts").glob("depth-*.npz"):
        path.write_bytes(path.read_bytes()[:-3])
    with pytest.warns(CorruptMemberWarning, match="computed again"):
        store.artifact("depth", {"run": "abc", "k": 30}, compute)
    assert len(calls) == 3


def test_derived_seeds_give_ensembles_disjoint_member_seeds():
    from equalnets.engine.config import derived_seed

    seeds = {name: derived_seed(0, name) for name in ("base", "linear", "resnet-18")}
    assert len(set(seeds.values())) == 3 and derived_seed(0, "linear") == seeds["linear"] != derived_seed(1, "linear")
    members = [{RunConfig(seed=s).member_seed(k) for k in range(100)} for s in seeds.values()]
    assert not (members[0] & members[1]) and not (members[0] & members[2]) and not (members[1] & members[2])
