"""``torch.utils.data.Dataset`` views of the synthetic shapes scenes (:mod:`cvcourse.data.shapes`).

Every view is ``n`` samples long, generated lazily in ``__getitem__`` from
``sample_rng(seed, index)``, so sample ``i`` has the same bytes however the data set is read
(shuffled, by several DataLoader workers, cached or not). Use different seeds for training and
validation data::

    train = ShapesClassification(5000, size=32, seed=0)
    val = ShapesClassification(1000, size=32, seed=1)

Targets follow torchvision's conventions:

* classification: ``(image FloatTensor[3, H, W] in [0, 1], label int)``, 0-based labels indexing
  ``.classes``;
* detection / instance segmentation: ``(image, {"boxes": FloatTensor[K, 4] xyxy,
  "labels": Int64Tensor[K], "masks": UInt8Tensor[K, H, W]})`` with 1-based labels
  (0 = background), what ``torchvision.models.detection.maskrcnn_resnet50_fpn`` (Mask R-CNN,
  arXiv:1703.06870) trains on;
* semantic: ``(image, LongTensor[H, W])`` of category ids; panoptic:
  ``(image, LongTensor[H, W, 2])`` of ``(category id, instance id)``, the layout
  ``torchmetrics.detection.PanopticQuality`` takes.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch.utils.data import Dataset

from cvcourse._checks import check_bool, check_choice, check_int, check_type, describe

from .shapes import (
    CATEGORIES,
    MIN_SIZE,
    STUFF_IDS,
    THING_CLASSES,
    THING_IDS,
    Scene,
    render_scene,
    sample_rng,
)

__all__ = [
    "ShapesClassification",
    "ShapesDetection",
    "ShapesSegmentation",
    "collate_detection",
    "scene_to_target",
]


def check_index(index, length: int) -> int:
    """Python-style index into a data set of ``length`` samples (negative counts from the end).

    Raises ``TypeError`` for a non-integer and, as Python's sequences do, ``IndexError`` out of range.
    """
    index = check_int("index", index)
    if not -length <= index < length:
        raise IndexError(f"index must be in [-{length}, {length}), got {index}")
    return index % length


class _ShapesBase(Dataset):
    """``n`` lazily generated samples of ``size`` x ``size`` pixels, optionally cached in memory."""

    def __init__(self, n: int, size: int, seed: int, cache: bool, max_size: int = 1024) -> None:
        self.n = check_int("n", n, low=0)
        self.size = check_int("size", size, low=MIN_SIZE, high=max_size)
        self.seed = check_int("seed", seed, low=0)
        check_bool("cache", cache)
        self._cache: dict[int, tuple] | None = {} if cache else None
        self.classes: tuple[str, ...] = ()

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int):
        index = check_index(index, self.n)
        if self._cache is not None and index in self._cache:
            return self._cache[index]
        sample = self._make(render_scene(sample_rng(self.seed, index), **self._scene_kwargs()))
        if self._cache is not None:
            self._cache[index] = sample
        return sample

    def _scene_kwargs(self) -> dict:
        raise NotImplementedError

    def _make(self, scene: Scene):
        raise NotImplementedError

    @property
    def num_classes(self) -> int:
        """``len(classes)``: the output width of a model for this view (background included)."""
        return len(self.classes)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n={self.n}, size={self.size}, seed={self.seed})"


def _check_max_objects(max_objects: int, size: int) -> int:
    """Shapes have a circumradius of at least ``max(3 px, 10 % of size)``, so about
    ``(size / (2 r_min))^2`` disjoint ones fit (25 from 30 px on): allow at most that many."""
    most = int((size / (2 * max(3.0, 0.1 * size))) ** 2)
    return check_int("max_objects", max_objects, low=1, high=most)


def _image_tensor(scene: Scene) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(scene.image.transpose(2, 0, 1)))  # [3, H, W]


def scene_to_target(scene: Scene) -> dict[str, torch.Tensor]:
    """The detection / instance-segmentation target of a scene, as torchvision's models take it.

    Returns:
        ``{"boxes": float32 [K, 4] (x1, y1, x2, y2), "labels": int64 [K] in 1..5,
        "masks": uint8 [K, H, W]}``.
    """
    return {
        "boxes": torch.from_numpy(scene.boxes),
        "labels": torch.from_numpy(scene.labels),
        "masks": torch.from_numpy(scene.masks.astype(np.uint8)),
    }


class ShapesClassification(_ShapesBase):
    """One shape per image, to classify: ``(image FloatTensor[3, H, W] in [0, 1], label int)``.

    The shape varies in class, size (circumradius 25 % - 45 % of the image), position, rotation,
    colour and shading; the background is a random sky / ground / water scene with noise, gradient
    and stripe textures; 8-bit sensor noise is added. Learnable but not trivial: with 5,000
    training images of 32 x 32, a three-block conv-BN-ReLU-pool CNN reaches about 94 % validation
    accuracy after 5 epochs of Adam, a nearest-class-mean classifier on pixels about 23 % (chance
    20 %); see ``benchmarks/bench_data.py --learn``.

    Args:
        n: number of samples (>= 0).
        size: image side in pixels (16 .. 256).
        seed: seed of the whole data set; use another one for validation data.
        num_classes: use only the first ``num_classes`` shapes of ``THING_CLASSES``
            (2 .. 5; default all).
        transform: optional callable applied to the image tensor (e.g. an augmentation).
        cache: keep generated samples in memory, as 8-bit images (``size=32``: 3 KiB a sample).

    Attributes:
        classes: the class names, ``classes[label]``.
    """

    def __init__(
        self,
        n: int,
        size: int = 32,
        seed: int = 0,
        num_classes: int | None = None,
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
        cache: bool = True,
    ) -> None:
        super().__init__(n, size, seed, cache, max_size=256)
        if num_classes is None:
            num_classes = len(THING_CLASSES)
        num_classes = check_int("num_classes", num_classes, low=2, high=len(THING_CLASSES))
        if transform is not None:
            check_type("transform", transform, Callable, "callable or None")
        self.classes: tuple[str, ...] = THING_CLASSES[:num_classes]
        self.transform = transform

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image, label = super().__getitem__(index)
        image = image.float() / 255  # exactly the rendered float32 values, which are k / 255
        if self.transform is not None:
            image = self.transform(image)
        return image, label

    def _scene_kwargs(self) -> dict:
        return {
            "size": self.size,
            "num_objects": 1,
            "classes": THING_IDS[: len(self.classes)],
            "radius_range": (0.25, 0.45),
        }

    def _make(self, scene: Scene) -> tuple[torch.Tensor, int]:
        # Kept as 8 bits (a quarter of the memory in the cache), turned into floats on the way out.
        image = torch.from_numpy(np.rint(scene.image.transpose(2, 0, 1) * 255).astype(np.uint8))
        return image, int(scene.labels[0]) - 1  # thing id 1..5 -> class index 0..4


class ShapesDetection(_ShapesBase):
    """Scenes of 1 .. ``max_objects`` shapes, possibly overlapping, with boxes, labels and masks.

    Returns ``(image FloatTensor[3, H, W], target)`` with ``target`` as in :func:`scene_to_target`:
    ``boxes`` float32 [K, 4] ``(x1, y1, x2, y2)`` tight around the visible mask in pixel-edge
    coordinates, ``labels`` int64 [K] in ``1 .. 5`` (``classes[label]`` is the name, ``classes[0]``
    is "background"), ``masks`` uint8 [K, H, W]. Batch with
    ``DataLoader(..., collate_fn=collate_detection)``.

    Args:
        n: number of samples (>= 0).
        size: image side in pixels (16 .. 1024).
        seed: seed of the whole data set.
        max_objects: most shapes per image; the count is uniform in ``1 .. max_objects`` (a shape
            that cannot be placed without hiding half of another is left out).
        cache: keep generated samples in memory (off by default: masks are large). Cached
            samples are returned as the same tensors each time: clone before editing in place.
    """

    def __init__(
        self, n: int, size: int = 64, seed: int = 0, max_objects: int = 4, cache: bool = False
    ) -> None:
        super().__init__(n, size, seed, cache)
        self.max_objects = _check_max_objects(max_objects, self.size)
        self.classes: tuple[str, ...] = ("background", *THING_CLASSES)

    def _scene_kwargs(self) -> dict:
        return {"size": self.size, "num_objects": self.max_objects, "random_count": True}

    def _make(self, scene: Scene) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return _image_tensor(scene), scene_to_target(scene)


def collate_detection(
    batch: list[tuple[torch.Tensor, dict]],
) -> tuple[tuple[torch.Tensor, ...], tuple[dict, ...]]:
    """DataLoader ``collate_fn`` for detection: ``(images, targets)`` as tuples (K varies by image).

    torchvision's detection models take exactly this: ``model(list(images), list(targets))``.
    """
    check_type("batch", batch, (list, tuple), "a list of (image, target) pairs")
    for i, item in enumerate(batch):
        check_type(f"batch[{i}]", item, (list, tuple), "an (image, target) pair")
        if len(item) != 2:
            raise ValueError(
                f"batch[{i}] must be an (image, target) pair, got {len(item)} items: {describe(item)}"
            )
    images = tuple(item[0] for item in batch)
    targets = tuple(item[1] for item in batch)
    return images, targets


class ShapesSegmentation(_ShapesBase):
    """Scenes for segmentation, one of three kinds of label:

    * ``kind="semantic"``: ``(image, LongTensor[H, W])``, the category id of every pixel;
    * ``kind="instance"``: ``(image, target)`` exactly as :class:`ShapesDetection` (Mask R-CNN
      format);
    * ``kind="panoptic"``: ``(image, LongTensor[H, W, 2])``, ``(category id, instance id)`` per
      pixel.

    Category ids (``classes[id]`` is the name): 0 "void" (never produced), things ``THING_IDS`` =
    1 .. 5 (circle, square, triangle, cross, star), stuff ``STUFF_IDS`` = 6 .. 8 (sky, ground,
    water). A semantic model therefore has ``len(classes) == 9`` outputs. For panoptic quality use
    ``PanopticQuality(things=set(THING_IDS), stuffs=set(STUFF_IDS))``.

    Args:
        n: number of samples (>= 0).
        size: image side in pixels (16 .. 1024).
        seed: seed of the whole data set.
        kind: "semantic", "instance" or "panoptic".
        max_objects: most shapes per image (see :class:`ShapesDetection`).
        cache: keep generated samples in memory (the same tensors are returned each time).
    """

    KINDS = ("semantic", "instance", "panoptic")

    def __init__(
        self,
        n: int,
        size: int = 64,
        seed: int = 0,
        kind: str = "semantic",
        max_objects: int = 4,
        cache: bool = False,
    ) -> None:
        super().__init__(n, size, seed, cache)
        check_choice("kind", kind, self.KINDS)
        self.max_objects = _check_max_objects(max_objects, self.size)
        self.kind = kind
        self.classes: tuple[str, ...] = CATEGORIES
        self.thing_ids, self.stuff_ids = THING_IDS, STUFF_IDS

    def _scene_kwargs(self) -> dict:
        return {"size": self.size, "num_objects": self.max_objects, "random_count": True}

    def _make(self, scene: Scene):
        image = _image_tensor(scene)
        if self.kind == "semantic":
            return image, torch.from_numpy(scene.semantic)
        if self.kind == "instance":
            return image, scene_to_target(scene)
        return image, torch.from_numpy(np.ascontiguousarray(scene.panoptic))
