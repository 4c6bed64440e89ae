"""Back-of-the-envelope costs from the notes: self-attention vs RNN, and pixels as ViT tokens.

Vaswani et al., 2017, https://arxiv.org/abs/1706.03762, Table 1 (self-attention vs recurrent layer);
the notes' section 3.2 example (a 224 x 224 image with one token per pixel).
"""

from __future__ import annotations

from cvcourse._checks import check_int

__all__ = ["attention_vs_rnn", "pixel_attention_memory"]


def attention_vs_rnn(n: int, d: int) -> dict[str, dict[str, int]]:
    """Per-layer cost of self-attention and of an RNN on n tokens of dimension d.

    Self-attention: n^2 d multiply-adds (Q K^T and the weighted sum), O(1) sequential steps, path
    length 1 between any two tokens. RNN: n d^2 (one d x d matrix per step), n sequential steps, path
    length up to n.

    Returns:
        ``{"self-attention": {...}, "rnn": {...}}`` with keys ``operations``, ``sequential``, ``path``.
    """
    n, d = check_int("n", n, low=1), check_int("d", d, low=1)
    return {
        "self-attention": {"operations": n * n * d, "sequential": 1, "path": 1},
        "rnn": {"operations": n * d * d, "sequential": n, "path": n},
    }


def pixel_attention_memory(
    image_size: int = 224, bytes_per_entry: int = 2, layers: int = 12, heads: int = 8
) -> dict[str, float]:
    """Memory of the attention matrices if every pixel were a token.

    An H x W image gives HW tokens and an (HW)^2 attention matrix per head and layer.

    Args:
        image_size: H = W.
        bytes_per_entry: 2 for half precision.
        layers, heads: the transformer's depth and heads per layer.

    Returns:
        ``entries`` ((HW)^2), ``bytes_one`` (one matrix) and ``bytes_all`` (layers x heads matrices).
    """
    for name, v in (
        ("image_size", image_size),
        ("bytes_per_entry", bytes_per_entry),
        ("layers", layers),
        ("heads", heads),
    ):
        check_int(name, v, low=1)
    entries = (image_size * image_size) ** 2
    return {
        "entries": entries,
        "bytes_one": entries * bytes_per_entry,
        "bytes_all": entries * bytes_per_entry * layers * heads,
    }
