"""boxes.py against torchvision.ops and torchvision's BoxCoder (float64, random and degenerate boxes)."""

import math

import pytest
import torch
import torchvision
from hypothesis import given, settings
from hypothesis import strategies as st
from torchvision.models.detection._utils import BoxCoder

from cvcourse.detection.boxes import (
    BBOX_XFORM_CLIP,
    box_area,
    box_convert,
    box_iou,
    decode_boxes,
    encode_boxes,
    generalized_box_iou,
)

D = torch.float64
EXACT = {"rtol": 0, "atol": 0, "equal_nan": True}  # bit for bit, NaN where torchvision has NaN


def random_boxes(n, seed=0, dtype=D, scale=100.0, zero_area=0):
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g, dtype=dtype) * scale
    wh = torch.rand(n, 2, generator=g, dtype=dtype) * scale / 2
    wh[:zero_area, 0] = 0  # some degenerate boxes: zero width
    return torch.cat([xy, xy + wh], dim=1)


def degenerate_boxes():
    return torch.tensor(
        [
            [0, 0, 10, 10],
            [0, 0, 10, 10],
            [5, 5, 5, 15],
            [3, 3, 3, 3],
            [10, 0, 20, 10],
            [20, 20, 30, 30],
            [0, 0, 0, 0],
        ],
        dtype=D,
    )


def test_box_area():
    for boxes in (
        random_boxes(50, zero_area=5),
        degenerate_boxes(),
        torch.zeros(0, 4, dtype=D),
        torch.tensor([[0, 0, 3, 4]], dtype=torch.int16),
    ):
        ours, theirs = box_area(boxes), torchvision.ops.box_area(boxes)
        assert ours.dtype == theirs.dtype
        torch.testing.assert_close(ours, theirs, **EXACT)


@pytest.mark.parametrize("pair", [(50, 40), (7, 7), (0, 5), (5, 0), (0, 0)])
def test_box_iou_and_giou(pair):
    n, m = pair
    b1 = torch.cat([random_boxes(n, seed=1, zero_area=2), degenerate_boxes()])[:n]
    b2 = torch.cat([random_boxes(m, seed=2, zero_area=1), degenerate_boxes()])[:m]
    torch.testing.assert_close(box_iou(b1, b2), torchvision.ops.box_iou(b1, b2), **EXACT)
    torch.testing.assert_close(
        generalized_box_iou(b1, b2), torchvision.ops.generalized_box_iou(b1, b2), **EXACT
    )


def test_degenerate_iou_like_torchvision_including_nan():
    b = degenerate_boxes()  # identical, touching, zero-width, single point boxes
    torch.testing.assert_close(box_iou(b, b), torchvision.ops.box_iou(b, b), equal_nan=True)
    torch.testing.assert_close(
        generalized_box_iou(b, b), torchvision.ops.generalized_box_iou(b, b), equal_nan=True
    )
    iou = box_iou(b, b)
    assert iou[0, 1] == 1 and iou[0, 4] == 0 and torch.isnan(iou[3, 3])  # touching boxes: 0


def test_iou_is_intersection_over_union_not_the_notes_typo():
    a = torch.tensor([[0.0, 0, 4, 4]], dtype=D)
    b = torch.tensor([[2.0, 0, 6, 4]], dtype=D)
    area_a, area_b = box_area(a), box_area(b)
    inter = torch.tensor(2.0 * 4, dtype=D)  # the overlap [2, 4] x [0, 4]
    union = area_a + area_b - inter
    assert box_iou(a, b)[0, 0] == inter / union
    typo = area_a + area_b - union  # the notes' denominator |A| + |B| - |A u B| is |A n B| again
    assert typo == inter and box_iou(a, b)[0, 0] != inter / typo


def test_float32_and_int_boxes_like_torchvision():
    b1, b2 = random_boxes(30, dtype=torch.float32), random_boxes(20, seed=3, dtype=torch.float32)
    torch.testing.assert_close(box_iou(b1, b2), torchvision.ops.box_iou(b1, b2), **EXACT)
    i1, i2 = b1.round().int(), b2.round().int()
    torch.testing.assert_close(box_iou(i1, i2), torchvision.ops.box_iou(i1, i2), **EXACT)


@pytest.mark.parametrize(
    "fmts",
    [
        ("xyxy", "xywh"),
        ("xyxy", "cxcywh"),
        ("xywh", "xyxy"),
        ("xywh", "cxcywh"),
        ("cxcywh", "xyxy"),
        ("cxcywh", "xywh"),
        ("xyxy", "xyxy"),
    ],
)
def test_box_convert(fmts):
    boxes = torch.cat([random_boxes(40, zero_area=3), degenerate_boxes()])
    if fmts[0] != "xyxy":
        boxes = torchvision.ops.box_convert(boxes, "xyxy", fmts[0])
    torch.testing.assert_close(box_convert(boxes, *fmts), torchvision.ops.box_convert(boxes, *fmts), **EXACT)
    back = box_convert(box_convert(boxes, *fmts), fmts[1], fmts[0])
    torch.testing.assert_close(back, boxes)


