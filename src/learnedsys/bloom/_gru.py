"""Kraska et al.'s character-level GRU classifier, in PyTorch (``pip install 'learnedsys[torch]'``).

torch is imported on first use (:meth:`CharGRU.fit` or loading a saved filter that uses it).
"""

from __future__ import annotations

from typing import Any

import numba as nb
import numpy as np

from learnedsys._lazy import require
from learnedsys._serialization import FormatError
from learnedsys._validation import check_float, check_int, check_seed
from learnedsys.bloom import _checks
from learnedsys.bloom._classifier import Classifier, register_classifier
from learnedsys.bloom._encode import EncodedBatch

__all__ = ["CharGRU"]

_MAX_DIM = 4096  # embedding and state sizes a saved model may declare
_MAX_LEN = 4096  # bytes of each item the model reads


@nb.njit(cache=True, nogil=True)
def _pad(buf, offsets, max_len, out, lengths):  # type: ignore[no-untyped-def]
    for i in range(out.shape[0]):
        s = offsets[i]
        n = min(offsets[i + 1] - s, max_len)
        for j in range(n):
            out[i, j] = np.int64(buf[s + j]) + 1  # 0 is padding
        lengths[i] = max(n, 1)


def _torch() -> Any:
    return require("torch", extra="torch", purpose="the CharGRU classifier")


def _module(torch: Any, embed_dim: int, hidden: int) -> Any:
    nn = torch.nn

    class _Net(nn.Module):  # type: ignore[name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(257, embed_dim, padding_idx=0)
            self.gru = nn.GRU(embed_dim, hidden, batch_first=True)
            self.out = nn.Linear(hidden, 1)

        def forward(self, x: Any, lengths: Any) -> Any:
            h, _ = self.gru(self.embed(x))
            last = h[torch.arange(h.shape[0]), lengths - 1]
            return self.out(last).squeeze(-1)

    return _Net()


