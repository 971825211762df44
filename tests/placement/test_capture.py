"""capture() FLOP formulas against hand counts, export errors, apply() against the original model."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

from learnedsys.placement import Cluster, OpGraph, Simulator, place, profile_op_times  # noqa: E402
from learnedsys.placement._apply import apply  # noqa: E402
from learnedsys.placement._capture import CaptureError, capture, op_flops  # noqa: E402


class Small(nn.Module):
    """Embedding -> 2-layer LSTM -> LayerNorm -> attention -> Linear -> log_softmax."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(50, 8)
        self.lstm = nn.LSTM(8, 16, num_layers=2, batch_first=True)
        self.ln = nn.LayerNorm(16)
        self.out = nn.Linear(16, 50)

    def forward(self, x):
        h, _ = self.lstm(self.emb(x))
        h = self.ln(h)
        a = torch.nn.functional.scaled_dot_product_attention(h[:, None], h[:, None], h[:, None])[:, 0]
        return torch.log_softmax(self.out(a), dim=-1)


B, T = 3, 4


@pytest.fixture(scope="module")
def small():
    torch.manual_seed(0)
    model = Small().eval()
    x = torch.randint(0, 50, (B, T))
    return model, x, capture(model, (x,))


def test_graph_is_numpy_only_and_topological(small):
    _, _, g = small
    assert isinstance(g, OpGraph)
    assert np.all(g.edge_src < g.edge_dst)
    for v in g.to_dict().values():
        assert not type(v).__module__.startswith("torch")
    assert g.last_use().shape == (g.n_nodes,) and np.all(g.last_use() >= np.arange(g.n_nodes))


def test_lstm_flops_match_hand_count(small):
    _, _, g = small
    lstm = np.array([m == "lstm" for m in g.modules])
    # matrix products of an LSTM layer: 2 * B*T * 4H * (I + H); 2 layers with I = 8 and 16
    h = 16
    mm = lstm & np.array([t in ("aten.mm", "aten.addmm", "aten.bmm") for t in g.op_types])
    expected_mm = sum(2 * B * T * 4 * h * (i + h) for i in (8, 16))
    biases = 2 * B * T * 4 * h  # two bias additions fused into addmm per step / layer (upper bound)
    assert expected_mm <= g.flops[mm].sum() <= expected_mm + 2 * biases
    # gates are not free: sigmoid/tanh/mul on every step
    assert g.flops[lstm & np.array([t in ("aten.sigmoid", "aten.tanh") for t in g.op_types])].sum() > 0
    # both layers are tagged for the expert
    assert set(g.layer[lstm].tolist()) >= {0, 1}


def test_elementwise_norm_attention_have_flops(small):
    _, _, g = small
    types = set(g.op_types)
    assert "aten.native_layer_norm" in types
    assert g.flops[np.array([t == "aten.native_layer_norm" for t in g.op_types])].sum() == 8 * B * T * 16
    assert g.meta["unknown_ops"] == []
    # linear layer: 2 * (B*T) * 16 * 50 + bias
    lin = [i for i, m in enumerate(g.modules) if m == "out"]
    assert g.flops[lin].sum() == 2 * B * T * 16 * 50 + B * T * 50


def test_parameter_bytes_all_accounted(small):
    model, _, g = small
    total = sum(p.numel() * p.element_size() for p in model.parameters())
    assert g.param_bytes.sum() == total


def test_op_flops_formulas():
    assert op_flops("mm", [(2, 3), (3, 4)], [(2, 4)], ())[0] == 48
    assert op_flops("convolution", [(1, 4, 8, 8), (6, 4, 3, 3)], [(1, 6, 6, 6)], (None, None, None, [1, 1], [0, 0], [1, 1], False, [0, 0], 1))[0] == 2 * 216 * 4 * 9
    assert op_flops("sigmoid", [(10,)], [(10,)], ()) == (40.0, True)
    assert op_flops("_scaled_dot_product_flash_attention", [(2, 4, 8, 16), (2, 4, 8, 16), (2, 4, 8, 16)], [(2, 4, 8, 16)], ())[0] == 4 * 8 * 8 * 8 * 16 + 5 * 8 * 8 * 8
    assert op_flops("some_new_op", [(3,)], [(5,)], ()) == (5.0, False)


def test_export_failure_names_operation():
    class Bad(nn.Module):
        def forward(self, x):
            if x.sum() > 0:  # data-dependent control flow
                return x * 2
            return x

    with pytest.raises(CaptureError, match=r"Bad: a data-dependent branch.*test_capture.py:\d+.*x.sum\(\) > 0"):
        capture(Bad(), (torch.randn(3),))


def test_apply_matches_original_on_cpu(small):
    model, x, g = small
    cl = Cluster.homogeneous(3)
    rng = np.random.default_rng(0)
    for dev in (rng.integers(0, 3, g.n_nodes), place(g, cl, "m-etf")):
        placed = apply(model, dev, (x,))
        for inp in (x, torch.randint(0, 50, (B, T))):
            with torch.no_grad():
                assert torch.allclose(placed(inp), model(inp), atol=1e-6)


def test_apply_conv_net_and_multiple_inputs():
    class Two(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)
            self.bn = nn.BatchNorm2d(4)
            self.fc = nn.Linear(4, 2)

        def forward(self, a, b):
            y = torch.relu(self.bn(self.conv(a + b)))
            return self.fc(y.mean(dim=(2, 3))), y.sum()

    torch.manual_seed(1)
    m = Two().eval()
    a, b = torch.randn(2, 3, 8, 8), torch.randn(2, 3, 8, 8)
    g = capture(m, (a, b))
    dev = np.arange(g.n_nodes) % 2
    out = apply(m, dev, (a, b), devices=["cpu", "cpu"])(a, b)
    ref = m(a, b)
    assert torch.allclose(out[0], ref[0], atol=1e-5) and torch.allclose(out[1], ref[1], atol=1e-4)


def test_profiled_op_times_feed_the_simulator(small):
    model, x, g = small
    times = profile_op_times(model, (x,), g, ["cpu", "cpu"], repeats=1)
    assert times.shape == (g.n_nodes, 2) and np.all(times >= 0) and times.sum() > 0
    assert np.array_equal(times[:, 0], times[:, 1])  # one device measured once
    sim = Simulator(g, Cluster.homogeneous(2), op_times=times)
    r = sim(np.zeros(g.n_nodes, np.int64))
    assert r.step_time == pytest.approx(3 * times[:, 0].sum(), rel=1e-9)


def test_profile_min_is_the_fastest_whole_run():
    # "min" keeps the timed run with the smallest total; each operation's own minimum would
    # combine runs into a step faster than any that ran ([1, 1] here, 2 s against 4 s)
    from learnedsys.placement._profile import _summarize

    runs = np.array([[1.0, 5.0], [4.0, 1.0], [2.0, 2.0]])
    assert _summarize(runs, "min").tolist() == [2.0, 2.0]
    assert _summarize(runs, "median").tolist() == [2.0, 2.0]
    runs = np.array([[1.0, 5.0], [4.0, 1.0], [3.0, 3.0], [9.0, 9.0]])
    assert _summarize(runs, "min").tolist() == [4.0, 1.0]
    assert _summarize(runs, "median").tolist() == [3.5, 4.0]
