"""Digits split and the shapes with known factors: deterministic, binary, drawn where the factors say."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from cvcourse.data.geometry import THING_IDS, shape_mask
from cvcourse.generative.factors import (
    COLOURS,
    FACTORS,
    ShapesFactors,
    digits,
    factor_labels,
    render_factors,
    sample_factors,
)


def test_digits_split():
    d = digits()
    assert d["train"].shape[1:] == (1, 8, 8) and len(d["train"]) + len(d["test"]) == 1797
    assert 0 <= d["train"].min() and d["train"].max() == 1
    both = torch.cat([d["train"], d["test"]]).flatten(1) * 16
    assert sorted(map(tuple, both.round().int().tolist())) == sorted(
        map(tuple, load_digits().data.astype(int))
    )
    assert set(digits(binarize=True)["test"].unique().tolist()) == {0.0, 1.0}
    with pytest.raises(ValueError, match="test_fraction"):
        digits(test_fraction=1.0)


def test_shapes_follow_their_factors():
    data = ShapesFactors(50, seed=3)
    again = ShapesFactors(50, seed=3)
    assert torch.equal(data.images, again.images) and not torch.equal(
        data.images, ShapesFactors(50, seed=4).images
    )
    assert set(data.images.unique().tolist()) <= {0.0, 1.0}
    assert data.factors.shape == (50, len(FACTORS))
    for image, (shape, cx, cy, radius, colour) in zip(data.images, data.factors.tolist(), strict=True):
        y, x = np.mgrid[0:32, 0:32] + 0.5
        mask = shape_mask(THING_IDS[int(shape)], x, y, cx, cy, radius, 0.0)  # the full-image inside test
        expected = torch.tensor(COLOURS[list(COLOURS)[int(colour)]])[:, None, None] * torch.from_numpy(mask)
        assert torch.equal(image, expected.float())
    x, target = data[0]
    assert torch.equal(x, target)


def test_factors_are_uniform_and_labels():
    f = sample_factors(3000, seed=0)
    assert f[:, 0].long().bincount().min() > 500 and f[:, 4].long().bincount().min() > 400
    assert 8 <= f[:, 1].min() and f[:, 1].max() <= 24 and 4 <= f[:, 3].min() and f[:, 3].max() <= 8
    labels = factor_labels(f)
    assert (
        labels.dtype == torch.int64 and labels[:, 1].max() == 9 and torch.equal(labels[:, 0], f[:, 0].long())
    )
    assert render_factors(f[:0]).shape == (0, 3, 32, 32)
    with pytest.raises(ValueError, match="factors must have shape"):
        render_factors(torch.zeros(2, 3))
