"""Block matching: the box filter against scipy, the cost volume against an obvious float64 loop, exact
recovery of integer disparities on textured pairs, ZNCC against numpy's correlation, refinement, LR check."""

import numpy as np
import pytest
import torch
from scipy.ndimage import uniform_filter

from cvcourse.depth.matching import (
    block_matching,
    box_filter,
    cost_volume,
    left_right_check,
    subpixel_refine,
    winner_take_all,
)


def test_box_filter_equals_scipy_uniform_filter():
    torch.manual_seed(0)
    x = torch.rand(3, 9, 13, dtype=torch.float64)
    for window in (1, 3, 5, 9):
        expected = uniform_filter(x.numpy(), size=(1, window, window), mode="nearest")
        np.testing.assert_allclose(box_filter(x, window).numpy(), expected, atol=1e-12)
    single = torch.rand(1, 1, dtype=torch.float64)  # one pixel: every window is that pixel
    assert box_filter(single, 5).item() == pytest.approx(single.item())


def reference_volume(left, right, max_d, window, cost):
    """The definition, one pixel and one disparity at a time (images extended by their edges)."""
    c, h, w = left.shape
    r = window // 2
    out = torch.full((max_d + 1, h, w), float("inf"), dtype=torch.float64)
    for d in range(max_d + 1):
        for v in range(h):
            for u in range(d, w):
                rows = [min(max(v + j, 0), h - 1) for j in range(-r, r + 1)]
                cl = [min(max(u + k, 0), w - 1) for k in range(-r, r + 1)]
                cr = [min(max(u - d + k, 0), w - 1) for k in range(-r, r + 1)]
                a = left[:, rows][:, :, cl].reshape(-1)
                b = right[:, rows][:, :, cr].reshape(-1)
                if cost == "sad":
                    out[d, v, u] = (a - b).abs().mean()
                elif cost == "ssd":
                    out[d, v, u] = ((a - b) ** 2).mean()
                else:
                    sa, sb = a.std(unbiased=False), b.std(unbiased=False)
                    z = 0.0 if sa * sb < 1e-6 else ((a - a.mean()) * (b - b.mean())).mean() / (sa * sb)
                    out[d, v, u] = 1 - z
    return out


@pytest.mark.parametrize("cost", ["sad", "ssd", "zncc"])
@pytest.mark.parametrize("window", [1, 3, 5])
def test_cost_volume_equals_the_loop(cost, window):
    torch.manual_seed(window)
    left, right = torch.rand(2, 6, 9, dtype=torch.float64), torch.rand(2, 6, 9, dtype=torch.float64)
    if cost == "zncc" and window == 1:
        pytest.skip("a 1 x 1 window of 2 channels is too small for a correlation to mean much")
    torch.testing.assert_close(
        cost_volume(left, right, 4, window, cost), reference_volume(left, right, 4, window, cost)
    )


def test_zncc_is_numpys_correlation_and_flat_windows_cost_one():
    torch.manual_seed(3)
    left, right = torch.rand(7, 12, dtype=torch.float64), torch.rand(7, 12, dtype=torch.float64)
    volume = cost_volume(left, right, 3, 5, "zncc")
    a, b = left[1:6, 4:9].reshape(-1), right[1:6, 2:7].reshape(-1)  # pixel (3, 6), d = 2
    assert 1 - volume[2, 3, 6].item() == pytest.approx(np.corrcoef(a.numpy(), b.numpy())[0, 1], abs=1e-12)
    flat = cost_volume(torch.full((5, 8), 0.5, dtype=torch.float64), right[:5, :8], 2, 3, "zncc")
    assert torch.all(flat[torch.isfinite(flat)] == 1)


