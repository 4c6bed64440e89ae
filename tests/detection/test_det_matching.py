"""matching.py against scipy.optimize.linear_sum_assignment: the same optimum, square and rectangular."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.optimize import linear_sum_assignment as scipy_lsa

from cvcourse.detection.matching import linear_sum_assignment


def check_same_optimum(cost, maximize=False):
    rows, cols = linear_sum_assignment(cost, maximize=maximize)
    r2, c2 = scipy_lsa(np.asarray(cost, dtype=float), maximize=maximize)
    cost = np.asarray(cost, dtype=float)
    assert len(rows) == len(r2) == min(cost.shape)
    assert len(set(rows.tolist())) == len(rows) and len(set(cols.tolist())) == len(cols)  # one-to-one
    assert np.all(np.diff(rows) > 0)
    np.testing.assert_allclose(cost[rows, cols].sum(), cost[r2, c2].sum(), rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize("shape", [(1, 1), (5, 5), (20, 20), (3, 8), (8, 3), (30, 12), (1, 7), (7, 1)])
@pytest.mark.parametrize("seed", range(3))
def test_random_matrices(shape, seed):
    rng = np.random.default_rng(seed)
    check_same_optimum(rng.normal(size=shape))
    check_same_optimum(rng.normal(size=shape) * 1e6, maximize=True)


@pytest.mark.parametrize("shape", [(6, 6), (10, 10), (4, 9), (9, 4)])
@pytest.mark.parametrize("seed", range(5))
def test_tie_heavy_matrices(shape, seed):
    rng = np.random.default_rng(seed)
    check_same_optimum(rng.integers(0, 3, size=shape))  # values 0, 1, 2: many optimal assignments
    check_same_optimum(np.zeros(shape))
    check_same_optimum(np.ones(shape) * 5 + np.eye(*shape))


def test_tensor_input_detr_like_cost_and_empty():
    g = torch.Generator().manual_seed(0)
    # DETR-like: 10 queries, 3 objects, L1 box cost
    cost = torch.cdist(torch.rand(10, 4, generator=g), torch.rand(3, 4, generator=g), p=1)
    check_same_optimum(cost.numpy())
    rows, cols = linear_sum_assignment(cost)
    assert len(rows) == 3
    for shape in ((0, 0), (0, 4), (3, 0)):
        rows, cols = linear_sum_assignment(np.zeros(shape))
        assert rows.size == cols.size == 0


def test_a_known_optimum():
    cost = [[4, 1, 3], [2, 0, 5], [3, 2, 2]]  # scipy's documentation example: rows -> columns 1, 0, 2
    rows, cols = linear_sum_assignment(cost)
    assert rows.tolist() == [0, 1, 2] and cols.tolist() == [1, 0, 2]


@pytest.mark.parametrize(
    "cost, error",
    [
        ([[1.0, np.inf]], ValueError),
        ([[np.nan]], ValueError),
        (np.zeros(3), ValueError),
        ("abc", TypeError),
        (np.array([[True]]), TypeError),
    ],
)
def test_bad_input_names_the_argument(cost, error):
    with pytest.raises(error, match="cost"):
        linear_sum_assignment(cost)
    with pytest.raises(TypeError, match="maximize"):
        linear_sum_assignment(np.zeros((2, 2)), maximize=1)


@settings(max_examples=80, deadline=None)
@given(
    hnp.arrays(
        np.float64,
        hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=7),
        elements=st.floats(-100, 100, allow_nan=False),
    )
)
def test_property_same_optimum_as_scipy(cost):
    check_same_optimum(cost)
