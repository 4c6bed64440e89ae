"""nms.py against torchvision.ops.nms / batched_nms: the same kept indices in the same order, ties too."""

import pytest
import torch
import torchvision
from hypothesis import given, settings
from hypothesis import strategies as st

from cvcourse.detection.nms import batched_nms, nms, nms_loop, nms_steps


def scene(n, seed=0, dtype=torch.float64, clustered=True, tied=False):
    """Detector-like candidates: jittered copies of a few objects (or uniform boxes), random scores."""
    g = torch.Generator().manual_seed(seed)
    if clustered:
        objects = torch.rand(max(n // 10, 1), 4, generator=g, dtype=dtype) * 200
        objects[:, 2:] = objects[:, :2] + 10 + torch.rand(len(objects), 2, generator=g, dtype=dtype) * 60
        boxes = objects.repeat_interleave(10, 0)[:n] + torch.randn(n, 4, generator=g, dtype=dtype) * 4
        boxes[:, 2:] = torch.maximum(boxes[:, 2:], boxes[:, :2])
    else:
        xy = torch.rand(n, 2, generator=g, dtype=dtype) * 200
        boxes = torch.cat([xy, xy + torch.rand(n, 2, generator=g, dtype=dtype) * 50], 1)
    scores = torch.rand(n, generator=g, dtype=dtype)
    if tied:
        scores = (scores * 3).floor()  # only three distinct scores: many ties
    return boxes, scores


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("threshold", [0.0, 0.3, 0.5, 0.7, 1.0])
@pytest.mark.parametrize("kind", ["clustered", "uniform", "tied"])
def test_nms_equals_torchvision(seed, threshold, kind):
    boxes, scores = scene(200, seed, clustered=kind != "uniform", tied=kind == "tied")
    expected = torchvision.ops.nms(boxes, scores, threshold)
    assert torch.equal(nms(boxes, scores, threshold), expected)
    if seed == 0:  # the slow loop once per case
        assert torch.equal(
            nms_loop(boxes[:80], scores[:80], threshold),
            torchvision.ops.nms(boxes[:80], scores[:80], threshold),
        )
    assert [k for k, _ in nms_steps(boxes, scores, threshold)] == expected.tolist()


@pytest.mark.parametrize("threshold", [0.5, 0.7, 0.3])
def test_float32_thresholds_compare_like_cpp(threshold):
    # 0.7 and 0.3 are not floats: the IoU is compared with the double, as torchvision's C++ does
    boxes, scores = scene(400, 7, dtype=torch.float32)
    assert torch.equal(nms(boxes, scores, threshold), torchvision.ops.nms(boxes, scores, threshold))
    boxes = boxes.round()  # integer corners: IoUs of exactly 0.5, 0.3, ... occur
    assert torch.equal(nms(boxes, scores, threshold), torchvision.ops.nms(boxes, scores, threshold))


def test_degenerate_inputs():
    empty = torch.zeros(0, 4)
    assert torch.equal(nms(empty, torch.zeros(0), 0.5), torchvision.ops.nms(empty, torch.zeros(0), 0.5))
    assert nms_steps(empty, torch.zeros(0), 0.5) == []
    boxes = torch.tensor(
        [[0, 0, 10, 10], [0, 0, 10, 10], [5, 5, 5, 5], [5, 5, 5, 5], [0, 0, 0, 10], [1, 1, 9, 9]],
        dtype=torch.float64,
    )  # duplicates, points, zero width
    for scores in (torch.ones(6, dtype=torch.float64), torch.arange(6.0, dtype=torch.float64)):
        for t in (0.0, 0.5):
            expected = torchvision.ops.nms(boxes, scores, t)
            assert torch.equal(nms(boxes, scores, t), expected)
            assert torch.equal(nms_loop(boxes, scores, t), expected)
    one = torch.tensor([[1.0, 2, 3, 4]])
    assert nms(one, torch.tensor([0.3]), 0.5).tolist() == [0]


def test_steps_partition_the_boxes():
    boxes, scores = scene(150, 3)
    steps = nms_steps(boxes, scores, 0.5)
    seen = [k for k, gone in steps] + [j for _, gone in steps for j in gone]
    assert sorted(seen) == list(range(150))  # every box is kept or suppressed exactly once
    iou = torchvision.ops.box_iou(boxes, boxes)
    for kept, gone in steps:
        assert all(iou[kept, j] > 0.5 and scores[j] <= scores[kept] for j in gone)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.8])
