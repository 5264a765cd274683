"""Tests of the §6 chapter (equalnets.chapters.part1_s6_breaking_bimodality): its parameters, the
notebook that lists them, the runs it asks the store for, its analysis and its claims on made-up
ensembles."""


import numpy as np
from ensembles import make_run
import pytest


from equalnets.analysis import scores
from equalnets.chapters import part1_s6_breaking_bimodality as s6
from equalnets.engine.config import derived_seed
from equalnets.engine.checks import ParameterError

STEM = "part1_s6_breaking_bimodality"


# --------------------------------------------------------------------------- parameters and notebook

def listed(value):
    """A value as the notebook writes it (lists), for comparison with a Parameters default (tuples)."""
    return list(value) if isinstance(value, tuple) else value


def test_parameters_good_values_and_runs():
    params = s6.Parameters(random_record_epochs=[40, 0, 20], random_train_per_class=None, train_per_class=50,
                           rescore_record_epochs=None, subset_record_epochs=[0, 25])
    assert params.random_record_epochs == (40, 0, 20) and params.subset_record_epochs == (0, 25)
    configs = s6.runs(params)
    assert list(configs) == ["base", "random labels"] and configs["base"] == params.base_config()
    rl = configs["random labels"]
    assert (rl.labels, rl.dropout, rl.train_per_class, rl.test_per_class, rl.optimizer, rl.batch_size) == \
        ("random", False, 50, 100, "adam", 25)
    rescoring, template = s6.rescoring_config(params), s6.subset_template(params)
    assert (rescoring.n_models, rescoring.epochs, rescoring.record_epochs, rescoring.batch_size) == (4, 15, None, 25)
    # every ensemble but the shared base has a seed of its own
    assert rl.seed == derived_seed(0, "random labels") and rescoring.seed == derived_seed(0, "rescore")
    assert configs["base"].seed == 0 and s6.runs(s6.Parameters(seed=1))["random labels"].seed == \
        derived_seed(1, "random labels")
    assert (template.n_models, template.epochs, template.batch_size, template.lr) == (6, 25, 25, params.lr)
    assert rescoring.train_subset is None and template.train_subset is None


@pytest.mark.parametrize("name, value", [("random_train_per_class", 0), ("random_width", 0.0), ("random_models", 1),
                                         ("rescore_models", 1.5), ("subset_models", "6"), ("random_epochs", 0),
                                         ("subset_epochs", True), ("random_record_epochs", [0, 41]),
                                         ("rescore_record_epochs", [0, 16]), ("subset_record_epochs", "every"),
                                         ("random_optimizer", "rmsprop"), ("random_lr", 0), ("random_momentum", -0.1),
                                         ("random_lr_decay_every", -1), ("random_batch_size", 0),
                                         ("subset_batch_size", 0), ("hard_step", 1.0), ("hard_keep", 0.0),
                                         ("hard_keep", "20 %"), ("rescore_every", -1), ("n_models", 1),
                                         ("dataset", "imagenet")])
def test_parameters_bad_value_names_it(name, value):
    with pytest.raises(ParameterError, match=name):
        s6.Parameters(**{name: value})


# --------------------------------------------------------------------------- runs through the store

def test_ensemble_rescorer_trains_on_the_rows(tiny_config):
    rows = np.arange(0, 100, 2)
    logged = []
    rescore = s6.ensemble_rescorer(tiny_config, s6.Parameters(interactive=False), log=logged.append)
    score = rescore(rows)
    assert score.shape == (50,) and ((score >= 0) & (score <= 1)).all()
    assert "rescored 50 rows" in logged[0]
    # the run is stored: a second call loads it and gives the same scores
    np.testing.assert_array_equal(rescore(rows), score)


# --------------------------------------------------------------------------- analysis and claims on made-up runs

K, M, N, E = 5, 50, 4, 5
LABELS = np.arange(M) % K
LEARNT_AT = 1 + np.random.default_rng(0).permutation(M) * E // M   # epoch 1..4, or 5 = never (epochs 0..4)
M_RL = 500                                                          # the random-label run's images
RL_LABELS = np.arange(M_RL) % K


def ordered(learnt_at: np.ndarray = LEARNT_AT, n: int = N, jitter: int = 0, labels: np.ndarray = LABELS) -> np.ndarray:
    """``(n, E, M)``: every network right on example i from epoch ``learnt_at[i]`` on (each network up to
    ``jitter`` epochs later, at random), wrong before."""
    shift = np.random.default_rng(3).integers(0, jitter + 1, (n, 1, len(labels)))
    right = np.arange(E)[None, :, None] >= learnt_at[None, None, :] + shift
    return np.where(right, labels, (labels + 1) % K)


