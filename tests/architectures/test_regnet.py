"""RegNet design spaces: sampling and the empirical error CDF F(e)."""

import random

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from cvcourse.architectures.regnet import AnyNet, error_cdf, sample_config


def loop_cdf(errors, e):
    return sum(1 for x in errors if x < e) / len(errors)


@given(st.lists(st.floats(0, 1), min_size=1, max_size=30), st.floats(-0.5, 1.5))
def test_error_cdf_equals_loop_and_searchsorted(errors, e):
    f = float(error_cdf(errors, e))
    assert f == pytest.approx(loop_cdf(errors, e))
    # numpy authority: number of sorted errors strictly below e
    assert f == pytest.approx(np.searchsorted(np.sort(errors), e, side="left") / len(errors))


def test_error_cdf_ties_and_vector_thresholds():
    errors = [0.2, 0.2, 0.5, 0.7]
    f = error_cdf(errors, [0.2, 0.2000001, 0.7, 1.0])
    np.testing.assert_allclose(f, [0.0, 0.5, 0.75, 1.0])  # strict inequality at ties
    assert error_cdf([0.3], 0.3) == 0.0 and error_cdf([0.3], 0.31) == 1.0  # single model
    with pytest.raises(ValueError, match="empty"):
        error_cdf([], 0.5)
    with pytest.raises(ValueError, match="NaN"):
        error_cdf([0.1, float("nan")], 0.5)


@pytest.mark.parametrize("space", ["free", "shared"])
def test_sampled_configs_build_and_respect_their_space(space):
    rng = random.Random(0)
    for _ in range(20):
        cfg = sample_config(space, rng)
        assert len(cfg.depths) == len(cfg.widths) == len(cfg.groups) == len(cfg.bottlenecks) == 4
        for w, g, b in zip(cfg.widths, cfg.groups, cfg.bottlenecks, strict=True):
            assert (w // b) % g == 0
        if space == "shared":
            assert list(cfg.widths) == sorted(cfg.widths)
            assert len(set(cfg.groups)) == len(set(cfg.bottlenecks)) == 1
    model = AnyNet(cfg, num_classes=3)
    assert model(torch.rand(2, 3, 32, 32)).shape == (2, 3)


def test_sampling_is_deterministic_and_validated():
    a = [sample_config("free", random.Random(5)) for _ in range(3)]
    b = [sample_config("free", random.Random(5)) for _ in range(3)]
    assert a == b
    with pytest.raises(ValueError, match="space must be one of 'free', 'shared', got str 'huge'"):
        sample_config("huge", random.Random(0))
    with pytest.raises(TypeError, match="rng must be a random.Random, got int 0"):
        sample_config("free", 0)  # a seed where the generator goes
    with pytest.raises(TypeError, match="num_stages must be an int, got float"):
        sample_config("free", random.Random(0), num_stages=4.0)
    with pytest.raises(TypeError, match="config must be an AnyNetConfig"):
        AnyNet({"depths": (1,)})
