r"""Two-parameter loss surfaces with exact gradients, for the notes' optimizer figures (1.1-1.4).

- ``sphere()``: the isotropic paraboloid of the "spheres" remark, f = (x^2 + y^2) / 2.
- ``canyon(condition, angle)``: an ill-conditioned paraboloid (a canyon), optionally rotated so that
  its axes are not the parameter axes (the notes' remark that Adam assumes axis-aligned curvature).
- ``local_minima()``: a tilted double well with a local minimum, a global minimum and a saddle.
- ``rosenbrock()``: Rosenbrock's banana valley, f = (a - x)^2 + b (y - x^2)^2 (Rosenbrock, 1960).
- ``least_squares(n, seed)``: linear regression on synthetic data, whose mini-batch gradients are
  the noisy gradients of SGD (notes' Fig. 1.8).

Every surface evaluates ``value``, ``grad`` and ``hessian`` on arrays of points ``xy[..., 2]``;
``value`` uses only arithmetic (and ``exp``-free polynomials), so it also runs on torch tensors and
the tests compare the hand-written gradients with autograd and with finite differences.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from cvcourse._checks import check_choice, check_float, check_int, check_type

__all__ = [
    "Surface",
    "Quadratic",
    "sphere",
    "canyon",
    "local_minima",
    "rosenbrock",
    "least_squares",
    "SURFACES",
    "get_surface",
]


@dataclass
class Surface:
    """A loss f(x, y) of two parameters, with its gradient and Hessian.

    Attributes:
        name: shown in the widget and in figure titles.
        extent: (xmin, xmax, ymin, ymax), the window the figures show.
        start: a default starting point (x0, y0) that makes the surface's point.
        minimum: the global minimiser (x*, y*).
    """

    name: str
    extent: tuple[float, float, float, float]
    start: tuple[float, float]
    minimum: tuple[float, float] = field(default=(0.0, 0.0))

    def value(self, xy):
        """f at points ``xy[..., 2]`` (NumPy array or torch tensor); returns ``[...]``."""
        raise NotImplementedError

    def grad(self, xy: np.ndarray) -> np.ndarray:
        """Exact gradient at points ``xy[..., 2]``; returns ``[..., 2]``."""
        raise NotImplementedError

    def hessian(self, xy: np.ndarray) -> np.ndarray:
        """Exact Hessian at points ``xy[..., 2]``; returns ``[..., 2, 2]``."""
        raise NotImplementedError

    def grid(self, n: int = 120) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(X, Y, Z), each [n, n], over ``extent`` for a contour plot."""
        xmin, xmax, ymin, ymax = self.extent
        X, Y = np.meshgrid(np.linspace(xmin, xmax, n), np.linspace(ymin, ymax, n))
        return X, Y, self.value(np.stack([X, Y], axis=-1))


@dataclass
class Quadratic(Surface):
    r"""f(theta) = 1/2 (theta - theta*)^T A (theta - theta*) + f*, A symmetric positive definite.

    The gradient is A (theta - theta*) and the Hessian is A everywhere, so Newton's method reaches
    theta* in one step. The condition number lambda_max / lambda_min of A: how steep the canyon is.
    """

    A: np.ndarray = field(default_factory=lambda: np.eye(2))  # [2, 2]
    offset: float = 0.0  # f* = f(theta*)

    def __post_init__(self) -> None:
        self.A = np.asarray(self.A, dtype=np.float64)
        if self.A.shape != (2, 2) or not np.allclose(self.A, self.A.T):
            raise ValueError(f"A must be a symmetric [2, 2] matrix, got {self.A!r}")

    def value(self, xy):
        dx, dy = xy[..., 0] - self.minimum[0], xy[..., 1] - self.minimum[1]
        (a, b), (_, c) = self.A
        return 0.5 * (a * dx * dx + 2 * b * dx * dy + c * dy * dy) + self.offset

    def grad(self, xy: np.ndarray) -> np.ndarray:
        return (np.asarray(xy) - np.asarray(self.minimum)) @ self.A  # A symmetric: [..., 2]

    def hessian(self, xy: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.A, np.shape(xy)[:-1] + (2, 2)).copy()

    @property
    def condition_number(self) -> float:
        eigenvalues = np.linalg.eigvalsh(self.A)
        return float(eigenvalues[-1] / eigenvalues[0])


