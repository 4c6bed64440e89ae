"""The trajectory explorer: the pure function, and the widget built headless and driven."""

import numpy as np
import pytest

from cvcourse.optim import surfaces as S
from cvcourse.optim.widgets import OPTIMIZERS, explorer_data, optimizer_specs, trajectory_explorer


def test_explorer_data_runs_the_named_optimizers():
    traj = explorer_data("sphere", start=(1.0, 1.0), lr=0.1, steps=30, names=OPTIMIZERS)
    assert traj.labels == list(OPTIMIZERS) and traj.paths.shape == (6, 31, 2)
    np.testing.assert_allclose(traj.paths[0, 1], [0.9, 0.9])  # SGD: theta - lr * theta
    noisy = explorer_data("least squares", lr=0.05, steps=30, names=("SGD",), batch_size=4)
    full = explorer_data("least squares", lr=0.05, steps=30, names=("SGD",))
    assert not np.allclose(noisy.paths, full.paths)


def test_optimizer_specs_and_bad_input():
    specs = optimizer_specs(["Nesterov", "RMSProp", "Adam"], lr=0.01, momentum=0.5, beta1=0.8, beta2=0.9)
    assert specs["Nesterov"][1] == dict(lr=0.01, momentum=0.5, nesterov=True)
    assert specs["RMSProp"][1]["alpha"] == 0.9 and specs["Adam"][1]["betas"] == (0.8, 0.9)
    with pytest.raises(ValueError, match="names must be one of 'SGD', .*got str 'Lion'"):
        optimizer_specs(["Lion"], lr=0.1)
    with pytest.raises(TypeError, match="names must be a list of optimizer names, got str 'Adam'"):
        optimizer_specs("Adam", lr=0.1)  # a bare string would be read letter by letter
    with pytest.raises(ValueError, match="names must hold at least one"):
        explorer_data("sphere", names=())
    with pytest.raises(ValueError, match="surface must be one of 'sphere', .*got str 'himmelblau'"):
        explorer_data("himmelblau")
    with pytest.raises(ValueError, match="surface must be one of"):
        trajectory_explorer("himmelblau")
    with pytest.raises(ValueError, match="names must be one of"):
        trajectory_explorer("sphere", names=("Lion",))


def test_widget_builds_and_controls_change_the_figure():
    w = trajectory_explorer("canyon", names=("SGD", "Momentum"))
    c = w.controls
    assert {
        "surface",
        "x0",
        "y0",
        "lr",
        "momentum",
        "beta1",
        "beta2",
        "steps",
        "names",
        "batch_size",
    } <= set(c)
    assert all(c[k].description for k in c)  # every control is labelled
    assert w.ax_contour.get_title() and w.ax_contour.get_xlabel() and w.ax_loss.get_ylabel()
    before = w.lines["SGD"].get_xydata().copy()
    c["lr"].value = 0.01
    after = w.lines["SGD"].get_xydata()
    assert before.shape == after.shape and not np.allclose(before, after)
    c["steps"].value = 40
    assert len(w.lines["SGD"].get_xdata()) == 41
    c["names"].value = ("Adam",)
    assert w.lines["Adam"].get_visible() and not w.lines["SGD"].get_visible()
    np.testing.assert_allclose(w.lines["Adam"].get_xydata(), w.trajectories.paths[0])


