"""Real images: the photographs scikit-image ships, and torchvision data sets when they are on disk.

``sample_image`` and ``stereo_pair`` read only files installed with scikit-image (its ``data``
folder), never the network: the images skimage would fetch with pooch are not offered.
``real_dataset`` opens a torchvision data set by name; when it is not on disk and cannot be
downloaded (offline, or ``download=False``), it raises one clear :class:`DatasetUnavailableError`
that names the synthetic data set to use instead.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from cvcourse._checks import check_bool, check_choice, check_type

__all__ = [
    "SAMPLE_IMAGES",
    "STEREO_PAIRS",
    "MOTORCYCLE_CALIBRATION",
    "REAL_DATASETS",
    "DatasetUnavailableError",
    "sample_image",
    "stereo_pair",
    "real_dataset",
    "datasets_dir",
]

# name -> (skimage.data function, file shipped with scikit-image that it reads). Grey images are
# returned as three equal channels.
SAMPLE_IMAGES: dict[str, str] = {
    "astronaut": "astronaut.png",  # RGB 512 x 512, Eileen Collins
    "brick": "brick.png",  # grey texture 512 x 512
    "camera": "camera.png",  # grey 512 x 512, the cameraman
    "cell": "cell.png",  # grey microscopy 660 x 550
    "chelsea": "chelsea.png",  # RGB 300 x 451, a cat
    "coffee": "coffee.png",  # RGB 400 x 600, a cup of coffee
    "coins": "coins.png",  # grey 303 x 384
    "colorwheel": "color.png",  # RGB 370 x 371
    "grass": "grass.png",  # grey texture
    "gravel": "gravel.png",  # grey texture
    "horse": "horse.png",  # binary silhouette
    "hubble_deep_field": "hubble_deep_field.jpg",  # RGB 872 x 1000
    "immunohistochemistry": "ihc.png",  # RGB 512 x 512
    "logo": "logo.png",  # RGBA, alpha dropped
    "moon": "moon.png",  # grey 512 x 512
    "page": "page.png",  # grey scanned text
    "retina": "retina.jpg",  # RGB 1411 x 1411
    "rocket": "rocket.jpg",  # RGB 427 x 640
    "text": "text.png",  # grey 172 x 448
}
STEREO_PAIRS: tuple[str, ...] = ("motorcycle",)
# Middlebury 2014 calibration of the 4x down-sampled motorcycle pair (from skimage's docstring):
# depth Z = baseline * focal / (d + doffs), doffs being the offset of the two principal points.
MOTORCYCLE_CALIBRATION: dict[str, float] = {
    "focal_length": 994.978,
    "baseline": 0.193001,
    "doffs": 31.086,
}


def _skimage_file(filename: str) -> Path:
    import skimage.data

    return Path(skimage.data.__file__).parent / filename


def sample_image(name: str) -> np.ndarray:
    """A real photograph shipped with scikit-image, as uint8 [H, W, 3] RGB.

    Args:
        name: one of :data:`SAMPLE_IMAGES` (``"astronaut"``, ``"chelsea"``, ``"coffee"``,
            ``"camera"``, ...).

    Returns:
        uint8 ndarray [H, W, 3]; grey and binary images are repeated over three channels, an alpha
        channel is dropped.
    """
    check_type("name", name, str, "a str")
    check_choice("name", name, sorted(SAMPLE_IMAGES))
    path = _skimage_file(SAMPLE_IMAGES[name])
    if not path.exists():  # a stripped-down scikit-image install: say so rather than download
        raise FileNotFoundError(f"scikit-image's file {path} for sample image {name!r} is missing")
    import skimage.data

    image = np.asarray(getattr(skimage.data, name)())
    if image.dtype == bool:
        image = image.astype(np.uint8) * 255
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)  # grey -> [H, W, 3]
    return np.ascontiguousarray(image[:, :, :3].astype(np.uint8))


def stereo_pair(name: str = "motorcycle") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A rectified real stereo pair with ground-truth disparity (Middlebury 2014, shipped with
    scikit-image).

    The disparity is defined in the left view with the same sign as :class:`StereoShapes`: the point
    at column ``u`` of the left image is at column ``u - d`` of the right image. Pixels without
    ground truth (skimage marks them ``inf``) are 0 here, as in KITTI. For depth use
    :data:`MOTORCYCLE_CALIBRATION`: ``Z = baseline * focal_length / (d + doffs)``.

    Args:
        name: ``"motorcycle"`` (the only pair scikit-image ships).

    Returns:
        ``(left uint8 [H, W, 3], right uint8 [H, W, 3], disparity float32 [H, W])``,
        with H, W = 500, 741.
    """
    check_type("name", name, str, "a str")
    check_choice("name", name, STEREO_PAIRS)
    import skimage.data

    left, right, disparity = skimage.data.stereo_motorcycle()
    disparity = np.where(np.isfinite(disparity), disparity, 0).astype(np.float32)
    return left, right, disparity


