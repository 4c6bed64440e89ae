"""The detectors' shared training and scoring: ``train_detector`` lowers a detector's loss with the
documented schedule and clipping, ``evaluate_detector`` is ``coco_map`` of ``model.predict`` on the
scenes, in their order, whatever the batch size."""

import math

import pytest
import torch
from torch import nn

from cvcourse.data import ShapesDetection
from cvcourse.detection.coco import coco_map
from cvcourse.detection.training import (
    VAL_SEED,
    ClippedAdamW,
    RenderedScenes,
    count_parameters,
    evaluate_detector,
    render_scenes,
    train_detector,
)


class MeanBoxDetector(nn.Module):
    """A toy detector: one learnable box and class logits, the same for every image."""

    def __init__(self, num_classes: int = 5) -> None:
        super().__init__()
        self.box = nn.Parameter(torch.tensor([0.0, 0.0, 8.0, 8.0]))
        self.logits = nn.Parameter(torch.zeros(num_classes))
        self.config = {"num_classes": num_classes}

    def loss(self, images, targets):
        box = torch.stack([(self.box - t["boxes"]).abs().mean() for t in targets]).mean()
        cls = torch.stack(
            [
                nn.functional.cross_entropy(self.logits.expand(len(t["labels"]), -1), t["labels"] - 1)
                for t in targets
            ]
        ).mean()
        return {"loss": box + cls, "box": box, "cls": cls}

    @torch.no_grad()
    def predict(self, images, score_threshold=0.05, nms=True):
        probs = self.logits.softmax(0)
        return [
            {"boxes": self.box[None].clone(), "scores": probs.max()[None], "labels": probs.argmax()[None] + 1}
            for _ in images
        ]


class Oracle(nn.Module):
    """Returns the true boxes of the scenes it was given (found by the image), shifted by ``shift`` px."""

    def __init__(self, scenes: RenderedScenes, shift: float = 0.0) -> None:
        super().__init__()
        self.scenes, self.shift = scenes, shift
        self.weight = nn.Parameter(torch.zeros(3))

    @torch.no_grad()
    def predict(self, images, score_threshold=0.05, nms=True):
        out = []
        for image in images:
            i = next(j for j in range(len(self.scenes)) if torch.equal(self.scenes.images[j], image))
            t = self.scenes.targets[i]
            k = len(t["labels"])
            out.append(
                {
                    "boxes": t["boxes"] + self.shift,
                    "scores": torch.linspace(0.9, 0.5, k),
                    "labels": t["labels"],
                }
            )
        return out


def test_rendered_scenes_match_the_dataset_and_flip_boxes_with_images():
    data = ShapesDetection(6, seed=3)
    scenes = render_scenes(data)
    assert scenes.images.shape == (6, 3, 64, 64) and len(scenes) == 6
    for i in range(6):
        image, target = data[i]
        assert torch.equal(scenes.images[i], image) and torch.equal(
            scenes.targets[i]["boxes"], target["boxes"]
        )
    flipped = RenderedScenes(scenes.images, scenes.targets, hflip=True, seed=0)
    seen = set()
    for _ in range(40):
        image, target = flipped[0]
        flip = not torch.equal(image, scenes.images[0])
        seen.add(flip)
        if flip:
            assert torch.equal(image, scenes.images[0].flip(-1))
            boxes = scenes.targets[0]["boxes"]
            expected = torch.stack([64 - boxes[:, 2], boxes[:, 1], 64 - boxes[:, 0], boxes[:, 3]], 1)
            assert torch.equal(target["boxes"], expected)
            # the mirrored box covers the mirrored mask: its pixels lie inside it
            mask = data[0][1]["masks"][0].flip(-1)
            ys, xs = torch.nonzero(mask, as_tuple=True)
            x1, y1, x2, y2 = target["boxes"][0].tolist()
            assert xs.min() == x1 and xs.max() + 1 == x2 and ys.min() == y1 and ys.max() + 1 == y2
    assert seen == {True, False}


