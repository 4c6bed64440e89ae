"""Surfaces: hand-written gradients and Hessians against autograd and finite differences."""

import numpy as np
import pytest
import torch

from cvcourse.optim import surfaces as S

ALL = [
    S.sphere(),
    S.canyon(),
    S.canyon(50, 30),
    S.local_minima(),
    S.rosenbrock(),
    S.least_squares(64),
]


def random_points(surface, n=50, seed=0):
    xmin, xmax, ymin, ymax = surface.extent
    rng = np.random.default_rng(seed)
    return np.stack([rng.uniform(xmin, xmax, n), rng.uniform(ymin, ymax, n)], -1)


@pytest.mark.parametrize("surface", ALL, ids=lambda s: s.name)
def test_gradient_and_hessian_match_autograd(surface):
    pts = random_points(surface)
    for p in pts:
        x = torch.tensor(p, requires_grad=True)
        (g,) = torch.autograd.grad(surface.value(x), x)
        H = torch.autograd.functional.hessian(surface.value, torch.tensor(p))
        np.testing.assert_allclose(surface.grad(p), g.numpy(), rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(surface.hessian(p), H.numpy(), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("surface", ALL, ids=lambda s: s.name)
def test_gradient_matches_central_differences(surface):
    pts, h = random_points(surface, seed=1), 1e-6
    for i in range(2):
        e = np.zeros(2)
        e[i] = h
        fd = (surface.value(pts + e) - surface.value(pts - e)) / (2 * h)
        np.testing.assert_allclose(surface.grad(pts)[:, i], fd, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("surface", ALL, ids=lambda s: s.name)
def test_minimum_is_a_critical_point_and_the_lowest_on_the_grid(surface):
    np.testing.assert_allclose(surface.grad(np.array(surface.minimum)), 0, atol=1e-10)
    X, Y, Z = surface.grid(200)
    assert Z.min() >= surface.value(np.array(surface.minimum)) - 1e-12
    assert Z.shape == X.shape == Y.shape == (200, 200)


def test_local_minima_surface_has_a_local_minimum_and_a_saddle():
    s = S.local_minima()
    lo, saddle, local = s.critical_x
    for x in (lo, saddle, local):
        np.testing.assert_allclose(s.grad(np.array([x, 0.0])), 0, atol=1e-12)
    eig = [np.linalg.eigvalsh(s.hessian(np.array([x, 0.0]))) for x in (lo, saddle, local)]
    assert (eig[0] > 0).all() and (eig[2] > 0).all()  # two minima
    assert eig[1][0] < 0 < eig[1][1]  # saddle: one negative and one positive curvature
    assert s.value(np.array([local, 0.0])) > s.value(np.array([lo, 0.0]))  # the local one is higher
    with pytest.raises(ValueError, match="tilt must be a number > 0.0 and < 0.3849"):
        S.local_minima(tilt=0.5)
    with pytest.raises(ValueError, match="tilt must be a number > 0.0"):
        S.local_minima(tilt=0.0)  # no tilt: two minima of the same height, no local one
    with pytest.raises(TypeError, match="tilt must be a real number, got str"):
        S.local_minima(tilt="0.2")


def test_canyon_condition_number_and_rotation():
    assert S.canyon(25).condition_number == pytest.approx(25)
    c = S.canyon(10, angle=45)
    assert c.condition_number == pytest.approx(10)
    assert abs(c.A[0, 1]) > 1  # rotated: the axes are coupled
    with pytest.raises(ValueError, match="condition must be a number >= 1.0, got 0.5"):
        S.canyon(0.5)
    with pytest.raises(ValueError, match="condition must be a finite number, got nan"):
        S.canyon(float("nan"))
    with pytest.raises(TypeError, match="condition must be a real number, got str"):
        S.canyon("25")
    with pytest.raises(ValueError, match="symmetric"):
        S.Quadratic("bad", (-1, 1, -1, 1), (0, 0), A=np.array([[1.0, 2.0], [0.0, 1.0]]))


def test_least_squares_is_the_mean_squared_error_and_batches_average_to_it():
    s = S.least_squares(40, seed=3)
    w = np.array([0.3, -0.7])
    np.testing.assert_allclose(s.value(w), np.mean((s.X @ w - s.y) ** 2) / 2, rtol=1e-12)
    np.testing.assert_allclose(s.batch_grad(w, np.arange(40)), s.grad(w), rtol=1e-10, atol=1e-12)
    halves = (s.batch_grad(w, np.arange(20)) + s.batch_grad(w, np.arange(20, 40))) / 2
    np.testing.assert_allclose(halves, s.grad(w), rtol=1e-10, atol=1e-12)
    w_star = np.linalg.lstsq(s.X, s.y, rcond=None)[0]
    np.testing.assert_allclose(s.minimum, w_star, rtol=1e-10)
    with pytest.raises(ValueError, match="n must be an int >= 2, got 1"):
        S.least_squares(1)
    with pytest.raises(TypeError, match="n must be an int, got float"):
        S.least_squares(40.0)
    with pytest.raises(ValueError, match="noise must be a number >= 0.0"):
        S.least_squares(40, noise=-1.0)


def test_get_surface():
    assert S.get_surface("rosenbrock").minimum == (1.0, 1.0)
    with pytest.raises(ValueError, match="name must be one of 'sphere', .*got str 'himmelblau'"):
        S.get_surface("himmelblau")
    with pytest.raises(TypeError, match="name must be a surface name"):
        S.get_surface(3)
