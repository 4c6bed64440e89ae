r"""Disentanglement, measured against the factors that generated the data.

The notes: a disentangled VAE's latent neurons are **uncorrelated** and each learns a **different
aspect** of the data. Two measures of that, on latent means :math:`\mu(x)` of images whose factors
:math:`v_k` (shape, x, y, size, colour) are known:

* ``latent_correlation``: the correlation matrix of the latent means over the data set, and its
  mean absolute off-diagonal entry (0: uncorrelated).
* ``mig``, the mutual information gap (Chen et al. 2018, https://arxiv.org/abs/1802.04942), as
  computed in ``disentanglement_lib`` (Locatello et al. 2019, https://arxiv.org/abs/1811.12359):
  latents and factors are discretised into bins, :math:`I(z_j; v_k)` is the discrete mutual
  information, and for each factor the gap between the latent that knows most about it and the
  runner-up, normalised by the factor's entropy:

  .. math::
      \mathrm{MIG} = \frac1K \sum_{k=1}^K
          \frac{I(z_{j^{(k)}}; v_k) - \max_{j \ne j^{(k)}} I(z_j; v_k)}{H(v_k)},
      \quad j^{(k)} = \arg\max_j I(z_j; v_k)

  1 means every factor is held by one latent alone; 0 means each is spread over several (or none).

``mutual_information`` equals ``sklearn.metrics.mutual_info_score`` and ``entropy`` equals
``scipy.stats.entropy`` (both in nats); the tests check it.
"""

from __future__ import annotations

import torch
from torch import Tensor

from cvcourse._checks import check_int, check_tensor

__all__ = [
    "active_dims",
    "discretize",
    "entropy",
    "latent_correlation",
    "mig",
    "mutual_information",
    "mutual_information_matrix",
]


def discretize(values: Tensor, bins: int = 20) -> Tensor:
    """Each column of ``values`` [N, D] cut into ``bins`` equal-width bins over its range: int64 [N, D].

    A column with a single value falls in bin 0 (as ``numpy.histogram``'s edges put it).
    """
    check_tensor("values", values, ndim=2)
    bins = check_int("bins", bins, low=1)
    values = values.double()
    low, high = values.amin(0, keepdim=True), values.amax(0, keepdim=True)  # [1, D]
    width = (high - low).clamp_min(1e-12) / bins
    # the maximum itself goes in the last bin, as numpy.histogram's closed last edge does
    return ((values - low) / width).floor().clamp(0, bins - 1).long()


def _check_labels(name: str, labels: Tensor) -> Tensor:
    check_tensor(name, labels, ndim=1, dtype="int")
    return torch.unique(labels, return_inverse=True)[1]  # 0..K-1


def entropy(labels: Tensor) -> float:
    r""":math:`H(v) = -\sum_a p(a) \log p(a)` of integer labels [N], in nats (0 for N = 0)."""
    labels = _check_labels("labels", labels)
    if labels.numel() == 0:
        return 0.0
    p = torch.bincount(labels).double() / labels.numel()
    p = p[p > 0]
    return float(-(p * p.log()).sum())


def mutual_information(a: Tensor, b: Tensor) -> float:
    r"""Mutual information of two label vectors [N], in nats.

    :math:`I(a; b) = \sum_{i,j} p(i, j) \log \frac{p(i, j)}{p(i) p(j)}`.
    """
    a, b = _check_labels("a", a), _check_labels("b", b)
    if a.shape != b.shape:
        raise ValueError(f"b must have a's shape {list(a.shape)}, got shape {list(b.shape)}")
    if a.numel() == 0:
        return 0.0
    na, nb = int(a.max()) + 1, int(b.max()) + 1
    joint = torch.bincount(a * nb + b, minlength=na * nb).reshape(na, nb).double() / a.numel()  # [A, B]
    pa, pb = joint.sum(1, keepdim=True), joint.sum(0, keepdim=True)
    nz = joint > 0
    return float((joint[nz] * (joint[nz] / (pa @ pb)[nz]).log()).sum())


def mutual_information_matrix(latents: Tensor, factors: Tensor, bins: int = 20) -> Tensor:
    """:math:`I(z_j; v_k)` for every latent j and factor k: Tensor[D, K] (float64, nats).

    Args:
        latents: Tensor[N, D], e.g. the encoder's means; discretised into ``bins`` bins.
        factors: Tensor[N, K] of integer labels (discrete factors, or continuous ones already binned).
    """
    check_tensor("latents", latents, ndim=2)
    check_tensor("factors", factors, shape=(latents.shape[0], None), dtype="int")
    z = discretize(latents, bins)
    return torch.tensor(
        [
            [mutual_information(z[:, j], factors[:, k]) for k in range(factors.shape[1])]
            for j in range(z.shape[1])
        ],
        dtype=torch.float64,
    ).reshape(z.shape[1], factors.shape[1])


def mig(latents: Tensor, factors: Tensor, bins: int = 20) -> tuple[float, Tensor]:
    """The mutual information gap and its per-factor terms.

    Args:
        latents: Tensor[N, D] with D >= 2 (the gap needs a runner-up).
        factors: Tensor[N, K] of integer labels, each factor with at least two values.

    Returns:
        ``(score, gaps)``: the MIG in [0, 1] and Tensor[K] of normalised gaps.
    """
    check_tensor("latents", latents, ndim=2)
    if latents.shape[1] < 2:
        raise ValueError(
            f"latents must have at least 2 dimensions for a gap, got shape {list(latents.shape)}"
        )
    info = mutual_information_matrix(latents, factors, bins)  # [D, K]
    h = torch.tensor([entropy(factors[:, k]) for k in range(factors.shape[1])], dtype=torch.float64)
    if bool((h == 0).any()):
        raise ValueError(f"every factor must take at least two values, got entropies {h.tolist()}")
    top2 = info.topk(2, dim=0).values  # [2, K]
    gaps = (top2[0] - top2[1]) / h
    return float(gaps.mean()), gaps


def latent_correlation(latents: Tensor) -> tuple[Tensor, float]:
    """Pearson correlation between latent dimensions over the data, and the mean |off-diagonal|.

    Dimensions that do not vary (a collapsed latent) have no correlation; they are left out.

    Returns:
        ``(corr, mean_abs)``: Tensor[D', D'] over the varying dimensions, and the mean absolute
        off-diagonal correlation (0 with fewer than 2 varying dimensions).
    """
    check_tensor("latents", latents, ndim=2)
    z = latents.double()
    if z.shape[0] < 2 or z.shape[1] == 0:  # nothing varies (and std() would warn)
        return torch.eye(0, dtype=torch.float64), 0.0
    z = z[:, z.std(0) > 1e-8]
    if z.shape[1] < 2:
        return torch.eye(z.shape[1], dtype=torch.float64), 0.0
    corr = torch.corrcoef(z.T)
    off = ~torch.eye(len(corr), dtype=torch.bool)
    return corr, float(corr[off].abs().mean())


def active_dims(mu: Tensor, threshold: float = 0.01) -> Tensor:
    r"""Latent dimensions the encoder uses: :math:`\mathrm{Var}_x[\mu_j(x)] > ` ``threshold``
    (Burda et al. 2015's activity measure). A dimension beta has pushed onto the prior has the same
    mean for every image. Returns a bool Tensor[D]."""
    check_tensor("mu", mu, ndim=2)
    return mu.double().var(0, unbiased=False) > threshold
