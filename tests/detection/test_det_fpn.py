"""The FPN against torchvision's: the same state-dict keys (strict loads both ways), the same outputs
(float64, random inputs, with and without extra levels); ``level_of_box`` = torchvision's ``LevelMapper``
on random and degenerate boxes; the notes' ceiling against the paper's floor."""

import math
from collections import OrderedDict

import pytest
import torch
from torchvision.ops import FeaturePyramidNetwork as TVFeaturePyramidNetwork
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool as TVMaxPool
from torchvision.ops.feature_pyramid_network import LastLevelP6P7 as TVP6P7
from torchvision.ops.poolers import LevelMapper

from cvcourse.detection.fpn import FeaturePyramidNetwork, LastLevelMaxPool, LastLevelP6P7, level_of_box

IN_CHANNELS = [6, 12, 24]


def _inputs(n=2, size=32, generator=None):
    g = generator or torch.Generator().manual_seed(0)
    return OrderedDict(
        (f"c{i + 3}", torch.randn(n, c, size >> i, size >> i, generator=g, dtype=torch.float64))
        for i, c in enumerate(IN_CHANNELS)
    )


EXTRAS = {
    "none": (lambda: None, lambda: None),
    "maxpool": (LastLevelMaxPool, TVMaxPool),
    "p6p7 from C5": (lambda: LastLevelP6P7(24, 8), lambda: TVP6P7(24, 8)),
    "p6p7 from P5": (lambda: LastLevelP6P7(8, 8), lambda: TVP6P7(8, 8)),
}


@pytest.mark.parametrize("extra", list(EXTRAS))
def test_state_dicts_load_strictly_both_ways_and_outputs_are_equal(extra):
    ours_extra, theirs_extra = EXTRAS[extra]
    torch.manual_seed(1)
    ours = FeaturePyramidNetwork(IN_CHANNELS, 8, extra_blocks=ours_extra()).double()
    theirs = TVFeaturePyramidNetwork(IN_CHANNELS, 8, extra_blocks=theirs_extra()).double()
    assert list(ours.state_dict()) == list(theirs.state_dict())
    theirs.load_state_dict(ours.state_dict(), strict=True)  # ours -> torchvision
    x = _inputs()
    a, b = ours(x), theirs(x)
    assert list(a) == list(b)
    for name in a:
        assert a[name].dtype == torch.float64
        torch.testing.assert_close(a[name], b[name], rtol=0, atol=1e-12)
    # torchvision -> ours, with fresh random weights and biases (not the zero-bias initialisation)
    torch.manual_seed(2)
    other = TVFeaturePyramidNetwork(IN_CHANNELS, 8, extra_blocks=theirs_extra()).double()
    with torch.no_grad():
        for p in other.parameters():
            p.normal_()
    ours.load_state_dict(other.state_dict(), strict=True)
    x = _inputs(generator=torch.Generator().manual_seed(3))
    for (na, va), (nb, vb) in zip(ours(x).items(), other(x).items(), strict=True):
        assert na == nb and va.shape == vb.shape
        torch.testing.assert_close(va, vb, rtol=0, atol=1e-10)


def test_shapes_names_and_the_three_steps_by_hand():
    torch.manual_seed(0)
    fpn = FeaturePyramidNetwork([3, 5], 4).double()
    x = OrderedDict(
        fine=torch.randn(1, 3, 6, 6, dtype=torch.float64), coarse=torch.randn(1, 5, 3, 3, dtype=torch.float64)
    )
    out = fpn(x)
    assert (
        list(out) == ["fine", "coarse"]
        and out["fine"].shape == (1, 4, 6, 6)
        and out["coarse"].shape == (1, 4, 3, 3)
    )
    top = fpn.inner_blocks[1][0](x["coarse"])
    upsampled = top.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)  # nearest, by hand
    summed = fpn.inner_blocks[0][0](x["fine"]) + upsampled
    torch.testing.assert_close(out["fine"], fpn.layer_blocks[0][0](summed), rtol=0, atol=1e-12)
    torch.testing.assert_close(out["coarse"], fpn.layer_blocks[1][0](top), rtol=0, atol=1e-12)


def test_odd_sizes_and_a_single_level_match_torchvision():
    torch.manual_seed(4)
    for channels, sizes in (([4, 7], [(9, 7), (5, 4)]), ([5], [(3, 3)])):
        ours = FeaturePyramidNetwork(channels, 3, extra_blocks=LastLevelMaxPool()).double()
        theirs = TVFeaturePyramidNetwork(channels, 3, extra_blocks=TVMaxPool()).double()
        theirs.load_state_dict(ours.state_dict(), strict=True)
        x = OrderedDict(
            (str(i), torch.randn(2, c, *hw, dtype=torch.float64))
            for i, (c, hw) in enumerate(zip(channels, sizes, strict=True))
        )
        for va, vb in zip(ours(x).values(), theirs(x).values(), strict=True):
            torch.testing.assert_close(va, vb, rtol=0, atol=1e-12)


