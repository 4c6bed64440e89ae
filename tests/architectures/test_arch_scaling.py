"""Model scaling (notes 2.6): the scaled nets' FLOPs, the constrained grid, tiny training runs, errors."""

import itertools
import math

import matplotlib
import pytest
import torch

from cvcourse.architectures import count_flops
from cvcourse.architectures.scaling import (
    ScaledCNN,
    ScalingBase,
    ScalingExperiment,
    compound_vs_single,
    constraint_grid,
    draw_scaling_approaches,
    grid_search,
    plot_single_dimension,
    plot_width_at_fixed,
    scaled_cnn,
    scaled_config,
    scaling_curves,
)

matplotlib.use("Agg")


def _flops(d=1.0, w=1.0, r=1.0):
    model, pixels = scaled_cnn(d, w, r)
    return count_flops(model, (1, 3, pixels, pixels)), scaled_config(d, w, r)


@pytest.mark.parametrize(
    ("d", "w", "r"),
    [(2, 1, 1), (1, 2, 1), (1, 1, 2), (1.5, 1.3, 1.25), (1.2, 1.1, 1.15), (3, 1.5, 1.5), (1.44, 1.21, 1.32)],
)
def test_flops_follow_d_w2_r2(d, w, r):
    """FLOPs / baseline FLOPs = d w^2 r^2 of the realised (rounded) multipliers: within 5 % when the input
    side is a multiple of 4 (the stem is linear in w; the stride-2 blocks, cheaper than the others, do not
    repeat with depth), within 20 % otherwise (odd sides round up at each stride 2: 21 -> 11 -> 6)."""
    base, _ = _flops()
    flops, cfg = _flops(d, w, r)
    predicted = cfg["d"] * cfg["w"] ** 2 * cfg["r"] ** 2
    assert flops / base == pytest.approx(predicted, rel=0.05 if cfg["pixels"] % 4 == 0 else 0.20)
    # the rounding itself: realised multipliers within half a unit of the asked ones
    assert abs(cfg["w"] - w) <= 0.5 / ScalingBase().width + 1e-12
    assert abs(cfg["r"] - r) <= 0.5 / ScalingBase().resolution + 1e-12
    assert abs(cfg["d"] - d) <= 0.5 / ScalingBase().blocks + 1e-12


def test_resolution_doubling_is_exactly_four_times_the_convolutions():
    """At 2x the side every convolution costs exactly 4x; only the classifier (2 C K) stays the same."""
    model, pixels = scaled_cnn()
    fc = 2 * model.fc.in_features * model.fc.out_features
    base = count_flops(model, (1, 3, pixels, pixels))
    assert count_flops(model, (1, 3, 2 * pixels, 2 * pixels)) == 4 * (base - fc) + fc


def test_depth_adds_blocks_of_equal_cost():
    """Every block after a stage's first costs the same in every stage, so FLOPs are linear in blocks."""
    steps = [
        count_flops(ScaledCNN(b, 10), (1, 3, 16, 16)) for b in ((2, 2, 2), (2, 2, 3), (3, 2, 3), (3, 3, 3))
    ]
    diffs = {b - a for a, b in itertools.pairwise(steps)}
    assert len(diffs) == 1 and diffs.pop() > 0


def test_scaled_config_spreads_blocks_extras_last():
    assert scaled_config(7 / 6)["blocks"] == (2, 2, 3)
    assert scaled_config(8 / 6)["blocks"] == (2, 3, 3)
    assert scaled_config(2.0)["blocks"] == (4, 4, 4)
    cfg = scaled_config(1.0, 1.2, 1.3)
    assert (cfg["channels"], cfg["pixels"]) == (12, round(1.3 * 16))
    model, pixels = scaled_cnn(2.0, 1.5, 1.5, num_classes=3)
    assert model.blocks_per_stage == (4, 4, 4) and len(model.blocks) == 12
    assert model(torch.rand(2, 3, pixels, pixels)).shape == (2, 3)


def test_constraint_grid_holds_only_points_on_the_constraint():
    betas, gammas = (1.0, 1.1, 1.2, 1.3), (1.0, 1.1, 1.2, 1.3)
    grid = constraint_grid(betas, gammas)
    for p in grid:
        assert p["alpha"] * p["beta"] ** 2 * p["gamma"] ** 2 == pytest.approx(2.0, rel=1e-12)
        assert min(p.values()) >= 1.0
    # exactly the pairs whose alpha = 2 / (beta^2 gamma^2) is >= 1, counted by brute force
    expected = [(b, g) for b in betas for g in gammas if 2 / (b * b * g * g) >= 1]
    assert [(p["beta"], p["gamma"]) for p in grid] == expected
    assert len(grid) < len(betas) * len(gammas)  # some pairs are left out
    assert constraint_grid((1.0,), (1.0,), target=3.0) == [{"alpha": 3.0, "beta": 1.0, "gamma": 1.0}]


@pytest.fixture(scope="module")
def tiny():
    return ScalingExperiment(16, 8, epochs=1, batch_size=8, max_steps=1)


