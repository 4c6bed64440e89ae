"""EfficientDet: the fast normalised fusion against its formula (values and gradients), compound scaling
against the paper's formulas and Table 1."""

import math

import pytest
import torch

from cvcourse.detection.efficientdet import (
    EFFICIENTDET_TABLE,
    FastNormalizedFusion,
    efficientdet_scaling,
    scaling_differences,
)


def test_fusion_equals_the_formula():
    g = torch.Generator().manual_seed(0)
    fusion = FastNormalizedFusion(3).double()
    with torch.no_grad():
        fusion.weight.copy_(torch.tensor([0.7, -0.4, 2.0]))  # the negative one is cut by the ReLU
    xs = [torch.randn(2, 4, 5, 5, generator=g, dtype=torch.float64) for _ in range(3)]
    w = [0.7, 0.0, 2.0]
    expected = sum(wi * x for wi, x in zip(w, xs, strict=True)) / (1e-4 + sum(w))
    assert torch.allclose(fusion(xs), expected, atol=1e-14)
    assert fusion.normalized_weights().sum().item() == pytest.approx(2.7 / (2.7 + 1e-4))


def test_fusion_starts_as_a_mean_and_survives_zero_weights():
    x = [torch.full((1, 1, 2, 2), 3.0), torch.full((1, 1, 2, 2), 5.0)]
    assert torch.allclose(FastNormalizedFusion(2)(x), torch.full((1, 1, 2, 2), 4.0), atol=1e-3)
    dead = FastNormalizedFusion(2)
    with torch.no_grad():
        dead.weight.fill_(-1.0)
    assert torch.equal(dead(x), torch.zeros(1, 1, 2, 2))  # eps keeps 0 / 0 away: zeros, not NaN


def test_fusion_gradcheck():
    fusion = FastNormalizedFusion(2).double()
    a = torch.randn(1, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    b = torch.randn(1, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    w = torch.tensor([0.3, 1.2], dtype=torch.float64, requires_grad=True)  # away from the ReLU's kink

    def fused(a, b, w):
        return torch.func.functional_call(fusion, {"weight": w}, ([a, b],))

    assert torch.autograd.gradcheck(fused, (a, b, w))


def test_fusion_bad_input():
    fusion = FastNormalizedFusion(2)
    with pytest.raises(ValueError, match="2 tensors"):
        fusion([torch.zeros(1)])
    with pytest.raises(ValueError, match="one shape"):
        fusion([torch.zeros(1), torch.zeros(2)])
    with pytest.raises(TypeError, match="inputs"):
        fusion(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="num_inputs"):
        FastNormalizedFusion(0)


def test_scaling_formulas():
    for phi in range(8):
        s = efficientdet_scaling(phi)
        assert s["input"] == 512 + 128 * phi and s["bifpn_depth"] == 3 + phi
        assert s["head_depth"] == 3 + math.floor(phi / 3)
        assert s["bifpn_width_exact"] == pytest.approx(64 * 1.35**phi)
        assert s["bifpn_width"] % 8 == 0 and abs(s["bifpn_width"] - s["bifpn_width_exact"]) <= 4
    with pytest.raises(ValueError, match="phi"):
        efficientdet_scaling(-1)


def test_scaling_against_the_papers_table():
    differences = scaling_differences()
    wrong = {(phi, key) for phi, key, _, _ in differences}
    # the head depth follows the formula in every row; D0, D1, D3 agree on everything
    assert not any(key == "head_depth" for _, key in wrong)
    for phi in (0, 1, 3):
        assert all(p != phi for p, _ in wrong)
    assert wrong == {
        (2, "bifpn_width"),
        (4, "bifpn_width"),
        (5, "input"),
        (5, "bifpn_depth"),
        (6, "bifpn_depth"),
        (7, "input"),
        (7, "bifpn_width"),
        (7, "bifpn_depth"),
    }
    for phi, key, formula, table in differences:
        assert efficientdet_scaling(phi)[key] == formula and EFFICIENTDET_TABLE[phi][key] == table
