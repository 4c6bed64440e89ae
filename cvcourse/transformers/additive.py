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

``ReversalAligner`` / ``train_reversal_aligner``: the smallest model that *learns* such an alignment
(the notebook's Fig. 3.2): "translate" a digit string into its reverse, where output i must look at
input n - 1 - i. It departs from the paper to stay tiny: the decoder state :math:`s_{i-1}` is a learned
vector per output step instead of an RNN's state, and the encoder states are token + position
embeddings instead of a bidirectional RNN's.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset

from cvcourse._checks import check_int, check_tensor

from .toy_seq import sequence_loss

__all__ = ["AdditiveAttention", "ReversalAligner", "train_reversal_aligner"]


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


class ReversalAligner(nn.Module):
    """Additive attention + a linear read-out that outputs a digit string reversed.

    Args:
        length: n, the string length (positions 0 .. n-1).
        dim: the size of the embeddings, decoder states and attention network.
        vocab: the number of symbols (10 digits).
    """

    def __init__(self, length: int = 6, dim: int = 16, vocab: int = 10) -> None:
        super().__init__()
        for name, v in (("length", length), ("dim", dim), ("vocab", vocab)):
            check_int(name, v, low=1)
        self.token = nn.Embedding(vocab, dim)
        self.position = nn.Embedding(length, dim)  # encoder: h_j = token + position embedding
        self.decoder_state = nn.Embedding(length, dim)  # s_{i-1}: one learned vector per output step
        self.attention = AdditiveAttention(dim, dim, dim)
        self.readout = nn.Linear(dim, vocab)

    def forward(self, src: Tensor) -> tuple[Tensor, Tensor]:
        """Digits [N, n] -> (logits Tensor[N, n, vocab], alignment weights alpha Tensor[N, n, n])."""
        check_tensor("src", src, shape=("N", self.position.num_embeddings), dtype=torch.long)
        keys = self.token(src) + self.position.weight  # h_j: [N, n, dim]
        queries = self.decoder_state.weight.expand(src.shape[0], -1, -1)  # s_{i-1}: [N, n, dim]
        context, weights = self.attention(queries, keys)  # c_i: [N, n, dim]
        return self.readout(context), weights


def train_reversal_aligner(
    length: int = 6, steps: int = 100, batch_size: int = 64, lr: float = 1e-2, seed: int = 0
) -> tuple[ReversalAligner, list[float]]:
    """Train a ``ReversalAligner`` with Adam and cross-entropy through ``cvcourse.train.fit``: one
    pass over ``steps * batch_size`` random strings, so every step sees strings of its own.

    Returns:
        The trained model (eval mode) and the loss of every step.
    """
    from cvcourse.train import fit

    for name, v in (("length", length), ("steps", steps), ("batch_size", batch_size), ("seed", seed)):
        check_int(name, v, low=0 if name == "seed" else 1)
    src = torch.randint(0, 10, (steps * batch_size, length), generator=torch.Generator().manual_seed(seed))
    torch.manual_seed(seed)  # the initial weights
    model = ReversalAligner(length)
    history = fit(
        model,
        DataLoader(TensorDataset(src, src.flip(1)), batch_size=batch_size),  # target: the reversed string
        lambda outputs, target: sequence_loss(outputs[0], target),  # outputs: (logits, weights)
        torch.optim.Adam(model.parameters(), lr=lr),
        epochs=1,
        live_plot=False,
        progress=False,
    )
    return model.eval(), history.steps["train_loss"]
