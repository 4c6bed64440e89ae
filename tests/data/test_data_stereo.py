"""Stereo pairs: the right view is the left one shifted by the disparity (u_R = u_L - d) on valid
pixels."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from cvcourse.data import StereoShapes
from cvcourse.data.geometry import rasterise
from cvcourse.data.shapes import render, sample_layout, sample_rng
from cvcourse.data.stereo import render_ground_stereo, render_stereo, sample_ground


def _gather_right(right: torch.Tensor, columns: torch.Tensor) -> torch.Tensor:
    """right [3, H, W] read at integer columns [H, W] of the same rows."""
    h, w = columns.shape
    rows = torch.arange(h)[:, None].expand(h, w)
    return right[:, rows, columns.clamp(0, w - 1)]


def test_integer_disparity_warp_is_exact_on_valid_pixels():
    ds = StereoShapes(10, size=48, seed=1, max_disparity=12, subpixel=False)
    for i in range(len(ds)):
        s = ds.sample(i)
        d, valid = s["disparity"], s["valid"]
        assert torch.equal(d, d.round()) and (d >= 1).all()
        u = torch.arange(48).expand(48, 48)
        warped = _gather_right(s["right"], u - d.long())
        assert torch.equal(warped[:, valid], s["left"][:, valid])
        assert 0.5 < valid.float().mean() < 1  # some pixels are occluded or out of view
        # The opposite sign (u + d) does not match: the check can fail.
        wrong = _gather_right(s["right"], u + d.long())
        assert (wrong[:, valid] - s["left"][:, valid]).abs().mean() > 0.01


def test_valid_mask_equals_brute_force_visibility():
    """A left pixel is valid iff its point lands in the right image on a pixel showing the same
    plane."""
    for index in range(8):
        rng = sample_rng(2, index)
        layout, _ = sample_layout(rng, 40, 5)
        d0 = 2.0
        d = np.sort(rng.integers(3, 12, len(layout.shapes))).astype(float)
        out = render_stereo(layout, d0, d)
        # Disparity of what every pixel of the right view shows, from the right view's own masks.
        _, right_masks, _ = render(layout, shift=d0, shape_shifts=d)
        right_disparity = np.full((40, 40), d0)
        for k, m in enumerate(right_masks):
            right_disparity[m] = d[k]
        u = np.arange(40)[None, :].repeat(40, 0)
        ur = u - out["disparity"].astype(int)
        inside = (ur >= 0) & (ur < 40)
        same_plane = np.take_along_axis(right_disparity, np.clip(ur, 0, 39), axis=1) == out["disparity"]
        np.testing.assert_array_equal(out["valid"], inside & same_plane)


def test_subpixel_disparity_matches_bilinear_warp():
    """Sub-pixel planes: warping the right view with grid_sample (bilinear) reproduces the left
    view."""
    ds = StereoShapes(6, size=64, seed=0, max_disparity=16)
    errors, wrong_sign = [], []
    for i in range(len(ds)):
        s = ds.sample(i)
        d, valid = s["disparity"].double(), s["valid"]
        assert not torch.equal(d, d.round())
        for sign, store in ((1, errors), (-1, wrong_sign)):
            x_right = torch.arange(64).double() + 0.5 - sign * d  # pixel-centre coordinates
            grid_x = 2 * x_right / 64 - 1  # align_corners=False: -1 and 1 are the image edges
            grid_y = (2 * (torch.arange(64).double() + 0.5) / 64 - 1)[:, None].expand(64, 64)
            grid = torch.stack([grid_x, grid_y], dim=-1)[None]  # [1, H, W, 2]
            warped = F.grid_sample(
                s["right"].double()[None],
                grid,
                mode="bilinear",
                padding_mode="border",
                align_corners=False,
            )[0]
            inner = valid & (x_right >= 0.5) & (x_right <= 63.5)
            store.append((warped - s["left"].double()).abs().amax(0)[inner])
    errors, wrong_sign = torch.cat(errors), torch.cat(wrong_sign)
    # Interpolation blurs edges (shape outlines, the horizon): the bulk matches to 8-bit precision.
    assert errors.median() < 2 / 255 and (errors < 0.05).float().mean() > 0.95
    assert wrong_sign.median() > 5 * errors.median() + 0.01


def test_getitem_uses_zero_for_invalid_and_depth_follows():
    ds = StereoShapes(3, size=32, max_disparity=8)
    left, right, disparity = ds[0]
    s = ds.sample(0)
    assert left.shape == right.shape == (3, 32, 32) and disparity.shape == (32, 32)
    assert torch.equal(disparity[s["valid"]], s["disparity"][s["valid"]])
    assert (disparity[~s["valid"]] == 0).all() and (disparity[s["valid"]] > 0).all()
    assert torch.allclose(s["depth"] * s["disparity"], torch.tensor(ds.focal_length * ds.baseline))
    assert s["disparity"].max() <= 8 and s["disparity"].min() >= 0.1 * 8
    # Nearer shapes are painted over farther ones: a shape's disparity exceeds the background's.
    background = s["disparity"][~s["masks"].any(0)].unique()
    assert len(background) == 1 and (s["disparity"][s["masks"].any(0)] > background).all()


def test_determinism_and_noise():
    a, b = StereoShapes(2, size=32, seed=4), StereoShapes(2, size=32, seed=4)
    assert all(torch.equal(x, y) for x, y in zip(a[1], b[1], strict=True))
    c = StereoShapes(2, size=32, seed=5)
    assert not torch.equal(a[1][0], c[1][0])
    noisy = StereoShapes(2, size=32, seed=4, noise_std=0.05)
    assert not torch.equal(noisy[1][0], a[1][0]) and torch.equal(noisy[1][2], a[1][2])


@pytest.mark.parametrize(
    "kwargs, error, words",
    [
        ({"max_disparity": 0.5}, ValueError, "max_disparity must be a number >= 1.0 and <= 32.0, got 0.5"),
        ({"max_disparity": 40}, ValueError, "max_disparity must be a number >= 1.0 and <= 32.0, got 40.0"),
        ({"max_disparity": "8"}, TypeError, "max_disparity must be a real number, got str '8'"),
        ({"size": 8}, ValueError, "size must be an int >= 16 and <= 1024, got 8"),
        ({"n": -1}, ValueError, "n must be an int >= 0, got -1"),
        ({"subpixel": 1}, TypeError, "subpixel must be True or False, got int 1"),
        ({"noise_std": -0.1}, ValueError, "noise_std must be a number >= 0.0 and <= 1.0, got -0.1"),
    ],
)
def test_bad_arguments(kwargs, error, words):
    args = {"n": 2, "size": 64} | kwargs
    with pytest.raises(error) as info:
        StereoShapes(**args)
    assert words in str(info.value)


def test_empty_dataset():
    assert len(StereoShapes(0)) == 0
    with pytest.raises(IndexError):
        StereoShapes(0)[0]


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31), size=st.integers(16, 48), shift=st.integers(0, 8))
def test_uniform_integer_shift_moves_the_whole_picture(seed, size, shift):
    """A scene on one plane (every layer shifted by the same whole number of pixels) is the
    unshifted picture moved ``shift`` columns left: ``right[:, u - d] == left[:, u]``."""
    layout, _ = sample_layout(sample_rng(seed, 0), size, 3)
    left, left_masks, left_stuff = render(layout)
    right, right_masks, right_stuff = render(layout, shift=float(shift))
    np.testing.assert_array_equal(right[:, : size - shift], left[:, shift:])
    np.testing.assert_array_equal(right_masks[:, :, : size - shift], left_masks[:, :, shift:])
    np.testing.assert_array_equal(right_stuff[:, : size - shift], left_stuff[:, shift:])


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**31), max_disparity=st.integers(1, 12))
def test_integer_warp_property(seed, max_disparity):
    s = StereoShapes(1, size=32, seed=seed, max_disparity=max_disparity, subpixel=False).sample(0)
    d, valid = s["disparity"].long(), s["valid"]
    u = torch.arange(32).expand(32, 32)
    assert torch.equal(_gather_right(s["right"], u - d)[:, valid], s["left"][:, valid])
    assert (u - d)[valid].min() >= 0


def test_render_stereo_checks_its_planes():
    layout, _ = sample_layout(sample_rng(0, 0), 32, 3)
    k = len(layout.shapes)
    with pytest.raises(ValueError, match=f"disparities must have shape \\({k},\\)"):
        render_stereo(layout, 2.0, np.arange(k + 1) + 3.0)
    assert k >= 2
    with pytest.raises(ValueError, match="non-decreasing"):
        render_stereo(layout, 2.0, np.arange(k)[::-1] + 3.0)
    with pytest.raises(ValueError, match="background_disparity"):
        render_stereo(layout, 5.0, np.full(k, 4.0))
    with pytest.raises(ValueError, match="background_disparity must be a number >= 0.0, got -1.0"):
        render_stereo(layout, -1.0, np.full(k, 4.0))


# ----------------------------------------------------------------------------- the ground scene
def _right_view_disparity(out, layout, plane, d):
    """Disparity of what every pixel of the right view shows, from the right view's own masks."""
    n = layout.size
    _, right_masks, _ = render(layout, shape_shifts=d)
    right = np.broadcast_to(plane.disparity((np.arange(n) + 0.5)[:, None]), (n, n)).copy()
    for k, m in enumerate(right_masks):
        right[m] = d[k]
    return right


