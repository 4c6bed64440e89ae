"""Real images shipped with scikit-image, and the offline message of real_dataset (sockets are
disabled)."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data

from cvcourse.data import (
    MOTORCYCLE_CALIBRATION,
    REAL_DATASETS,
    SAMPLE_IMAGES,
    DatasetUnavailableError,
    real_dataset,
    sample_image,
    stereo_pair,
)


@pytest.mark.parametrize("name", sorted(SAMPLE_IMAGES))
def test_sample_images_are_uint8_rgb_and_equal_skimage(name):
    image = sample_image(name)
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    original = np.asarray(getattr(skimage.data, name)())
    assert image.shape[:2] == original.shape[:2]
    if original.ndim == 2:  # grey: three equal channels with the original values
        expected = original.astype(np.uint8) * (255 if original.dtype == bool else 1)
        for c in range(3):
            np.testing.assert_array_equal(image[..., c], expected)
    else:
        np.testing.assert_array_equal(image, original[..., :3])
    assert image.max() > 100  # not an all-black conversion accident


def test_sample_image_bad_names():
    with pytest.raises(ValueError, match="name must be one of 'astronaut', .*got str 'lena'"):
        sample_image("lena")
    with pytest.raises(ValueError, match="got str 'eagle'"):  # skimage would download it: not offered
        sample_image("eagle")
    with pytest.raises(TypeError, match="name must be a str, got int 3"):
        sample_image(3)


def test_motorcycle_disparity_sign_and_invalid_pixels():
    left, right, disparity = stereo_pair("motorcycle")
    _, _, original = skimage.data.stereo_motorcycle()
    assert left.shape == right.shape == (500, 741, 3) and disparity.shape == (500, 741)
    assert disparity.dtype == np.float32
    np.testing.assert_array_equal(disparity == 0, ~np.isfinite(original))
    # Same convention as StereoShapes: left column u is right column u - d (u + d matches worse).
    rows, cols = np.nonzero(disparity > 0)
    d = np.round(disparity[rows, cols]).astype(int)
    keep = (cols - d >= 0) & (cols + d < left.shape[1])
    rows, cols, d = rows[keep], cols[keep], d[keep]
    base = left[rows, cols].astype(float)
    minus = np.abs(base - right[rows, cols - d]).mean()
    plus = np.abs(base - right[rows, cols + d]).mean()
    assert minus < plus / 3
    assert set(MOTORCYCLE_CALIBRATION) == {"focal_length", "baseline", "doffs"}
    with pytest.raises(ValueError, match="name must be one of 'motorcycle', got str 'teddy'"):
        stereo_pair("teddy")
    with pytest.raises(TypeError, match="name must be a str, got NoneType None"):
        stereo_pair(None)


def test_missing_dataset_without_download_gives_one_clear_error(tmp_path):
    with pytest.raises(DatasetUnavailableError) as info:
        real_dataset("CIFAR10", root=tmp_path)
    message = str(info.value)
    assert "CIFAR10" in message and "ShapesClassification" in message and "download=False" in message
    assert info.value.__cause__ is None and info.value.__suppress_context__  # no traceback wall
    assert isinstance(info.value, RuntimeError)


@pytest.mark.parametrize(
    "name, split",
    [("CIFAR10", "train"), ("OxfordIIITPet", "trainval"), ("VOCSegmentation", "train")],
)
def test_download_attempt_offline_gives_the_same_clear_error(tmp_path, name, split):
    """pytest-socket blocks the network, as a classroom without internet would."""
    with pytest.raises(DatasetUnavailableError) as info:
        real_dataset(name, root=tmp_path, split=split, download=True)
    message = str(info.value)
    assert name in message and "download failed" in message
    assert REAL_DATASETS[name][1] in message
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_real_dataset_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="name must be one of .*got str 'ImageNet'"):
        real_dataset("ImageNet")
    with pytest.raises(ValueError, match="split must be 'train' or 'test' for CIFAR10, got 'val'"):
        real_dataset("CIFAR10", root=tmp_path, split="val")
    with pytest.raises(TypeError, match="download must be True or False, got str 'yes'"):
        real_dataset("CIFAR10", root=tmp_path, download="yes")
    with pytest.raises(TypeError, match="split must be a str, got int 1"):
        real_dataset("CIFAR10", root=tmp_path, split=1)
    with pytest.raises(TypeError, match="root must be a folder"):
        real_dataset("CIFAR10", root=3)


def test_default_root_is_outside_the_checksummed_data_folder(monkeypatch, tmp_path):
    from cvcourse.data.real import datasets_dir
    from cvcourse.runtime import data_dir

    monkeypatch.delenv("CVCOURSE_DATASETS", raising=False)
    assert data_dir().resolve() not in datasets_dir().resolve().parents
    monkeypatch.setenv("CVCOURSE_DATASETS", str(tmp_path))
    assert datasets_dir() == tmp_path
    with pytest.raises(DatasetUnavailableError, match=str(tmp_path)):
        real_dataset("MNIST")  # the default root follows the variable