def sphere() -> Quadratic:
    """The isotropic paraboloid f = (x^2 + y^2) / 2: no preferred direction (notes' spheres)."""
    return Quadratic("sphere", extent=(-2.0, 2.0, -2.0, 2.0), start=(-1.6, 1.2), A=np.eye(2))


def canyon(condition: float = 25.0, angle: float = 0.0) -> Quadratic:
    """A canyon: f = (u^2 + condition * v^2) / 2 in axes (u, v) rotated by ``angle`` degrees.

    Args:
        condition: ratio of the steepest to the flattest curvature, >= 1.
        angle: rotation of the canyon's axes against the parameter axes, in degrees.
    """
    condition = check_float("condition", condition, low=1.0)
    t = math.radians(check_float("angle", angle))
    R = np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
    A = R @ np.diag([1.0, float(condition)]) @ R.T
    name = "canyon" if angle == 0 else f"canyon rotated {angle:g} deg"
    return Quadratic(name, extent=(-2.0, 2.0, -1.2, 1.2), start=(-1.8, 0.8), A=(A + A.T) / 2)


@dataclass
class LocalMinima(Surface):
    r"""Tilted double well f = x^4/4 - x^2/2 + tilt x + y^2/2.

    f_x = x^3 - x + tilt vanishes at three x (``critical_x``): the outer two are minima (the one on
    the side opposite to the tilt is only local) and the middle one, where f_xx = 3x^2 - 1 < 0 while
    f_yy = 1 > 0, is a saddle point. Gradient descent stops at whichever critical point it reaches.
    """

    tilt: float = 0.2

    def value(self, xy):
        x, y = xy[..., 0], xy[..., 1]
        return x**4 / 4 - x**2 / 2 + self.tilt * x + y**2 / 2

    def grad(self, xy: np.ndarray) -> np.ndarray:
        x, y = xy[..., 0], xy[..., 1]
        return np.stack([x**3 - x + self.tilt, y], axis=-1)

    def hessian(self, xy: np.ndarray) -> np.ndarray:
        x = np.asarray(xy)[..., 0]
        H = np.zeros(x.shape + (2, 2))
        H[..., 0, 0], H[..., 1, 1] = 3 * x**2 - 1, 1.0
        return H

    @property
    def critical_x(self) -> np.ndarray:
        """The real roots of x^3 - x + tilt, sorted: global min, saddle, local min (tilt > 0)."""
        return np.sort(np.roots([1.0, 0.0, -1.0, self.tilt]).real)


def local_minima(tilt: float = 0.2) -> LocalMinima:
    """The double well with a local minimum and a saddle (needs 0 < tilt < 0.3849)."""
    # x^3 - x + tilt has three real roots for 0 < tilt < 2 / (3 sqrt 3) = 0.3849
    tilt = check_float(
        "tilt", tilt, low=0.0, high=2 / (3 * math.sqrt(3)), low_inclusive=False, high_inclusive=False
    )
    surface = LocalMinima("local minima", extent=(-2.0, 2.0, -1.5, 1.5), start=(1.8, 1.2), tilt=tilt)
    surface.minimum = (float(surface.critical_x[0]), 0.0)
    return surface


