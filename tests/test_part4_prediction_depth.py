"""The IV.1 chapter module: its parameters and runs, its analyses, and every claim rule on made-up
ensembles that support it (→ reproduced) and that contradict it (→ not reproduced)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from ensembles import make_run  # noqa: E402
from equalnets.chapters import part4_prediction_depth as pd4  # noqa: E402
from equalnets.engine.checks import ParameterError  # noqa: E402
from equalnets.engine.config import RunConfig  # noqa: E402
from equalnets.engine.store import Run, RunStore, SplitRecord  # noqa: E402
from equalnets.figures import depth as pdfig  # noqa: E402
from equalnets.methods.depth import prediction_depth  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
STEM = "part4_prediction_depth"
K, L, N, E = 5, 10, 4, 6  # classes, layers (probes 0 … 10), networks, recorded epochs 0 … 5


# ----------------------------------------------------------------------------- made-up ensembles

def probes_for(depth: np.ndarray, final: np.ndarray, rng: np.random.Generator, *, before: np.ndarray | None = None
               ) -> np.ndarray:
    """Probes ``(n, L+1, M)`` whose depth is ``depth`` ``(n, M)``: probe l gives ``final`` from l = depth
    on, another label at depth − 1, and ``before`` (default: random labels) earlier. Depth L + 1: every
    probe gives another label."""
    n, m = depth.shape
    layer = np.arange(L + 1)[None, :, None]
    early = rng.integers(0, K, (n, L + 1, m)) if before is None else np.broadcast_to(before, (n, L + 1, m))
    other = (final[:, None, :] + 1) % K
    probes = np.where(layer >= depth[:, None, :], final[:, None, :], early)
    probes = np.where(layer == depth[:, None, :] - 1, np.where(early == final[:, None, :], other, early), probes)
    probes = np.where(depth[:, None, :] == L + 1, other, probes)
    return probes.astype(np.int16)


def depth_dict(final_train: np.ndarray, final_test: np.ndarray, probe_train: np.ndarray, probe_test: np.ndarray,
               trained: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """A ``run_depths``-like dict from finals ``(n, M)`` and probes ``(n, L+1, M)``."""
    d = {"members": np.arange(len(final_train)), "layers": np.arange(L + 1), "n_layers": np.asarray(L),
         "trained": np.ones(final_train.shape[1], bool) if trained is None else trained,
         "probe_train": probe_train, "probe_test": probe_test, "final_train": final_train, "final_test": final_test}
    for s in ("train", "test"):
        d[f"depth_{s}"] = np.stack([prediction_depth(p, f) for p, f in zip(d[f"probe_{s}"], d[f"final_{s}"])])
    return d


def split_from(labels: np.ndarray, hardness: np.ndarray, rng: np.random.Generator, related: bool
               ) -> tuple[SplitRecord, np.ndarray, np.ndarray]:
    """Records ``(N, E, M)`` and the depth members' finals and depths ``(N, M)`` of one split: an
    example of hardness h (``(M,)`` shared by the networks, or ``(N, M)`` each network's own) is learnt
    at epoch ≈ 1 + 4h (never when h > 0.8), with confidence and margin falling with h; its depth is
    ≈ L·h when ``related``, unrelated to h otherwise."""
    m = len(labels)
    hardness = np.broadcast_to(hardness, (N, m))
    learnt = np.where(hardness > 0.8, np.inf, 1 + 4 * hardness) + rng.normal(0, 0.3, (N, m))
    epoch = np.arange(E)[None, :, None]
    wrong = np.where(rng.random((N, 1, m)) < hardness[:, None, :], rng.integers(0, K, (N, 1, m)), (labels + 1) % K)
    wrong = np.where(wrong == labels, (labels + 2) % K, wrong)
    pred = np.where(epoch >= learnt[:, None, :], labels, wrong).astype(np.int16)
    p_label = np.clip(0.95 - 0.8 * hardness[:, None, :] + rng.normal(0, 0.05, (N, E, m)), 0, 1).astype(np.float16)
    margin = (3 - 6 * hardness[:, None, :] + rng.normal(0, 0.3, (N, E, m))).astype(np.float16)
    record = SplitRecord(labels=labels, pred=pred, p_label=p_label, margin=margin, el2n=np.zeros_like(margin))
    source = hardness if related else rng.permutation(hardness.T).T
    depth = np.clip(np.rint(L * source + rng.normal(0, 0.7, (N, m))), 0, L + 1).astype(int)
    return record, pred[:, -1].astype(int), depth


def made_up_base(related: bool, seed: int = 0, independent: bool = False) -> tuple[Run, dict[str, np.ndarray]]:
    """A base ensemble (300 train / 200 test images) whose depths follow the hardness of each image
    (``related``) or not; ``independent``: every network has a hardness of its own for each image (its
    depth follows its own errors, but no image is hard for the others)."""
    rng = np.random.default_rng(seed)
    parts = {}
    for s, m in (("train", 300), ("test", 200)):
        labels = np.arange(m) % K
        parts[s] = split_from(labels, rng.uniform(0, 1, (N, m) if independent else m), rng, related)
    run = Run(config=RunConfig(n_models=N, epochs=E - 1, width=0.25), epochs=np.arange(E), train=parts["train"][0],
              test=parts["test"][0], loss=np.ones((N, E - 1)), classes=tuple(f"class {c}" for c in range(K)),
              path=Path("/nonexistent/made-up-run"))
    probe = {s: probes_for(parts[s][2], parts[s][1], rng) for s in parts}
    return run, depth_dict(parts["train"][1], parts["test"][1], probe["train"], probe["test"])


def made_up_noise(kind: str, seed: int = 0) -> tuple[Run, dict[str, np.ndarray], np.ndarray]:
    """A label-noise ensemble of 3 networks on 200 train rows, 20 % flipped. ``'paper'``: flipped rows
    are memorised by the last layers (the early probes give the original class); ``'unmemorised'``:
    every probe and the network give them their original class; ``'memorise early'``: every probe
    gives the flipped label from the input on."""
    rng = np.random.default_rng(seed)
    m, n = 200, 3
    original = np.arange(m) % K
    flipped = rng.permutation(m) < 40
    given = np.where(flipped, (original + rng.integers(1, K, m)) % K, original)
    final = np.broadcast_to(np.where(flipped & (kind != "unmemorised"), given, original), (n, m)).copy()
    d_clean = rng.integers(0, 3, (n, m))
    d_flipped = {"paper": rng.integers(7, 11, (n, m)), "unmemorised": d_clean, "memorise early": np.zeros((n, m), int)}
    depth = np.where(flipped[None, :], d_flipped[kind], d_clean)
    probe = probes_for(depth, final, rng, before=np.where(flipped, original, given)[None, None, :])
    test_final = np.broadcast_to(np.arange(50) % K, (n, 50)).copy()
    test_probe = probes_for(np.zeros((n, 50), int), test_final, rng)
    train_pred = np.broadcast_to(final[:, None, :], (n, 2, m))
    test_pred = np.broadcast_to(test_final[:, None, :], (n, 2, 50))
    run = make_run(train_pred, given, test_pred, np.arange(50) % K, n_classes=K, epochs=np.array([0, 1]))
    return run, depth_dict(final, test_final, probe, test_probe), original


def made_up_halves(kind: str, seed: int = 0) -> tuple[dict[str, Run], dict[str, dict[str, np.ndarray]]]:
    """Two half-split ensembles of 4 networks on 300 train rows. ``'paper'``: a third of the rows is
    easy (shallow in both views), a third 'another class' (deep when trained on, shallow and
    wrong, with one wrong label agreed on, when held out), a third ambiguous (deep in both views,
    the held-out networks split among labels); ``'one view'``: every row has the same depth in both
    views; ``'split votes'``: like ``'paper'``, but the held-out networks split among wrong labels on
    the 'another class' rows and agree on the ambiguous ones."""
    rng = np.random.default_rng(seed)
    m, n = 300, 4
    labels = np.arange(m) % K
    kind_of = np.arange(m) % 3                                   # 0 easy, 1 another class, 2 ambiguous
    half_a = rng.permutation(m) < m // 2
    one_view = np.select([kind_of == 0], [1.0], 4.0 + 4 * rng.random(m))  # a row's depth in both views
    runs, depths = {}, {}
    for name, trained in (("half A", half_a), ("half B", ~half_a)):
        base_depth = np.select([kind_of == 0, kind_of == 1], [1.0, np.where(trained, 8.0, 1.0)], 8.0)
        if kind == "one view":
            base_depth = one_view
        depth = np.clip(np.rint(base_depth[None, :] + rng.normal(0, 0.5, (n, m))), 0, L + 1).astype(int)
        agreed = (labels + 1) % K
        split = (labels[None, :] + 1 + np.arange(n)[:, None] % (K - 1)) % K     # every member another wrong label
        wrong_other, wrong_amb = (split, agreed) if kind == "split votes" else (agreed, split)
        pred = np.where(trained[None, :] | (kind_of == 0)[None, :], labels,
                        np.where((kind_of == 1)[None, :], np.broadcast_to(wrong_other, (n, m)),
                                 np.broadcast_to(wrong_amb, (n, m))))
        final = pred.astype(int)
        probe = probes_for(depth, final, rng)
        test_final = np.broadcast_to(np.arange(40) % K, (n, 40)).copy()
        depths[name] = depth_dict(final, test_final, probe, probes_for(np.zeros((n, 40), int), test_final, rng),
                                  trained=trained)
        runs[name] = make_run(np.broadcast_to(final[:, None, :], (n, 2, m)), labels,
                              np.broadcast_to(test_final[:, None, :], (n, 2, 40)), np.arange(40) % K, n_classes=K,
                              epochs=np.array([0, 1]))
    return runs, depths


def verdicts(base="related", noise="paper", halves="paper") -> dict[str, str]:
    run, d = made_up_base(base == "related")
    noisy, nd, original = made_up_noise(noise)
    hr, hd = made_up_halves(halves)
    table = pd4.claims(run, d, noisy, nd, original, hr, hd, n_perm=50)
    return {row["claim"]: row["verdict"] for row in table.rows}


def verdict(table: dict[str, str], start: str) -> str:
    (value,) = [v for claim, v in table.items() if claim.startswith(start)]
    return value


@pytest.fixture(scope="module")
def supported() -> dict[str, str]:
    return verdicts()


# ----------------------------------------------------------------------------- claims, one rule at a time

def test_every_claim_is_reproduced_on_an_ensemble_that_behaves_as_the_paper_says(supported):
    assert len(supported) == 12
    assert set(supported.values()) == {"reproduced"}, supported


@pytest.fixture(scope="module")
def unrelated_base() -> dict[str, str]:
    return verdicts(base="unrelated")


def test_accuracy_falls_with_depth_fails_when_depth_is_unrelated(unrelated_base):
    assert verdict(unrelated_base, "Accuracy falls") == "not reproduced"


@pytest.mark.parametrize("name", list(pd4.RELATIONS))
def test_each_relation_fails_when_depth_is_unrelated(unrelated_base, name):
    label = pd4.RELATIONS[name][0]
    assert verdict(unrelated_base, f"Depth against {label}") == "not reproduced"


def test_relations_fail_for_independent_networks_whose_depth_follows_their_own_errors():
    """Each network deep where it is itself wrong, but no image hard for the others: accuracy still
    falls with depth (a claim about each network), the relations to the other networks' scores fail."""
    run, d = made_up_base(True, independent=True)
    noisy, nd, original = made_up_noise("paper")
    hr, hd = made_up_halves("paper")
    table = {row["claim"]: row["verdict"] for row in pd4.claims(run, d, noisy, nd, original, hr, hd, n_perm=50).rows}
    assert verdict(table, "Accuracy falls") == "reproduced"
    for label, _ in pd4.RELATIONS.values():
        assert verdict(table, f"Depth against {label}") == "not reproduced", label


def test_relation_members_are_disjoint():
    assert pd4.relation_members(10, [0, 1, 2, 3]) == ([0, 1, 2, 3], [4, 5, 6, 7, 8, 9])
    assert pd4.relation_members(4, [0, 1, 2, 3]) == ([0, 1], [2, 3])
    assert pd4.relation_members(5, [0, 1, 2, 3]) == ([0, 1], [2, 3, 4])
    with pytest.raises(ValueError, match="probed"):
        pd4.relation_members(2, [1])
    run, d = made_up_base(True)
    a = pd4.analyse_base(run, d, n_perm=20)
    assert a.depth_members == (0, 1) and a.score_members == (2, 3)
    assert np.allclose(a.effective["test"], d["depth_test"][:2].mean(0))
    assert np.allclose(a.scores["test"]["consistency"], (run.test.pred[2:, -1] == run.test.labels).mean(0))


def test_flipped_labels_are_not_deep_when_they_are_not_memorised():
    table = verdicts(noise="unmemorised")
    assert verdict(table, "Flipped labels are deep") == "not reproduced"
    assert verdict(table, "Later layers memorise") == "not reproduced"


def test_early_layers_do_not_generalise_when_they_memorise():
    table = verdicts(noise="memorise early")
    assert verdict(table, "Early layers generalise") == "not reproduced"
    assert verdict(table, "Flipped labels are deep") == "not reproduced"


def test_the_two_views_are_one_when_both_depths_agree():
    assert verdict(verdicts(halves="one view"), "The two views differ") == "not reproduced"


def test_the_groups_are_not_separated_when_held_out_votes_say_the_opposite():
    assert verdict(verdicts(halves="split votes"), "The 2-D view separates") == "not reproduced"


# ----------------------------------------------------------------------------- analyses

def test_relation_and_its_null():
    rng = np.random.default_rng(0)
    x = rng.normal(size=500)
    strong = pd4.relation(x, -x + rng.normal(0, 0.3, 500), n_perm=100)
    assert strong.rho < -0.9 and strong.null99 < 0.2 and strong.holds(-1) and not strong.holds(+1)
    weak = pd4.relation(x, rng.normal(size=500), n_perm=100)
    assert not weak.holds(-1) and not weak.holds(+1)
    flat = pd4.relation(x, np.ones(500), n_perm=100)
    assert np.isnan(flat.rho) and not flat.holds(-1)


def test_shallow_deep_gap():
    depth = np.tile(np.arange(12), (3, 10))
    correct = depth <= 5
    gap, null = pd4.shallow_deep_gap(depth, correct, 10, n_perm=50)
    assert gap == 1.0 and null < 0.3
    assert np.isnan(pd4.shallow_deep_gap(np.zeros((2, 5), int), np.ones((2, 5), bool), 10, n_perm=5)[0])


def test_analyse_noise_refuses_a_run_without_flipped_labels():
    noisy, nd, original = made_up_noise("paper")
    with pytest.raises(ValueError, match="flipped"):
        pd4.analyse_noise(noisy, nd, noisy.train.labels)
    with pytest.raises(ValueError, match="original"):
        pd4.analyse_noise(noisy, nd, original[:10])


def test_two_views_groups_and_gallery():
    runs, depths = made_up_halves("paper")
    views = pd4.analyse_two_views(runs, depths)
    kind_of = np.arange(300) % 3
    groups = np.asarray(pd4.GROUPS)[views.groups]
    assert (groups[kind_of == 0] == "easy").mean() > 0.9
    assert (groups[kind_of == 1] == "another class").mean() > 0.9
    assert (groups[kind_of == 2] == "ambiguous").mean() > 0.9
    assert views.reliability > views.cross + 0.1
    rows = views.shown("ambiguous", 4)
    assert len(rows) == 4 and (groups[rows] == "ambiguous").all()
    images, captions = pd4.gallery(views, np.zeros((300, 1, 4, 4)), runs["half A"].train.labels, runs["half A"].classes, 3)
    assert set(images) <= set(pd4.GROUPS) and all(len(captions[g]) == len(images[g]) <= 3 for g in images)
    with pytest.raises(ValueError, match="complementary"):
        pd4.analyse_two_views({"a": runs["half A"], "b": runs["half A"]}, {"a": depths["half A"], "b": depths["half A"]})


def test_two_view_groups_rule():
    g = pd4.two_view_groups(np.array([1, 8, 8, 1, 8, 1]), np.array([1, 1, 8, 8, 1, 1]),
                            np.array([1.0, 0.0, 0.0, 1.0, 1.0, 0.2]), 5)
    assert [pd4.GROUPS[i] for i in g] == ["easy", "another class", "ambiguous", "deep when unseen",
                                          "deep when trained on", "another class"]


def test_figures_draw():
    run, d = made_up_base(True)
    a = pd4.analyse_base(run, d, n_perm=20)
    labels = {name: label for name, (label, _) in pd4.RELATIONS.items()}
    rho = {key: r.rho for key, r in a.relations.items()}
    figs = [pdfig.depth_histograms(a.depth, a.n_layers, arch="st-vgg"),
            pdfig.accuracy_by_depth(a.levels, a.accuracy_by_depth, a.count_by_depth, chance=0.2),
            pdfig.depth_relations(a.effective, a.scores, list(pd4.RELATIONS)[:3], labels, rho, n_members=N)]
    noisy, nd, original = made_up_noise("paper")
    noise = pd4.analyse_noise(noisy, nd, original, n_perm=20)
    figs.append(pdfig.noise_probes(noise.layers, noise.shares, noise.effective, noise.flipped, L, n_members=3, chance=0.2))
    runs, depths = made_up_halves("paper")
    views = pd4.analyse_two_views(runs, depths)
    figs.append(pdfig.two_views(views.train_depth, views.val_depth, views.groups, pd4.GROUPS, views.threshold, L,
                                n_members=(4, 4)))
    images, captions = pd4.gallery(views, np.random.default_rng(0).random((300, 1, 8, 8)), runs["half A"].train.labels,
                                   runs["half A"].classes, 4)
    figs.append(pdfig.group_images(images, captions))
    assert all(f.axes for f in figs)
    plt.close("all")


# ----------------------------------------------------------------------------- parameters, runs, notebook

def as_plain(value):
    return list(value) if isinstance(value, (list, tuple)) else value


@pytest.mark.parametrize("field, value", [("k", 0), ("metric", "manhattan"), ("depth_members", 1),
                                          ("probe_layers", "all"), ("probe_layers", [-1]), ("noise_fraction", 0.0),
                                          ("noise_fraction", 1.0), ("noise_train_per_class", 0), ("noise_models", 0),
                                          ("fit_dropout", "no"), ("fit_optimizer", "rmsprop"),
                                          ("fit_lr", 0.0), ("fit_batch_size", 0), ("half_models", 1), ("half_epochs", 0),
                                          ("n_perm", 5), ("n_shown", 0)])
def test_bad_parameters_name_the_field(field, value):
    with pytest.raises(ParameterError, match=field):
        pd4.Parameters(**{field: value})


def test_runs_have_their_own_seeds_and_complementary_halves():
    params = pd4.Parameters(train_per_class=20, test_per_class=10)
    labels = np.arange(100) % 5
    configs = {"base": params.base_config(), "label noise": params.noise_config(), **params.half_configs(100, labels)}
    assert list(configs) == ["base", "label noise", "half A", "half B"]
    seeds = {name: {c.member_seed(m) for m in range(c.n_models)} for name, c in configs.items()}
    names = list(seeds)
    assert all(not seeds[a] & seeds[b] for i, a in enumerate(names) for b in names[i + 1:])
    a, b = (np.asarray(configs[n].train_subset) for n in ("half A", "half B"))
    assert len(a) == len(b) == 50 and not set(a) & set(b)
    assert all((labels[a] == c).sum() == 10 for c in range(5))
    noise = configs["label noise"]
    assert noise.label_noise == 0.2 and noise.train_per_class == 100 and not noise.dropout
    assert (noise.optimizer, noise.lr, noise.momentum, noise.batch_size, noise.lr_decay_every) == ("adam", 0.001, 0, 25, 0)
    assert noise.record_epochs == tuple(range(0, 41, 2)) and configs["half A"].record_epochs == (0, 20)
    assert (configs["half A"].optimizer, configs["half A"].dropout, configs["half B"].batch_size) == ("adam", False, 25)


def test_runs_lists_every_run_with_the_halves_of_the_base_data():
    data = RunStore.dataset_for(RunConfig(dataset="digits", train_per_class=10, test_per_class=5))
    configs = pd4.runs(pd4.Parameters(dataset="digits", train_per_class=10, test_per_class=5), dataset=data)
    assert list(configs) == ["base", "label noise", "half A", "half B"]
    assert len(configs["half A"].train_subset) + len(configs["half B"].train_subset) == 100


def test_every_claim_states_its_reference():
    run, d = made_up_base(True)
    noisy, nd, original = made_up_noise("paper")
    hr, hd = made_up_halves("paper")
    table = pd4.claims(run, d, noisy, nd, original, hr, hd, n_perm=20)
    assert all(row["reference"] for row in table.rows)
