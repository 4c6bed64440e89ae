"""Evaluating disparity maps on StereoShapes (all pixels, shapes, background; median scaling) and the
row prior, against plain loops over the pixels."""

import numpy as np
import pytest
import torch

from cvcourse.data import StereoShapes
from cvcourse.depth.training import evaluate_disparity, row_prior


@pytest.fixture(scope="module")
def ground():
    ds = StereoShapes(6, size=32, seed=3, max_disparity=8, scene="ground")
    return ds, [ds.sample(i) for i in range(len(ds))]


def _loop_abs_rel(predicted, samples, bf, region, median_scaling=False):
    """abs rel by a loop over images and pixels, float64."""
    errors = []
    for p, s in zip(predicted.double().numpy(), samples, strict=True):
        things = s["masks"].any(0).numpy()
        keep = s["valid"].numpy() & {"all": True, "shapes": things, "background": ~things}[region]
        z, z_hat = bf / s["disparity"].double().numpy()[keep], bf / p[keep]
        if median_scaling and len(z):
            z_hat = z_hat * np.median(z) / np.median(z_hat)
        errors += [abs(a - b) / b for a, b in zip(z_hat, z, strict=True)]
    return float(np.mean(errors))


@pytest.mark.parametrize("region", ["all", "shapes", "background"])
def test_evaluate_disparity_equals_a_loop(ground, region):
    ds, samples = ground
    bf = ds.focal_length * ds.baseline
    torch.manual_seed(0)
    predicted = torch.rand(6, 32, 32) * 7 + 0.5
    for scaled in (False, True):
        ours = evaluate_disparity(predicted, ds, median_scaling=scaled, region=region)["abs_rel"]
        assert ours == pytest.approx(_loop_abs_rel(predicted, samples, bf, region, scaled), rel=1e-9)


def test_evaluate_disparity_truth_doubled_and_median_scaled(ground):
    ds, samples = ground
    truth = torch.stack([s["disparity"] for s in samples])
    perfect = evaluate_disparity(truth, ds)
    assert perfect["abs_rel"] == pytest.approx(0, abs=1e-12) and perfect["a1"] == 1
    doubled = evaluate_disparity(2 * truth, ds, region="shapes")  # depth halved: |z/2 - z| / z = 0.5
    assert doubled["abs_rel"] == pytest.approx(0.5) and doubled["a1"] == 0
    assert evaluate_disparity(2 * truth, ds, median_scaling=True)["abs_rel"] == pytest.approx(0, abs=1e-9)


def test_regions_split_the_pixels(ground):
    ds, samples = ground
    torch.manual_seed(1)
    predicted = torch.rand(6, 32, 32) * 7 + 0.5
    counts = {}
    for region in ("shapes", "background"):
        counts[region] = sum(
            int((s["valid"] & (s["masks"].any(0) if region == "shapes" else ~s["masks"].any(0))).sum())
            for s in samples
        )
    parts = {r: evaluate_disparity(predicted, ds, region=r)["abs_rel"] for r in counts}
    whole = sum(parts[r] * counts[r] for r in counts) / sum(counts.values())
    assert evaluate_disparity(predicted, ds)["abs_rel"] == pytest.approx(whole, rel=1e-9)


def test_row_prior_is_the_median_of_each_row(ground):
    ds, samples = ground
    prior = row_prior(ds)
    for v in (0, 7, 31):
        values = torch.cat([s["disparity"][v][s["valid"][v]] for s in samples])
        assert prior[v] == values.median()
    # on the ground scene the row alone is a good guess; on the layers scene it is no better than a constant
    test = StereoShapes(20, size=32, seed=4, max_disparity=8, scene="ground")
    by_row = evaluate_disparity(prior[None, :, None].expand(20, 32, 32), test)["abs_rel"]
    constant = evaluate_disparity(torch.full((20, 32, 32), float(prior.median())), test)["abs_rel"]
    assert by_row < 0.6 * constant


def test_bad_arguments(ground):
    ds, _ = ground
    with pytest.raises(ValueError, match="region must be one of 'all', 'shapes', 'background', got str"):
        evaluate_disparity(torch.ones(6, 32, 32), ds, region="sky")
    with pytest.raises(ValueError, match="predicted"):
        evaluate_disparity(torch.ones(5, 32, 32), ds)
    with pytest.raises(TypeError, match="dataset must be a cvcourse.data.StereoShapes"):
        row_prior([1, 2])