@dataclass
class Rosenbrock(Surface):
    """f = (a - x)^2 + b (y - x^2)^2, minimum f = 0 at (a, a^2) at the end of a curved valley."""

    a: float = 1.0
    b: float = 100.0

    def value(self, xy):
        x, y = xy[..., 0], xy[..., 1]
        return (self.a - x) ** 2 + self.b * (y - x**2) ** 2

    def grad(self, xy: np.ndarray) -> np.ndarray:
        x, y = xy[..., 0], xy[..., 1]
        return np.stack([-2 * (self.a - x) - 4 * self.b * x * (y - x**2), 2 * self.b * (y - x**2)], -1)

    def hessian(self, xy: np.ndarray) -> np.ndarray:
        x, y = np.asarray(xy)[..., 0], np.asarray(xy)[..., 1]
        H = np.empty(x.shape + (2, 2))
        H[..., 0, 0] = 2 - 4 * self.b * (y - x**2) + 8 * self.b * x**2
        H[..., 0, 1] = H[..., 1, 0] = -4 * self.b * x
        H[..., 1, 1] = 2 * self.b
        return H


def rosenbrock(a: float = 1.0, b: float = 100.0) -> Rosenbrock:
    """Rosenbrock's function with its minimum at (a, a^2)."""
    a, b = check_float("a", a), check_float("b", b, low=0.0, low_inclusive=False)
    return Rosenbrock(
        "rosenbrock", extent=(-2.0, 2.0, -1.0, 3.0), start=(-1.5, 2.5), minimum=(a, a * a), a=a, b=b
    )


@dataclass
class LeastSquares(Quadratic):
    r"""Linear regression y ~ X w with the mean squared loss L(w) = 1/(2N) ||X w - y||^2.

    L is a quadratic with A = X^T X / N and minimiser w* = (X^T X)^{-1} X^T y. A mini-batch of B
    samples gives the noisy gradient X_B^T (X_B w - y_B) / B, an unbiased estimate of A (w - w*)
    whose noise grows as B shrinks.
    """

    X: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))  # [N, 2]
    y: np.ndarray = field(default_factory=lambda: np.zeros(0))  # [N]

    def batch_grad(self, xy: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """Gradient of the loss on samples ``idx`` at points ``xy[..., 2]``; returns [..., 2]."""
        Xb, yb = self.X[idx], self.y[idx]  # [B, 2], [B]
        residual = np.asarray(xy) @ Xb.T - yb  # [..., B]
        return residual @ Xb / len(idx)  # [..., 2]


def least_squares(n: int = 256, noise: float = 0.5, seed: int = 0) -> LeastSquares:
    """Synthetic regression with two correlated, differently scaled features (a tilted canyon).

    Args:
        n: number of samples N.
        noise: standard deviation of the label noise.
        seed: NumPy seed, so the data set is the same on every run.
    """
    check_int("n", n, low=2)
    noise = check_float("noise", noise, low=0.0)
    rng = np.random.default_rng(check_int("seed", seed, low=0))
    z = rng.standard_normal((n, 2))
    X = np.stack([z[:, 0], 0.4 * z[:, 0] + 0.3 * z[:, 1]], axis=1)  # correlated, unequal scales
    w_true = np.array([1.0, -1.0])
    y = X @ w_true + noise * rng.standard_normal(n)
    A = X.T @ X / n
    w_star = np.linalg.solve(A, X.T @ y / n)
    f_star = float(np.mean((X @ w_star - y) ** 2) / 2)
    cx, cy = w_star
    return LeastSquares(
        "least squares",
        extent=(cx - 3, cx + 3, cy - 3, cy + 3),
        start=(cx - 2.5, cy + 2.5),
        minimum=(float(cx), float(cy)),
        A=A,
        offset=f_star,
        X=X,
        y=y,
    )


SURFACES = {
    "sphere": sphere,
    "canyon": canyon,
    "local minima": local_minima,
    "rosenbrock": rosenbrock,
    "least squares": least_squares,
}


def get_surface(name: str) -> Surface:
    """The surface called ``name`` (one of ``SURFACES``), built with its default arguments."""
    check_type("name", name, str, "a surface name (str)")
    return SURFACES[check_choice("name", name, SURFACES)]()