def test_batched_nms_equals_torchvision(seed, threshold):
    boxes, scores = scene(300, seed, tied=seed % 2 == 1)
    idxs = torch.randint(0, 4, (300,), generator=torch.Generator().manual_seed(seed))
    assert torch.equal(
        batched_nms(boxes, scores, idxs, threshold),
        torchvision.ops.batched_nms(boxes, scores, idxs, threshold),
    )
    # and it is NMS run on each category on its own
    for c in range(4):
        mine = batched_nms(boxes, scores, idxs, threshold)
        in_c = torch.nonzero(idxs == c).flatten()
        assert torch.equal(mine[idxs[mine] == c], in_c[nms(boxes[in_c], scores[in_c], threshold)])


def test_batched_nms_large_input_uses_the_same_rule():
    # > 4000 coordinates: torchvision switches to a per-category loop; the result is the same
    boxes, scores = scene(1500, 9)
    idxs = torch.randint(0, 10, (1500,), generator=torch.Generator().manual_seed(1))
    expected = torchvision.ops.batched_nms(boxes, scores, idxs, 0.5)
    assert torch.equal(batched_nms(boxes, scores, idxs, 0.5), expected)


@pytest.mark.parametrize(
    "call, arg, error",
    [
        (lambda: nms(torch.zeros(3, 3), torch.zeros(3), 0.5), "boxes", ValueError),
        (lambda: nms(torch.zeros(3, 4), torch.zeros(2), 0.5), "scores", ValueError),
        (lambda: nms(torch.zeros(1, 4), torch.tensor([float("nan")]), 0.5), "scores", ValueError),
        (lambda: nms(torch.tensor([[2.0, 0, 1, 1]]), torch.zeros(1), 0.5), "boxes", ValueError),
        (lambda: nms(torch.zeros(1, 4), torch.zeros(1), -0.1), "iou_threshold", ValueError),
        (lambda: nms(torch.zeros(1, 4), torch.zeros(1), "0.5"), "iou_threshold", TypeError),
        (lambda: nms(torch.zeros(1, 4), torch.zeros(1, dtype=torch.int64), 0.5), "scores", TypeError),
        (
            lambda: batched_nms(torch.zeros(2, 4), torch.zeros(2), torch.zeros(3, dtype=torch.int64), 0.5),
            "idxs",
            ValueError,
        ),
        (lambda: batched_nms(torch.zeros(2, 4), torch.zeros(2), torch.zeros(2), 0.5), "idxs", TypeError),
        (lambda: nms_steps(torch.zeros(2, 4), torch.zeros(2), 1.5), "iou_threshold", ValueError),
    ],
)
def test_bad_input_names_the_argument(call, arg, error):
    with pytest.raises(error, match=arg):
        call()


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 20), st.integers(0, 20), st.integers(0, 12), st.integers(0, 12), st.integers(0, 4)
        ),
        min_size=0,
        max_size=25,
    ),
    st.sampled_from([0.0, 0.2, 0.5, 0.7]),
)
def test_property_nms_equals_torchvision_on_integer_boxes(rows, threshold):
    # small integer boxes and scores: duplicates, zero areas, exact-threshold IoUs and ties galore
    t = torch.tensor(rows, dtype=torch.float32).reshape(-1, 5)
    boxes = torch.cat([t[:, :2], t[:, :2] + t[:, 2:4]], 1)
    scores = t[:, 4]
    assert torch.equal(nms(boxes, scores, threshold), torchvision.ops.nms(boxes, scores, threshold))
    idxs = (t[:, 0] % 3).long()
    assert torch.equal(
        batched_nms(boxes, scores, idxs, threshold),
        torchvision.ops.batched_nms(boxes, scores, idxs, threshold),
    )


def test_an_iou_equal_to_the_threshold_in_float32_is_compared_as_torchvision_does():
    # IoU 1/5 is 0.2f = 0.2000000030 in float32, above the double 0.2: torchvision's C++ suppresses the
    # box (a float IoU compared with a double threshold); hypothesis found it (a zero-area box first)
    boxes = torch.tensor([[0.0, 0, 0, 0], [0, 0, 1, 1], [0, 0, 1, 5]])
    for threshold in (0.2, 0.5, 0.7):
        scaled = torch.tensor([[0.0, 0, 1, 1], [0, 0, 1, 1 / threshold]])
        for b in (boxes, scaled, boxes.double()):
            s = torch.zeros(len(b), dtype=b.dtype)
            expected = torchvision.ops.nms(b, s, threshold)
            assert torch.equal(nms(b, s, threshold), expected), (b, threshold)
            assert torch.equal(nms_loop(b, s, threshold), expected), (b, threshold)