def test_ground_integer_disparity_warp_is_exact_on_valid_pixels():
    ds = StereoShapes(10, size=48, seed=1, max_disparity=12, subpixel=False, scene="ground")
    u = torch.arange(48).expand(48, 48)
    for i in range(len(ds)):
        s = ds.sample(i)
        d, valid = s["disparity"], s["valid"]
        assert torch.equal(d, d.round()) and (d >= 1).all()
        assert torch.equal(_gather_right(s["right"], u - d.long())[:, valid], s["left"][:, valid])
        assert 0.5 < valid.float().mean() < 1
        wrong = _gather_right(s["right"], u + d.long())
        assert (wrong[:, valid] - s["left"][:, valid]).abs().mean() > 0.01


def test_ground_valid_mask_equals_brute_force_visibility():
    for index in range(8):
        layout, plane, d = sample_ground(sample_rng(3, index), 40, 10.0, 5, integer=True)
        out = render_ground_stereo(layout, plane, d)
        right_disparity = _right_view_disparity(out, layout, plane, d)
        u = np.arange(40)[None, :].repeat(40, 0)
        ur = u - out["disparity"].astype(int)
        inside = (ur >= 0) & (ur < 40)
        same = np.take_along_axis(right_disparity, np.clip(ur, 0, 39), axis=1) == out["disparity"]
        np.testing.assert_array_equal(out["valid"], inside & same)


