"""AdaBoost: the notes' worked example, the loop-free stump search against brute force, and SAMME."""

import math
from fractions import Fraction

import numpy as np
import pytest
import torch
from sklearn.ensemble import AdaBoostClassifier
from sklearn.tree import DecisionTreeClassifier

from cvcourse.detection.adaboost import AdaBoost, Stump, fit_stump, spam_example


def test_the_notes_worked_example():
    x, y = spam_example()
    boost = AdaBoost(3).fit(x, y)
    assert [str(s) for s in boost.stumps_] == ["x1 > 3", "x1 > 10", "x2 > 20"]
    # the errors as fractions, recomputed from the weights the algorithm produced
    errors = [Fraction(e).limit_denominator(100) for e in boost.errors_]
    assert errors == [Fraction(2, 8), Fraction(2, 12), Fraction(5, 20)]
    assert np.allclose(boost.betas_, [3, 5, 3])
    # the reweighed samples of the notes: 1/12 and 3/12, then 1/20, 3/20 and 5/20
    assert sorted({round(v * 12, 9) for v in boost.weights_[1].tolist()}) == [1, 3]
    assert sorted({round(v * 20, 9) for v in boost.weights_[2].tolist()}) == [1, 3, 5]
    # epsilon_3 = 1/20 + 1/20 + 3/20: two samples of weight 1/20 and one of 3/20 are wrong
    wrong = boost.stumps_[2].predict(x) != y
    assert sorted(round(v * 20, 9) for v in boost.weights_[2][wrong].tolist()) == [1, 1, 3]
    # the final classifier: ln 3 WL1 + ln 5 WL2 + ln 3 WL3
    votes = torch.stack([s.predict(x) for s in boost.stumps_], 1)
    expected = votes @ torch.tensor([math.log(3), math.log(5), math.log(3)], dtype=torch.float64)
    assert torch.allclose(boost.decision_function(x), expected)
    assert torch.equal(boost.predict(x), torch.where(expected > 0, 1.0, -1.0).double())


def _brute_force_stump(x, y, w):
    best = None
    for d in range(x.shape[1]):
        values = sorted(set(x[:, d].tolist()))
        for a, b in zip(values, values[1:], strict=False):
            t = a / 2 + b / 2
            for left, right in ((-1, 1), (1, -1)):
                err = float((w * (torch.where(x[:, d] > t, right, left) != y)).sum())
                if best is None or err < best[0] - 1e-12:
                    best = (err, Stump(d, t, left, right))
    return best


@pytest.mark.parametrize("seed", range(8))
def test_vectorised_stump_search_equals_brute_force(seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 6, (25, 3), generator=g).double()  # many tied values
    y = torch.where(torch.rand(25, generator=g) > 0.5, 1.0, -1.0).double()
    w = torch.rand(25, generator=g, dtype=torch.float64)
    w /= w.sum()
    stump, err = fit_stump(x, y, w)
    best_err, best = _brute_force_stump(x, y, w)
    assert math.isclose(err, best_err, abs_tol=1e-12) and stump == best


def _sklearn_and_ours(seed, n=80, d=4, rounds=12):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(np.float32).astype(np.float64)  # scikit-learn's trees work in float32
    y = np.where(x[:, 0] + 0.5 * x[:, 1] ** 2 - 0.3 + 0.5 * rng.normal(size=n) > 0, 1, -1)
    sk = AdaBoostClassifier(DecisionTreeClassifier(max_depth=1), n_estimators=rounds, random_state=seed)
    sk.fit(x, y)
    ours = AdaBoost(rounds, criterion="gini").fit(torch.from_numpy(x), torch.from_numpy(y).double())
    return x, sk, ours


@pytest.mark.parametrize("seed", range(10))
def test_samme_with_depth_one_trees_is_the_notes_algorithm(seed):
    x, sk, ours = _sklearn_and_ours(seed)
    assert len(sk.estimators_) == len(ours.stumps_)
    for tree, stump in zip(sk.estimators_, ours.stumps_, strict=True):
        assert tree.tree_.feature[0] == stump.feature
        # float32 midpoints in scikit-learn, float64 here: the same split of the samples
        assert abs(tree.tree_.threshold[0] - stump.threshold) < 1e-6
        assert np.array_equal(tree.predict(x), stump.predict(torch.from_numpy(x)).numpy())
    # SAMME's estimator weight ln((1 - err) / err) + ln(K - 1) is ln(beta) for two classes
    assert np.allclose(sk.estimator_weights_, ours.estimator_weights_.numpy(), rtol=1e-9)
    assert np.allclose(sk.estimator_errors_, ours.errors_, rtol=1e-9)
    # scikit-learn's binary decision is 2 * sum_j ln(beta_j) WL_j(x) / sum_j ln(beta_j): the same sign
    ours_decision = ours.decision_function(torch.from_numpy(x)).numpy()
    assert np.allclose(sk.decision_function(x), 2 * ours_decision / ours.estimator_weights_.sum().item())
    assert np.array_equal(sk.predict(x), ours.predict(torch.from_numpy(x)).numpy())


def test_error_criterion_is_what_the_notes_minimise():
    """The notes' stump (smallest weighted error) never errs more than scikit-learn's Gini stump."""
    for seed in range(10):
        x, _, _ = _sklearn_and_ours(seed)
        xt = torch.from_numpy(x)
        y = torch.from_numpy(np.sign(x[:, 0] - 0.2 + 0.8 * np.sin(3 * x[:, 1])))
        w = torch.full((len(x),), 1 / len(x), dtype=torch.float64)
        assert fit_stump(xt, y, w, criterion="error")[1] <= fit_stump(xt, y, w, criterion="gini")[1] + 1e-12


def test_perfect_stump_stops_and_errors():
    x = torch.tensor([[0.0], [1.0], [2.0], [3.0]], dtype=torch.float64)
    y = torch.tensor([-1.0, -1.0, 1.0, 1.0], dtype=torch.float64)
    boost = AdaBoost(5).fit(x, y)
    assert len(boost.stumps_) == 1 and boost.errors_ == [0.0] and torch.equal(boost.predict(x), y)
    with pytest.raises(ValueError, match="y must"):
        fit_stump(x, torch.tensor([0.0, 1, 1, 1]), torch.ones(4))
    with pytest.raises(ValueError, match="w must"):
        fit_stump(x, y, -torch.ones(4))
    with pytest.raises(ValueError, match="w must have shape"):
        fit_stump(x, y, torch.ones(3))
    with pytest.raises(ValueError, match="criterion"):
        AdaBoost(3, criterion="entropy")
    with pytest.raises(TypeError, match="n_estimators"):
        AdaBoost(2.5)
