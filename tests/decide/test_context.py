"""Contexts as users hold them: a dict of named features or a vector, with every contextual policy."""

from __future__ import annotations

import random

import numpy as np
import pytest

from learnedsys.decide import Choice, LinearThompson, LinUCB
from learnedsys.policy import Reinforce
from learnedsys.policy._base import STRING_SLOTS, as_vector


def test_dict_encoding_is_stable_and_named() -> None:
    a = as_vector({"os": "linux", "load": 0.25, "hot": True}, "t")
    b = as_vector({"load": 0.25, "hot": True, "os": "linux"}, "t")  # key order does not matter
    assert a.shape == (2 + STRING_SLOTS,) and np.array_equal(a, b)
    assert a[0] == 1.0 and a[1] == 0.25 and a[2:].sum() == 1.0  # hot, load, one-hot of os
    assert not np.array_equal(a, as_vector({"os": "mac", "load": 0.25, "hot": True}, "t"))
    with pytest.raises(ValueError, match="'x'"):
        as_vector({"x": [1, 2]}, "t")


@pytest.mark.parametrize("make", [None, lambda: LinUCB(seed=0), lambda: LinearThompson(seed=0), lambda: Reinforce(lr=0.3, seed=0)])
def test_a_dict_context_is_learned_by_every_contextual_policy(make: object) -> None:
    policy = None if make is None else make()  # type: ignore[operator]
    choice = Choice("c", options=["fast", "safe"], policy=policy, seed=0)
    rng = random.Random(1)
    for _ in range(1500):
        ctx = {"load": rng.random(), "os": rng.choice(["linux", "mac"])}
        d = choice.choose(ctx)
        best = "fast" if ctx["load"] < 0.5 else "safe"
        choice.feedback(d, 1.0 if d.value == best else 0.0)
    assert choice.greedy({"load": 0.05, "os": "linux"}) == "fast"
    assert choice.greedy({"load": 0.95, "os": "mac"}) == "safe"
    choice.observe("safe", 1.0, {"load": 0.9, "os": "linux"})


def test_a_contextual_choice_says_where_the_context_is_missing() -> None:
    choice = Choice("c", options=["a", "b"], seed=0)
    choice.feedback(choice.choose([1.0, 0.5]), 1.0)
    with pytest.raises(ValueError, match="pass context= to choose, observe and greedy"):
        choice.observe("b", 0.5)