def test_ground_subpixel_reconstruct_left_recovers_the_left_view():
    """reconstruct_left(right, true disparity) = left on valid pixels, up to bilinear blur at edges."""
    from cvcourse.depth.warp import reconstruct_left

    ds = StereoShapes(6, size=64, seed=0, max_disparity=16, scene="ground")
    errors, wrong_sign = [], []
    for i in range(len(ds)):
        s = ds.sample(i)
        d, valid = s["disparity"].double()[None, None], s["valid"]
        assert not torch.equal(d, d.round())
        inner = valid & (torch.arange(64) + 0.5 - d[0, 0] >= 0.5)  # not sampling past the border
        for sign, store in ((1, errors), (-1, wrong_sign)):
            rebuilt = reconstruct_left(s["right"].double()[None], sign * d)[0]
            store.append((rebuilt - s["left"].double()).abs().amax(0)[inner])
    errors, wrong_sign = torch.cat(errors), torch.cat(wrong_sign)
    assert errors.median() < 2 / 255 and (errors < 0.05).float().mean() > 0.95
    assert wrong_sign.median() > 5 * errors.median() + 0.05  # the texture makes a wrong warp show


def test_ground_geometry_row_disparity_and_standing_shapes():
    """The ground's disparity is a + b v (b > 0) on every row; each shape's disparity is the ground's
    at its lowest row, and nearer shapes are drawn larger."""
    radii, shape_d = [], []
    for index in range(40):
        layout, plane, d = sample_ground(sample_rng(5, index), 64, 16.0, 4)
        out = render_ground_stereo(layout, plane, d)
        ground = ~out["masks"].any(0)
        rows = np.arange(64) + 0.5
        per_row = plane.disparity(rows)
        assert np.allclose(np.diff(per_row, 2), 0, atol=1e-9) and (np.diff(per_row) > 0).all()
        disparity = out["disparity"]
        expected = np.broadcast_to(per_row[:, None], (64, 64))
        np.testing.assert_allclose(disparity[ground], expected[ground], rtol=1e-6)
        assert 0.15 * 16 * 0.99 <= per_row[0] and per_row[-1] <= 16
        for spec, dk in zip(layout.shapes, d, strict=True):
            rows_k, _, mask = rasterise(spec.label, spec.cx, spec.cy, spec.radius, spec.angle, 64)
            lowest = rows_k.start + np.nonzero(mask.any(axis=1))[0].max()
            assert dk == pytest.approx(float(plane.disparity(lowest + 0.5)))
            radii.append(spec.radius)
            shape_d.append(dk)
    # circumradius = k d(v) size / (4 d_max), k in [0.4, 0.65], at the drawn contact row v; the shape's
    # lowest pixel (its disparity) may sit a little above v, so the ratio can exceed 0.65 a little
    ratio = np.array(radii) / np.array(shape_d)
    assert ratio.min() >= 0.4 - 1e-9 and ratio.max() <= 0.65 * 1.3
    assert np.corrcoef(radii, shape_d)[0, 1] > 0.6  # k varies in [0.4, 0.65]: not 1


