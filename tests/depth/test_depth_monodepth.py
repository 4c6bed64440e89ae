"""The small Monodepth: its outputs, a loss that never reads the true disparity, gradients."""

import pytest
import torch

from cvcourse.data import StereoShapes
from cvcourse.depth.monodepth import Monodepth, monodepth_loss, monodepth_step
from cvcourse.depth.training import FlipSwap, abs_rel_of_disparity, stereo_tensors
from cvcourse.depth.warp import reconstruct_left


@pytest.fixture(scope="module")
def pairs():
    return stereo_tensors(StereoShapes(4, size=32, seed=3))


def test_outputs(pairs):
    torch.manual_seed(0)
    model = Monodepth(max_disparity=8.0)
    left = pairs.tensors[0]
    scales = model.scales(left)
    assert [tuple(s.shape) for s in scales] == [(4, 2, 32 >> s, 32 >> s) for s in (3, 2, 1, 0)]
    assert all(((s > 0) & (s < 8)).all() for s in scales)
    torch.testing.assert_close(model(left), scales[-1][:, :1])
    torch.testing.assert_close(scales[-1].mean(), torch.tensor(0.2 * 8.0), atol=0.3, rtol=0)  # starts far
    with pytest.raises(ValueError, match="multiples of 16"):
        model(torch.rand(1, 3, 24, 32))


def test_loss_is_self_supervised_and_differentiable(pairs):
    torch.manual_seed(0)
    model = Monodepth(max_disparity=8.0)
    left, right, disparity = pairs.tensors
    loss, outputs, targets = monodepth_step(model, (left, right, disparity), torch.device("cpu"))
    again, _, _ = monodepth_step(model, (left, right, torch.rand_like(disparity) * 99), torch.device("cpu"))
    assert loss.item() == again.item()  # the true disparity is not in the loss
    assert targets is disparity and outputs.shape == (4, 1, 32, 32)
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_true_disparity_beats_a_wrong_one_in_the_photometric_term():
    s = StereoShapes(1, size=32, seed=5, subpixel=False).sample(0)
    left, right, d = s["left"][None], s["right"][None], s["disparity"][None, None]
    from cvcourse.depth.losses import photometric_loss

    assert photometric_loss(left, reconstruct_left(right, d)) < photometric_loss(
        left, reconstruct_left(right, d + 3)
    )
    scales = [torch.cat([d, d], 1)[..., :: 2**s, :: 2**s] for s in (3, 2, 1, 0)]
    total, parts = monodepth_loss(scales, left, right)
    assert set(parts) == {"appearance", "smoothness", "lr"} and total.item() > 0


def test_flip_swap_and_abs_rel(pairs):
    flipped = FlipSwap(pairs, p=1.0)
    left, right, d = flipped[0]
    assert (
        torch.equal(left, pairs[0][1].flip(-1))
        and torch.equal(right, pairs[0][0].flip(-1))
        and (d == 0).all()
    )
    target = torch.tensor([[[2.0, 4.0, 0.0]]])
    assert abs_rel_of_disparity(torch.tensor([[[[4.0, 4.0, 1.0]]]]), target) == pytest.approx(0.25)
