"""Prediction depth (equalnets.methods.depth): the k-NN probe and the depth on hand-made cases, bad
input, the representations of the sequential networks, and the depths of a tiny stored run."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.neighbors import KNeighborsClassifier

from equalnets.engine.models import build_model
from equalnets.engine.store import RunStore
from equalnets.methods import depth
from equalnets.methods.depth import knn_probe, layer_depth, prediction_depth

LINE = np.array([[0.0], [1.0], [2.0], [10.0], [11.0], [12.0]])
LINE_LABELS = np.array([0, 0, 0, 1, 1, 1])


# ----------------------------------------------------------------------------- knn_probe

def test_knn_probe_majority_of_the_nearest():
    query = np.array([[0.2], [11.6], [5.9], [6.1]])
    assert knn_probe(LINE, LINE_LABELS, query, k=1).tolist() == [0, 1, 0, 1]
    assert knn_probe(LINE, LINE_LABELS, query, k=3).tolist() == [0, 1, 0, 1]
    # k = 5 from 0.2: three of class 0 and two of class 1
    assert knn_probe(LINE, LINE_LABELS, np.array([[0.2]]), k=5).tolist() == [0]
    out = knn_probe(LINE, LINE_LABELS, query, k=2)
    assert out.shape == (4,) and out.dtype == np.int64


def test_knn_probe_leaves_each_point_out_of_its_own_vote():
    support = np.array([[0.0], [0.1], [5.0], [5.1], [5.2]])
    labels = np.array([1, 0, 0, 0, 0])
    # with itself in the vote, point 0 would be its own nearest neighbour (label 1)
    assert knn_probe(support, labels, support, k=1).tolist() == [1, 0, 0, 0, 0]
    assert knn_probe(support, labels, support, k=1, exclude_self=True).tolist() == [0, 1, 0, 0, 0]


def test_knn_probe_breaks_ties_deterministically():
    # a tied vote goes to the lowest of the tied labels (scikit-learn's rule), whoever is nearest
    support = np.array([[1.0], [-2.0], [3.0], [-4.0]])
    labels = np.array([2, 0, 2, 0])
    assert knn_probe(support, labels, np.array([[0.0]]), k=2).tolist() == [0]
    assert knn_probe(support, labels, np.array([[0.0]]), k=4).tolist() == [0]
    assert knn_probe(support, np.array([2, 1, 2, 3]), np.array([[0.0]]), k=3).tolist() == [2]  # 2 has the most
    # equal distances: the lower support index comes first (here, decides a k = 1 vote)
    twins = np.array([[-1.0], [1.0]])
    assert knn_probe(twins, np.array([3, 1]), np.array([[0.0]]), k=1).tolist() == [3]
    assert knn_probe(twins, np.array([1, 3]), np.array([[0.0]]), k=1).tolist() == [1]
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 3, (60, 2)).astype(float), rng.integers(0, 4, 60)  # many exact ties
    first = knn_probe(x, y, x, k=6, exclude_self=True)
    assert (first == knn_probe(x, y, x, k=6, exclude_self=True)).all()


def test_knn_probe_agrees_with_scikit_learn_without_ties():
    rng = np.random.default_rng(1)
    x, y, q = rng.normal(size=(300, 12)), rng.integers(0, 2, 300), rng.normal(size=(120, 12))
    for metric in ("euclidean", "cosine"):
        ref = KNeighborsClassifier(n_neighbors=7, metric=metric, algorithm="brute").fit(x, y).predict(q)
        assert (knn_probe(x, y, q, k=7, metric=metric) == ref).all()


def test_knn_probe_agrees_with_scikit_learn_on_tied_votes_and_left_out_points():
    """k = 30 of two classes: 15-15 votes are frequent; scikit-learn gives them the lower label, and its
    ``predict(None)`` leaves each training point out of its own vote, as ``exclude_self`` does."""
    rng = np.random.default_rng(3)
    x, y, q = rng.normal(size=(400, 3)), rng.integers(0, 2, 400), rng.normal(size=(300, 3))
    ref = KNeighborsClassifier(n_neighbors=30, algorithm="brute").fit(x, y)
    counts = y[ref.kneighbors(q, return_distance=False)].sum(1)
    assert (counts == 15).sum() >= 10                                  # the case under test occurs
    assert (knn_probe(x, y, q) == ref.predict(q)).all()
    assert (knn_probe(x, y, x, exclude_self=True) == ref.predict(None)).all()
    three = rng.integers(0, 3, 400)
    ref3 = KNeighborsClassifier(n_neighbors=12, algorithm="brute").fit(x, three)
    assert (knn_probe(x, three, q, k=12) == ref3.predict(q)).all()


def test_knn_probe_cosine_ignores_the_length_of_the_rows():
    support = np.array([[1.0, 0.0], [10.0, 10.0]])
    labels = np.array([0, 1])
    query = np.array([[0.5, 0.6], [50.0, 60.0], [0.1, 0.0]])
    assert knn_probe(support, labels, query, k=1, metric="cosine").tolist() == [1, 1, 0]
    assert knn_probe(support, labels, query, k=1).tolist() == [0, 1, 0]  # Euclidean: (0.5, 0.6) is near (1, 0)


def test_knn_probe_blocks_and_tensors_give_the_same_answer(monkeypatch):
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(50, 5)), rng.integers(0, 3, 50)
    whole = knn_probe(x, y, x, k=5, exclude_self=True)
    monkeypatch.setattr(depth, "BLOCK", 7 * 50)  # 7 query rows at a time
    assert (knn_probe(x, y, x, k=5, exclude_self=True) == whole).all()
    assert (knn_probe(torch.tensor(x), torch.tensor(y), torch.tensor(x), k=5, exclude_self=True) == whole).all()


@pytest.mark.parametrize("kwargs, name", [
    (dict(support=np.zeros(6)), "support"),
    (dict(support=np.zeros((0, 1)), support_labels=np.zeros(0, int)), "support"),
    (dict(query=np.zeros((2, 3))), "query"),
    (dict(query=np.array([[np.nan]])), "query"),
    (dict(support_labels=np.array([0, 0, 1])), "support_labels"),
    (dict(support_labels=LINE_LABELS.astype(float)), "support_labels"),
    (dict(support_labels=-LINE_LABELS), "support_labels"),
    (dict(k=0), "k"),
    (dict(k=7), "k"),
    (dict(k=2.0), "k"),
    (dict(k=6, exclude_self=True, query=LINE), "k"),
    (dict(exclude_self=True), "exclude_self"),
    (dict(metric="manhattan"), "metric"),
])
def test_knn_probe_bad_input_names_the_argument(kwargs, name):
    args = dict(support=LINE, support_labels=LINE_LABELS, query=np.array([[0.5]]), k=3)
    args.update(kwargs)
    with pytest.raises(ValueError, match=name):
        knn_probe(**args)


# ----------------------------------------------------------------------------- prediction_depth

def test_prediction_depth_hand_made():
    probes = np.array([[1, 0, 1, 2, 3],
                       [1, 1, 0, 2, 3],
                       [1, 1, 1, 0, 3]])  # L = 2
    final = np.array([1, 1, 1, 2, 0])
    # agree from the input / from probe 1 / from probe 2 / the last probe disagrees (twice)
    assert prediction_depth(probes, final).tolist() == [0, 1, 2, 3, 3]
    assert prediction_depth(np.array([[4, 2]]), np.array([4, 1])).tolist() == [0, 1]  # one probe: L = 0
    # agreement that is later broken does not count
    assert prediction_depth(np.array([[2], [2], [0], [2]]), np.array([2])).tolist() == [3]
    assert prediction_depth(torch.tensor(probes), torch.tensor(final)).dtype == np.int64


@pytest.mark.parametrize("probes, final, name", [
    (np.array([1, 2]), np.array([1, 2]), "probe_pred"),
    (np.zeros((2, 0), int), np.zeros(0, int), "probe_pred"),
    (np.array([[1.0, 2.0]]), np.array([1, 2]), "probe_pred"),
    (np.array([[-1, 2]]), np.array([1, 2]), "probe_pred"),
    (np.array([[1, 2]]), np.array([1, 2, 3]), "final_pred"),
    (np.array([[1, 2]]), np.array([1.0, 2.0]), "final_pred"),
    (np.array([[1, 2]]), np.array([[1, 2]]), "final_pred"),
])
def test_prediction_depth_bad_input_names_the_argument(probes, final, name):
    with pytest.raises(ValueError, match=name):
        prediction_depth(probes, final)


def test_layer_depth_counts_in_probed_layers():
    probes = np.array([[0, 1, 1], [1, 1, 0], [1, 1, 1]])  # probed layers 0, 4, 10
    assert layer_depth(probes, np.array([1, 1, 0]), [0, 4, 10]).tolist() == [4, 0, 11]
    with pytest.raises(ValueError, match="layers"):
        layer_depth(probes, np.array([1, 1, 0]), [0, 10])


# ----------------------------------------------------------------------------- representations

@pytest.mark.parametrize("arch, kwargs", [("st-vgg", {}), ("linear-small-st-vgg", {}), ("mlp", {"hidden": [16, 8]}),
                                          ("cnn", {"hidden": [4, 8, 16], "batch_norm": True})])
def test_layer_representations_of_the_sequential_networks(arch, kwargs):
    torch.manual_seed(0)
    model = build_model(arch, in_channels=1, image_size=16, n_classes=3, width=0.25 if "st-vgg" in arch else 1.0,
                        **kwargs)
    model.train()
    x = torch.randn(7, 1, 16, 16)
    reps = depth.layer_representations(model, x, batch_size=3)
    n_weighted = len(depth.weighted_modules(model))
    assert sorted(reps) == list(range(n_weighted + 1)) == list(range(depth.n_probes(model)))
    assert all(r.shape[0] == 7 and r.ndim == 2 for r in reps.values())
    assert torch.equal(reps[0], x.flatten(1))
    assert model.training is True  # run in eval mode, and given back in the mode it was in
    with torch.no_grad():
        expected = model.eval()(x).softmax(1)
    assert torch.allclose(reps[n_weighted], expected, atol=1e-6)


def test_representations_refuse_branching_networks_and_bad_layers():
    with pytest.raises(ValueError, match="sequential"):
        depth.weighted_modules(build_model("resnet-18", in_channels=1, image_size=16, n_classes=3, width=0.125))
    model = build_model("mlp", in_channels=1, image_size=4, n_classes=2, hidden=[3])
    with pytest.raises(ValueError, match="layer"):
        depth.layer_representations(model, torch.zeros(2, 1, 4, 4), layers=[5])
    assert depth.probed_layers(model, [1]) == [1, 2]  # the softmax output is always probed
    with pytest.raises(ValueError, match="layers"):
        depth.probed_layers(model, "0")


def test_member_probes_on_a_small_network():
    torch.manual_seed(1)
    model = build_model("mlp", in_channels=1, image_size=4, n_classes=3, hidden=[8])
    x_train, x_test = torch.randn(30, 1, 4, 4), torch.randn(9, 1, 4, 4)
    fit = np.arange(0, 30, 2)
    y = np.arange(15) % 3
    out = depth.member_probes(model, x_train, y, fit, x_test, k=3)
    assert out["probe_train"].shape == (3, 30) and out["probe_test"].shape == (3, 9)
    assert out["layers"].tolist() == [0, 1, 2]
    with torch.no_grad():
        assert (out["final_test"] == model.eval()(x_test).argmax(1).numpy()).all()
    reps = depth.layer_representations(model, torch.cat([x_train, x_test]))
    own = knn_probe(reps[1][fit], y, reps[1][fit], k=3, exclude_self=True)
    assert (out["probe_train"][1, fit] == own).all()
    rest = np.setdiff1d(np.arange(30), fit)
    assert (out["probe_train"][1, rest] == knn_probe(reps[1][fit], y, reps[1][rest], k=3)).all()
    with pytest.raises(ValueError, match="fit_rows"):
        depth.member_probes(model, x_train, y, fit + 100, x_test, k=3)
    with pytest.raises(ValueError, match="y_fit"):
        depth.member_probes(model, x_train, y[:3], fit, x_test, k=3)


def test_run_depths_of_a_stored_run_are_cached(tiny_config, isolated_cache):
    store = RunStore(isolated_cache)
    config = tiny_config.replace(n_models=2, epochs=1)
    run = store.get_or_train(config, progress=False)
    data = store.dataset_for(config)
    out = depth.run_depths(run, data, k=5, members=[1])
    n_layers = len(depth.weighted_modules(run.model(1)))
    assert out["depth_train"].shape == (1, 100) and out["depth_test"].shape == (1, 50)
    assert out["probe_train"].shape == (1, n_layers + 1, 100) and int(out["n_layers"]) == n_layers
    assert (out["final_train"][0] == run.train.pred[1, -1]).all() and (out["final_test"][0] == run.test.pred[1, -1]).all()
    assert out["trained"].all() and out["depth_test"].max() <= n_layers + 1
    assert (out["depth_train"][0] == prediction_depth(out["probe_train"][0], out["final_train"][0])).all()
    assert len(list((isolated_cache / "artifacts").glob("prediction-depth-*.npz"))) == 1
    again = depth.run_depths(run, data, k=5, members=[1])
    assert all(np.array_equal(again[name], out[name]) for name in out)
    assert len(list((isolated_cache / "artifacts").glob("prediction-depth-*.npz"))) == 1
    depth.run_depths(run, data, k=5, members=[1], metric="cosine")  # other parameters: another artifact
    assert len(list((isolated_cache / "artifacts").glob("prediction-depth-*.npz"))) == 2
    with pytest.raises(ValueError, match="members"):
        depth.run_depths(run, data, members=[2])
