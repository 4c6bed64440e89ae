"""Warping: backward bilinear sampling against an obvious float64 loop, exact on StereoShapes, gradients;
forward splatting's holes and z-buffer against a loop."""

import math

import pytest
import torch

from cvcourse.data import StereoShapes
from cvcourse.depth.warp import forward_warp, in_view, reconstruct_left, reconstruct_right


def reference_sample(image, offset):
    """out[b, c, v, u] = image[b, c, v, u + offset], linear between the two neighbours, edge repeated."""
    b, c, h, w = image.shape
    out = torch.zeros_like(image)
    for i in range(b):
        for v in range(h):
            for u in range(w):
                x = min(max(u + float(offset[i, 0, v, u]), 0.0), w - 1.0)
                x0 = min(int(math.floor(x)), w - 2) if w > 1 else 0
                t = x - x0
                right = image[i, :, v, min(x0 + 1, w - 1)]
                out[i, :, v, u] = (1 - t) * image[i, :, v, x0] + t * right
    return out


def test_backward_warps_equal_the_loop():
    torch.manual_seed(0)
    image = torch.rand(2, 3, 5, 9, dtype=torch.float64)
    d = torch.rand(2, 1, 5, 9, dtype=torch.float64) * 6 - 1  # some out of view, some negative
    torch.testing.assert_close(reconstruct_left(image, d), reference_sample(image, -d))
    torch.testing.assert_close(reconstruct_right(image, d), reference_sample(image, d))
    ties = torch.full_like(d, 2.0)  # integer disparity: a pure shift
    torch.testing.assert_close(reconstruct_left(image, ties)[..., 2:], image[..., :-2])


def test_true_disparity_rebuilds_the_left_view_of_stereo_shapes():
    data = StereoShapes(3, size=48, seed=4, subpixel=False)
    for i in range(3):
        s = data.sample(i)
        rebuilt = reconstruct_left(s["right"][None], s["disparity"][None, None])[0]
        valid = s["valid"]
        assert valid.float().mean() > 0.5
        assert (rebuilt - s["left"]).abs().amax(0)[valid].max() < 1e-5
        assert (rebuilt - s["left"]).abs().amax(0)[~valid].max() > 0.01  # occlusions really are different
    sub = StereoShapes(2, size=48, seed=4).sample(1)  # sub-pixel: bilinear is close, not exact
    err = (reconstruct_left(sub["right"][None], sub["disparity"][None, None])[0] - sub["left"]).abs().mean(0)
    zero = (sub["right"] - sub["left"]).abs().mean(0)
    assert err[sub["valid"]].mean() < 0.25 * zero[sub["valid"]].mean()


def test_gradcheck_in_image_and_disparity():
    torch.manual_seed(1)
    image = torch.rand(1, 2, 3, 6, dtype=torch.float64, requires_grad=True)
    # away from integers, where bilinear interpolation has a kink
    d = (torch.randint(0, 3, (1, 1, 3, 6)) + 0.3 + 0.4 * torch.rand(1, 1, 3, 6)).double().requires_grad_()
    assert torch.autograd.gradcheck(reconstruct_left, (image, d))
    assert torch.autograd.gradcheck(reconstruct_right, (image, d))


def test_in_view_and_zero_padding():
    d = torch.tensor([[[[0.0, 1.5, 1.0, 4.0]]]])
    assert in_view(d).tolist() == [[[[True, False, True, False]]]]
    assert in_view(d, "right").tolist() == [[[[True, True, True, False]]]]  # u + d = 0, 2.5, 3, 7
    rebuilt = reconstruct_left(torch.ones(1, 1, 1, 4), d, padding_mode="zeros")
    assert rebuilt[0, 0, 0, 0] == 1 and rebuilt[0, 0, 0, 3] == 0


def reference_forward(image, d):
    b, c, h, w = image.shape
    out, depth = torch.zeros_like(image), torch.full((b, h, w), -math.inf)
    count = torch.zeros(b, h, w)
    for i in range(b):
        for v in range(h):
            for u in range(w):
                t = round(u - float(d[i, 0, v, u]))
                if not 0 <= t < w:
                    continue
                if d[i, 0, v, u] > depth[i, v, t]:
                    depth[i, v, t], out[i, :, v, t], count[i, v, t] = d[i, 0, v, u], image[i, :, v, u], 1
                elif d[i, 0, v, u] == depth[i, v, t]:
                    out[i, :, v, t] += image[i, :, v, u]
                    count[i, v, t] += 1
    return out / count.clamp(min=1)[:, None], (count > 0)[:, None]


def test_forward_warp_holes_and_zbuffer_equal_the_loop():
    torch.manual_seed(2)
    image = torch.rand(2, 3, 4, 10, dtype=torch.float64)
    d = torch.randint(0, 4, (2, 1, 4, 10)).double() + torch.rand(2, 1, 4, 10).double() * 0.2
    d[0, 0, 0, :4] = 1.0  # exact ties landing on the same pixel are averaged
    out, filled = forward_warp(image, d)
    ref, ref_filled = reference_forward(image, d)
    torch.testing.assert_close(out, ref)
    assert torch.equal(filled, ref_filled) and (~filled).any()  # holes
    flat, flat_filled = forward_warp(
        image, torch.full_like(d, 2.0)
    )  # a pure shift: holes at the right end only
    assert flat_filled[..., :-2].all() and not flat_filled[..., -2:].any()
    torch.testing.assert_close(flat[..., :-2], image[..., 2:])


@pytest.mark.parametrize(
    "call, error, word",
    [
        (lambda: reconstruct_left(torch.rand(1, 3, 4, 5), torch.rand(1, 1, 4, 6)), ValueError, "disparity"),
        (
            lambda: reconstruct_left(torch.rand(1, 3, 4, 5), torch.full((1, 1, 4, 5), float("nan"))),
            ValueError,
            "finite",
        ),
        (lambda: reconstruct_left(torch.rand(3, 4, 5), torch.rand(1, 1, 4, 5)), ValueError, "right"),
        (
            lambda: reconstruct_right(torch.rand(1, 3, 4, 5), torch.rand(1, 1, 4, 5).numpy()),
            TypeError,
            "disparity_right",
        ),
        (
            lambda: reconstruct_left(torch.rand(1, 3, 4, 5), torch.rand(1, 1, 4, 5), padding_mode="reflect"),
            ValueError,
            "padding_mode",
        ),
        (lambda: forward_warp(torch.rand(2, 3, 4, 5), torch.rand(1, 1, 4, 5)), ValueError, "disparity"),
    ],
)
def test_bad_input(call, error, word):
    with pytest.raises(error, match=word):
        call()