@pytest.mark.parametrize("weights", [(1.0, 1.0, 1.0, 1.0), (10.0, 10.0, 5.0, 5.0)])
def test_encode_decode_equal_box_coder(weights):
    gt, proposals = random_boxes(60, seed=4) + 1, random_boxes(60, seed=5) + 1
    gt[:, 2:] += 1  # positive sizes
    proposals[:, 2:] += 1
    coder = BoxCoder(weights)
    codes = encode_boxes(gt, proposals, weights)
    torch.testing.assert_close(codes, coder.encode_single(gt, proposals), **EXACT)
    torch.testing.assert_close(
        decode_boxes(codes, proposals, weights), coder.decode_single(codes, proposals), **EXACT
    )
    torch.testing.assert_close(decode_boxes(codes, proposals, weights), gt)  # decode(encode(x)) = x
    many = torch.randn(60, 12, generator=torch.Generator().manual_seed(6), dtype=D) * 3  # k = 3 classes
    torch.testing.assert_close(
        decode_boxes(many, proposals, weights), coder.decode_single(many, proposals), **EXACT
    )


def test_decode_clips_the_log_scale_like_torchvision():
    proposals = torch.tensor([[0.0, 0, 16, 16]], dtype=D)
    codes = torch.tensor([[0.0, 0, 100, -3]], dtype=D)  # exp(100) would overflow a float32 box
    out = decode_boxes(codes, proposals)
    torch.testing.assert_close(out, BoxCoder((1.0, 1.0, 1.0, 1.0)).decode_single(codes, proposals))
    assert math.isclose(float(out[0, 2] - out[0, 0]), 16 * math.exp(BBOX_XFORM_CLIP))
    assert BBOX_XFORM_CLIP == BoxCoder((1.0,) * 4).bbox_xform_clip


def test_encode_follows_the_notes_formula():
    ss = torch.tensor([[10.0, 20, 30, 60]], dtype=D)  # centre (20, 40), size 20 x 40
    gt = torch.tensor([[14.0, 16, 38, 56]], dtype=D)  # centre (26, 36), size 24 x 40
    dx, dy, dw, dh = encode_boxes(gt, ss)[0].tolist()
    assert (dx, dy) == ((26 - 20) / 20, (36 - 40) / 40)
    assert (dw, dh) == (math.log(24 / 20), math.log(40 / 40))


@pytest.mark.parametrize(
    "call, arg",
    [
        (lambda: box_area(torch.zeros(3, 5)), "boxes"),
        (lambda: box_area([[0, 0, 1, 1]]), "boxes"),
        (lambda: box_iou(torch.tensor([[0.0, 0, 1, 1]]), torch.tensor([[2.0, 0, 1, 1]])), "boxes2"),
        (lambda: box_iou(torch.tensor([[0.0, 0, 1, float("nan")]]), torch.zeros(1, 4)), "boxes1"),
        (lambda: generalized_box_iou(torch.zeros(2, 4), torch.zeros(4)), "boxes2"),
        (lambda: box_convert(torch.zeros(1, 4), "xyxy", "yxyx"), "out_fmt"),
        (lambda: box_convert(torch.tensor([[0.0, 0, -1, 1]]), "xywh", "xyxy"), "boxes"),
        (lambda: encode_boxes(torch.ones(2, 4), torch.ones(3, 4)), "proposals"),
        (lambda: encode_boxes(torch.ones(2, 4), torch.ones(2, 4), weights=(1, 1, 1)), "weights"),
        (lambda: encode_boxes(torch.ones(2, 4), torch.ones(2, 4), weights=(1, 1, 1, -1)), "weights"),
        (lambda: decode_boxes(torch.ones(2, 5), torch.ones(2, 4)), "rel_codes"),
        (lambda: decode_boxes(torch.ones(2, 4), torch.ones(3, 4)), "boxes"),
    ],
)
def test_bad_input_names_the_argument(call, arg):
    with pytest.raises((TypeError, ValueError), match=arg):
        call()


def test_error_kinds():
    with pytest.raises(TypeError):
        box_area([[0, 0, 1, 1]])
    with pytest.raises(ValueError, match="x1 <= x2"):
        box_area(torch.tensor([[5.0, 0, 1, 1]]))


_coord = st.floats(min_value=-1e3, max_value=1e3, allow_nan=False, allow_infinity=False)
_size = st.floats(min_value=1e-2, max_value=1e3, allow_nan=False, allow_infinity=False)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(_coord, _coord, _size, _size, _coord, _coord, _size, _size), min_size=1, max_size=8)
)
def test_property_decode_inverts_encode(rows):
    t = torch.tensor(rows, dtype=D)
    proposals = torch.cat([t[:, :2], t[:, :2] + t[:, 2:4]], 1)
    gt = torch.cat([t[:, 4:6], t[:, 4:6] + t[:, 6:8]], 1)
    codes = encode_boxes(gt, proposals)
    torch.testing.assert_close(decode_boxes(codes, proposals, bbox_xform_clip=1e9), gt, rtol=1e-9, atol=1e-7)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(_coord, _coord, _size, _size), min_size=1, max_size=10))
def test_property_iou_symmetric_bounded_and_giou_below_iou(rows):
    t = torch.tensor(rows, dtype=D)
    b = torch.cat([t[:, :2], t[:, :2] + t[:, 2:]], 1)
    iou, giou = box_iou(b, b), generalized_box_iou(b, b)
    torch.testing.assert_close(iou, iou.T)
    assert bool(((iou >= 0) & (iou <= 1 + 1e-12)).all()) and bool((giou <= iou + 1e-12).all())
    torch.testing.assert_close(torch.diagonal(iou), torch.ones(len(b), dtype=D))