def base_run(jitter: int = 0):
    return make_run(ordered(jitter=jitter), LABELS, ordered(jitter=jitter), LABELS)


def independent(accuracy: np.ndarray, labels: np.ndarray, seed: int) -> np.ndarray:
    """``(N, E, M)``: networks right on each example independently with ``accuracy`` ``(E,)`` at each epoch."""
    right = np.random.default_rng(seed).random((N, E, len(labels))) < np.asarray(accuracy)[None, :, None]
    return np.where(right, labels, (labels + 1) % K)


def random_label_run(train_accuracy=np.linspace(0, 1, E), *, agree: bool = False, test_accuracy: float | None = None):
    """Memorised independently by each network (all right at the last epoch by default); guesses on
    the test set. ``agree``: every network memorises the same images in the same order and gives each test
    image the same guess (a shared order); ``test_accuracy``: right on that share of the test images."""
    rng = np.random.default_rng(1)
    if agree:
        learnt = 1 + rng.permutation(M_RL) * (E - 1) // M_RL
        train = ordered(learnt, labels=RL_LABELS)
        test = np.repeat(rng.integers(0, K, size=(1, E, M_RL)), N, axis=0)
    else:
        train = independent(train_accuracy, RL_LABELS, seed=1)
        test = rng.integers(0, K, size=(N, E, M_RL))
    if test_accuracy is not None:
        test = independent(np.r_[0.2, np.full(E - 1, test_accuracy)], RL_LABELS, seed=2)
    return make_run(train, RL_LABELS, test, RL_LABELS, n_classes=K)


def arms(hard: np.ndarray | None = None, random: np.ndarray | None = None):
    """The two subset arms: by default the hard set right on a tenth of the images at random, each network
    on its own (no order: not bi-modal, accuracy 0.1), the random 20 % learning in the base's order."""
    hard = independent(np.r_[0.2, np.full(E - 1, 0.1)], LABELS, seed=4) if hard is None else hard
    random = ordered(jitter=1) if random is None else random
    return {s6.HARD: (np.arange(0, M, 5), make_run(hard, LABELS, hard, LABELS)),
            s6.RANDOM: (np.arange(1, M, 5), make_run(random, LABELS, random, LABELS))}


def test_summarise_keeps_the_rows_trained_on_and_labels_collapsed_epochs():
    run = base_run()
    whole, part = s6.summarise(run), s6.summarise(run, np.arange(10))
    assert (whole.rows, part.rows, whole.n_models) == (M, 10, N)
    assert part.consistency["train"].shape == (E, 10) and part.consistency["test"].shape == (E, M)
    assert not whole.collapsed("test").any() and len(whole.collapsed_trained()) == 0
    assert whole.n_bimodal("test") >= 1 and whole.enough("test")   # every network agrees: consistency 0 or 1
    assert whole.null_pearson["test"].shape == (E,) and whole.min_pearson("test", null=True) > 0.5 > whole.min_pearson("test")
    table = s6.summary_table({"base": whole, "part": part})
    assert table.loc["part", "train rows"] == 10 and table.index.name == "trained on"
    # one label for every test image from epoch 1 on: collapsed, its own phase, never judged
    one = ordered()
    one[:, 1:] = 0
    flat = s6.summarise(make_run(ordered(), LABELS, one, LABELS))
    assert list(flat.phases["test"].labels[1:]) == ["collapsed"] * (E - 1) and flat.n_bimodal("test") == 0
    assert not flat.enough("test") and np.isnan(flat.min_pearson("test")) and flat.enough("train")


def test_random_label_epochs_and_table():
    rl = s6.summarise(random_label_run())
    mid = s6.middle_epoch(rl)
    assert 1 <= mid < E and abs(rl.consistency["train"][mid].mean() - 0.8) <= 0.15
    chosen = s6.random_label_epochs(rl)
    assert chosen["first epoch"] == 1 and chosen["last epoch"] == E - 1
    assert len(set(chosen.values())) == len(chosen)
    table = s6.random_label_table(rl, chosen)
    assert list(table["epoch"]) == [int(rl.epochs[i]) for i in chosen.values()] and "phase (test)" in table


def test_moments_skip_collapsed_epochs():
    a, b = s6.summarise(base_run()), s6.summarise(base_run())
    assert s6.moments({"a": a, "b": b}) == {"beginning": 1, "end": E - 1}
    collapsed = make_run(ordered(), LABELS, np.zeros((N, E, M), dtype=int), LABELS)  # one label for every image
    assert s6.moments({"a": a, "c": s6.summarise(collapsed)}) == {"beginning": 1, "end": E - 1}


