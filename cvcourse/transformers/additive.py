r"""Traditional (additive) attention, before transformers (notes 3.1.1, Fig. 3.2).

Bahdanau, Cho and Bengio, "Neural Machine Translation by Jointly Learning to Align and Translate",
2014, https://arxiv.org/abs/1409.0473, Sec. 3.1 and Appendix A.1.2. An RNN decoder in state
:math:`s_{i-1}` scores every encoder state :math:`h_j` with a small network,

.. math:: e_{ij} = v^T \tanh(W s_{i-1} + U h_j),\qquad
          \alpha_{ij} = \mathrm{softmax}_j(e_{ij}),\qquad c_i = \sum_j \alpha_{ij} h_j,

and the matrix :math:`\alpha` (output position i against input position j) is the alignment the
paper plots (the notes' Fig. 3.2). Unlike a transformer's attention there are no keys, queries and
values of the same tokens: the weights come from a learned network between two sequences, and they
feed an RNN. Symbols -> attributes: W -> ``query_proj``, U -> ``key_proj``, v -> ``score``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from cvcourse._checks import check_int, check_tensor

__all__ = ["AdditiveAttention"]


class AdditiveAttention(nn.Module):
    """Bahdanau's attention: decoder states [N, T, d_s], encoder states [N, S, d_h] -> context, weights.

    Args:
        query_dim: d_s, the decoder state size.
        key_dim: d_h, the encoder state size.
        hidden_dim: d_a, the width of the scoring network.
    """

    def __init__(self, query_dim: int, key_dim: int, hidden_dim: int) -> None:
        super().__init__()
        for name, v in (("query_dim", query_dim), ("key_dim", key_dim), ("hidden_dim", hidden_dim)):
            check_int(name, v, low=1)
        self.query_proj = nn.Linear(query_dim, hidden_dim, bias=False)  # W
        self.key_proj = nn.Linear(key_dim, hidden_dim, bias=True)  # U (+ the bias of the tanh layer)
        self.score = nn.Linear(hidden_dim, 1, bias=False)  # v

    def forward(self, queries: Tensor, keys: Tensor) -> tuple[Tensor, Tensor]:
        """Returns ``(context Tensor[N, T, d_h], weights Tensor[N, T, S])``, weights summing to 1 over S."""
        check_tensor("queries", queries, shape=("N", "T", self.query_proj.in_features), dtype="float")
        check_tensor("keys", keys, shape=(queries.shape[0], "S", self.key_proj.in_features), dtype="float")
        hidden = torch.tanh(
            self.query_proj(queries)[:, :, None] + self.key_proj(keys)[:, None]
        )  # [N, T, S, d_a]
        scores = self.score(hidden).squeeze(-1)  # e_ij: [N, T, S]
        weights = torch.softmax(scores, dim=-1)  # alpha_ij
        return weights @ keys, weights  # c_i = sum_j alpha_ij h_j: [N, T, d_h]
