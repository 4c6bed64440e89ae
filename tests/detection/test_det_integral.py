"""Integral image and four-lookup rectangle sums against scikit-image, random and degenerate inputs."""

import numpy as np
import pytest
import torch
from skimage.transform import integral_image as sk_integral_image
from skimage.transform import integrate as sk_integrate

from cvcourse.detection.integral import integral_image, integral_image_loop, rectangle_sum


@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (6, 1), (13, 17)])
def test_integral_image_equals_skimage(shape):
    image = torch.rand(*shape, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    ours = integral_image(image)
    assert torch.allclose(ours, torch.from_numpy(sk_integral_image(image.numpy())))
    assert torch.allclose(ours, integral_image_loop(image))  # the notes' recurrence


def test_integral_image_of_uint8_does_not_overflow():
    image = torch.full((40, 40), 255, dtype=torch.uint8)
    ii = integral_image(image)
    assert ii.dtype == torch.int64 and int(ii[-1, -1]) == 255 * 1600


def test_batch_dims_are_kept():
    images = torch.rand(3, 5, 6, dtype=torch.float64)
    ii = integral_image(images)
    for k in range(3):
        assert torch.allclose(ii[k], integral_image(images[k]))


def test_rectangle_sum_equals_skimage_integrate_and_the_pixels():
    rng = np.random.default_rng(1)
    image = rng.random((11, 9))
    ii_np = sk_integral_image(image)
    ii = torch.from_numpy(ii_np)
    r = np.sort(rng.integers(0, 11, size=(50, 2)), axis=1)
    c = np.sort(rng.integers(0, 9, size=(50, 2)), axis=1)
    r[:5, 1] = r[:5, 0]  # single rows, single columns, single pixels
    c[:5, 1] = c[:5, 0]
    r[5], c[5] = (0, 10), (0, 8)  # the whole image
    ours = rectangle_sum(
        ii,
        torch.from_numpy(r[:, 0]),
        torch.from_numpy(c[:, 0]),
        torch.from_numpy(r[:, 1]),
        torch.from_numpy(c[:, 1]),
    )
    starts, ends = list(zip(r[:, 0], c[:, 0], strict=True)), list(zip(r[:, 1], c[:, 1], strict=True))
    theirs = sk_integrate(ii_np, starts, ends)
    assert torch.allclose(ours, torch.from_numpy(theirs))
    direct = [image[a : b + 1, p : q + 1].sum() for (a, b), (p, q) in zip(r, c, strict=True)]
    assert torch.allclose(ours, torch.tensor(direct, dtype=torch.float64))


def test_rectangle_sum_broadcasts_and_handles_empty():
    ii = integral_image(torch.ones(4, 4, dtype=torch.float64))
    top = torch.zeros(2, 1, dtype=torch.int64)
    out = rectangle_sum(ii, top, torch.tensor([0, 1, 2]), top + 1, torch.tensor([3, 3, 3]))
    assert out.shape == (2, 3) and torch.equal(out[0], torch.tensor([8.0, 6.0, 4.0], dtype=torch.float64))
    empty = torch.zeros(0, dtype=torch.int64)
    assert rectangle_sum(ii, empty, empty, empty, empty).shape == (0,)


def test_errors_name_the_argument():
    ii = integral_image(torch.ones(4, 4))
    one = torch.tensor([0])
    with pytest.raises(ValueError, match="rows"):
        rectangle_sum(ii, one, one, torch.tensor([4]), one)
    with pytest.raises(ValueError, match="columns"):
        rectangle_sum(ii, one, torch.tensor([2]), one, torch.tensor([1]))
    with pytest.raises(TypeError, match="top"):
        rectangle_sum(ii, torch.tensor([0.0]), one, one, one)
    with pytest.raises(TypeError, match="image"):
        integral_image(np.ones((3, 3)))
    with pytest.raises(ValueError, match="image"):
        integral_image(torch.ones(3))
