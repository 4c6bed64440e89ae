"""roi.py against torchvision.ops.roi_pool / roi_align: values and gradients, float64, degenerate RoIs."""

import pytest
import torch
import torchvision

from cvcourse.detection.roi import roi_align, roi_align_samples, roi_pool, roi_pool_bins

D = torch.float64


def make(seed=0, n=25, batch=2, channels=3, size=(12, 17), dtype=D, integer=False):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, channels, *size, generator=g, dtype=dtype)
    if integer:
        x = (x * 2).round()  # many tied values in a bin
    xy = torch.rand(n, 2, generator=g, dtype=dtype) * 80 - 10  # some RoIs hang over the border
    wh = torch.rand(n, 2, generator=g, dtype=dtype) * 50
    wh[:3] = 0  # zero-size RoIs
    index = torch.randint(0, batch, (n, 1), generator=g).to(dtype)
    rois = torch.cat([index, xy, xy + wh], 1)
    rois[3] = torch.tensor([0, 200, 200, 230, 240], dtype=dtype)  # entirely outside the map
    rois[4] = torch.tensor([1, 2.5, 3.5, 2.5, 9.5], dtype=dtype)  # halves: C's round vs banker's
    return x, rois


CASES = [
    dict(),
    dict(sampling_ratio=2),
    dict(sampling_ratio=1),
    dict(aligned=True),
    dict(aligned=True, sampling_ratio=3),
    dict(sampling_ratio=0),
]


@pytest.mark.parametrize("kwargs", CASES)
@pytest.mark.parametrize("scale, out", [(0.25, (7, 5)), (1.0, 3), (0.5, (2, 4))])
def test_roi_align_equals_torchvision(kwargs, scale, out):
    x, rois = make()
    torch.testing.assert_close(
        roi_align(x, rois, out, scale, **kwargs),
        torchvision.ops.roi_align(x, rois, out, scale, **kwargs),
        rtol=1e-12,
        atol=1e-12,
    )


@pytest.mark.parametrize("scale, out", [(0.25, (7, 5)), (1.0, 3), (0.5, (2, 4)), (0.125, 1)])
@pytest.mark.parametrize("integer", [False, True])
def test_roi_pool_equals_torchvision(scale, out, integer):
    x, rois = make(integer=integer)
    torch.testing.assert_close(
        roi_pool(x, rois, out, scale), torchvision.ops.roi_pool(x, rois, out, scale), rtol=0, atol=0
    )


def test_list_of_boxes_form_and_float32():
    x, rois = make(dtype=torch.float32)
    boxes = [rois[rois[:, 0] == b, 1:] for b in range(2)]
    torch.testing.assert_close(
        roi_align(x, boxes, 7, 0.25, 2), torchvision.ops.roi_align(x, boxes, 7, 0.25, 2)
    )
    torch.testing.assert_close(roi_pool(x, boxes, 7, 0.25), torchvision.ops.roi_pool(x, boxes, 7, 0.25))
    empty = torch.zeros(0, 5)
    assert roi_align(x, empty, 7).shape == torchvision.ops.roi_align(x, empty, 7).shape == (0, 3, 7, 7)
    assert roi_pool(x, empty, 2).shape == (0, 3, 2, 2)


def test_roi_align_gradcheck_and_gradient_equals_torchvision():
    x, rois = make(n=8, channels=2, size=(6, 7))
    x.requires_grad_(True)
    for kwargs in (dict(), dict(aligned=True, sampling_ratio=2)):
        assert torch.autograd.gradcheck(lambda t, kw=kwargs: roi_align(t, rois, (3, 2), 0.5, **kw), (x,))
    x, rois = make()
    weights = torch.randn(len(rois), 3, 7, 5, dtype=D, generator=torch.Generator().manual_seed(1))
    for kwargs in CASES:
        grads = []
        for fn in (roi_align, torchvision.ops.roi_align):
            x.grad = None
            xg = x.clone().requires_grad_(True)
            (fn(xg, rois, (7, 5), 0.25, **kwargs) * weights).sum().backward()
            grads.append(xg.grad)
        torch.testing.assert_close(grads[0], grads[1], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("integer", [False, True])
def test_roi_pool_gradient_equals_torchvision_ties_too(integer):
    x, rois = make(integer=integer)  # integer values: ties inside bins, the first maximum takes the gradient
    weights = torch.randn(len(rois), 3, 4, 3, dtype=D, generator=torch.Generator().manual_seed(2))
    grads = []
    for fn in (roi_pool, torchvision.ops.roi_pool):
        xg = x.clone().requires_grad_(True)
        (fn(xg, rois, (4, 3), 0.5) * weights).sum().backward()
        grads.append(xg.grad)
    torch.testing.assert_close(grads[0], grads[1], rtol=0, atol=0)
    assert grads[0].abs().sum() > 0


def test_roi_pool_bins_are_the_notes_project_snap_pool():
    # a 9 x 6 region (after projection and snapping) pooled to 2 x 2: bins of ceil/floor sizes
    rois = torch.tensor([[0, 8.0, 4.0, 28.0, 36.0]])  # x1 = 8 / 4 = 2, x2 = 7; y1 = 1, y2 = 9
    hstart, hend, wstart, wend = roi_pool_bins(rois, 2, 0.25, 100, 100)
    assert (hstart.tolist(), hend.tolist()) == ([[1, 5]], [[6, 10]])  # 9 rows: bins of 5 and 5 (overlap)
    assert (wstart.tolist(), wend.tolist()) == ([[2, 5]], [[5, 8]])  # 6 columns: 3 + 3
    y, x, gh, gw = roi_align_samples(rois, 2, 0.25, sampling_ratio=2)
    # no snapping: y runs from 1 to 9, two bins of 4, samples 1/4 and 3/4 into each bin
    assert torch.allclose(y[0], torch.tensor([[1 + 1.0, 1 + 3.0], [5 + 1.0, 5 + 3.0]]))
    assert (gh.item(), gw.item()) == (2, 2)


@pytest.mark.parametrize(
    "call, arg, error",
    [
        (lambda: roi_align(torch.zeros(1, 2, 4, 4), torch.zeros(3, 4), 2), "boxes", ValueError),
        (lambda: roi_align(torch.zeros(2, 4, 4), torch.zeros(3, 5), 2), "input", ValueError),
        (lambda: roi_align(torch.zeros(1, 2, 4, 4), torch.zeros(3, 5), 0), "output_size", ValueError),
        (lambda: roi_align(torch.zeros(1, 2, 4, 4), torch.zeros(3, 5), 2, -1.0), "spatial_scale", ValueError),
        (
            lambda: roi_align(torch.zeros(1, 2, 4, 4), torch.zeros(3, 5), 2, sampling_ratio=1.5),
            "sampling_ratio",
            TypeError,
        ),
        (lambda: roi_align(torch.zeros(1, 2, 4, 4), torch.ones(3, 5), 2), r"boxes\[:, 0\]", ValueError),
        (lambda: roi_pool(torch.zeros(1, 2, 4, 4), [torch.zeros(1, 4)] * 2, 2), "boxes", ValueError),
        (lambda: roi_pool(torch.zeros(1, 2, 4, 4), "boxes", 2), "boxes", TypeError),
    ],
)
def test_bad_input_names_the_argument(call, arg, error):
    with pytest.raises(error, match=arg):
        call()