def test_train_detector_lowers_the_loss_and_logs_the_parts():
    torch.manual_seed(0)
    model = MeanBoxDetector()
    history = train_detector(
        model, epochs=4, lr=4.0, batch_size=4, train_scenes=16, progress=False, weight_decay=0.0
    )
    assert history.epochs == 4 and len(history.steps["train_loss"]) == 16
    assert history["train_loss"][-1] < 0.5 * history["train_loss"][0]
    assert set(history) >= {"train_loss", "train_box", "train_cls", "lr"}
    for total, box, cls in zip(
        history["train_loss"], history["train_box"], history["train_cls"], strict=True
    ):
        assert total == pytest.approx(box + cls, rel=1e-6)
    assert history.train_seconds > 0 and not model.training


def test_schedule_is_warmup_then_cosine():
    params = [nn.Parameter(torch.zeros(2))]
    opt = ClippedAdamW(params, lr=1.0, weight_decay=0.0, total_steps=10, warmup_steps=2)
    lrs = []
    for _ in range(10):
        lrs.append(opt.param_groups[0]["lr"])
        params[0].grad = torch.ones(2)
        opt.step()
    expected = [0.5, 1.0] + [0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * s / 8)) for s in range(8)]
    assert lrs == pytest.approx(expected)


def test_gradients_are_clipped_to_max_norm():
    # with SGD-like first steps, Adam's update does not see the scale; check the gradient itself
    params = [nn.Parameter(torch.zeros(4))]
    opt = ClippedAdamW(params, lr=1e-3, weight_decay=0.0, total_steps=1, warmup_steps=1, max_norm=0.5)
    params[0].grad = torch.tensor([3.0, 4.0, 0.0, 0.0])  # norm 5
    opt.step()
    assert params[0].grad.norm().item() == pytest.approx(0.5)
    free = ClippedAdamW(params, lr=1e-3, weight_decay=0.0, total_steps=1, warmup_steps=1, max_norm=None)
    params[0].grad = torch.tensor([3.0, 4.0, 0.0, 0.0])
    free.step()
    assert params[0].grad.norm().item() == pytest.approx(5.0)


@pytest.mark.parametrize("batch_size", [1, 3, 32])
def test_evaluate_detector_is_coco_map_of_the_predictions(batch_size):
    scenes = render_scenes(ShapesDetection(7, seed=5))
    perfect = evaluate_detector(Oracle(scenes), scenes, batch_size=batch_size)
    assert perfect["map"] == perfect["map_50"] == perfect["map_75"] == 1.0
    assert perfect["scenes"] == 7 and perfect["params"] == 3 and perfect["ms_per_image"] > 0
    shifted = Oracle(scenes, shift=2.0)
    got = evaluate_detector(shifted, ShapesDetection(7, seed=5), batch_size=batch_size)
    expected = coco_map(shifted.predict(scenes.images), scenes.targets)
    for key in ("map", "map_50", "map_75"):
        assert got[key] == expected[key]
    assert got["map"] < 1.0


def test_count_parameters_counts_trainable_ones():
    model = nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 1))
    model[1].weight.requires_grad_(False)
    assert count_parameters(model) == 3 * 2 + 2 + 1


def test_bad_arguments_are_refused():
    model = MeanBoxDetector()
    with pytest.raises(ValueError, match="seed must not be 777"):
        train_detector(model, epochs=1, lr=0.1, batch_size=2, train_scenes=2, seed=VAL_SEED)
    with pytest.raises(TypeError, match="epochs"):
        train_detector(model, epochs=1.0, lr=0.1, batch_size=2, train_scenes=2)
    with pytest.raises(ValueError, match="lr"):
        train_detector(model, epochs=1, lr=0.0, batch_size=2, train_scenes=2)
    with pytest.raises(ValueError, match="warmup"):
        train_detector(model, epochs=1, lr=0.1, batch_size=2, train_scenes=2, warmup=1.0)
    with pytest.raises(TypeError, match="loss"):
        train_detector(nn.Linear(2, 2), epochs=1, lr=0.1, batch_size=2, train_scenes=2)
    with pytest.raises(TypeError, match="predict"):
        evaluate_detector(nn.Linear(2, 2), ShapesDetection(2))
    with pytest.raises(TypeError, match="dataset"):
        evaluate_detector(model, [1, 2])
    with pytest.raises(ValueError, match="empty"):
        evaluate_detector(model, ShapesDetection(0))
    with pytest.raises(ValueError, match="batch_size"):
        evaluate_detector(model, ShapesDetection(2), batch_size=0)
