"""Tests of the §6 chapter (equalnets.chapters.part1_s6_breaking_bimodality): its parameters, the
notebook that lists them, the runs it asks the store for, its analysis and its claims on made-up
ensembles."""


import numpy as np
from ensembles import make_run
import pytest


from equalnets.chapters import part1_s6_breaking_bimodality as s6
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
    assert (rl.labels, rl.dropout, rl.train_per_class, rl.test_per_class, rl.optimizer, rl.batch_size, rl.seed) == \
        ("random", False, 50, 100, "adam", 25, 0)
    rescoring, template = s6.rescoring_config(params), s6.subset_template(params)
    assert (rescoring.n_models, rescoring.epochs, rescoring.record_epochs, rescoring.batch_size) == (4, 15, None, 25)
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


def ordered(learnt_at: np.ndarray = LEARNT_AT, n: int = N) -> np.ndarray:
    """``(n, E, M)``: every network right on example i from epoch ``learnt_at[i]`` on, wrong before."""
    right = np.arange(E)[None, :, None] >= learnt_at[None, None, :]
    return np.where(right, LABELS, (LABELS + 1) % K).repeat(n, axis=0)


def base_run():
    return make_run(ordered(), LABELS, ordered(), LABELS)


def random_label_run():
    """Memorised independently by each network (all right at the last epoch); guesses on the test set."""
    rng = np.random.default_rng(1)
    right = rng.random((N, E, M)) < np.linspace(0, 1, E)[None, :, None]
    train = np.where(right, LABELS, (LABELS + 1) % K)
    return make_run(train, LABELS, rng.integers(0, K, size=(N, E, M)), LABELS)


def test_summarise_keeps_the_rows_trained_on():
    run = base_run()
    whole, part = s6.summarise(run), s6.summarise(run, np.arange(10))
    assert (whole.rows, part.rows, whole.n_models) == (M, 10, N)
    assert part.consistency["train"].shape == (E, 10) and part.consistency["test"].shape == (E, M)
    assert not whole.collapsed.any() and len(whole.collapsed_trained()) == 0
    assert whole.summary["test"].n_bimodal() >= 1          # every network agrees: consistency 0 or 1
    table = s6.summary_table({"base": whole, "part": part})
    assert table.loc["part", "train rows"] == 10 and table.index.name == "trained on"


def test_random_label_epochs_and_table():
    rl = s6.summarise(random_label_run())
    mid = s6.middle_epoch(rl)
    assert 1 <= mid < E and abs(rl.consistency["train"][mid].mean() - 0.8) <= 0.15
    chosen = s6.random_label_epochs(rl)
    assert chosen["first epoch"] == 1 and chosen["last epoch"] == E - 1
    assert len(set(chosen.values())) == len(chosen)
    assert list(s6.random_label_table(rl, chosen)["epoch"]) == [int(rl.epochs[i]) for i in chosen.values()]


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
    assert s6.one_shot_overlap(hard, s6.difficulty(run)) >= 0.5
    share, mean_score, shares = s6.kept_path(hard, s6.difficulty(run), run.train.labels, K)
    assert share[0] == 1.0 and share[-1] == pytest.approx(0.2) and shares.shape == (hard.iterations + 1, K)
    assert mean_score[-1] < mean_score[0]
    subsets = s6.subset_runs(params, run, hard)
    assert list(subsets) == [s6.HARD, s6.RANDOM]
    for rows, config in subsets.values():
        assert len(rows) == 10 and config.train_subset == tuple(rows) and config.n_models == params.subset_models


def test_claims_on_made_up_runs():
    hard_rows, random_rows = np.arange(0, M, 5), np.arange(1, M, 5)
    never = np.full(M, E)                                  # never learnt: test accuracy 0
    arms = {s6.HARD: (hard_rows, make_run(ordered(never), LABELS, ordered(never), LABELS)),
            s6.RANDOM: (random_rows, base_run())}
    table = s6.claims(base_run(), random_label_run(), arms)
    verdicts = table.frame().set_index("claim")["verdict"]
    assert len(verdicts) == 7 and set(verdicts) <= {"reproduced", "partly", "not reproduced"}
    assert verdicts["Random labels, no dropout: the networks memorise the training set"] == "reproduced"
    assert verdicts["Random labels: nothing generalises to the test set"] == "reproduced"
    assert verdicts["Training on the hard 20 % costs much more test accuracy than a random 20 %"] == "reproduced"
    assert verdicts["Hard 20 %: no bi-modal phase"] == "reproduced"   # never learnt: consistency 0 throughout
