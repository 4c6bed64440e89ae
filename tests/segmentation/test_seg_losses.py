"""losses.py against F.cross_entropy, torchvision's sigmoid focal loss, a Dice loop (float64); gradchecks."""

import pytest
import torch
import torch.nn.functional as F
import torchvision

from cvcourse.segmentation.losses import pixel_cross_entropy, soft_dice_loss, softmax_focal_loss
from cvcourse.segmentation.metrics import iou_per_class

D = torch.float64


def data(n=2, c=5, h=4, w=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, c, h, w, generator=g, dtype=D) * 3
    logits[0, :, 0, 0] = torch.tensor([40.0, -40.0, 0, 0, 0], dtype=D)[:c]  # a saturated pixel
    return logits, torch.randint(0, c, (n, h, w), generator=g)


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("ignore_index", [None, 2, 255])
@pytest.mark.parametrize("weighted", [False, True])
def test_pixel_cross_entropy_equals_torch(reduction, ignore_index, weighted):
    x, y = data()
    if ignore_index == 255:
        y[0, 1] = 255
    weight = torch.linspace(0.5, 2.0, 5, dtype=D) if weighted else None
    theirs = F.cross_entropy(
        x, y, weight=weight, ignore_index=-100 if ignore_index is None else ignore_index, reduction=reduction
    )
    torch.testing.assert_close(pixel_cross_entropy(x, y, weight, ignore_index, reduction), theirs)


def test_every_pixel_ignored_gives_nan_mean_like_torch():
    x, y = data()
    y[:] = 255
    ours = pixel_cross_entropy(x, y, ignore_index=255)
    assert torch.isnan(ours) and torch.isnan(F.cross_entropy(x, y, ignore_index=255))
    assert softmax_focal_loss(x, y, ignore_index=255, reduction="sum") == 0


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_focal_gamma_zero_is_cross_entropy_and_alpha_weights(reduction):
    x, y = data(seed=1)
    torch.testing.assert_close(
        softmax_focal_loss(x, y, gamma=0.0, reduction=reduction),
        pixel_cross_entropy(x, y, reduction=reduction),
    )
    alpha = torch.rand(5, dtype=D)
    per_pixel = softmax_focal_loss(x, y, gamma=0.0, alpha=alpha, reduction="none")
    torch.testing.assert_close(per_pixel, alpha[y] * pixel_cross_entropy(x, y, reduction="none"))


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0, 3.5])
def test_two_class_focal_equals_torchvision_sigmoid_focal(gamma):
    # softmax over logits (0, z) is sigmoid(z): the multi-class loss becomes the binary one
    g = torch.Generator().manual_seed(2)
    z = torch.randn(3, 6, 5, generator=g, dtype=D) * 3
    y = (torch.rand(3, 6, 5, generator=g) < 0.3).long()
    logits = torch.stack([torch.zeros_like(z), z], dim=1)
    theirs = torchvision.ops.sigmoid_focal_loss(z, y.to(D), alpha=-1, gamma=gamma, reduction="none")
    torch.testing.assert_close(softmax_focal_loss(logits, y, gamma=gamma, reduction="none"), theirs)
    a = torchvision.ops.sigmoid_focal_loss(z, y.to(D), alpha=0.25, gamma=gamma, reduction="mean")
    alpha = torch.tensor([0.75, 0.25], dtype=D)
    torch.testing.assert_close(softmax_focal_loss(logits, y, gamma=gamma, alpha=alpha), a)


def test_focal_down_weights_easy_pixels_and_loop():
    x, y = data(n=1, c=3, h=2, w=2, seed=3)
    loop = []
    for i in range(2):
        for j in range(2):
            p = torch.softmax(x[0, :, i, j], 0)[y[0, i, j]]
            loop.append(-((1 - p) ** 2) * torch.log(p))
    torch.testing.assert_close(softmax_focal_loss(x, y, reduction="none").flatten(), torch.stack(loop))
    assert (softmax_focal_loss(x, y, reduction="none") <= pixel_cross_entropy(x, y, reduction="none")).all()


