import numpy as np
import pytest

from equalnets.config import RunConfig
from equalnets.store import CorruptMemberWarning, RunStore, open_run
from equalnets import train as train_module


def test_train_then_load_without_retraining(tiny_config, isolated_cache, monkeypatch):
    store = RunStore()
    assert store.root == isolated_cache
    run = store.get_or_train(tiny_config, progress=False)
    n, e = tiny_config.n_models, len(tiny_config.recorded_epochs)
    assert run.train.pred.shape == (n, e, 100) and run.test.pred.shape == (n, e, 50)
    assert run.train.p_label.dtype == np.float16 and run.train.pred.dtype == np.int16
    assert run.loss.shape == (n, tiny_config.epochs)
    assert run.train.consistency().shape == (e, 100)

    def fail(*args, **kwargs):
        raise AssertionError("a stored run was retrained")
    monkeypatch.setattr("equalnets.store.train_member", fail)
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
    real = train_module.train_member

    def spy(config, dataset, member, **kw):
        trained.append(member)
        return real(config, dataset, member, **kw)
    monkeypatch.setattr("equalnets.store.train_member", spy)
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
    monkeypatch.setattr("equalnets.store.os.replace", crash)
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
