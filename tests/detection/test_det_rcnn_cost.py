"""Table 4.1 of the notes recomputed from the AlexNet architecture (no weights, meta device)."""

import pytest
import torch
import torchvision
from torch import nn

from cvcourse.detection.rcnn_cost import alexnet_2012, count_flops, rcnn_table, shared_pass_size


def test_the_notes_per_crop_numbers():
    flops = count_flops(alexnet_2012(), 227, 227)
    assert round(flops["conv"] / 1e6) == 2154  # "n x 2154 M"
    assert round(flops["ff"] / 1e6) == 117  # "n x 117 M"
    biases = 55 * 55 * 96 + 27 * 27 * 256 + 13 * 13 * (384 + 384 + 256)  # one add per conv output
    assert flops["conv"] == 2 * flops["conv_macs"] + biases
    assert flops["ff_macs"] == 9216 * 4096 + 4096 * 4096 + 4096 * 1000  # torchvision's classifier


def test_torchvision_alexnet_is_narrower():
    with torch.device("meta"):
        tv = torchvision.models.alexnet()
    flops = count_flops(tv, 227, 227)
    assert flops["ff"] == count_flops(alexnet_2012(), 227, 227)["ff"]  # same FF part
    assert round(flops["conv"] / 1e6) == 1317  # 64-192-384-256-256 channels


def test_counts_against_a_hand_count_and_do_not_touch_the_model():
    conv = nn.Conv2d(3, 8, 3, padding=1, groups=1)
    before = conv.weight.detach().clone()
    flops = count_flops(nn.Sequential(conv, nn.Flatten(), nn.Linear(8 * 5 * 5, 4)), 5, 5)
    assert flops["conv"] == 8 * 5 * 5 * (2 * 3 * 9 + 1) and flops["ff"] == 4 * (2 * 200 + 1)
    assert conv.weight.device.type == "cpu" and torch.equal(conv.weight, before)


def test_table_and_shared_pass():
    table = rcnn_table(2000)
    per_crop = count_flops(alexnet_2012(), 227, 227)["ff"]
    assert table["R-CNN"]["ff"] == table["Fast R-CNN"]["ff"] == 2000 * per_crop
    side, flops = shared_pass_size(16_310e6)
    assert side == 603 and abs(flops - 16_310e6) / 16_310e6 < 3e-4  # the closest square: 16,307 M
    # no square side in the range gives 16,310 M to the nearest million
    feats = alexnet_2012().features
    assert all(round(count_flops(feats, s, s)["conv"] / 1e6) != 16_310 for s in range(590, 620))
    # Fast R-CNN wins on the conv side from a handful of proposals on
    assert table["Fast R-CNN"]["conv"] < rcnn_table(8)["R-CNN"]["conv"]


def test_errors():
    with pytest.raises(TypeError, match="model"):
        count_flops("alexnet", 227, 227)
    with pytest.raises(ValueError, match="height"):
        count_flops(alexnet_2012(), 0, 227)
    with pytest.raises(ValueError, match="n must"):
        rcnn_table(-1)
