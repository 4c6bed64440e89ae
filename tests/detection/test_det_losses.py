"""losses.py against torchvision.ops.sigmoid_focal_loss and F.smooth_l1_loss / huber_loss (float64)."""

import pytest
import torch
import torch.nn.functional as F
import torchvision

from cvcourse.detection.losses import sigmoid_focal_loss, smooth_l1

D = torch.float64


def data(shape=(6, 5), seed=0):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(*shape, generator=g, dtype=D) * 4
    logits[0, 0], logits[0, 1] = 40.0, -40.0  # saturated sigmoids
    return logits, (torch.rand(*shape, generator=g) < 0.3).to(D)


@pytest.mark.parametrize("alpha, gamma", [(0.25, 2), (0.5, 0), (-1, 2), (0.9, 3.5), (0.0, 1)])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_focal_loss_equals_torchvision(alpha, gamma, reduction):
    x, y = data()
    torch.testing.assert_close(
        sigmoid_focal_loss(x, y, alpha, gamma, reduction),
        torchvision.ops.sigmoid_focal_loss(x, y, alpha, gamma, reduction),
    )


def test_focal_loss_gradcheck_and_empty():
    x, y = data((3, 4))
    x = x.clamp(-6, 6).requires_grad_(True)  # (1 - p_t)^0.5 has no finite slope at a saturated p_t = 1
    assert torch.autograd.gradcheck(lambda t: sigmoid_focal_loss(t, y, 0.25, 2, "sum"), (x,))
    assert torch.autograd.gradcheck(lambda t: sigmoid_focal_loss(t, y, -1, 0.5), (x,))
    e = torch.zeros(0, 3, dtype=D)
    theirs = torchvision.ops.sigmoid_focal_loss(e, e, reduction="sum")
    assert sigmoid_focal_loss(e, e, reduction="sum") == theirs


def test_focal_loss_down_weights_easy_examples():
    # gamma = 0 and no alpha: the plain cross-entropy; a well-classified example loses (1 - p_t)^gamma
    x = torch.tensor([3.0], dtype=D)
    y = torch.ones(1, dtype=D)
    ce = F.binary_cross_entropy_with_logits(x, y)
    assert sigmoid_focal_loss(x, y, alpha=-1, gamma=0) == ce
    p_t = torch.sigmoid(x)
    torch.testing.assert_close(sigmoid_focal_loss(x, y, alpha=-1, gamma=2), ce * (1 - p_t) ** 2)


@pytest.mark.parametrize("beta", [1.0, 0.5, 1 / 9, 0.0])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_smooth_l1_equals_torch(beta, reduction):
    x, y = data((8, 4), seed=1)
    x[0] = y[0] + torch.tensor([beta, -beta, 0.0, 2 * beta], dtype=D)  # at the kink
    torch.testing.assert_close(
        smooth_l1(x, y, beta, reduction), F.smooth_l1_loss(x, y, reduction=reduction, beta=beta)
    )
    if beta == 1.0:
        torch.testing.assert_close(smooth_l1(x, y, 1.0, reduction), F.huber_loss(x, y, reduction=reduction))
    x.requires_grad_(True)
    if beta > 0:
        assert torch.autograd.gradcheck(lambda t: smooth_l1(t, y, beta, "sum"), (x,))


def test_smooth_l1_is_the_notes_huber():
    a = torch.tensor([0.0, 0.5, 1.0, 3.0, -2.0], dtype=D)
    expected = torch.where(a.abs() <= 1, 0.5 * a**2, a.abs() - 0.5)  # the notes' cases
    torch.testing.assert_close(smooth_l1(a, torch.zeros_like(a), reduction="none"), expected)


@pytest.mark.parametrize(
    "call, arg, error",
    [
        (lambda: sigmoid_focal_loss(torch.zeros(3), torch.zeros(4)), "targets", ValueError),
        (lambda: sigmoid_focal_loss(torch.zeros(3), torch.zeros(3), gamma=-1), "gamma", ValueError),
        (lambda: sigmoid_focal_loss(torch.zeros(3), torch.zeros(3), alpha=2), "alpha", ValueError),
        (
            lambda: sigmoid_focal_loss(torch.zeros(3), torch.zeros(3), reduction="avg"),
            "reduction",
            ValueError,
        ),
        (lambda: sigmoid_focal_loss([0.0], torch.zeros(1)), "inputs", TypeError),
        (lambda: smooth_l1(torch.zeros(3), torch.zeros(3), beta=-1), "beta", ValueError),
        (lambda: smooth_l1(torch.zeros(3), torch.zeros(2, 3)), "target", ValueError),
    ],
)
def test_bad_input_names_the_argument(call, arg, error):
    with pytest.raises(error, match=arg):
        call()