@register_classifier
class CharGRU(Classifier):
    """A character GRU over the item's bytes (the model of Kraska et al., section 5).

    Embedding (257 x ``embed_dim``) -> GRU(``hidden``) -> linear, trained with Adam on
    class-balanced logistic loss; weights are stored as fp16 (counted at 2 bytes each). Scoring
    runs batched in torch, a few microseconds per item on a CPU, so this model is far slower
    than :class:`NGramLogistic`; it is here to compare with the paper. Batched float inference
    may move a score by a hair, so ``score_tolerance`` is 1e-3: keys that close to a threshold go
    into the filters on both sides.

    Args:
        embed_dim: character embedding size.
        hidden: GRU state size.
        max_len: bytes of each item the model reads (the first ``max_len``).
        epochs: passes over the training data.
        batch_size: training batch size.
        learning_rate: Adam step size.
    """

    name = "char_gru"
    score_tolerance = 1e-3

    def __init__(
        self,
        embed_dim: int = 16,
        hidden: int = 16,
        max_len: int = 48,
        epochs: int = 2,
        batch_size: int = 512,
        learning_rate: float = 3e-3,
    ) -> None:
        self.embed_dim = embed_dim
        self.hidden = hidden
        self.max_len = max_len
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self._net: Any = None

    def _tensors(self, batch: EncodedBatch) -> tuple[Any, Any]:
        torch = _torch()
        x = np.zeros((len(batch), self.max_len), dtype=np.int64)
        lengths = np.ones(len(batch), dtype=np.int64)
        _pad(batch.buf, batch.offsets, self.max_len, x, lengths)
        return torch.from_numpy(x), torch.from_numpy(lengths)

    def fit(self, keys: EncodedBatch, negatives: EncodedBatch, seed: int) -> CharGRU:
        owner = type(self).__name__
        for name in ("embed_dim", "hidden", "max_len", "epochs", "batch_size"):
            check_int(getattr(self, name), name, owner, low=1)
        check_float(self.learning_rate, "learning_rate", owner, low=0.0, closed="neither")
        check_seed(seed, "seed", owner)
        torch = _torch()
        torch.manual_seed(seed)
        net = _module(torch, self.embed_dim, self.hidden)
        xk, lk = self._tensors(keys)
        xn, ln = self._tensors(negatives)
        x = torch.cat([xk, xn])
        lengths = torch.cat([lk, ln])
        y = torch.cat([torch.ones(len(keys)), torch.zeros(len(negatives))])
        w = torch.cat([
            torch.full((len(keys),), len(y) / (2.0 * max(len(keys), 1))),
            torch.full((len(negatives),), len(y) / (2.0 * max(len(negatives), 1))),
        ])
        opt = torch.optim.Adam(net.parameters(), lr=self.learning_rate)
        gen = torch.Generator().manual_seed(seed)
        loss_fn = torch.nn.BCEWithLogitsLoss(reduction="none")
        for _ in range(self.epochs):
            perm = torch.randperm(len(y), generator=gen)
            for s in range(0, len(y), self.batch_size):
                idx = perm[s : s + self.batch_size]
                opt.zero_grad()
                loss = (loss_fn(net(x[idx], lengths[idx]), y[idx]) * w[idx]).mean()
                loss.backward()
                opt.step()
        # keep exactly the fp16-representable weights the saved model will have
        with torch.no_grad():
            for p in net.parameters():
                p.copy_(p.half().float())
        net.eval()
        self._net = net
        return self

    def score(self, batch: EncodedBatch) -> np.ndarray:
        if self._net is None:
            raise RuntimeError("CharGRU is not fitted")
        torch = _torch()
        out = np.empty(len(batch), dtype=np.float64)
        step = max(1, min(65536, (1 << 22) // max(int(self.max_len), 1)))  # padded chunks of <= 32 MB
        with torch.no_grad():
            for s in range(0, len(batch), step):
                idx = np.arange(s, min(s + step, len(batch)))
                x, lengths = self._tensors(batch.take(idx))
                out[s : s + idx.shape[0]] = self._net(x, lengths).double().numpy()
        return out

    def size_in_bytes(self) -> int:
        if self._net is None:
            raise RuntimeError("CharGRU is not fitted")
        return 2 * sum(int(p.numel()) for p in self._net.parameters()) + 16

    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        assert self._net is not None
        sd = self._net.state_dict()
        meta = {"embed_dim": self.embed_dim, "hidden": self.hidden, "max_len": self.max_len,
                "names": list(sd)}
        arrays = {f"p{i}": v.detach().half().numpy() for i, v in enumerate(sd.values())}
        return meta, arrays

    @classmethod
    def from_state(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> CharGRU:
        """Rebuild a saved model; sizes, names, shapes and values are checked before torch
        allocates anything (a crafted ``hidden`` of 1e9 is a FormatError, not 8 GB)."""
        where = "CharGRU model"
        embed_dim = _checks.integer(meta, "embed_dim", where, low=1, high=_MAX_DIM)
        hidden = _checks.integer(meta, "hidden", where, low=1, high=_MAX_DIM)
        max_len = _checks.integer(meta, "max_len", where, low=1, high=_MAX_LEN)
        names = meta.get("names") if isinstance(meta, dict) else None
        shapes = _param_shapes(embed_dim, hidden)
        if names != list(shapes):
            raise FormatError(f"{where}: parameter names do not match the architecture")
        for i, k in enumerate(names):
            _checks.array(arrays, f"p{i}", where, np.float16, shape=shapes[k])
        if len(arrays) != len(names):
            raise FormatError(f"{where}: {len(arrays)} weight arrays for {len(names)} parameters")
        torch = _torch()
        m = cls(embed_dim=embed_dim, hidden=hidden, max_len=max_len)
        net = _module(torch, m.embed_dim, m.hidden)
        sd = net.state_dict()
        if list(sd) != names:
            raise FormatError(f"{where}: parameter names do not match the architecture")
        new = {k: torch.from_numpy(arrays[f"p{i}"].astype(np.float32)) for i, k in enumerate(names)}
        net.load_state_dict(new)
        net.eval()
        m._net = net
        return m


def _param_shapes(embed_dim: int, hidden: int) -> dict[str, tuple[int, ...]]:
    """State-dict names and shapes of the network of :func:`_module` (without building it)."""
    return {
        "embed.weight": (257, embed_dim),
        "gru.weight_ih_l0": (3 * hidden, embed_dim),
        "gru.weight_hh_l0": (3 * hidden, hidden),
        "gru.bias_ih_l0": (3 * hidden,),
        "gru.bias_hh_l0": (3 * hidden,),
        "out.weight": (1, hidden),
        "out.bias": (1,),
    }
