"""upsampling.py against F.interpolate, F.max_pool2d / max_unpool2d, F.conv_transpose2d and
F.pixel_shuffle (float64), and the worked numbers of the notes and slides."""

import pytest
import torch
import torch.nn.functional as F

from cvcourse.segmentation.upsampling import (
    bed_of_nails,
    bilinear_kernel,
    bilinear_transposed_conv,
    bilinear_upsample,
    checkerboard,
    contributions_1d,
    conv_matrix,
    max_pool_with_indices,
    max_unpool,
    nearest_upsample,
    pixel_shuffle,
    resize_conv,
    transposed_conv_by_matrix,
    transposed_conv_output_size,
    transposed_conv_scatter,
)

D = torch.float64
SLIDE = torch.tensor([[10.0, 20.0], [30.0, 40.0]], dtype=D)[None, None]


def rand(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=D)


def test_slide_nearest_and_bed_of_nails():
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=D)[None, None]
    nn_expected = [[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]]
    assert nearest_upsample(x, 2)[0, 0].tolist() == nn_expected
    assert bed_of_nails(x, 2)[0, 0].tolist() == [[1, 0, 2, 0], [0, 0, 0, 0], [3, 0, 4, 0], [0, 0, 0, 0]]


def test_slide_bilinear_is_align_corners_false_truncated():
    slide = [[10, 12, 17, 20], [15, 17, 22, 25], [25, 27, 32, 35], [30, 32, 37, 40]]
    out = bilinear_upsample(SLIDE, 2)
    assert out.trunc()[0, 0].tolist() == slide
    assert out[0, 0, 0, 1] == 12.5 and out[0, 0, 0, 2] == 17.5  # truncated, not rounded:
    assert out.round()[0, 0].tolist() != slide  # round-half-even makes 17.5 -> 18
    corners = bilinear_upsample(SLIDE, 2, align_corners=True)[0, 0]
    torch.testing.assert_close(corners[0], torch.tensor([10, 40 / 3, 50 / 3, 20], dtype=D))
    assert corners.trunc().tolist() != slide


@pytest.mark.parametrize("scale", [1, 2, 3])
@pytest.mark.parametrize("align_corners", [False, True])
def test_interpolation_equals_torch(scale, align_corners):
    x = rand(2, 3, 5, 4)
    theirs = F.interpolate(x, scale_factor=scale, mode="bilinear", align_corners=align_corners)
    torch.testing.assert_close(bilinear_upsample(x, scale, align_corners), theirs)
    torch.testing.assert_close(
        nearest_upsample(x, scale), F.interpolate(x, scale_factor=scale, mode="nearest")
    )
    one = rand(1, 1, 1, 1)  # a single pixel
    torch.testing.assert_close(bilinear_upsample(one, scale, align_corners), one.expand(1, 1, scale, scale))


@pytest.mark.parametrize("k", [2, 3])
def test_max_unpooling_equals_torch_with_ties(k):
    x = rand(2, 3, 6, 7)
    x[0, 0, :3, :3] = 1.0  # a block of ties: the first maximum (row-major) wins, as in torch
    values, indices = max_pool_with_indices(x, k)
    tv, ti = F.max_pool2d(x, k, return_indices=True)
    assert torch.equal(values, tv) and torch.equal(indices, ti)
    out = max_unpool(values, indices, x.shape[-2:])
    torch.testing.assert_close(out, F.max_unpool2d(tv, ti, k, output_size=x.shape[-2:]))
    assert ((out == 0) | (out == x)).all()  # every value back at its place, zeros elsewhere


def test_transposed_conv_notes_example_and_output_size():
    # 3x3 input, 3x3 kernel, stride 2 (padding 1, as on the 002 slide) -> 5x5
    assert transposed_conv_output_size(3, 3, stride=2, padding=1) == 5
    y, k = rand(3, 3), rand(3, 3, seed=1)
    theirs = F.conv_transpose2d(y[None, None], k[None, None], stride=2, padding=1)[0, 0]
    assert theirs.shape == (5, 5)
    torch.testing.assert_close(transposed_conv_scatter(y[None, None], k[None, None], 2, 1)[0, 0], theirs)
    torch.testing.assert_close(transposed_conv_by_matrix(y, k, 5, stride=2, padding=1), theirs)
    # K maps 5x5 -> 3x3 as F.conv2d does; its transpose maps back
    x = rand(5, 5, seed=2)
    km = conv_matrix(k, 5, stride=2, padding=1)
    assert km.shape == (9, 25)
    torch.testing.assert_close(
        km @ x.flatten(), F.conv2d(x[None, None], k[None, None], stride=2, padding=1).flatten()
    )


@pytest.mark.parametrize("stride, padding, kernel", [(1, 0, 3), (2, 0, 3), (2, 1, 4), (3, 2, 5), (2, 1, 1)])
def test_scatter_equals_conv_transpose2d_multichannel(stride, padding, kernel):
    x, w = rand(2, 3, 4, 5), rand(3, 2, kernel, kernel, seed=3)
    if (4 - 1) * stride - 2 * padding + kernel < 1:
        pytest.skip("no output")
    theirs = F.conv_transpose2d(x, w, stride=stride, padding=padding)
    torch.testing.assert_close(transposed_conv_scatter(x, w, stride, padding), theirs)


