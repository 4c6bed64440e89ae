"""Offline data for the course: synthetic shapes scenes and the real images scikit-image ships.

* :mod:`cvcourse.data.shapes`: the scene generator (things on stuff, every label, from a seed);
* :mod:`cvcourse.data.geometry`: the five shapes as exact inside tests, their masks and boxes;
* :mod:`cvcourse.data.datasets`: ``ShapesClassification``, ``ShapesDetection``,
  ``ShapesSegmentation`` and ``collate_detection``;
* :mod:`cvcourse.data.stereo`: ``StereoShapes``, rendered stereo pairs with exact disparity;
* :mod:`cvcourse.data.real`: ``sample_image`` and ``stereo_pair`` (files bundled with scikit-image,
  no download) and ``real_dataset`` (torchvision data sets, only when asked for and available).

Nothing here touches the network unless ``real_dataset(..., download=True)`` is called.
"""

from .datasets import (
    ShapesClassification,
    ShapesDetection,
    ShapesSegmentation,
    collate_detection,
    scene_to_target,
)
from .real import (
    MOTORCYCLE_CALIBRATION,
    REAL_DATASETS,
    SAMPLE_IMAGES,
    DatasetUnavailableError,
    datasets_dir,
    real_dataset,
    sample_image,
    stereo_pair,
)
from .shapes import (
    CATEGORIES,
    MIN_SIZE,
    STUFF_CLASSES,
    STUFF_IDS,
    THING_CLASSES,
    THING_IDS,
    VOID_ID,
    Scene,
    render_scene,
    sample_rng,
)
from .stereo import StereoShapes, render_stereo

__all__ = [
    "StereoShapes",
    "render_stereo",
    "SAMPLE_IMAGES",
    "MOTORCYCLE_CALIBRATION",
    "REAL_DATASETS",
    "DatasetUnavailableError",
    "real_dataset",
    "datasets_dir",
    "sample_image",
    "stereo_pair",
    "ShapesClassification",
    "ShapesDetection",
    "ShapesSegmentation",
    "collate_detection",
    "scene_to_target",
    "CATEGORIES",
    "MIN_SIZE",
    "STUFF_CLASSES",
    "STUFF_IDS",
    "THING_CLASSES",
    "THING_IDS",
    "VOID_ID",
    "Scene",
    "render_scene",
    "sample_rng",
]
