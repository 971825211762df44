from __future__ import annotations

import itertools

import numpy as np
import pytest

from learnedsys._validation import InvalidParameterError
from learnedsys.nas import (
    Float,
    Int,
    OneOf,
    Repeat,
    Space,
    cell_space,
    cnn_space,
    get_space,
    mlp_space,
    tabular_mlp_space,
)


def _brute_force(space: Space) -> set[tuple[int, ...]]:
    """Every tuple in the product of the slot sizes, canonicalised: the oracle for enumerate()."""
    return {space.canonical(a) for a in itertools.product(*(range(n) for n in space.action_space.sizes))}


@pytest.mark.parametrize("space", [
    tabular_mlp_space(),
    mlp_space(max_layers=2),
    Space("toy", [OneOf("op", ["conv", "pool"]), OneOf("kernel", [3, 5, 7], when={"op": ["conv"]}),
                  Int("depth", 0, 2), Repeat("blk", "depth", [OneOf("w", [1, 2]), OneOf("k", [1, 3], when={"w": [2]})])]),
])
def test_enumerate_matches_brute_force(space):
    listed = list(space.enumerate())
    assert len(listed) == len(set(listed))
    assert set(listed) == _brute_force(space)
    for a in listed:
        assert space.encode(space.decode(a)) == a


def test_tabular_space_size_by_formula():
    # 3 + 9 + 27 width settings, x 3 activations x 2 dropouts x 2 norms x 3 learning rates
    assert tabular_mlp_space().size() == 39 * 3 * 2 * 2 * 3 == 1404


def test_conditional_and_repeat_semantics():
    s = Space("toy", [OneOf("op", ["conv", "pool"]), OneOf("kernel", [3, 5], when={"op": ["conv"]}),
                      Int("n", 1, 3), Repeat("l", "n", [OneOf("w", [8, 16])])])
    assert [sl.name for sl in s.slots] == ["op", "kernel", "n", "l0.w", "l1.w", "l2.w"]
    assert s.decode((1, 1, 0, 1, 1, 1)) == {"op": "pool", "n": 1, "l0.w": 16}
    assert s.active_mask((0, 1, 1, 0, 0, 0)) == (True, True, True, True, True, False)
    assert s.canonical((1, 1, 0, 1, 1, 1)) == (1, 0, 0, 1, 0, 0)


@pytest.mark.parametrize("space", [mlp_space(), cnn_space(), cell_space(), tabular_mlp_space()])
def test_sample_mutate_roundtrip(space):
    rng = np.random.default_rng(0)
    for _ in range(200):
        a = space.sample(rng)
        assert space.action_space.contains(a) and space.canonical(a) == a
        assert space.encode(space.decode(a)) == a
        b = space.mutate(a, rng)
        assert space.canonical(b) == b and b != a
        # one mutation changes exactly one active slot of the parent (newly active slots aside)
        ma, mb = space.active_mask(a), space.active_mask(b)
        changed = [i for i in range(len(a)) if ma[i] and mb[i] and a[i] != b[i]]
        assert len(changed) == 1


def test_float_and_int_grids():
    f = Float("lr", 1e-4, 1e-1, n=4, log=True)
    assert f.options == pytest.approx((1e-4, 1e-3, 1e-2, 1e-1))
    assert Int("d", 2, 8, step=3).options == (2, 5, 8)


def test_bad_parameters_name_the_parameter():
    with pytest.raises(InvalidParameterError, match=r"The 'high' parameter of Int 'd' must be an int in the range \[3, inf\). Got 1 instead."):
        Int("d", 3, 1)
    with pytest.raises(InvalidParameterError, match="'low'/'high'"):
        Float("lr", 0.0, 1.0, log=True)
    with pytest.raises(InvalidParameterError, match="must name a slot defined before it"):
        Space("x", [Repeat("l", "n", [OneOf("w", [1])])])
    with pytest.raises(InvalidParameterError, match="more than once"):
        Space("x", [OneOf("a", [1]), OneOf("a", [2])])
    s = mlp_space()
    with pytest.raises(InvalidParameterError, match=r"action\[0\] \(n_layers\) in \[0, 4\). Got 9 instead"):
        s.decode((9,) + (0,) * (len(s) - 1))
    with pytest.raises(InvalidParameterError, match=r"must have 9 ints. Got 2 instead"):
        s.decode((0, 0))
    with pytest.raises(InvalidParameterError, match="'space' parameter must be one of"):
        get_space("transformer")
    with pytest.raises(InvalidParameterError, match=r"lacks slot 'layer0.width'"):
        s.encode({"n_layers": 1})


def test_defaults_encode_the_hand_built_architectures():
    from learnedsys.nas import get_space

    cnn = get_space("cnn")
    (a,) = cnn.default_actions()
    arch = cnn.decode(a)
    assert arch["n_layers"] == 3 and [arch[f"layer{i}.channels"] for i in range(3)] == [32, 64, 64]
    assert arch["lr"] == min(cnn.slots[-1].options, key=lambda o: abs(np.log(o / 3e-3)))
    assert get_space("mlp").decode(get_space("mlp").default_actions()[0])["n_layers"] == 2
    with pytest.raises(InvalidParameterError, match="must be one of"):
        Space("mlp", [Int("n_layers", 1, 2)], defaults=[{"n_layers": 3}])