def test_scatter_gradcheck_and_matrix_adjoint():
    x, w = rand(1, 2, 3, 3).requires_grad_(True), rand(2, 1, 3, 3, seed=4).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda a, b: transposed_conv_scatter(a, b, 2, 1), (x, w))
    # <K x, y> = <x, K^T y>: the transposed convolution is the adjoint (also the gradient) of conv2d
    k, big, small = rand(3, 3, seed=5), rand(7, 7, seed=6), rand(3, 3, seed=7)
    lhs = (F.conv2d(big[None, None], k[None, None], stride=2) * small).sum()
    rhs = (big * transposed_conv_by_matrix(small, k, 7, stride=2)).sum()
    torch.testing.assert_close(lhs, rhs)


def test_bilinear_kernel_is_the_notes_init_and_interpolates():
    q = torch.tensor([[0.25, 0.5, 0.25], [0.5, 1.0, 0.5], [0.25, 0.5, 0.25]], dtype=D)
    assert torch.equal(bilinear_kernel(3), q)
    assert torch.equal(bilinear_kernel(1), torch.ones(1, 1, dtype=D))
    x = rand(1, 1, 4, 5)
    # with stride 2 and padding 1 the 3x3 tent inserts the midpoints: align_corners=True bilinear
    midpoints = F.conv_transpose2d(x, q[None, None], stride=2, padding=1)
    torch.testing.assert_close(midpoints, F.interpolate(x, size=(7, 9), mode="bilinear", align_corners=True))
    # even kernels (2s) are align_corners=False bilinear away from the zero-padded border
    for s in (2, 4):
        ours = bilinear_transposed_conv(x, s)
        assert ours.shape[-2:] == (4 * s, 5 * s)
        theirs = F.interpolate(x, scale_factor=s, mode="bilinear", align_corners=False)
        torch.testing.assert_close(ours[..., s:-s, s:-s], theirs[..., s:-s, s:-s])


def test_checkerboard_on_a_constant_input():
    flat = torch.ones(1, 1, 8, 8, dtype=D)
    w = torch.rand(1, 1, 3, 3, generator=torch.Generator().manual_seed(0), dtype=D) + 0.1
    deconv = F.conv_transpose2d(flat, w, stride=2, padding=1, output_padding=1)
    # 1 or 2 kernel taps land on each output pixel along each axis: uneven sums
    assert checkerboard(deconv) > 0.05
    assert checkerboard(resize_conv(flat, w, 2, "nearest")) < 1e-12
    assert checkerboard(resize_conv(flat, w, 2, "bilinear")) < 1e-12
    assert checkerboard(bilinear_transposed_conv(flat, 2)) < 1e-12  # a kernel 2s wide, stride s: even
    with pytest.raises(ValueError, match="no pixel left"):
        checkerboard(flat[..., :2, :2])


def test_slide_contribution_matrices():
    # 003's slide: deconvolution [[a, c], [b]], NN-resize conv [[a+b, c], [a, b+c]], bilinear-resize
    # conv [[a + 1/2 b, 1/2 b + c], [1/2 a, 1/2 a + b + 1/2 c, 1/2 c]] (each row's entries as a set)
    def rows(method):
        return {frozenset(r) for r in contributions_1d(method)}

    assert rows("transposed") == {frozenset({"a", "c"}), frozenset({"b"})}
    assert rows("nearest") == {frozenset({"a + b", "c"}), frozenset({"a", "b + c"})}
    assert rows("bilinear") == {
        frozenset({"a + 1/2 b", "1/2 b + c"}),
        frozenset({"1/2 a", "1/2 a + b + 1/2 c", "1/2 c"}),
    }


@pytest.mark.parametrize("r", [1, 2, 3])
def test_pixel_shuffle_equals_torch(r):
    x = rand(2, 2 * r * r, 3, 4)
    assert torch.equal(pixel_shuffle(x, r), F.pixel_shuffle(x, r))
    with pytest.raises(ValueError, match="multiple of scale"):
        pixel_shuffle(rand(1, 5, 2, 2), 2)


def test_bad_input():
    with pytest.raises(ValueError, match="x must have 4 dimensions"):
        nearest_upsample(rand(3, 3), 2)
    with pytest.raises(TypeError, match="x must have a float dtype"):
        bilinear_upsample(torch.ones(1, 1, 2, 2, dtype=torch.long), 2)
    with pytest.raises(ValueError, match="scale must be an int >= 1"):
        bed_of_nails(rand(1, 1, 2, 2), 0)
    with pytest.raises(ValueError, match="indices must lie in"):
        max_unpool(rand(1, 1, 2, 2), torch.full((1, 1, 2, 2), 99), (4, 4))
    with pytest.raises(ValueError, match="weight must be \\[3, C_out"):
        transposed_conv_scatter(rand(1, 3, 2, 2), rand(2, 1, 3, 3))
    with pytest.raises(ValueError, match="does not fit"):
        conv_matrix(rand(5, 5), 3)
    with pytest.raises(ValueError, match="method must be one of"):
        contributions_1d("cubic")