def test_gradients_match_torchvision():
    torch.manual_seed(5)
    ours = FeaturePyramidNetwork(IN_CHANNELS, 4, extra_blocks=LastLevelP6P7(24, 4)).double()
    theirs = TVFeaturePyramidNetwork(IN_CHANNELS, 4, extra_blocks=TVP6P7(24, 4)).double()
    theirs.load_state_dict(ours.state_dict(), strict=True)
    x = _inputs(n=1, size=16)
    sum(v.square().sum() for v in ours(x).values()).backward()
    sum(v.square().sum() for v in theirs(x).values()).backward()
    for (name, p), q in zip(ours.named_parameters(), theirs.parameters(), strict=True):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-10, atol=1e-10, msg=name)
    small = FeaturePyramidNetwork([2, 3], 2).double()
    inputs = (
        torch.randn(1, 2, 4, 4, dtype=torch.float64, requires_grad=True),
        torch.randn(1, 3, 2, 2, dtype=torch.float64, requires_grad=True),
    )
    assert torch.autograd.gradcheck(lambda a, b: tuple(small(OrderedDict(a=a, b=b)).values()), inputs)


def _random_boxes(n, generator, scale=600.0):
    xy = torch.rand(n, 2, generator=generator, dtype=torch.float64) * scale
    wh = torch.rand(n, 2, generator=generator, dtype=torch.float64) ** 3 * scale * 2
    return torch.cat([xy, xy + wh], 1)


def test_level_of_box_equals_torchvision_level_mapper():
    g = torch.Generator().manual_seed(0)
    powers = torch.tensor([224.0 * 2.0**e for e in range(-5, 4)], dtype=torch.float64)
    exact = torch.stack([torch.zeros_like(powers), torch.zeros_like(powers), powers, powers], 1)
    degenerate = torch.tensor(
        [
            [5.0, 5.0, 5.0, 5.0],
            [0.0, 0.0, 0.0, 30.0],
            [0.0, 0.0, 1e-9, 1e-9],
            [0.0, 0.0, 1.0, 1.0],
            [0.0, 0.0, 1e6, 1e6],
            [0.0, 0.0, 112.0, 448.0],
            [0.0, 0.0, 111.9999, 112.0],
        ],
        dtype=torch.float64,
    )
    for boxes in (
        _random_boxes(500, g),
        exact,
        degenerate,
        exact.float(),
        _random_boxes(50, g).round().long(),
    ):
        for k_min, k_max, k0, canonical in ((2, 5, 4, 224), (3, 7, 4, 224), (1, 4, 3, 64)):
            mapper = LevelMapper(k_min, k_max, canonical_scale=canonical, canonical_level=k0)
            expected = mapper([boxes[:20], boxes[20:]])
            got = level_of_box(boxes, k0=k0, canonical=canonical, k_min=k_min, k_max=k_max)
            assert got.dtype == torch.int64
            assert torch.equal(got - k_min, expected)
    assert level_of_box(torch.zeros(0, 4)).shape == (0,)


def test_ceil_and_floor_by_the_formula():
    sides = torch.tensor(
        [0.0, 10.0, 56.0, 100.0, 112.0, 150.0, 224.0, 300.0, 448.0, 5000.0], dtype=torch.float64
    )
    boxes = torch.stack([torch.zeros_like(sides), torch.zeros_like(sides), sides, sides], 1)
    floor, ceil = level_of_box(boxes), level_of_box(boxes, rounding="ceil")
    for s, f, c in zip(sides.tolist(), floor.tolist(), ceil.tolist(), strict=True):
        k = 4 + math.log2(s / 224) if s > 0 else -100.0  # log2(0) = -inf: clamped to k_min
        assert f == min(max(math.floor(k), 2), 5) and c == min(max(math.ceil(k), 2), 5)
    # exact powers of 2 times 224 agree; everything else in range goes one level coarser with the ceiling
    assert floor[6] == ceil[6] == 4 and floor[4] == ceil[4] == 3
    assert floor[5] == 3 and ceil[5] == 4 and floor[7] == 4 and ceil[7] == 5


def test_bad_inputs_are_refused():
    fpn = FeaturePyramidNetwork([3, 5], 4)
    with pytest.raises(TypeError, match="x must be"):
        fpn([torch.zeros(1, 3, 4, 4), torch.zeros(1, 5, 2, 2)])
    with pytest.raises(ValueError, match="2 feature maps"):
        fpn(OrderedDict(a=torch.zeros(1, 3, 4, 4)))
    with pytest.raises(ValueError, match="x\\['b'\\]"):
        fpn(OrderedDict(a=torch.zeros(1, 3, 4, 4), b=torch.zeros(1, 4, 2, 2)))
    with pytest.raises(ValueError, match="x\\['b'\\]"):
        fpn(OrderedDict(a=torch.zeros(1, 3, 4, 4), b=torch.zeros(2, 5, 2, 2)))
    with pytest.raises(ValueError, match="in_channels_list"):
        FeaturePyramidNetwork([], 4)
    with pytest.raises(ValueError, match="in_channels_list\\[1\\]"):
        FeaturePyramidNetwork([3, 0], 4)
    with pytest.raises(TypeError, match="out_channels"):
        FeaturePyramidNetwork([3], 4.0)
    with pytest.raises(TypeError, match="extra_blocks"):
        FeaturePyramidNetwork([3], 4, extra_blocks="p6p7")
    with pytest.raises(ValueError, match="rounding"):
        level_of_box(torch.zeros(1, 4), rounding="round")
    with pytest.raises(ValueError, match="k_min"):
        level_of_box(torch.zeros(1, 4), k_min=5, k_max=2)
    with pytest.raises(ValueError, match="boxes"):
        level_of_box(torch.tensor([[2.0, 0.0, 1.0, 1.0]]))
    with pytest.raises(ValueError, match="canonical"):
        level_of_box(torch.zeros(1, 4), canonical=0)