def test_widget_surface_change_click_and_divergence():
    w = trajectory_explorer("sphere", names=OPTIMIZERS)
    c = w.controls
    c["surface"].value = "rosenbrock"
    assert (c["x0"].min, c["x0"].max) == S.rosenbrock().extent[:2]
    assert "rosenbrock" in w.ax_contour.get_title()
    w.on_click(0.5, -0.5)
    assert (c["x0"].value, c["y0"].value) == (0.5, -0.5)
    np.testing.assert_allclose(w.trajectories.paths[:, 0], [[0.5, -0.5]] * 6)
    c["lr"].value = 0.05  # far too large for plain SGD on Rosenbrock
    traj = w.trajectories
    assert traj.diverged_at[0] >= 0
    labels = [t.get_text() for t in w.fig.legends[0].get_texts()]  # below the panels
    assert any("diverged at step" in text for text in labels)
    cross = w.ax_contour.lines[2 * OPTIMIZERS.index("SGD") + 1]  # the SGD cross marker
    x, y = cross.get_xydata()[0]
    xmin, xmax, ymin, ymax = S.rosenbrock().extent
    assert xmin <= x <= xmax and ymin <= y <= ymax  # marked inside the window
    c["surface"].value = "least squares"
    assert not c["batch_size"].disabled
    c["batch_size"].value = 4
    assert w.trajectories.paths.shape[1] == c["steps"].value + 1


@pytest.mark.parametrize(
    "control, value",
    [
        ("x0", -1.0),
        ("lr", 0.002),
        ("steps", 333),
        ("momentum", 0.5),
        ("names", ("SGD", "Adam")),
        ("surface", "rosenbrock"),
    ],
)
def test_every_control_redraws_exactly_what_a_full_render_shows(control, value, same_as_full_draw):
    # Controls redraw only the paths and curves (or the whole figure when limits, legend or
    # surface change); the picture must equal a full render either way.
    w = trajectory_explorer("canyon", names=("SGD", "Momentum", "Nesterov", "Adam"))
    assert same_as_full_draw(w.fig, lambda: setattr(w.controls[control], "value", value)) > 0


def test_loss_limits_move_in_coarse_steps_with_hysteresis():
    from cvcourse.optim.widgets import _loss_limits

    gaps = np.array([[3.0, 0.2, 4e-7], [2.0, 0.1, 0.05]])
    x, y = _loss_limits(gaps, 150)
    assert x == (0.0, 150.0) and y == (1e-7, 10.0)
    assert _loss_limits(gaps, 151)[0] == (0.0, 200.0) and _loss_limits(gaps, 7)[0] == (0.0, 8.0)
    # slightly different curves keep the current limits; far narrower ones shrink them
    assert _loss_limits(gaps * 1.5, 150, current=(x, y))[1] == y
    assert _loss_limits(gaps * 1e-5, 150, current=(x, y))[1] == (1e-12, 1e-4)
    wider = _loss_limits(gaps, 151, current=(x, y))[0]
    assert wider == (0.0, 200.0)  # more steps than the axis holds: widened
    assert _loss_limits(gaps, 150, current=(wider, y))[0] == wider  # back down by one: kept
    assert _loss_limits(gaps, 90, current=(wider, y))[0] == (0.0, 100.0)  # under half: narrowed
    # diverged (inf) losses are ignored; all-inf falls back to a sane range
    assert _loss_limits(np.array([[1.0, np.inf]]), 10)[1] == (1.0, 10.0)
    assert _loss_limits(np.array([[np.inf]]), 10)[1] == (1e-16, 1.0)


def test_a_new_surface_sends_the_figure_before_the_sliders_new_ranges(monkeypatch):
    import ipywidgets

    w = trajectory_explorer("canyon", names=("SGD", "Adam"))
    canvas = w.fig.canvas
    canvas._handle_message(canvas, {"type": "initialized"}, [])  # a browser view is ready
    sent = []
    real_send = ipywidgets.Widget._send

    def record(widget, msg, buffers=None):
        sent.append((widget, msg["method"]))
        return real_send(widget, msg, buffers)

    monkeypatch.setattr(ipywidgets.Widget, "_send", record)
    w.controls["surface"].value = "rosenbrock"
    frame = sent.index((canvas, "custom"))  # the PNG frame (ipympl's custom message)
    sliders = [
        i for i, (widget, method) in enumerate(sent) if widget is w.controls["x0"] and method == "update"
    ]
    assert sliders and frame < min(sliders)
    assert len(sliders) == 1  # one message for min, max and value
