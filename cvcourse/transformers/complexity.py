"""Back-of-the-envelope costs from the notes: self-attention vs RNN, pixels as ViT tokens, ViT FLOPs.

Vaswani et al., 2017, https://arxiv.org/abs/1706.03762, Table 1 (self-attention vs recurrent layer);
the notes' section 3.2 example (a 224 x 224 image with one token per pixel); ``vit_flops`` counts a
ViT's forward pass by hand, part by part, and equals ``torch.utils.flop_counter.FlopCounterMode`` on
``cvcourse.transformers.vit.VisionTransformer`` (tested).
"""

from __future__ import annotations

from cvcourse._checks import check_int

__all__ = ["attention_vs_rnn", "pixel_attention_memory", "vit_flops"]


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


def vit_flops(
    image_size: int = 224,
    patch_size: int = 16,
    num_layers: int = 12,
    hidden_dim: int = 768,
    mlp_dim: int = 3072,
    num_classes: int = 1000,
) -> dict[str, int]:
    r"""FLOPs (2 per multiply-add) of one ViT forward pass on one image, part by part.

    With :math:`N = (H/P)^2 + 1` tokens ([CLS] included), :math:`d` = ``hidden_dim``,
    :math:`m` = ``mlp_dim`` and :math:`L` = ``num_layers``:

    * ``patch embedding``: :math:`2 (H/P)^2 \cdot P^2 C \cdot d` (the stride-P convolution, C = 3);
    * ``projections``: :math:`2 N \cdot 4 d^2 \cdot L` (Q, K, V and the output projection);
    * ``attention``: :math:`2 \cdot 2 N^2 d \cdot L` (:math:`\mathbf{QK}^T` and the weighted sum of V);
    * ``mlp``: :math:`2 N \cdot 2 d m \cdot L`;
    * ``head``: :math:`2 d \cdot` ``num_classes``.

    Everything but ``attention`` grows like N; ``attention`` grows like N^2. Softmax, layer norms,
    GELU and biases are left out, as ``FlopCounterMode`` leaves them out.

    Returns:
        ``{"patch embedding", "projections", "attention", "mlp", "head", "total"}`` as ints.
    """
    for name, v in (
        ("image_size", image_size),
        ("patch_size", patch_size),
        ("num_layers", num_layers),
        ("hidden_dim", hidden_dim),
        ("mlp_dim", mlp_dim),
        ("num_classes", num_classes),
    ):
        check_int(name, v, low=1)
    if image_size % patch_size:
        raise ValueError(f"patch_size={patch_size} must divide image_size={image_size}")
    patches = (image_size // patch_size) ** 2
    n, d, L = patches + 1, hidden_dim, num_layers  # + 1: the [CLS] token
    parts = {
        "patch embedding": 2 * patches * (3 * patch_size**2) * d,
        "projections": 2 * n * 4 * d * d * L,
        "attention": 2 * 2 * n * n * d * L,
        "mlp": 2 * n * 2 * d * mlp_dim * L,
        "head": 2 * d * num_classes,
    }
    return {**parts, "total": sum(parts.values())}
