"""pooling.py: bins = F.adaptive_max/avg_pool2d, SPP's fixed length, PSP's shapes and context;
receptive_field's valid-tap fraction (by brute force) and the original U-Net's sizes (572 -> 388)."""

import pytest
import torch
import torch.nn.functional as F

from cvcourse.segmentation.pooling import PyramidPooling, adaptive_pool, spatial_pyramid_pool
from cvcourse.segmentation.receptive_field import valid_tap_fraction, valid_unet_sizes

D = torch.float64


@pytest.mark.parametrize("h, w, n", [(7, 9, 3), (6, 6, 6), (13, 5, 4), (5, 5, 1), (3, 8, 2)])
def test_bins_equal_torch_adaptive_pooling(h, w, n):
    x = torch.randn(2, 3, h, w, generator=torch.Generator().manual_seed(h * w), dtype=D)
    torch.testing.assert_close(adaptive_pool(x, n, "max"), F.adaptive_max_pool2d(x, n))
    torch.testing.assert_close(adaptive_pool(x, n, "avg"), F.adaptive_avg_pool2d(x, n))


def test_spp_has_a_fixed_length_for_any_size():
    lengths = {
        spatial_pyramid_pool(torch.rand(1, 8, h, w, dtype=D)).shape for h, w in ((4, 4), (13, 7), (32, 50))
    }
    assert lengths == {torch.Size([1, 8 * (1 + 4 + 16)])}
    x = torch.rand(2, 3, 8, 8, dtype=D)
    out = spatial_pyramid_pool(x, (1, 2))
    torch.testing.assert_close(out[:, :3], x.amax((-2, -1)))  # level 1: global max pooling
    with pytest.raises(ValueError, match="at least 4 pixels"):
        spatial_pyramid_pool(torch.rand(1, 1, 3, 9), (1, 4))


def test_pyramid_pooling_concatenates_context():
    torch.manual_seed(0)
    psp = PyramidPooling(8, bins=(1, 2, 4, 8)).eval()
    x = torch.rand(2, 8, 16, 16)
    out = psp(x)
    assert out.shape == (2, 16, 16, 16) and torch.equal(out[:, :8], x)
    # the bin-1 level is the same at every pixel: the whole image's context
    level1 = out[:, 8:10]
    assert torch.allclose(level1, level1[..., :1, :1].expand_as(level1))
    with pytest.raises(ValueError, match="divisible by len\\(bins\\)"):
        PyramidPooling(6, bins=(1, 2, 3, 6))


@pytest.mark.parametrize("size, rate", [(33, 1), (33, 6), (33, 12), (17, 24), (9, 3), (65, 36)])
def test_valid_tap_fraction_by_brute_force(size, rate):
    inside = total = 0
    for r in range(size):
        for c in range(size):
            for dr in (-rate, 0, rate):
                for dc in (-rate, 0, rate):
                    inside += 0 <= r + dr < size and 0 <= c + dc < size
                    total += 1
    assert valid_tap_fraction(size, rate) == pytest.approx(inside / total, rel=1e-12)
    assert valid_tap_fraction(size, size) == pytest.approx(1 / 9)  # only the centre tap is left


def test_original_unet_sizes():
    sizes = dict(valid_unet_sizes(572, 4))
    assert sizes["encoder 1"] == 568 and sizes["bottleneck"] == 28 and sizes["output"] == 388
    with pytest.raises(ValueError, match="odd map"):
        valid_unet_sizes(570, 4)
