"""trajectories (vectorised) against trajectories_loop with our and torch.optim's classes."""

import numpy as np
import pytest
import torch

import cvcourse.optim as ours
from cvcourse.optim import surfaces as S
from cvcourse.optim.trajectories import trajectories, trajectories_loop

SPECS = {
    "SGD": (ours.SGD, dict(lr=0.05)),
    "momentum": (ours.SGD, dict(lr=0.05, momentum=0.9)),
    "nesterov": (ours.SGD, dict(lr=0.05, momentum=0.9, nesterov=True)),
    "damped": (ours.SGD, dict(lr=0.03, momentum=0.5, dampening=0.3, weight_decay=0.1)),
    "adagrad": (ours.Adagrad, dict(lr=0.3)),
    "adagrad+": (
        ours.Adagrad,
        dict(lr=0.3, lr_decay=0.05, initial_accumulator_value=0.2, weight_decay=0.1),
    ),
    "rmsprop": (ours.RMSprop, dict(lr=0.02, alpha=0.9)),
    "rmsprop+": (ours.RMSprop, dict(lr=0.01, momentum=0.5, centered=True, weight_decay=0.05)),
    "adam": (ours.Adam, dict(lr=0.05)),
    "adam l2 amsgrad": (ours.Adam, dict(lr=0.05, weight_decay=0.1, amsgrad=True)),
    "adamw": (ours.AdamW, dict(lr=0.05, weight_decay=0.2)),
    "maximize": (ours.SGD, dict(lr=0.01, maximize=True)),
}
TORCH_SPECS = {k: (getattr(torch.optim, cls.__name__), kw) for k, (cls, kw) in SPECS.items()}
SURFACES = [
    S.sphere(),
    S.canyon(),
    S.canyon(20, 30),
    S.local_minima(),
    S.rosenbrock(),
    S.least_squares(),
]


@pytest.mark.parametrize("surface", SURFACES, ids=lambda s: s.name)
def test_vectorised_equals_the_loop_over_real_optimizers(surface):
    kw = dict(steps=150, batch_size=8 if isinstance(surface, S.LeastSquares) else None)
    fast = trajectories(surface, SPECS, **kw)
    loop = trajectories_loop(surface, SPECS, **kw)
    ref = trajectories_loop(surface, TORCH_SPECS, **kw)  # the authority
    np.testing.assert_array_equal(fast.diverged_at, ref.diverged_at)
    for other in (loop, fast):
        ok = np.isfinite(ref.paths)
        np.testing.assert_array_equal(np.isfinite(other.paths), ok)
        scale = np.maximum(1.0, np.abs(ref.paths[ok]))
        # The loop is torch's arithmetic exactly; the vectorised form may differ in the last bit,
        # which RMSProp's 1 / sqrt(s) can amplify near a vanishing gradient: allow 1e-7 relative.
        assert np.all(np.abs(other.paths[ok] - ref.paths[ok]) <= 1e-7 * scale)
    np.testing.assert_array_equal(loop.paths, ref.paths)  # our classes: bit for bit
    assert fast.paths.shape == (len(SPECS), 151, 2) and fast.labels == list(SPECS)
    np.testing.assert_allclose(fast.paths[:, 0], np.tile(surface.start, (len(SPECS), 1)))


def test_divergence_is_cut_and_marked():
    traj = trajectories(
        S.canyon(), {"ok": (ours.SGD, dict(lr=0.01)), "boom": (ours.SGD, dict(lr=0.2))}, steps=300
    )
    assert traj.diverged_at[0] == -1 and traj.diverged_at[1] > 0
    k = traj.diverged_at[1]
    assert np.isfinite(traj.paths[1, :k]).all() and np.isnan(traj.paths[1, k:]).all()
    assert np.isnan(traj.losses[1, k:]).all() and np.isfinite(traj.losses[0]).all()


def test_no_warning_when_diverging():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        trajectories(
            S.rosenbrock(),
            {"boom": (ours.Adam, dict(lr=10.0)), "b": (ours.SGD, dict(lr=1.0))},
            steps=400,
        )


def test_gradient_descent_on_the_sphere_is_geometric():
    lr = 0.1
    traj = trajectories(S.sphere(), {"SGD": (ours.SGD, dict(lr=lr))}, start=(1.0, -2.0), steps=20)
    expected = np.array([1.0, -2.0]) * (1 - lr) ** np.arange(21)[:, None]  # grad = theta
    np.testing.assert_allclose(traj.paths[0], expected, rtol=1e-12)


def test_same_minibatches_for_every_optimizer_and_seeded():
    s = S.least_squares()
    spec = {"a": (ours.SGD, dict(lr=0.05)), "b": (ours.SGD, dict(lr=0.05))}
    t1 = trajectories(s, spec, steps=50, batch_size=4, seed=1)
    np.testing.assert_array_equal(t1.paths[0], t1.paths[1])
    t2 = trajectories(s, spec, steps=50, batch_size=4, seed=2)
    assert not np.allclose(t1.paths, t2.paths)
    full = trajectories(s, spec, steps=50)
    assert not np.allclose(t1.paths, full.paths)


def test_steps_zero_and_single_optimizer():
    traj = trajectories(S.sphere(), {"SGD": (ours.SGD, dict(lr=0.1))}, steps=0)
    assert traj.paths.shape == (1, 1, 2) and traj.losses.shape == (1, 1)


def test_bad_input():
    s = S.sphere()
    with pytest.raises(ValueError, match="optimizers must hold at least one"):
        trajectories(s, {})  # the right type, an empty value
    with pytest.raises(TypeError, match="optimizers must be a dict"):
        trajectories(s, [(ours.SGD, {})])
    with pytest.raises(TypeError, match=r"optimizers\['x'\] must be a pair \(class, kwargs\)"):
        trajectories(s, {"x": ours.SGD})
    with pytest.raises(TypeError, match="surface must be a Surface"):
        trajectories("sphere", {"x": (ours.SGD, {})})
    with pytest.raises(TypeError, match="start must be a point"):
        trajectories(s, {"x": (ours.SGD, {})}, start=("a", "b"))
    with pytest.raises(TypeError, match="steps must be an int, got float"):
        trajectories_loop(s, {"x": (ours.SGD, {})}, steps=10.0)
    with pytest.raises(ValueError, match="optimizers"):
        trajectories(s, {"x": (torch.optim.LBFGS, {})})
    with pytest.raises(ValueError, match="lr"):
        trajectories(s, {"x": (ours.SGD, dict(lr=-1))})
    with pytest.raises(ValueError, match="start"):
        trajectories(s, {"x": (ours.SGD, {})}, start=(1.0, np.nan))
    with pytest.raises(ValueError, match="steps must be an int >= 0, got -1"):
        trajectories(s, {"x": (ours.SGD, {})}, steps=-1)
    with pytest.raises(ValueError, match="batch_size"):
        trajectories(s, {"x": (ours.SGD, {})}, batch_size=4)