class DatasetUnavailableError(RuntimeError):
    """A real data set is neither on disk nor downloadable; the message names the synthetic
    alternative."""


# name -> (torchvision class name, synthetic alternative, how to pass the split)
REAL_DATASETS: dict[str, tuple[str, str, str]] = {
    "CIFAR10": ("CIFAR10", "ShapesClassification(n, size=32)", "train"),
    "MNIST": ("MNIST", "ShapesClassification(n, size=32)", "train"),
    "FashionMNIST": ("FashionMNIST", "ShapesClassification(n, size=32)", "train"),
    "OxfordIIITPet": ("OxfordIIITPet", "ShapesSegmentation(n, kind='semantic')", "split"),
    "VOCSegmentation": ("VOCSegmentation", "ShapesSegmentation(n, kind='semantic')", "image_set"),
    "VOCDetection": ("VOCDetection", "ShapesDetection(n)", "image_set"),
}


def datasets_dir() -> Path:
    """Where real data sets live: ``$CVCOURSE_DATASETS``, else ``~/.cache/cvcourse/datasets``."""
    override = os.environ.get("CVCOURSE_DATASETS", "").strip()
    return Path(override).expanduser() if override else Path.home() / ".cache/cvcourse/datasets"


def real_dataset(
    name: str,
    root: str | Path | None = None,
    split: str = "train",
    download: bool = False,
    **kwargs: Any,
):
    """Open a torchvision data set by name, only when asked for: nothing downloads unless
    ``download=True``.

    Args:
        name: one of :data:`REAL_DATASETS` (``"CIFAR10"``, ``"OxfordIIITPet"``,
            ``"VOCSegmentation"``, ...).
        root: folder of the data (default :func:`datasets_dir`: ``$CVCOURSE_DATASETS`` or
            ``~/.cache/cvcourse/datasets``; not the repository's ``data/``, whose files are
            checksummed).
        split: ``"train"`` / ``"test"`` (CIFAR10, MNIST), ``"trainval"`` / ``"test"``
            (OxfordIIITPet), ``"train"`` / ``"val"`` (VOC).
        download: let torchvision download the data when it is missing (needs the network).
        **kwargs: passed on to the torchvision class (``transform=``, ``target_types=``, ...).

    Raises:
        DatasetUnavailableError: the data is not on disk and could not be downloaded.
    """
    check_type("name", name, str, "a str")
    check_choice("name", name, sorted(REAL_DATASETS))
    check_type("split", split, str, "a str")
    check_bool("download", download)
    if root is not None:
        check_type("root", root, (str, os.PathLike), "a folder (str or Path) or None")
    import torchvision

    cls_name, alternative, split_arg = REAL_DATASETS[name]
    root = Path(root) if root is not None else datasets_dir()
    if split_arg == "train":
        if split not in ("train", "test"):  # what torchvision's train=True/False can express
            raise ValueError(f"split must be 'train' or 'test' for {name}, got {split!r}")
        kwargs["train"] = split == "train"
    else:
        kwargs[split_arg] = split
    try:
        return getattr(torchvision.datasets, cls_name)(root=str(root), download=download, **kwargs)
    except (ValueError, TypeError):
        raise  # a wrong argument is the caller's bug: keep torchvision's message
    except Exception as err:  # missing files, no network (URLError, socket blocked), corrupt archive
        how = "the download failed (offline?)" if download else "it is not on disk and download=False"
        raise DatasetUnavailableError(
            f"{name} is not available under {root}: {how} ({type(err).__name__}: {err}). "
            f"Use the synthetic data set instead: cvcourse.data.{alternative}, or run once with "
            f"download=True while online."
        ) from None