def test_tiny_curves_are_well_formed(tiny):
    curves = scaling_curves(tiny, widths=(1.0, 2.0), depths=(1.0, 2.0), resolutions=(1.0, 2.0),
                            fixed=((1.0, 1.0), (2.0, 1.0)), fixed_widths=(1.0, 2.0))  # fmt: skip
    assert set(curves) == {"width", "depth", "resolution", "width_at"}
    assert set(curves["width_at"]) == {(1.0, 1.0), (2.0, 1.0)}
    for runs in [curves["width"], curves["depth"], curves["resolution"], *curves["width_at"].values()]:
        assert len(runs) == 2 and runs[0]["flops"] < runs[1]["flops"]
        for p in runs:
            assert 0.0 <= p["accuracy"] <= 1.0 and len(p["accuracies"]) == 1 and p["params"] > 0
    assert curves["width"][1]["channels"] == 2 * ScalingBase().width
    assert curves["resolution"][1]["pixels"] == 32
    # the baseline is trained once: every curve's first point is the same result
    assert (
        curves["width"][0]["accuracy"]
        == curves["depth"][0]["accuracy"]
        == curves["resolution"][0]["accuracy"]
    )
    axes = plot_single_dimension(curves, note=" (tiny run)")
    assert all(ax.get_title() and ax.get_xlabel() and ax.get_ylabel() for ax in axes)
    assert plot_width_at_fixed(curves).get_legend() is not None


def test_tiny_grid_search_and_compound(tiny):
    result = grid_search(tiny, betas=(1.0, 1.2), gammas=(1.0, 1.2))
    assert len(result["points"]) == 3  # (1.2, 1.2) would need alpha < 1
    assert result["best"]["accuracy"] == max(p["accuracy"] for p in result["points"])
    for p in result["points"]:
        assert p["flops_ratio"] == pytest.approx(p["flops"] / result["base"]["flops"])
        assert 1.5 < p["flops_ratio"] < 2.6  # about 2 = alpha beta^2 gamma^2, up to the rounding
    best = result["best"]
    cmp = compound_vs_single(tiny, best["alpha"], best["beta"], best["gamma"], phi=2.0)
    assert set(cmp) == {"base", "compound", "depth", "width", "resolution"}
    ratios = [cmp[k]["flops"] / cmp["base"]["flops"] for k in ("compound", "depth", "width", "resolution")]
    assert all(3.0 < x < 5.0 for x in ratios)  # all about 4 = 2^phi


def test_draw_scaling_approaches():
    axes = draw_scaling_approaches()
    assert len(axes) == 5 and all(ax.get_title() and ax.get_xlabel() for ax in axes)
    assert "FLOPs x1.0" in axes[0].get_title()
    assert math.isclose(float(axes[2].get_title().split("x")[-1]), 2.0, rel_tol=0.1)  # deeper by 2: 2x


def test_bad_input():
    with pytest.raises(ValueError, match="depth"):
        scaled_config(depth=0.0)
    with pytest.raises(TypeError, match="width"):
        scaled_config(width="2")
    with pytest.raises(ValueError, match="resolution"):
        scaled_config(resolution=3.0)  # beyond the 32 px the images are rendered at
    with pytest.raises(TypeError, match="base"):
        scaled_config(base=(6, 8, 16))
    with pytest.raises(ValueError, match="blocks"):
        ScaledCNN((2, 2), 8)
    with pytest.raises(ValueError, match="x"):
        ScaledCNN((1, 1, 1), 8)(torch.rand(2, 1, 16, 16))
    with pytest.raises(ValueError, match="betas"):
        constraint_grid((0.9,), (1.0,))
    with pytest.raises(ValueError, match="gammas"):
        constraint_grid((1.0,), ())
    with pytest.raises(ValueError, match="alpha >= 1"):
        constraint_grid((1.5,), (1.5,))
    with pytest.raises(ValueError, match="seeds"):
        ScalingExperiment(4, 4, epochs=1, seeds=())
    with pytest.raises(ValueError, match="epochs"):
        ScalingExperiment(4, 4, epochs=0)
    with pytest.raises(TypeError, match="experiment"):
        scaling_curves("not an experiment")
    with pytest.raises(TypeError, match="experiment"):
        grid_search(None)
    with pytest.raises(ValueError, match="phi"):
        compound_vs_single(ScalingExperiment(4, 4, epochs=1), 1.2, 1.1, 1.15, phi=-1.0)


def test_precise_batch_norm_uses_the_exact_mean_of_the_training_batches():
    from torch.utils.data import DataLoader, TensorDataset

    from cvcourse.architectures.scaling import _precise_batch_norm

    torch.manual_seed(0)
    model = ScaledCNN((1, 1, 1), 4).eval()
    images = torch.rand(12, 3, 16, 16)
    seen = []
    handle = model.bn.register_forward_pre_hook(lambda m, args: seen.append(args[0].detach()))
    _precise_batch_norm(model, DataLoader(TensorDataset(images, torch.zeros(12)), batch_size=4), None)
    handle.remove()
    assert len(seen) == 3 and not model.training and model.bn.momentum == 0.1
    # the mean of the three batch means (equal batches), not a momentum-weighted one
    expected = torch.stack([x.mean(dim=(0, 2, 3)) for x in seen]).mean(0)
    torch.testing.assert_close(model.bn.running_mean, expected)
