"""Shared synthetic data: a membership set a classifier can partly learn."""

from __future__ import annotations

import numpy as np
import pytest


def make_words(n_keys: int, n_neg: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """Keys use letters a-n; most negatives use h-z, one in twenty looks exactly like a key."""
    rng = np.random.default_rng(seed)
    key_alpha = np.array(list("abcdefghijklmn"))
    neg_alpha = np.array(list("hijklmnopqrstuvwxyz"))

    def gen(alpha: np.ndarray, n: int, suffixes: list[str]) -> list[str]:
        out = set()
        while len(out) < n:
            L = int(rng.integers(3, 12))
            w = "".join(rng.choice(alpha, L)) + suffixes[int(rng.integers(len(suffixes)))]
            out.add(w)
        return sorted(out)

    keys = gen(key_alpha, n_keys, ["ing", "ed", "", "s"])
    kset = set(keys)
    # one in twenty negatives looks like a key, so the model cannot separate them all
    n_like = n_neg // 20
    pool = gen(neg_alpha, n_neg - n_like, ["ez", "o", "", "s"]) + gen(key_alpha, n_like + n_keys // 2, ["ing", "ed", "", "s"])
    negs = sorted({w for w in pool if w not in kset})
    order = rng.permutation(len(negs))
    return keys, [negs[i] for i in order]


@pytest.fixture(scope="session")
def words() -> tuple[list[str], list[str], list[str]]:
    """(keys, training negatives, held-out test negatives)."""
    keys, negs = make_words(20_000, 40_000, seed=1)
    half = len(negs) // 2
    return keys, negs[:half], negs[half:]