def test_gradchecks():
    x, y = data(n=1, c=3, h=3, w=2, seed=4)
    x = x.clamp(-5, 5).requires_grad_(True)
    w = torch.tensor([1.0, 2.0, 0.5], dtype=D)
    assert torch.autograd.gradcheck(lambda t: pixel_cross_entropy(t, y, w, ignore_index=1), (x,))
    assert torch.autograd.gradcheck(lambda t: softmax_focal_loss(t, y, gamma=2.0, alpha=w), (x,))
    assert torch.autograd.gradcheck(lambda t: soft_dice_loss(t, y, ignore_index=1, smooth=0.5), (x,))


def dice_loop(logits, target, ignore_index, smooth, classes):
    """The soft Dice loss pixel by pixel, class by class (the obvious loop)."""
    n, c, h, w = logits.shape
    terms = []
    for k in classes:
        inter = p_sum = y_sum = 0.0
        for i in range(n):
            for u in range(h):
                for v in range(w):
                    if target[i, u, v] == ignore_index:
                        continue
                    p = torch.softmax(logits[i, :, u, v], 0)[k]
                    y = float(target[i, u, v] == k)
                    inter, p_sum, y_sum = inter + p * y, p_sum + p, y_sum + y
        terms.append((2 * inter + smooth) / (p_sum + y_sum + smooth))
    return 1 - torch.stack(terms).mean()


@pytest.mark.parametrize("ignore_index", [None, 2, 255])
@pytest.mark.parametrize("classes", [None, [1, 3, 4]])
def test_soft_dice_equals_the_loop(ignore_index, classes):
    x, y = data(seed=5)
    if ignore_index == 255:
        y[1, 0] = 255
    ks = list(range(5)) if classes is None else classes
    theirs = dice_loop(x, y, ignore_index, 0.7, ks)
    ours = soft_dice_loss(
        x, y, ignore_index, smooth=0.7, classes=None if classes is None else torch.tensor(ks)
    )
    torch.testing.assert_close(ours, theirs)


def test_soft_dice_of_hard_predictions_is_read_off_the_iou():
    # one-hot probabilities (huge logits) make Dice_c = 2 |A and B| / (|A| + |B|) = 2 IoU_c / (1 + IoU_c)
    x, y = data(n=2, c=4, h=6, w=5, seed=6)
    pred = x.argmax(1)
    hard = 200.0 * torch.nn.functional.one_hot(pred, 4).movedim(-1, 1).to(D)
    iou = iou_per_class(pred, y, 4)
    expected = 1 - (2 * iou / (1 + iou)).mean()
    torch.testing.assert_close(soft_dice_loss(hard, y, smooth=1e-12), expected)
    assert soft_dice_loss(200.0 * torch.nn.functional.one_hot(y, 4).movedim(-1, 1).to(D), y) < 1e-12


def test_bad_input():
    x, y = data()
    with pytest.raises(ValueError, match="logits must be \\[N, C, ...\\]"):
        pixel_cross_entropy(x[:, :, :2], y)
    with pytest.raises(ValueError, match="target must hold class ids in \\[0, 4\\]"):
        pixel_cross_entropy(x, y + 5)
    with pytest.raises(TypeError, match="target must have an int dtype"):
        pixel_cross_entropy(x, y.to(D))
    with pytest.raises(ValueError, match="alpha must have shape \\[5\\]"):
        softmax_focal_loss(x, y, alpha=torch.ones(3, dtype=D))
    with pytest.raises(ValueError, match="gamma must be a number >= 0"):
        softmax_focal_loss(x, y, gamma=-1.0)
    with pytest.raises(ValueError, match="smooth must be a number > 0"):
        soft_dice_loss(x, y, smooth=0.0)
    with pytest.raises(ValueError, match=r"classes must be a non-empty list of ids in \[0, 4\], got \[5\]"):
        soft_dice_loss(x, y, classes=torch.tensor([5]))