def test_hard_set_without_rescoring_keeps_the_hardest_and_the_subset_runs_train_on_it():
    params = s6.Parameters(dataset="digits", train_per_class=10, test_per_class=5, hard_step=0.1, hard_keep=0.2,
                           rescore_every=0)
    run = base_run()
    hard = s6.hard_set(params, run)
    assert len(hard.rows) == 10 and hard.rescored_at == (0,)
    assert s6.difficulty(run)[hard.rows].max() <= np.sort(s6.difficulty(run))[10]
    np.testing.assert_allclose(s6.difficulty(run), scores.speed(run.train.pred, run.train.labels, run.epochs))
    assert s6.one_shot_overlap(hard, s6.difficulty(run)) >= 0.5
    share, mean_score, shares = s6.kept_path(hard, s6.difficulty(run), run.train.labels, K)
    assert share[0] == 1.0 and share[-1] == pytest.approx(0.2) and shares.shape == (hard.iterations + 1, K)
    assert mean_score[-1] < mean_score[0]
    subsets = s6.subset_runs(params, run, hard)
    assert list(subsets) == [s6.HARD, s6.RANDOM]
    for name, (rows, config) in subsets.items():
        assert len(rows) == 10 and config.train_subset == tuple(rows) and config.n_models == params.subset_models
        assert config.seed == derived_seed(params.seed, name)  # the hard and the random arm are no twins


def verdicts(table) -> dict[str, str]:
    return table.frame().set_index("claim")["verdict"].to_dict()


NEVER_TRAIN, NEVER_TEST = "Random labels: consistency is never bi-modal (train)", \
    "Random labels: consistency is never bi-modal (test)"
MEMORISE = "Random labels, no dropout: the networks memorise the training set"
BELL = "Random labels: a single bell on the training set while learning"
NOTHING = "Random labels: nothing generalises to the test set"
COST = "Training on the hard 20 % costs much more test accuracy than a random 20 %"
NO_PHASE = "Hard 20 %: no bi-modal phase"


def test_claims_of_the_paper_s_picture_are_reproduced():
    table = s6.claims(base_run(), random_label_run(), arms())
    found = verdicts(table)
    assert len(found) == 7 and set(found.values()) == {"reproduced"}, table.frame()
    assert all(r["reference"] for r in table.rows)
    assert "0.77" in table.rows[1]["rule"] and "1.05" in table.rows[2]["rule"]


def test_claims_of_random_label_networks_that_agree():
    """Random-label networks that memorise the same images in the same order and guess alike on the test
    set: bi-modal on both splits, no bell."""
    found = verdicts(s6.claims(base_run(), random_label_run(agree=True), arms()))
    assert found[NEVER_TRAIN] == found[NEVER_TEST] == found[BELL] == "not reproduced"
    assert found[MEMORISE] == "reproduced"


def test_claims_of_random_label_networks_that_neither_memorise_nor_guess():
    found = verdicts(s6.claims(base_run(), random_label_run(np.r_[0, np.full(E - 1, 0.4)], test_accuracy=0.6),
                               arms()))
    assert found[MEMORISE] == found[NOTHING] == "not reproduced"


def test_never_bi_modal_needs_a_base_that_the_rule_calls_bi_modal():
    """With a base that is not bi-modal either, the rule has shown it cannot see the phase at this N."""
    flat = make_run(independent(np.linspace(0.2, 0.8, E), LABELS, 5), LABELS,
                    independent(np.linspace(0.2, 0.8, E), LABELS, 6), LABELS)
    found = verdicts(s6.claims(flat, random_label_run(), arms()))
    assert found[NEVER_TRAIN] == found[NEVER_TEST] == "partly"


def test_claims_of_a_hard_set_that_is_still_bi_modal_and_as_accurate():
    """The hard arm learns in the base's order, like the random arm: no cost, and a bi-modal phase."""
    found = verdicts(s6.claims(base_run(), random_label_run(), arms(hard=ordered(jitter=1))))
    assert found[COST] == found[NO_PHASE] == "not reproduced"


def test_no_bi_modal_phase_needs_a_control_that_has_one():
    found = verdicts(s6.claims(base_run(), random_label_run(),
                               arms(random=independent(np.r_[0.2, np.full(E - 1, 0.6)], LABELS, seed=7))))
    assert found[NO_PHASE] == "not reproduced"
