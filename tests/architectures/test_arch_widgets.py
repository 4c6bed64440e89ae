"""Explorers: the pure functions, and the widgets built headless answering their controls."""

import numpy as np
import pytest
import torch

from cvcourse.architectures import BUILDERS, count_flops, count_parameters
from cvcourse.architectures.complexity import stage_summary
from cvcourse.architectures.widgets import (
    EXPLORER_STAGES,
    architecture_explorer,
    architecture_rows,
    compound_scaling_explorer,
    scaling_curves,
)


def test_architecture_rows_add_up_for_resnet():
    from cvcourse.architectures import resnet18

    rows = architecture_rows("resnet18", 64)
    assert rows[-1].output_shape == (1, 1000)
    model = resnet18()
    # the explorer's stages omit parameter-free / BN-only layers: FLOPs still add up exactly
    assert sum(r.flops for r in rows) == count_flops(model, (1, 3, 64, 64))
    assert sum(r.params for r in rows) == count_parameters(model) - 128  # bn1 is not a stage
    with pytest.raises(ValueError, match="name must be one of 'resnet18', .*got str 'vgg16'"):
        architecture_rows("vgg16")
    with pytest.raises(ValueError, match="input_size must be an int >= 32, got 8"):
        architecture_rows("resnet18", 8)
    with pytest.raises(TypeError, match="input_size must be an int, got float"):
        architecture_rows("resnet18", 64.0)  # was a ValueError
    with pytest.raises(ValueError, match="input_size must be an int >= 32 and <= 512"):
        architecture_explorer("resnet18", 1024)


def test_architecture_explorer_answers_controls():
    w = architecture_explorer("resnet18", 64)
    ax = w.fig.axes[1]
    before = [p.get_width() for p in ax.patches]
    table = w.table.value
    w.controls["input_size"].value = 128
    after = [p.get_width() for p in w.fig.axes[1].patches]
    # stages: conv1, maxpool, layer1-4, fc; conv FLOPs grow with H x W, the fc's do not
    conv = [0, 2, 3, 4, 5]
    np.testing.assert_allclose(np.array(after)[conv] / np.array(before)[conv], 4.0)
    assert after[1] == before[1] == 0 and after[6] == before[6] > 0
    assert w.table.value != table
    w.controls["model"].value = "mobilenet_v2"
    assert len(w.fig.axes[1].patches) == len(w.rows) == 20
    assert all(ax.get_title() and ax.get_xlabel() for ax in w.fig.axes)
    ax_p, ax_f = w.fig.axes  # side by side, stages named once on the shared y axis
    assert ax_p.get_ylabel() == "stage" and ax_f.get_shared_y_axes().joined(ax_p, ax_f)
    names = [t.get_text() for t in ax_p.get_yticklabels()]
    assert names == [r.name for r in w.rows]


def test_scaling_curves():
    c = scaling_curves(3.0, 1.2, 1.1, 1.15, num=7)
    np.testing.assert_allclose(c["predicted"], (1.2 * 1.1**2 * 1.15**2) ** c["phi"])
    np.testing.assert_allclose(c["two_to_phi"], 2.0 ** c["phi"])
    np.testing.assert_allclose(c["predicted"], c["depth"] * c["width"] ** 2 * c["resolution"] ** 2)
    with pytest.raises(ValueError, match="gamma"):
        scaling_curves(1.0, 1.2, 1.1, 0.5)


def test_compound_scaling_explorer_answers_controls():
    w = compound_scaling_explorer(phi=0.0)
    ax = w.fig.axes[0]
    point = ax.lines[2]
    assert point.get_ydata()[0] == 1.0  # phi = 0: the baseline itself
    w.controls["phi"].value = 1.0
    assert len(point.get_ydata()) == 0  # not measured for these values yet: no stale dot
    assert "press" in w.info.value
    w.controls["measure"].click()
    assert 1.5 < point.get_ydata()[0] < 3.5  # about 2x FLOPs for phi = 1
    w.controls["phi"].value = 0.0
    assert point.get_ydata()[0] == 1.0  # measured before: shown again without a rebuild
    pred = ax.lines[0].get_ydata().copy()
    w.controls["alpha"].value = 1.5
    assert not np.allclose(ax.lines[0].get_ydata(), pred)
    assert "predicted" in w.info.value and ax.get_title() and ax.get_xlabel() and ax.get_ylabel()


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_explorer_rows_equal_stage_summary_of_the_untouched_model(name):
    # The explorer's meta models pass BatchNorm and activations through to count faster.
    with torch.device("meta"):
        model = BUILDERS[name]().eval()
    expected = stage_summary(model, (1, 3, 96, 96), EXPLORER_STAGES[name], meta=False)
    assert architecture_rows(name, 96) == expected
    assert architecture_rows(name, 96) is not architecture_rows(name, 96)  # callers may edit it


@pytest.mark.parametrize("control, value", [("input_size", 320), ("model", "mobilenet_v2")])
def test_explorer_redraws_exactly_what_a_full_render_shows(control, value, same_as_full_draw):
    w = architecture_explorer("resnet18", 224)
    assert same_as_full_draw(w.fig, lambda: setattr(w.controls[control], "value", value)) > 0


@pytest.mark.parametrize("control, value", [("phi", 2.5), ("alpha", 1.6), ("gamma", 1.05)])
def test_scaling_explorer_redraws_exactly_what_a_full_render_shows(control, value, same_as_full_draw):
    w = compound_scaling_explorer()
    assert same_as_full_draw(w.fig, lambda: setattr(w.controls[control], "value", value)) > 0
    assert w.fig.axes[0].get_ylim()[1] >= w.fig.axes[0].lines[0].get_ydata().max()  # all shown
