"""Mutual information = sklearn, entropy = scipy, MIG on constructed latents, correlations, active dims."""

import numpy as np
import pytest
import scipy.stats
import torch
from sklearn.metrics import mutual_info_score

from cvcourse.generative.disentanglement import (
    active_dims,
    discretize,
    entropy,
    latent_correlation,
    mig,
    mutual_information,
    mutual_information_matrix,
)


@pytest.mark.parametrize("n, ka, kb", [(500, 4, 7), (1, 1, 1), (30, 2, 2), (200, 1, 5)])
def test_mutual_information_equals_sklearn(n, ka, kb):
    g = torch.Generator().manual_seed(n)
    a = torch.randint(0, ka, (n,), generator=g)
    b = (a + torch.randint(0, kb, (n,), generator=g)) % kb
    assert mutual_information(a, b) == pytest.approx(mutual_info_score(a.numpy(), b.numpy()), abs=1e-12)
    assert mutual_information(a, a) == pytest.approx(entropy(a), abs=1e-12)  # I(a; a) = H(a)
    counts = np.bincount(a.numpy())
    assert entropy(a) == pytest.approx(scipy.stats.entropy(counts), abs=1e-12)


def test_empty_and_bad_labels():
    empty = torch.zeros(0, dtype=torch.int64)
    assert entropy(empty) == 0.0 and mutual_information(empty, empty) == 0.0
    with pytest.raises(ValueError, match="b must have a's shape"):
        mutual_information(torch.zeros(3, dtype=torch.int64), torch.zeros(4, dtype=torch.int64))
    with pytest.raises(TypeError, match="int dtype"):
        entropy(torch.zeros(3))


def test_discretize_matches_numpy_histogram():
    g = torch.Generator().manual_seed(0)
    values = torch.randn(300, 2, generator=g, dtype=torch.float64)
    bins = discretize(values, 7)
    for j in range(2):
        counts, _ = np.histogram(values[:, j].numpy(), bins=7)
        np.testing.assert_array_equal(np.bincount(bins[:, j].numpy(), minlength=7), counts)
    assert discretize(torch.ones(4, 1), 5).eq(0).all()  # a constant column: bin 0


def test_mig_of_a_disentangled_and_an_entangled_code():
    g = torch.Generator().manual_seed(1)
    factors = torch.randint(0, 10, (4000, 2), generator=g)
    noise = 0.01 * torch.randn(4000, 3, generator=g, dtype=torch.float64)
    clean = torch.stack([factors[:, 0], factors[:, 1], torch.zeros(4000)], 1).double() + noise
    score, gaps = mig(clean, factors, bins=10)
    assert score > 0.9 and gaps.shape == (2,)
    rotated = clean[:, :2] @ torch.tensor([[1.0, 1.0], [1.0, -1.0]], dtype=torch.float64)  # both mixed
    assert mig(torch.cat([rotated, clean[:, 2:]], 1), factors, bins=10)[0] < 0.3
    info = mutual_information_matrix(clean, factors, bins=10)
    # the noise dimension knows nothing, up to the plug-in estimate's bias (bins - 1)(K - 1) / 2N = 0.01
    assert info.shape == (3, 2) and info[2].max() < 0.03 and info[:2].diag().min() > 2.0
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        mig(clean[:, :1], factors)
    with pytest.raises(ValueError, match="at least two values"):
        mig(clean, torch.zeros(4000, 2, dtype=torch.int64))


def test_latent_correlation_and_active_dims():
    g = torch.Generator().manual_seed(2)
    z = torch.randn(1000, 2, generator=g, dtype=torch.float64)
    z = torch.cat([z, z[:, :1] * 2 + 0.1, torch.zeros(1000, 1, dtype=torch.float64)], 1)  # copy, constant
    corr, mean_abs = latent_correlation(z)
    assert corr.shape == (3, 3)  # the constant dimension is left out
    np.testing.assert_allclose(corr.numpy(), np.corrcoef(z[:, :3].numpy().T), atol=1e-12)
    assert corr[0, 2] == pytest.approx(1.0) and 0.3 < mean_abs < 0.8
    assert latent_correlation(torch.zeros(5, 2))[1] == 0.0
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no dimension in use, or one sample: no std() warning
        assert (
            latent_correlation(torch.zeros(5, 0))[1] == 0.0 and latent_correlation(torch.ones(1, 3))[1] == 0.0
        )
    assert active_dims(z).tolist() == [True, True, True, False]
