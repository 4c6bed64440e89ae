"""The segmentation viewer: built headless with no arguments, every control redraws exactly."""

import numpy as np
import pytest
import torch

from cvcourse.data import ShapesSegmentation
from cvcourse.segmentation.metrics import iou_per_class
from cvcourse.segmentation.viewer import CLASS_COLOURS, label_picture, scene_ious, segmentation_viewer


@pytest.fixture(scope="module")
def viewer():
    return segmentation_viewer()


def test_every_control_redraws_exactly(viewer, same_as_full_draw):
    controls = viewer.controls
    assert set(controls) == {"scene", "model", "show"}
    moves = [("scene", 3), ("show", "prediction"), ("show", "errors"), ("scene", 1)]
    options = controls["model"].options  # the shipped models (the first is shown at first)
    moves += [("model", name) for name in (*options[1:], options[0])] if len(options) > 1 else []
    for key, value in moves:
        changed = same_as_full_draw(
            viewer.fig, lambda key=key, value=value: setattr(controls[key], "value", value)
        )
        assert changed > 0, (key, value)


def test_the_bars_are_the_scenes_iou(viewer):
    viewer.controls["scene"].value = 2
    _, labels = ShapesSegmentation(8, size=64, seed=777)[2]
    assert viewer.state["picture"].shape == (*labels.shape, 3)
    ious = viewer.state["ious"]
    present = ~np.isnan(ious)
    in_truth = np.isin(np.arange(1, 9), labels.unique().numpy())
    assert present[in_truth].all()  # a class of the scene always has a bar
    assert np.isfinite(np.nanmean(ious)) and ((ious[present] >= 0) & (ious[present] <= 1)).all()


def test_label_picture_and_scene_ious():
    image = torch.rand(3, 4, 5)
    labels = torch.randint(1, 9, (4, 5))
    predicted = labels.clone()
    predicted[0, 0] = (labels[0, 0] % 8) + 1  # one wrong pixel
    truth = label_picture(image, labels, predicted, "ground truth")
    assert truth.shape == (4, 5, 3) and np.array_equal(truth, CLASS_COLOURS[labels.numpy()])
    errors = label_picture(image, labels, predicted, "errors")
    np.testing.assert_allclose(errors[0, 0], [0.9, 0.1, 0.1], rtol=1e-6)
    assert (errors[1:] <= 0.75).all()
    got = scene_ious(labels, predicted)
    expected = iou_per_class(predicted, labels, 9).numpy()[1:]
    present = np.isin(np.arange(1, 9), torch.cat([labels.flatten(), predicted.flatten()]).numpy())
    assert np.array_equal(np.isnan(got), ~present)
    np.testing.assert_allclose(got[present], expected[present])
    with pytest.raises(ValueError, match="show must be one of"):
        label_picture(image, labels, predicted, "logits")
    with pytest.raises(ValueError, match=r"predicted must have shape \[H, W\] \(with H=4, W=5\)"):
        label_picture(image, labels, predicted[:2], "errors")
    with pytest.raises(TypeError, match="labels must have an int dtype"):
        label_picture(image, labels.float(), predicted, "errors")
