"""Exercise 7-1 (a)(b) numerically, and the small-input networks."""

import pytest
import torch
from torch import nn

from cvcourse.architectures import count_parameters, plain_cnn, residual_cnn, small_resnet18
from cvcourse.architectures.small import DeepCNN, block_input_gradients


def test_residual_unrolls_to_sum_of_branches():
    """x_L = x_l + sum_{i=l}^{L-1} f_i(x_i) inside a stage (Exercise 7-1 (a))."""
    torch.manual_seed(0)
    model = residual_cnn(20).double().eval()  # 3 blocks per stage
    x = torch.randn(2, 3, 16, 16, dtype=torch.float64)
    x_l = model.stem(x)
    stage = list(model.blocks)[:3]  # first stage: same shape, identity skips
    xs, fs = [x_l], []
    for block in stage:
        fs.append(block.branch(xs[-1]))
        xs.append(block(xs[-1]))
    torch.testing.assert_close(xs[-1], x_l + sum(fs), rtol=1e-12, atol=1e-12)
    assert sum(fs).abs().max() > 1e-3  # the branches are not trivially zero


def test_gradient_reaches_x_l_unchanged_when_branches_are_zero():
    """dL/dx_l = dL/dx_L (1 + d/dx_l sum f_i): with f_i = 0 the '1' alone carries the gradient."""
    torch.manual_seed(0)
    model = residual_cnn(20).double()
    for block in list(model.blocks)[:3]:
        nn.init.zeros_(block.conv2.weight)
    x = torch.randn(4, 3, 16, 16, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 3])
    norms = block_input_gradients(model, x, y)
    assert len(norms) == 9
    # inputs of blocks 0, 1, 2 and the output of block 2 (= input of block 3) share one gradient
    assert norms[0] == pytest.approx(norms[1], rel=1e-12) == pytest.approx(norms[2], rel=1e-12)
    assert norms[0] > 0


def test_plain_net_gradients_change_over_depth_much_more_than_residual():
    torch.manual_seed(0)
    x, y = torch.rand(8, 3, 16, 16), torch.randint(0, 10, (8,))
    plain, res = (
        block_input_gradients(plain_cnn(56), x, y),
        block_input_gradients(residual_cnn(56), x, y),
    )
    spread = lambda g: max(g) / min(g)  # noqa: E731
    assert spread(plain) > 10 * spread(res)


def test_same_depth_and_shapes_with_and_without_skips():
    for depth in (8, 20, 56):
        p, r = plain_cnn(depth), residual_cnn(depth)
        assert p.depth == r.depth == depth
        x = torch.rand(2, 3, 32, 32)
        assert p(x).shape == r(x).shape == (2, 10)
        # only the projection shortcuts (two 1x1 convs) add parameters
        assert count_parameters(r) - count_parameters(p) == 16 * 32 + 32 * 64


def test_small_resnet18_keeps_resolution_longer():
    model = small_resnet18(num_classes=4).eval()
    assert model(torch.rand(1, 3, 32, 32)).shape == (1, 4)
    feats = model.layer4(model.layer3(model.layer2(model.layer1(model.conv1(torch.rand(1, 3, 32, 32))))))
    assert feats.shape[-2:] == (4, 4)


def test_bad_arguments():
    with pytest.raises(ValueError, match="6n \\+ 2"):
        plain_cnn(21)
    with pytest.raises(TypeError, match="depth must be an int, got float 20.0"):
        plain_cnn(20.0)
    with pytest.raises(TypeError, match="residual must be True or False"):
        DeepCNN(1, residual=1)
    with pytest.raises(ValueError, match=r"\[B, 3, H, W\]"):
        residual_cnn(8)(torch.rand(1, 1, 8, 8))
    with pytest.raises(TypeError, match="DeepCNN"):
        block_input_gradients(nn.Linear(1, 1), torch.rand(1, 1), torch.zeros(1))