def textured_pair(seed=0, h=40, w=60, disparities=(3, 7, 12)):
    """A random-texture right image and the left image that sees it with piecewise-constant integer
    disparity (vertical bands): left[v, u] = right[v, u - d(u)]."""
    g = torch.Generator().manual_seed(seed)
    right = torch.rand(3, h, w, generator=g, dtype=torch.float64)
    bands = torch.tensor(disparities).repeat_interleave(w // len(disparities))
    truth = torch.cat([bands, bands[-1:].repeat(w - len(bands))]).double().expand(h, w).clone()
    columns = (torch.arange(w) - truth[0].long()).clamp(min=0)
    return right[:, :, columns], right, truth


@pytest.mark.parametrize("cost", ["sad", "ssd", "zncc"])
def test_block_matching_recovers_exact_integer_disparities(cost):
    left, right, truth = textured_pair()
    found = block_matching(left, right, 16, 5, cost, subpixel=False)
    w = truth.shape[1]
    # pixels whose window lies in one band and whose match is in view
    band = w // 3
    ok = torch.zeros_like(truth, dtype=torch.bool)
    for k in range(3):
        ok[:, k * band + 2 + 12 : (k + 1) * band - 2] = True
    assert ok.sum() > 300
    assert torch.equal(found[ok], truth[ok])
    # the parabola through a V-shaped (SAD) or flat-bottomed cost is not centred exactly: close only
    refined = block_matching(left, right, 16, 5, cost, subpixel=True)
    assert (refined[ok] - truth[ok]).abs().max() < 0.1


def test_winner_ties_and_parabola_vertex():
    volume = torch.tensor([[[3.0]], [[1.0]], [[1.0]], [[5.0]]])  # tie between d = 1 and 2: the smaller wins
    assert winner_take_all(volume).item() == 1
    d = torch.arange(11, dtype=torch.float64)
    quadratic = ((d - 4.3) ** 2)[:, None, None].expand(11, 2, 2).clone()  # vertex at 4.3
    refined = subpixel_refine(quadratic, winner_take_all(quadratic))
    torch.testing.assert_close(refined, torch.full((2, 2), 4.3, dtype=torch.float64))
    edge = ((d - 0.2) ** 2)[:, None, None]  # winner at the end of the range: no refinement
    assert subpixel_refine(edge, winner_take_all(edge)).item() == 0.0


def test_right_view_and_left_right_check():
    left, right, truth = textured_pair(seed=1)
    d_left = block_matching(left, right, 16, 5, "sad", subpixel=False)
    d_right = block_matching(left, right, 16, 5, "sad", subpixel=False, view="right")
    mirrored = block_matching(right.flip(-1), left.flip(-1), 16, 5, "sad", subpixel=False).flip(-1)
    assert torch.equal(d_right, mirrored)
    keep = left_right_check(d_left, d_right, 0.0)
    assert (d_left[keep] == truth[keep]).double().mean() > 0.99  # what survives is right
    wrong = d_left != truth
    assert wrong.any() and (~keep)[wrong].double().mean() > 0.9  # and the wrong ones are rejected
    d = torch.tensor([[2.0, 2.0, 2.0, 2.0]])
    assert left_right_check(d, torch.tensor([[2.0, 2.0, 5.0, 2.0]])).tolist() == [[False, False, True, True]]


@pytest.mark.parametrize(
    "call, error, word",
    [
        (lambda: cost_volume(torch.rand(4, 5), torch.rand(4, 6), 2), ValueError, "right"),
        (lambda: cost_volume(torch.rand(4, 5), torch.rand(4, 5), 5), ValueError, "max_disparity"),
        (lambda: cost_volume(torch.rand(4, 5), torch.rand(4, 5), 2, 4), ValueError, "window"),
        (lambda: cost_volume(torch.rand(4, 5), torch.rand(4, 5), 2, cost="census"), ValueError, "cost"),
        (lambda: cost_volume(torch.rand(4, 5).numpy(), torch.rand(4, 5), 2), TypeError, "left"),
        (lambda: block_matching(torch.rand(4, 5), torch.rand(4, 5), 2, view="top"), ValueError, "view"),
        (lambda: left_right_check(torch.rand(4, 5), torch.rand(4, 6)), ValueError, "disparity_right"),
    ],
)
def test_bad_input(call, error, word):
    with pytest.raises(error, match=word):
        call()
