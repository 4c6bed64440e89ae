"""The cue probe: one disc standing on the ground at a chosen row with a chosen size; exact right view."""

import numpy as np
import pytest
import torch

from cvcourse.depth.cues import cue_probe, probe_scene
from cvcourse.depth.monodepth import Monodepth
from cvcourse.depth.warp import reconstruct_left


@pytest.mark.parametrize("lowest", [20, 41, 64])
def test_probe_disc_stands_on_the_ground(lowest):
    one, big = probe_scene(lowest, 1.0, seed=2), probe_scene(lowest, 2.0, seed=2)
    for scene in (one, big):
        mask = scene["masks"][0]
        bottom = np.nonzero(mask.any(axis=1))[0].max()  # lowest pixel row
        assert bottom in (lowest - 1, lowest - 2)
        assert np.all(scene["disparity"][mask] == np.float32(scene["ground"]))
        column = scene["disparity"][:, 0]  # the ground's disparity (the disc is in the middle)
        assert np.all(np.diff(column) > 0)
        assert scene["ground"] == pytest.approx(column[bottom], rel=1e-6)
    assert big["radius"] == pytest.approx(2 * one["radius"]) or big["radius"] == lowest / 2
    assert big["masks"][0].sum() > 2 * one["masks"][0].sum()
    # the probe's stereo pair is exact like StereoShapes': rebuilding the left view from the right one
    d = torch.from_numpy(one["disparity"]).double()[None, None]
    rebuilt = reconstruct_left(torch.from_numpy(one["right"].transpose(2, 0, 1)).double()[None], d)[0]
    error = (rebuilt - torch.from_numpy(one["left"].transpose(2, 0, 1))).abs().amax(0)
    inner = torch.from_numpy(one["valid"]) & (torch.arange(64) + 0.5 - d[0, 0] >= 0.5)
    assert error[inner].median() < 2 / 255


def test_probe_nearer_rows_have_larger_disparity_and_cue_probe_shapes():
    torch.manual_seed(0)
    out = cue_probe(Monodepth(max_disparity=16.0).eval(), [24, 40, 56], [0.5, 1.0, 2.0], seed=1)
    assert out["predicted"].shape == (3, 3) and out["ground"].shape == (3,)
    assert np.all(np.diff(out["ground"]) > 0)
    assert np.all((out["predicted"] > 0) & (out["predicted"] < 16))


def test_probe_bad_arguments():
    with pytest.raises(ValueError, match="lowest must be an int >= 4 and <= 64, got 70"):
        probe_scene(70)
    with pytest.raises(TypeError, match="lowest must be an int"):
        probe_scene(20.5)
    with pytest.raises(ValueError, match="scale must be a number >= 0.1 and <= 4.0, got 0.0"):
        probe_scene(20, 0.0)
