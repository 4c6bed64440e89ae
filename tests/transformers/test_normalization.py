"""Layer norm / batch norm written out against F.layer_norm / F.batch_norm, and Fig. 3.4's axes."""

import pytest
import torch
import torch.nn.functional as F

from cvcourse.transformers.normalization import NORMS, batch_norm, layer_norm, normalised_together

D = torch.float64


def test_layer_norm_matches_torch():
    a = torch.randn(4, 5, 6, dtype=D)
    torch.testing.assert_close(layer_norm(a), F.layer_norm(a, (6,)))
    const = torch.full((2, 3), 7.0, dtype=D)  # degenerate: zero variance -> zeros, not NaN
    torch.testing.assert_close(layer_norm(const), F.layer_norm(const, (3,)))


def test_batch_norm_matches_torch_training_mode():
    a = torch.randn(4, 3, 5, 5, dtype=D)
    torch.testing.assert_close(batch_norm(a), F.batch_norm(a, None, None, training=True))
    tokens = torch.randn(4, 3, 7, dtype=D)
    torch.testing.assert_close(batch_norm(tokens), F.batch_norm(tokens, None, None, training=True))


def test_layer_norm_ignores_the_rest_of_the_batch_batch_norm_does_not():
    a = torch.randn(4, 6, dtype=D)
    other = a.clone()
    other[1:] *= 10
    torch.testing.assert_close(layer_norm(other)[0], layer_norm(a)[0])
    assert not torch.allclose(batch_norm(other[:, :, None])[0], batch_norm(a[:, :, None])[0])


@pytest.mark.parametrize(
    "name,expected_nc",
    [
        ("batch norm", lambda n, c: c == 0),  # one channel, every sample
        ("layer norm", lambda n, c: n == 0),  # one sample, every channel
        ("instance norm", lambda n, c: n == 0 and c == 0),
        ("group norm", lambda n, c: n == 0 and c < 3),  # 6 channels in 2 groups of 3
    ],
)
def test_normalised_together_draws_fig_3_4(name, expected_nc):
    mask = normalised_together(name, shape=(4, 6, 3, 3))
    for n in range(4):
        for c in range(6):
            assert bool(mask[n, c].all()) == expected_nc(n, c) and bool(mask[n, c].any()) == expected_nc(n, c)


def test_normalised_together_errors():
    with pytest.raises(ValueError, match="norm must be one of"):
        normalised_together("weight norm")
    assert set(NORMS) == {"batch norm", "layer norm", "instance norm", "group norm"}
