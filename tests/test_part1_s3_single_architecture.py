"""Tests of the §3 single-architecture chapter (equalnets.chapters.part1_s3_single_architecture): its
parameters, its analysis, and every claim rule on made-up ensembles, once with an ensemble that supports
the claim (→ reproduced) and once with one that contradicts it (→ not reproduced)."""

import numpy as np
import pytest
from ensembles import collapsed_run, independent_run, make_run, ordered_predictions, ordered_run

from equalnets.chapters import part1_s3_single_architecture as s3
from equalnets.engine.checks import ParameterError

K = 5
INIT = "Initialisation: consistency is spread like independent networks' (a bell around chance)"
BEGIN = "Beginning of learning: a short phase with most examples at consistency 0"
TAIL = "Beginning of learning: the histogram decays exponentially from 0"
LONGEST = "Bi-modality is the longest phase (train)"
TEST_PHASE = "The test set goes through the same bi-modal phase"
NULL = "More bi-modal than independent errors would give"
POOLED = "Bi-modal over the whole of training (pooled epochs)"
CONSENSUS = "Mean consensus increases with training, beyond independent networks'"
MISTAKES = "Networks agree on their mistakes"
RAPID = "Examples move from consistency 0 to 1 rapidly"
END = "End of learning: on an easy set every example reaches consistency 1"
CLAIMS = (INIT, BEGIN, TAIL, LONGEST, TEST_PHASE, NULL, POOLED, CONSENSUS, MISTAKES, RAPID, END)


def verdict(run, claim):
    return s3.claims(run).verdict(claim)


def both_splits(**kw):
    """An ordered run (tests/ensembles.py) with ordered_predictions' keywords on both splits."""
    train, train_labels = ordered_predictions(10, 12, 500, K, seed=0, **kw)
    test, test_labels = ordered_predictions(10, 12, 200, K, seed=100, **kw)
    return train, train_labels, test, test_labels


def with_counts(pred, labels, epoch, counts, seed=0):
    """``pred`` with exactly ``counts[m]`` networks right on example m at ``epoch``, the others wrong
    with a label of their own (so the epoch is not collapsed)."""
    rng = np.random.default_rng(seed)
    pred = pred.copy()
    n = pred.shape[0]
    for m, c in enumerate(counts):
        right = rng.permutation(n) < c
        pred[:, epoch, m] = np.where(right, labels[m], (labels[m] + rng.integers(1, K, n)) % K)
    return pred


# --------------------------------------------------------------------------- parameters and analysis

@pytest.mark.parametrize("name, value", [("n_models", 1), ("epochs", 0), ("width", "wide"), ("seed", -1)])
def test_parameters_bad_value_names_it(name, value):
    with pytest.raises(ParameterError, match=name):
        s3.Parameters(**{name: value})


def test_runs_and_claims_with_the_run_alone():
    params = s3.Parameters(seed=1)
    assert s3.runs(params) == {"base": params.base_config()} and params.base_config().seed == 1
    table = s3.claims(ordered_run())                     # the DESIGN contract: claims(run)
    assert [r["claim"] for r in table.rows] == list(CLAIMS)
    assert all(r["reference"] for r in table.rows)       # every rule states its reference


def test_analysis_labels_collapsed_epochs_and_leaves_them_out():
    run = ordered_run()
    train = run.train.pred.copy()
    train[:, 1:3] = 0                                   # epochs 1-2: every network gives one label
    a = s3.analyse(make_run(train, run.train.labels, run.test.pred, run.test.labels, n_classes=K))
    assert a.phases["train"].labels[1:3] == ("collapsed", "collapsed") and "collapsed" in a.chosen
    assert not a.kept[:3].any() and a.kept[3:].all()
    assert list(a.chosen.values()) == sorted(a.chosen.values())
    assert s3.phase_runs(a.epochs, a.phases["train"].labels).startswith("1-2 collapsed")


# --------------------------------------------------------------------------- every rule, both ways

def test_initialisation_tests_the_shape_not_the_mean():
    run = ordered_run()
    assert verdict(run, INIT) == "reproduced"           # independent random labels at epoch 0
    train = run.train.pred.copy()
    train[:, 0] = train[:1, 0]                          # every network the same at epoch 0: a two-point law
    two_point = make_run(train, run.train.labels, run.test.pred, run.test.labels, n_classes=K)
    assert abs(s3.analyse(two_point).consistency["train"][0].mean() - 1 / K) < 0.05   # mean still near chance
    assert verdict(two_point, INIT) == "not reproduced"


def test_beginning_of_learning_needs_more_mass_at_0_than_independent_networks():
    run = ordered_run()
    assert verdict(run, BEGIN) == "reproduced"
    assert verdict(independent_run(run), BEGIN) == "not reproduced"
    assert verdict(collapsed_run(run), BEGIN) == "not reproduced"


def test_exponential_tail_against_the_independent_networks_histogram():
    run = ordered_run()
    rng = np.random.default_rng(3)
    geometric = np.minimum(rng.geometric(0.6, 500) - 1, 10)   # P(k) ∝ 0.4^k
    binomial = rng.binomial(10, 0.06, 500)                    # independent networks at accuracy 0.06
    for counts, expected in ((geometric, "reproduced"), (binomial, "not reproduced")):
        train = with_counts(run.train.pred, run.train.labels, 1, counts)
        made = make_run(train, run.train.labels, run.test.pred, run.test.labels, n_classes=K)
        assert s3.analyse(made).phases["train"].labels[1] == "beginning of learning"
        assert verdict(made, TAIL) == expected


@pytest.mark.parametrize("claim", [LONGEST, TEST_PHASE, NULL, POOLED, RAPID])
def test_bimodality_rules_fail_on_independent_networks(claim):
    run = ordered_run()
    assert verdict(run, claim) == "reproduced"
    assert verdict(independent_run(run), claim) == "not reproduced"


@pytest.mark.parametrize("claim", [BEGIN, TAIL, LONGEST, TEST_PHASE, NULL, POOLED, CONSENSUS, MISTAKES, RAPID])
def test_a_collapsed_ensemble_earns_no_bimodality(claim):
    assert verdict(collapsed_run(ordered_run()), claim) == "not reproduced"


def test_consensus_must_rise_beyond_independent_networks():
    rising = make_run(*both_splits(agree_wrong=False), n_classes=K)   # mistakes spread, then learnt together
    assert verdict(rising, CONSENSUS) == "reproduced"
    assert verdict(independent_run(rising), CONSENSUS) == "not reproduced"


def test_agreement_on_mistakes_against_independent_networks():
    assert verdict(ordered_run(), MISTAKES) == "reproduced"
    spread = make_run(*both_splits(agree_wrong=False), n_classes=K)   # each network its own wrong label
    assert verdict(spread, MISTAKES) == "not reproduced"


def test_end_of_learning_on_an_easy_set():
    train, train_labels, test, test_labels = both_splits(never=0.0)
    train[:, -2:], test[:, -2:] = train_labels, test_labels           # both splits are learnt
    assert verdict(make_run(train, train_labels, test, test_labels, n_classes=K), END) == "reproduced"
    rng = np.random.default_rng(0)
    slips = rng.random(train[:, -2:].shape) < 0.04                    # each network wrong on its own 4 %
    train[:, -2:] = np.where(slips, (train_labels + 1) % K, train_labels)
    assert verdict(make_run(train, train_labels, test, test_labels, n_classes=K), END) == "not reproduced"
    assert verdict(ordered_run(), END) == "not reproduced"            # no easy split: 20 % never learnt
