"""A toy sequence-to-sequence task for the encoder-decoder transformer: reverse a string of digits.

Vaswani et al., 2017, https://arxiv.org/abs/1706.03762 (the encoder-decoder and its training).

* Autoregressive generation (section 3.1): the decoder starts from <SoS>, appends its own most likely
  token at every step and stops at <EoS>.
* Parallel (teacher-forced) training (section 3.1.4): for a target [<SoS>, t_1 .. t_n, <EoS>] the
  decoder reads [<SoS>, t_1 .. t_n] and must output [t_1 .. t_n, <EoS>] in one pass.
* Masked self-attention: without the causal mask, position i can read t_{i+1} from its input and
  copy it (the data leak); ``influence_matrix`` shows which inputs each output depends on, and
  ``stepwise_logits`` checks that with the mask one pass equals n step-by-step passes.

Tokens: 0 = <pad> (unused, the sequences have a fixed length), 1 = <SoS>, 2 = <EoS>, 3 + d = digit d.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from cvcourse._checks import check_bool, check_float, check_int, check_tensor, check_type

from .attention import causal_mask
from .layers import TransformerDecoderLayer, TransformerEncoderLayer
from .positional import sinusoidal_positional_encoding

__all__ = [
    "PAD",
    "SOS",
    "EOS",
    "VOCAB_SIZE",
    "ReverseDigits",
    "Seq2SeqTransformer",
    "sequence_loss",
    "token_accuracy",
    "sequence_accuracy",
    "train_toy_transformer",
    "generate",
    "stepwise_logits",
    "influence_matrix",
    "decode_digits",
]

PAD, SOS, EOS = 0, 1, 2
VOCAB_SIZE = 3 + 10


class ReverseDigits(Dataset):
    """``n`` random digit strings of length ``length`` and their reversal, packed for ``fit``.

    Item i is ``(inputs, target)``: inputs = LongTensor[length + length + 1] holding the source
    digits then the decoder input [<SoS>, t_1 .. t_n]; target = LongTensor[length + 1] holding
    [t_1 .. t_n, <EoS>]. Deterministic from ``seed``.
    """

    def __init__(self, n: int, length: int = 6, seed: int = 0) -> None:
        n, length = check_int("n", n, low=0), check_int("length", length, low=1)
        seed = check_int("seed", seed)
        g = torch.Generator().manual_seed(seed)
        self.length = length
        self.src = 3 + torch.randint(0, 10, (n, length), generator=g)  # [n, length]
        tgt = self.src.flip(1)  # the task: reverse
        self.tgt_in = torch.cat([torch.full((n, 1), SOS), tgt], dim=1)  # [<SoS>, t_1 .. t_n]
        self.tgt_out = torch.cat([tgt, torch.full((n, 1), EOS)], dim=1)  # [t_1 .. t_n, <EoS>]

    def __len__(self) -> int:
        return len(self.src)

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        return torch.cat([self.src[i], self.tgt_in[i]]), self.tgt_out[i]


class Seq2SeqTransformer(nn.Module):
    """Embedding + sinusoidal positions, an encoder stack, a decoder stack, a linear to the vocabulary.

    Args:
        src_len: source length n (``forward`` splits its packed input there).
        d_model, nhead, num_layers, dim_feedforward: sizes (the same for encoder and decoder).
        norm_first: pre-norm (True) or post-norm (False) layers.
        causal: use the causal mask in the decoder's self-attention (False shows the leak).
        max_len: longest sequence the positional table covers.
    """

    def __init__(
        self,
        src_len: int,
        d_model: int = 32,
        nhead: int = 4,
        num_layers: int = 2,
        dim_feedforward: int = 64,
        norm_first: bool = True,
        causal: bool = True,
        max_len: int = 64,
    ) -> None:
        super().__init__()
        self.src_len, self.causal = src_len, causal
        self.embed = nn.Embedding(VOCAB_SIZE, d_model)
        self.register_buffer("pe", sinusoidal_positional_encoding(max_len, d_model), persistent=False)
        layer_args = {
            "d_model": d_model,
            "nhead": nhead,
            "dim_feedforward": dim_feedforward,
            "dropout": 0.0,
            "batch_first": True,
            "norm_first": norm_first,
        }
        self.encoder = nn.ModuleList(TransformerEncoderLayer(**layer_args) for _ in range(num_layers))
        self.decoder = nn.ModuleList(TransformerDecoderLayer(**layer_args) for _ in range(num_layers))
        self.norm = nn.LayerNorm(d_model) if norm_first else nn.Identity()  # pre-norm needs a final LN
        self.out = nn.Linear(d_model, VOCAB_SIZE)

    def _tokens(self, ids: Tensor) -> Tensor:
        return self.embed(ids) * self.embed.embedding_dim**0.5 + self.pe[: ids.shape[1]]  # [N, L, D]

    def encode(self, src: Tensor) -> Tensor:
        """LongTensor[N, S] -> memory Tensor[N, S, D]."""
        x = self._tokens(src)
        for layer in self.encoder:
            x = layer(x)
        return x

    def decode(self, tgt_in: Tensor, memory: Tensor) -> Tensor:
        """LongTensor[N, T] decoder inputs + memory -> logits Tensor[N, T, VOCAB_SIZE]."""
        T = tgt_in.shape[1]
        mask = ~causal_mask(T, device=tgt_in.device) if self.causal else None  # True = blocked
        x = self._tokens(tgt_in)
        for layer in self.decoder:
            x = layer(x, memory, tgt_mask=mask)
        return self.out(self.norm(x))

    def forward(self, packed: Tensor) -> Tensor:
        """LongTensor[N, S + T] (source then decoder input, as ``ReverseDigits`` packs them)
        -> logits Tensor[N, T, VOCAB_SIZE], all positions in one teacher-forced pass."""
        check_tensor("packed", packed, dtype="int")
        if packed.dim() != 2 or packed.shape[1] <= self.src_len:
            raise ValueError(f"expected LongTensor[N, {self.src_len} + T], got {tuple(packed.shape)}")
        src, tgt_in = packed[:, : self.src_len], packed[:, self.src_len :]
        return self.decode(tgt_in, self.encode(src))


def sequence_loss(logits: Tensor, target: Tensor) -> Tensor:
    """Cross-entropy over every position: logits [N, T, V], target [N, T]."""
    return F.cross_entropy(logits.flatten(0, 1), target.flatten())


def token_accuracy(logits: Tensor, target: Tensor) -> float:
    """Fraction of positions whose most likely token is right (teacher-forced)."""
    return (logits.argmax(dim=-1) == target).double().mean().item()


def sequence_accuracy(generated: Tensor, target: Tensor) -> float:
    """Fraction of sequences generated exactly right: generated [N, <= T'] vs target [N, T].

    A generation that stopped early is padded with <pad>, so it can only match if it is complete.
    """
    T = target.shape[1]
    padded = F.pad(generated, (0, max(0, T - generated.shape[1])), value=PAD)[:, :T]  # [N, T]
    return (padded == target).all(dim=1).double().mean().item()


def train_toy_transformer(
    dataset: ReverseDigits,
    epochs: int,
    causal: bool = True,
    norm_first: bool = True,
    lr: float = 3e-3,
    num_layers: int = 1,
    seed: int = 0,
    device=None,
):
    """Train a ``Seq2SeqTransformer`` on ``dataset`` with ``cvcourse.train.fit`` (Adam, batches of 64).

    Returns:
        ``(model, history)``: the model on the CPU in eval mode and fit's History.
    """
    from cvcourse.runtime import seed_everything
    from cvcourse.train import fit

    check_type("dataset", dataset, ReverseDigits, "a ReverseDigits data set")
    epochs, num_layers = check_int("epochs", epochs, low=0), check_int("num_layers", num_layers, low=1)
    check_bool("causal", causal)
    check_bool("norm_first", norm_first)
    lr = check_float("lr", lr, low=0.0, low_inclusive=False)
    generator = seed_everything(seed)
    model = Seq2SeqTransformer(dataset.length, num_layers=num_layers, causal=causal, norm_first=norm_first)
    loader = DataLoader(dataset, batch_size=64, shuffle=True, generator=generator)
    history = fit(
        model,
        loader,
        sequence_loss,
        torch.optim.Adam(model.parameters(), lr=lr),
        epochs=epochs,
        metrics={"token accuracy": token_accuracy},
        device=device,
        live_plot=False,
        progress=False,
    )
    return model.cpu().eval(), history


@torch.no_grad()
def generate(model: Seq2SeqTransformer, src: Tensor, max_len: int | None = None) -> Tensor:
    """Greedy autoregressive generation: start at <SoS>, append the argmax token, stop at <EoS>.

    Args:
        model: a trained ``Seq2SeqTransformer``.
        src: LongTensor[N, S].
        max_len: most tokens to generate (default S + 1).

    Returns:
        LongTensor[N, <= max_len] of generated tokens (without <SoS>; rows that finished early are
        padded with <EoS>).
    """
    model.eval()
    max_len = src.shape[1] + 1 if max_len is None else max_len
    memory = model.encode(src)
    out = torch.full((src.shape[0], 1), SOS, dtype=torch.long, device=src.device)
    done = torch.zeros(src.shape[0], dtype=torch.bool, device=src.device)
    for _ in range(max_len):
        next_token = model.decode(out, memory)[:, -1].argmax(dim=-1)  # [N]: only the last position
        next_token = next_token.masked_fill(done, EOS)
        out = torch.cat([out, next_token[:, None]], dim=1)
        done |= next_token == EOS
        if done.all():
            break
    return out[:, 1:]


@torch.no_grad()
def stepwise_logits(model: Seq2SeqTransformer, src: Tensor, tgt_in: Tensor) -> Tensor:
    """Logits computed the way generation sees them: position t from the prefix tgt_in[:, :t+1] only.

    With the causal mask this equals the one-pass ``model.decode(tgt_in, memory)``.

    Returns:
        Tensor[N, T, VOCAB_SIZE].
    """
    memory = model.encode(src)
    steps = [model.decode(tgt_in[:, : t + 1], memory)[:, -1] for t in range(tgt_in.shape[1])]
    return torch.stack(steps, dim=1)


@torch.no_grad()
def influence_matrix(model: Seq2SeqTransformer, src: Tensor, tgt_in: Tensor) -> Tensor:
    """Which decoder inputs each output position depends on (by changing one input token at a time).

    Returns:
        BoolTensor[T, T]: entry (i, j) is True if changing input token j changes output i for some
        sequence of the batch. With the causal mask it is lower triangular: no leak from the future.
    """
    memory = model.encode(src)
    base = model.decode(tgt_in, memory)  # [N, T, V]
    T = tgt_in.shape[1]
    influence = torch.zeros(T, T, dtype=torch.bool)
    for j in range(T):
        changed = tgt_in.clone()
        changed[:, j] = 3 + (changed[:, j] - 3 + 5) % 10  # a different digit (or a digit for <SoS>)
        diff = (model.decode(changed, memory) - base).abs().amax(dim=(0, 2))  # [T]
        influence[:, j] = diff > 1e-6
    return influence


def decode_digits(tokens: Tensor) -> str:
    """LongTensor[L] -> a readable string ('<SoS>', digits, '<EoS>')."""
    names = {PAD: "<pad>", SOS: "<SoS>", EOS: "<EoS>"}
    return " ".join(names.get(int(t), str(int(t) - 3)) for t in tokens)
