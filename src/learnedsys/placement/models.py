"""Benchmark models, written in the project (nothing downloaded).

Each factory returns ``(model, example_inputs)`` built on ``device`` (``"meta"`` by default: no
memory for weights, export in seconds); pass ``device="cpu"`` for a model you can run. They are
what ``learnedsys place MODULE:FACTORY`` expects, e.g. ``learnedsys.placement.models:nmt4``.

* :func:`rnnlm` - the 2017 paper's language model: embedding, 2-layer ``nn.LSTM``, softmax.
* :func:`nmt` (:func:`nmt2`, :func:`nmt4`, :func:`nmt8`) - GNMT-like translation: stacked LSTM
  encoder and decoder (residual from the third layer), dot-product attention from the bottom
  decoder layer fed to the layers above, softmax.
* :func:`inception_v3` - the Inception-V3 layout (stem, 3 x A, B, 4 x C, D, 2 x E), branches of
  each block in a ``ModuleList``.
* :func:`transformer` - encoder-decoder Transformer; :func:`gpt2_small` - a GPT-2-small-like
  decoder.
* :func:`towers` - independent towers (the "spread me" check); :func:`chain` - a plain chain of
  layers (the "do not make it worse" check).

Sizes are arguments; the defaults are the benchmark's (batch and sequence lengths reduced from the
papers so that export stays fast on two cores).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "chain",
    "gpt2_small",
    "inception_v3",
    "nmt",
    "nmt2",
    "nmt4",
    "nmt8",
    "rnnlm",
    "towers",
    "transformer",
]


# ------------------------------------------------------------------------------ RNNLM
class RNNLM(nn.Module):
    def __init__(self, vocab: int, hidden: int, layers: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab, hidden)
        self.lstm = nn.LSTM(hidden, hidden, num_layers=layers, batch_first=True)
        self.decoder = nn.Linear(hidden, vocab)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        h, _ = self.lstm(self.embedding(tokens))
        return F.log_softmax(self.decoder(h), dim=-1)


def rnnlm(batch: int = 64, seq: int = 20, vocab: int = 10000, hidden: int = 1024, layers: int = 2, device: str = "meta") -> tuple[nn.Module, tuple[Any, ...]]:
    """2-layer LSTM language model (the 2017 paper's RNNLM)."""
    with torch.device(device):
        m = RNNLM(vocab, hidden, layers)
        x = torch.zeros(batch, seq, dtype=torch.long)
    return m, (x,)


# ------------------------------------------------------------------------------ NMT
class NMT(nn.Module):
    """GNMT-like: per-step LSTM cells (a static unrolled graph, as in the papers' TensorFlow
    models), residual connections from the third layer, attention per decoder step from the
    bottom decoder layer, fed to every layer above."""

    def __init__(self, vocab: int, hidden: int, layers: int) -> None:
        super().__init__()
        self.hidden = hidden
        self.src_embedding = nn.Embedding(vocab, hidden)
        self.tgt_embedding = nn.Embedding(vocab, hidden)
        self.encoder = nn.ModuleList([nn.LSTMCell(hidden, hidden) for _ in range(layers)])
        self.decoder = nn.ModuleList(
            [nn.LSTMCell(hidden if i == 0 else 2 * hidden, hidden) for i in range(layers)]
        )
        self.attention = nn.Linear(hidden, hidden, bias=False)
        self.projection = nn.Linear(hidden, vocab)

    def _stack(self, cells: nn.ModuleList, xs: list[torch.Tensor], memory: torch.Tensor | None) -> list[torch.Tensor]:
        b = xs[0].shape[0]
        contexts: list[torch.Tensor] = []
        for i, cell in enumerate(cells):
            h = xs[0].new_zeros(b, self.hidden)
            c = xs[0].new_zeros(b, self.hidden)
            outs = []
            for t, x in enumerate(xs):
                inp = x if (memory is None or i == 0) else torch.cat([x, contexts[t]], dim=-1)
                h, c = cell(inp, (h, c))
                outs.append(x + h if i >= 2 else h)
                if memory is not None and i == 0:
                    scores = torch.bmm(memory, self.attention(h).unsqueeze(2))
                    weights = torch.softmax(scores, dim=1)
                    contexts.append((weights * memory).sum(dim=1))
            xs = outs
        return xs

    def forward(self, src: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
        enc = self._stack(self.encoder, list(self.src_embedding(src).unbind(1)), None)
        memory = torch.stack(enc, dim=1)
        dec = self._stack(self.decoder, list(self.tgt_embedding(tgt).unbind(1)), memory)
        return F.log_softmax(self.projection(torch.stack(dec, dim=1)), dim=-1)


def nmt(layers: int = 4, batch: int = 64, seq: int = 20, vocab: int = 8000, hidden: int = 1024, device: str = "meta") -> tuple[nn.Module, tuple[Any, ...]]:
    """GNMT-like translation model with ``layers`` LSTM layers in encoder and decoder."""
    with torch.device(device):
        m = NMT(vocab, hidden, layers)
        src = torch.zeros(batch, seq, dtype=torch.long)
        tgt = torch.zeros(batch, seq, dtype=torch.long)
    return m, (src, tgt)


def nmt2(**kw: Any) -> tuple[nn.Module, tuple[Any, ...]]:
    return nmt(layers=2, **kw)


def nmt4(**kw: Any) -> tuple[nn.Module, tuple[Any, ...]]:
    return nmt(layers=4, **kw)


def nmt8(**kw: Any) -> tuple[nn.Module, tuple[Any, ...]]:
    return nmt(layers=8, **kw)


# ------------------------------------------------------------------------------ Inception-V3
class Conv(nn.Sequential):
    def __init__(self, cin: int, cout: int, kernel: Any, stride: int = 1, padding: Any = 0) -> None:
        super().__init__(
            nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding, bias=False),
            nn.BatchNorm2d(cout, eps=0.001),
            nn.ReLU(),
        )


class Pool(nn.Module):
    def __init__(self, kind: str, cin: int = 0, cout: int = 0, stride: int = 1) -> None:
        super().__init__()
        self.kind, self.stride = kind, stride
        self.proj = Conv(cin, cout, 1) if cout else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "avg":
            x = F.avg_pool2d(x, 3, stride=self.stride, padding=1)
        else:
            x = F.max_pool2d(x, 3, stride=self.stride, padding=0 if self.stride == 2 else 1)
        return self.proj(x) if self.proj is not None else x


class Block(nn.Module):
    """Parallel branches, concatenated along channels."""

    def __init__(self, branches: list[nn.Module]) -> None:
        super().__init__()
        self.branches = nn.ModuleList(branches)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([b(x) for b in self.branches], dim=1)


def _block_a(cin: int, pool: int) -> Block:
    return Block([
        Conv(cin, 64, 1),
        nn.Sequential(Conv(cin, 48, 1), Conv(48, 64, 5, padding=2)),
        nn.Sequential(Conv(cin, 64, 1), Conv(64, 96, 3, padding=1), Conv(96, 96, 3, padding=1)),
        Pool("avg", cin, pool),
    ])


def _block_b(cin: int) -> Block:
    return Block([
        Conv(cin, 384, 3, stride=2),
        nn.Sequential(Conv(cin, 64, 1), Conv(64, 96, 3, padding=1), Conv(96, 96, 3, stride=2)),
        Pool("max", stride=2),
    ])


def _block_c(cin: int, c7: int) -> Block:
    return Block([
        Conv(cin, 192, 1),
        nn.Sequential(Conv(cin, c7, 1), Conv(c7, c7, (1, 7), padding=(0, 3)), Conv(c7, 192, (7, 1), padding=(3, 0))),
        nn.Sequential(
            Conv(cin, c7, 1), Conv(c7, c7, (7, 1), padding=(3, 0)), Conv(c7, c7, (1, 7), padding=(0, 3)),
            Conv(c7, c7, (7, 1), padding=(3, 0)), Conv(c7, 192, (1, 7), padding=(0, 3)),
        ),
        Pool("avg", cin, 192),
    ])


def _block_d(cin: int) -> Block:
    return Block([
        nn.Sequential(Conv(cin, 192, 1), Conv(192, 320, 3, stride=2)),
        nn.Sequential(Conv(cin, 192, 1), Conv(192, 192, (1, 7), padding=(0, 3)), Conv(192, 192, (7, 1), padding=(3, 0)), Conv(192, 192, 3, stride=2)),
        Pool("max", stride=2),
    ])


class Split(nn.Module):
    """Inception-E's forked tail: one stem, two parallel convolutions, concatenated."""

    def __init__(self, stem: nn.Module, cmid: int) -> None:
        super().__init__()
        self.stem = stem
        self.a = Conv(cmid, 384, (1, 3), padding=(0, 1))
        self.b = Conv(cmid, 384, (3, 1), padding=(1, 0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.stem(x)
        return torch.cat([self.a(y), self.b(y)], dim=1)


def _block_e(cin: int) -> Block:
    return Block([
        Conv(cin, 320, 1),
        Split(Conv(cin, 384, 1), 384),
        Split(nn.Sequential(Conv(cin, 448, 1), Conv(448, 384, 3, padding=1)), 384),
        Pool("avg", cin, 192),
    ])


class InceptionV3(nn.Module):
    def __init__(self, classes: int = 1000) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            Conv(3, 32, 3, stride=2), Conv(32, 32, 3), Conv(32, 64, 3, padding=1), nn.MaxPool2d(3, 2),
            Conv(64, 80, 1), Conv(80, 192, 3), nn.MaxPool2d(3, 2),
        )
        self.mixed_5b = _block_a(192, 32)
        self.mixed_5c = _block_a(256, 64)
        self.mixed_5d = _block_a(288, 64)
        self.mixed_6a = _block_b(288)
        self.mixed_6b = _block_c(768, 128)
        self.mixed_6c = _block_c(768, 160)
        self.mixed_6d = _block_c(768, 160)
        self.mixed_6e = _block_c(768, 192)
        self.mixed_7a = _block_d(768)
        self.mixed_7b = _block_e(1280)
        self.mixed_7c = _block_e(2048)
        self.fc = nn.Linear(2048, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for blk in (self.mixed_5b, self.mixed_5c, self.mixed_5d, self.mixed_6a, self.mixed_6b, self.mixed_6c,
                    self.mixed_6d, self.mixed_6e, self.mixed_7a, self.mixed_7b, self.mixed_7c):
            x = blk(x)
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return F.log_softmax(self.fc(x), dim=-1)


def inception_v3(batch: int = 32, image: int = 299, classes: int = 1000, device: str = "meta") -> tuple[nn.Module, tuple[Any, ...]]:
    """Inception-V3 (the 2017 paper's image model); ``image`` >= 75."""
    with torch.device(device):
        m = InceptionV3(classes).eval()
        x = torch.zeros(batch, 3, image, image)
    return m, (x,)


# ------------------------------------------------------------------------------ Transformers
class Attention(nn.Module):
    def __init__(self, d: int, heads: int, causal: bool = False) -> None:
        super().__init__()
        self.heads, self.causal = heads, causal
        self.q = nn.Linear(d, d)
        self.kv = nn.Linear(d, 2 * d)
        self.out = nn.Linear(d, d)

    def forward(self, x: torch.Tensor, mem: torch.Tensor | None = None) -> torch.Tensor:
        b, t, d = x.shape
        src = x if mem is None else mem
        q = self.q(x).view(b, t, self.heads, d // self.heads).transpose(1, 2)
        k, v = self.kv(src).view(b, src.shape[1], 2, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=self.causal)
        return self.out(y.transpose(1, 2).reshape(b, t, d))


class Layer(nn.Module):
    def __init__(self, d: int, heads: int, causal: bool = False, cross: bool = False) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(d)
        self.attn = Attention(d, heads, causal)
        self.cross = Attention(d, heads) if cross else None
        self.ln2 = nn.LayerNorm(d) if cross else None
        self.ln3 = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def forward(self, x: torch.Tensor, mem: torch.Tensor | None = None) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        if self.cross is not None and self.ln2 is not None:
            x = x + self.cross(self.ln2(x), mem)
        return x + self.mlp(self.ln3(x))


class Transformer(nn.Module):
    def __init__(self, vocab: int, d: int, heads: int, layers: int) -> None:
        super().__init__()
        self.src_embedding = nn.Embedding(vocab, d)
        self.tgt_embedding = nn.Embedding(vocab, d)
        self.encoder = nn.ModuleList([Layer(d, heads) for _ in range(layers)])
        self.decoder = nn.ModuleList([Layer(d, heads, causal=True, cross=True) for _ in range(layers)])
        self.ln = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab)

    def forward(self, src: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
        m = self.src_embedding(src)
        for layer in self.encoder:
            m = layer(m)
        x = self.tgt_embedding(tgt)
        for layer in self.decoder:
            x = layer(x, m)
        return F.log_softmax(self.head(self.ln(x)), dim=-1)


def transformer(batch: int = 32, seq: int = 64, vocab: int = 8000, d: int = 512, heads: int = 8, layers: int = 6, device: str = "meta") -> tuple[nn.Module, tuple[Any, ...]]:
    """Encoder-decoder Transformer (base size by default)."""
    with torch.device(device):
        m = Transformer(vocab, d, heads, layers)
        src = torch.zeros(batch, seq, dtype=torch.long)
        tgt = torch.zeros(batch, seq, dtype=torch.long)
    return m, (src, tgt)


class GPT(nn.Module):
    def __init__(self, vocab: int, d: int, heads: int, layers: int, seq: int) -> None:
        super().__init__()
        self.wte = nn.Embedding(vocab, d)
        self.wpe = nn.Embedding(seq, d)
        self.blocks = nn.ModuleList([Layer(d, heads, causal=True) for _ in range(layers)])
        self.ln = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab, bias=False)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        pos = torch.arange(tokens.shape[1], device=tokens.device)
        x = self.wte(tokens) + self.wpe(pos)
        for blk in self.blocks:
            x = blk(x)
        return self.head(self.ln(x))


def gpt2_small(batch: int = 8, seq: int = 256, vocab: int = 50257, d: int = 768, heads: int = 12, layers: int = 12, device: str = "meta") -> tuple[nn.Module, tuple[Any, ...]]:
    """GPT-2-small-like decoder (12 x 768, 12 heads)."""
    with torch.device(device):
        m = GPT(vocab, d, heads, layers, seq)
        x = torch.zeros(batch, seq, dtype=torch.long)
    return m, (x,)


# ------------------------------------------------------------------------------ checks
class Towers(nn.Module):
    def __init__(self, n: int, depth: int, d: int) -> None:
        super().__init__()
        self.towers = nn.ModuleList(
            [nn.Sequential(*[m for _ in range(depth) for m in (nn.Linear(d, d), nn.ReLU())]) for _ in range(n)]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.towers[0](x[0])
        for i in range(1, len(self.towers)):
            out = out + self.towers[i](x[i])
        return out


def towers(n: int = 4, depth: int = 6, d: int = 2048, batch: int = 256, device: str = "meta") -> tuple[nn.Module, tuple[Any, ...]]:
    """``n`` independent MLP towers on separate inputs, summed at the end."""
    with torch.device(device):
        m = Towers(n, depth, d)
        x = torch.zeros(n, batch, d)
    return m, (x,)


def chain(depth: int = 12, d: int = 2048, batch: int = 256, device: str = "meta") -> tuple[nn.Module, tuple[Any, ...]]:
    """A plain chain of linear layers: nothing to parallelise."""
    with torch.device(device):
        m = nn.Sequential(*[mm for _ in range(depth) for mm in (nn.Linear(d, d), nn.ReLU())])
        x = torch.zeros(batch, d)
    return m, (x,)