def _row_r2(scene):
    """How much of the disparity's variance the row alone explains (R^2 of per-row means), over
    many scenes: 1 means the row tells the depth."""
    ds = StereoShapes(30, size=48, seed=6, max_disparity=12, scene=scene)
    d = torch.stack([ds.sample(i)["disparity"] for i in range(len(ds))]).double()  # [N, H, W]
    row_mean = d.mean(dim=(0, 2), keepdim=True)
    return 1 - ((d - row_mean) ** 2).mean().item() / d.var(unbiased=False).item()


def test_ground_scene_has_a_monocular_cue_and_layers_has_none():
    assert _row_r2("ground") > 0.7
    assert _row_r2("layers") < 0.1


def test_ground_scene_default_untouched_and_checked():
    assert StereoShapes(1).scene == "layers"
    a, b = StereoShapes(2, size=32, seed=4), StereoShapes(2, size=32, seed=4, scene="layers")
    assert torch.equal(a[1][0], b[1][0])
    assert not torch.equal(StereoShapes(2, size=32, seed=4, scene="ground")[1][0], a[1][0])
    g1 = StereoShapes(2, size=32, seed=4, scene="ground")
    g2 = StereoShapes(2, size=32, seed=4, scene="ground")
    assert all(torch.equal(x, y) for x, y in zip(g1[1], g2[1], strict=True))
    with pytest.raises(ValueError, match="scene must be one of 'layers', 'ground', got str 'sky'"):
        StereoShapes(2, scene="sky")
    layout, plane, d = sample_ground(sample_rng(0, 0), 32, 8.0, 3)
    with pytest.raises(ValueError, match="non-decreasing"):
        render_ground_stereo(layout, plane, np.append(d, 0.0))
    if len(d):
        with pytest.raises(ValueError, match="behind the ground"):
            render_ground_stereo(layout, plane, np.full(len(d), 0.01))
    with pytest.raises(TypeError, match="plane must be a GroundPlane"):
        render_ground_stereo(layout, 3.0, d)
