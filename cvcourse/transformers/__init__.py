"""Chapter 3: transformers and the vision transformer, exact and readable.

Modules, in the order of the notes (section 3):

* ``additive``: traditional (additive, Bahdanau) attention and a tiny model that learns Fig. 3.2's
  alignment;
* ``attention``: dot-product attention of one vector, scaled dot-product attention
  (= ``F.scaled_dot_product_attention``), attention weights, the causal mask;
* ``multihead``: ``multi_head_attention``, the short core, and the drop-in ``MultiheadAttention``
  around it (= ``nn.MultiheadAttention``);
* ``normalization``: layer norm vs batch norm, which axes (Fig. 3.4);
* ``layers``: encoder and decoder layers, post-norm and pre-norm (= ``nn.TransformerEncoderLayer`` /
  ``nn.TransformerDecoderLayer``), the FFN as 1x1 convolutions;
* ``toy_seq``: the encoder-decoder on a toy task, autoregressive generation, the causal-mask leak;
* ``positional``: sinusoidal and learned positional encodings, permutation equivariance;
* ``complexity``: self-attention vs RNN costs, the pixel-token memory estimate, ViT FLOPs part by part;
* ``patches``: ``patchify`` and ``PatchEmbedding``, patches as tokens (= a stride-P convolution);
* ``vit``: ``VisionTransformer`` and ``vit_b_16`` / ``vit_l_16`` / ``vit_h_14`` (= torchvision's);
* ``embedding_filters``: a patch embedding's filters and their principal components (Fig. 3.8);
* ``attention_maps``: attention of every layer and head via hooks, rollout, mean attention distance;
* ``pretrained``: the shipped small ViT (``load_shapes_vit``) and torchvision's ViT-B/16 weights;
* ``inductive_bias``: ResNet vs ViT vs windowed attention on little and more data (Exercise 7-1 d);
* ``widgets``: the attention-map viewer.
"""

from .attention import (
    attention_with_weights,
    causal_mask,
    dot_product_attention_one,
    scaled_dot_product_attention,
)
from .attention_maps import (
    attention_maps,
    attention_rollout,
    mean_attention_distance,
    record_attention,
)
from .layers import TransformerDecoderLayer, TransformerEncoderLayer, ffn_as_conv1d
from .multihead import MultiheadAttention
from .positional import LearnedPositionalEncoding, sinusoidal_positional_encoding
from .pretrained import load_shapes_vit, load_torchvision_vit_b_16
from .vit import (
    PatchEmbedding,
    VisionTransformer,
    VisionTransformerGAP,
    patchify,
    vit_b_16,
    vit_b_32,
    vit_h_14,
    vit_l_16,
    vit_l_32,
)

__all__ = [
    "scaled_dot_product_attention",
    "attention_with_weights",
    "dot_product_attention_one",
    "causal_mask",
    "MultiheadAttention",
    "TransformerEncoderLayer",
    "TransformerDecoderLayer",
    "ffn_as_conv1d",
    "sinusoidal_positional_encoding",
    "LearnedPositionalEncoding",
    "PatchEmbedding",
    "VisionTransformer",
    "VisionTransformerGAP",
    "patchify",
    "vit_b_16",
    "vit_b_32",
    "vit_l_16",
    "vit_l_32",
    "vit_h_14",
    "attention_maps",
    "record_attention",
    "attention_rollout",
    "mean_attention_distance",
    "load_shapes_vit",
    "load_torchvision_vit_b_16",
]
