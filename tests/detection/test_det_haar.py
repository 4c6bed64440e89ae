"""Haar-like features against scikit-image (same enumeration and values); the scaled, normalised form."""

import numpy as np
import pytest
import torch
from skimage.feature import haar_like_feature, haar_like_feature_coord
from skimage.transform import integral_image as sk_integral_image

from cvcourse.detection.haar import (
    KINDS,
    HaarFeatures,
    haar_feature_grid,
    haar_features,
    haar_mask,
    normalized_haar_features,
)
from cvcourse.detection.integral import integral_image


def _from_skimage(coords, height, width):
    rects = torch.zeros(len(coords), 4, 4, dtype=torch.int64)
    signs = torch.zeros(len(coords), 4, dtype=torch.float64)
    for i, feature in enumerate(coords):
        for k, ((r0, c0), (r1, c1)) in enumerate(feature):
            rects[i, k] = torch.tensor([r0, c0, r1, c1])
            signs[i, k] = (-1.0) ** (k + 1)
    return HaarFeatures(["?"] * len(coords), rects, signs, height, width)


def _as_set(features):
    pairs = zip(features.rects, features.signs, strict=True)
    return {tuple(map(tuple, r[s != 0].tolist())) for r, s in pairs}


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("size", [(1, 1), (5, 7), (8, 8)])
def test_enumeration_and_values_equal_skimage(kind, size):
    height, width = size
    ours = haar_feature_grid(height, width, [kind])
    coords, _ = haar_like_feature_coord(width, height, kind)
    assert len(ours) == len(coords)
    theirs = _from_skimage(coords, height, width)
    assert _as_set(ours) == _as_set(theirs)
    if not len(coords):
        return
    rng = np.random.default_rng(0)
    image = rng.random((height, width))
    ii_np = sk_integral_image(image)
    values = haar_like_feature(
        ii_np, 0, 0, width, height, feature_type=np.array([kind] * len(coords)), feature_coord=coords
    )
    assert torch.allclose(haar_features(torch.from_numpy(ii_np), theirs)[0], torch.from_numpy(values))
    # a window inside a larger image (scikit-image's own r, c offsets do not give the crop's features
    # in 0.26, so the authority is the crop; the loop-free lookups below must equal it)
    big = rng.random((height + 3, width + 2))
    big[2 : 2 + height, 1 : 1 + width] = image
    assert torch.allclose(
        haar_features(integral_image(torch.from_numpy(big)), theirs, top=2, left=1)[0],
        torch.from_numpy(values),
    )


def test_24x24_window_has_162336_features():
    assert len(haar_feature_grid(24, 24)) == 162_336 == len(haar_like_feature_coord(24, 24)[0])


def test_mask_times_patch_is_the_feature():
    features = haar_feature_grid(6, 6)
    patch = torch.rand(6, 6, dtype=torch.float64)
    values = haar_features(integral_image(patch), features)[0]
    for i in torch.randint(0, len(features), (30,)).tolist():
        assert torch.isclose((haar_mask(features, i) * patch).sum(), values[i])


def test_vectorised_over_windows_equals_one_window_at_a_time():
    features = haar_feature_grid(4, 4, ["type-2-x", "type-4"])
    image = torch.rand(9, 10, dtype=torch.float64)
    ii = integral_image(image)
    tops, lefts = torch.tensor([0, 3, 5]), torch.tensor([6, 0, 2])
    many = haar_features(ii, features, tops, lefts)
    for p in range(3):
        crop = image[tops[p] : tops[p] + 4, lefts[p] : lefts[p] + 4]
        assert torch.allclose(many[p], haar_features(integral_image(crop), features)[0])


def test_normalized_features_are_contrast_invariant_and_scale_consistent():
    features = haar_feature_grid(4, 4, step=1)
    patch = torch.rand(4, 4, dtype=torch.float64)
    big = patch.repeat_interleave(3, 0).repeat_interleave(3, 1)  # the same patch, 3 times larger

    def feats(image, scale):
        return normalized_haar_features(
            integral_image(image),
            integral_image(image**2),
            features,
            torch.tensor([0]),
            torch.tensor([0]),
            scale,
        )

    f1 = feats(patch, 1.0)
    assert torch.allclose(f1, feats(5 * patch + 2, 1.0))  # brightness and contrast do not matter
    assert torch.allclose(f1, feats(big, 3.0))  # scaled rectangles on the scaled picture
    # by hand on the normalised patch: rectangle means, signed
    z = (patch - patch.mean()) / patch.std(unbiased=False)
    by_hand = []
    for rc, sg in zip(features.rects.tolist(), features.signs.tolist(), strict=True):
        terms = [s * z[t : b + 1, le : r + 1].mean() for (t, le, b, r), s in zip(rc, sg, strict=True) if s]
        by_hand.append(sum(terms))
    assert torch.allclose(f1[0], torch.tensor(by_hand, dtype=torch.float64))


def test_step_gives_a_subset_and_errors():
    coarse, fine = haar_feature_grid(8, 8, step=2), haar_feature_grid(8, 8)
    assert 0 < len(coarse) < len(fine) and _as_set(coarse) <= _as_set(fine)
    with pytest.raises(ValueError, match="kinds"):
        haar_feature_grid(8, 8, ["type-5"])
    with pytest.raises(ValueError, match="height"):
        haar_feature_grid(0, 8)
    with pytest.raises(TypeError, match="features"):
        haar_features(torch.zeros(3, 3), "features")
    with pytest.raises(ValueError, match="index"):
        haar_mask(fine, len(fine))
