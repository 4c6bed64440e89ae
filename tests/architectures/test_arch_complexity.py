"""Parameter/FLOP counting, per-stage summaries and receptive fields."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from cvcourse.architectures import (
    count_flops,
    count_parameters,
    empirical_receptive_field,
    receptive_field,
    resnet18,
    stage_summary,
)
from cvcourse.architectures.mobilenet import mobilenet_v2


def test_count_parameters_against_loop_and_trainable_only():
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.Linear(4, 2))
    model[1].weight.requires_grad_(False)
    expected = 3 * 8 * 9 + 8 + 8 + 8 + 4 * 2 + 2
    assert count_parameters(model) == expected
    assert count_parameters(model, trainable_only=True) == expected - 8
    assert count_parameters(nn.ReLU()) == 0  # degenerate: no parameters


def test_count_flops_meta_equals_real_run_and_hand_formula():
    conv = nn.Conv2d(5, 7, 3, stride=2, padding=1)
    meta = count_flops(conv, (2, 5, 9, 9))
    real = count_flops(conv, (2, 5, 9, 9), meta=False)
    assert meta == real == 2 * (2 * 5 * 5) * 7 * 5 * 3 * 3  # 2 * B*H'*W' * C_out * C_in * k^2
    assert count_flops(nn.ReLU(), (1, 3, 4, 4)) == 0


def test_count_flops_leaves_training_mode_and_rejects_bad_sizes():
    model = nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4)).train()
    count_flops(model, (1, 3, 4, 4), meta=False)
    assert model.training
    with pytest.raises(ValueError, match=r"input_size\[2\] must be an int >= 1, got 0"):
        count_flops(model, (1, 3, 0, 4))
    with pytest.raises(ValueError, match="input_size must be a tuple of ints .*got an empty one"):
        count_flops(model, ())
    with pytest.raises(TypeError, match="input_size must be a tuple of ints"):
        count_flops(model, 224)  # was a ValueError
    with pytest.raises(TypeError, match=r"input_size\[0\] must be an int, got float"):
        count_flops(model, (1.0, 3, 4, 4))
    with pytest.raises(TypeError, match="model must be a torch.nn.Module, got str 'resnet18'"):
        count_flops("resnet18")


def test_stage_summary_adds_up_to_whole_model():
    model = resnet18()
    rows = stage_summary(model, (1, 3, 224, 224))
    assert [r.name for r in rows][:5] == ["conv1", "bn1", "relu", "maxpool", "layer1"]
    assert sum(r.params for r in rows) == count_parameters(model)
    assert sum(r.flops for r in rows) == count_flops(model, (1, 3, 224, 224))
    shapes = {r.name: r.output_shape for r in rows}
    assert shapes["layer1"] == (1, 64, 56, 56) and shapes["layer4"] == (1, 512, 7, 7)


def test_stage_summary_real_run_equals_meta_and_features_default():
    model = mobilenet_v2(num_classes=3).eval()
    meta_rows = stage_summary(model, (1, 3, 32, 32))
    real_rows = stage_summary(model, (1, 3, 32, 32), meta=False)
    assert meta_rows == real_rows
    assert [r.name for r in meta_rows] == [f"features.{i}" for i in range(19)] + ["classifier"]
    with pytest.raises(ValueError, match="unknown"):
        stage_summary(model, (1, 3, 32, 32), stages=["layer9"])


def _positive_chain(layers):
    mods = []
    for k, s, d in layers:
        conv = nn.Conv2d(1, 1, k, stride=s, dilation=d, bias=False).double()
        nn.init.constant_(conv.weight, 1.0)  # positive weights: nothing cancels
        mods.append(conv)
    return nn.Sequential(*mods)


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from([1, 2, 3, 5]), st.sampled_from([1, 2]), st.sampled_from([1, 2, 3])),
        min_size=1,
        max_size=4,
    )
)
def test_receptive_field_formula_equals_measured_gradient_support(layers):
    r = receptive_field(layers)
    size = 4 * r + 8  # large enough that the centre output's field is inside the image
    assert empirical_receptive_field(_positive_chain(layers), (1, 1, size, size)) == r


@pytest.mark.parametrize("num_layers", [1, 2, 3, 4])
def test_dilated_stack_receptive_field_is_2_to_the_l_plus_1_minus_1(num_layers):
    """Notes' worked number: 3x3 convs with dilation 1, 2, 4, ... see 2^(l+1) - 1 pixels."""
    layers = [(3, 1, 2**i) for i in range(num_layers)]
    assert receptive_field(layers) == 2 ** (num_layers + 1) - 1
    measured = empirical_receptive_field(_positive_chain(layers), (1, 1, 64, 64))
    assert measured == 2 ** (num_layers + 1) - 1


def test_receptive_field_degenerate_and_bad_input():
    assert receptive_field([]) == 1  # no layer: one pixel
    assert receptive_field([(1, 1)]) == 1
    with pytest.raises(ValueError, match=r"layers\[1\]\[0\] must be an int >= 1, got 0"):
        receptive_field([(3, 1), (0, 1)])
    with pytest.raises(ValueError, match=r"layers\[0\] must be \(kernel, stride\[, dilation\]\)"):
        receptive_field([(3, 1, 1, 1)])
    with pytest.raises(TypeError, match=r"layers\[0\]\[1\] must be an int, got float 1.5"):
        receptive_field([(3, 1.5)])  # was silently truncated to 1 before


def test_stage_summary_and_count_flops_keep_the_models_mode_and_weights():
    model = mobilenet_v2(num_classes=3).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    stage_summary(model, (2, 3, 32, 32), meta=False)
    count_flops(model, (2, 3, 32, 32), meta=False)
    assert model.training
    for k, v in model.state_dict().items():  # eval mode: BN running stats untouched
        assert torch.equal(v, before[k]), k
