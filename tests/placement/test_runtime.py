"""PlacedRuntime against the unplaced model (the oracle: ``model(*inputs)``), and Cluster.local()."""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from learnedsys._validation import InvalidParameterError  # noqa: E402
from learnedsys.placement import Cluster, PlacedRuntime, Simulator, capture, models, run_placed  # noqa: E402
from learnedsys.placement._runtime import export_program, graph_from_program  # noqa: E402

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the runtime forks pinned workers (Linux)")


@pytest.fixture(scope="module")
def nmt_small():
    torch.manual_seed(0)
    model, inputs = models.nmt(layers=2, batch=2, seq=2, hidden=8, vocab=20, device="cpu")
    model.eval()
    inputs = tuple(torch.randint(0, 20, t.shape) for t in inputs)
    program = export_program(model, inputs)  # one export for the graph and the runtime
    return model, inputs, program, graph_from_program(program)


def test_random_placements_give_the_unplaced_outputs(nmt_small):
    # recurrent weights shared across time steps, attention, residuals: values cross devices in
    # both directions, parameters are sent each step; 3 workers on (at most) 2 cores
    model, inputs, program, graph = nmt_small
    ref = model(*inputs)
    rng = np.random.default_rng(0)
    dev = rng.integers(0, 3, graph.n_nodes)
    assert len(set(dev.tolist())) == 3
    other = tuple(torch.randint(0, 20, t.shape) for t in inputs)
    with PlacedRuntime(program, dev, inputs, timeout=30) as rt:
        assert rt.n_devices == 3 and len(rt.transfers) > 10
        assert rt.polite == (len(set(rt.cores[:3])) < 3)  # workers sharing a core yield it
        torch.testing.assert_close(rt(*inputs), ref, rtol=1e-5, atol=1e-5)
        # pipelined: two steps in flight, different inputs, each its own answer, in order
        outs, released, finished = rt.run([inputs, other, inputs, other], in_flight=2)
        for o, x in zip(outs, [inputs, other, inputs, other], strict=True):
            torch.testing.assert_close(o, model(*x), rtol=1e-5, atol=1e-5)
        assert np.all(finished >= released) and np.all(np.diff(finished) >= 0)
        lat = rt.time_steps(inputs, warmup=1, repeats=3)
        assert lat.shape == (3,) and np.all(lat > 0)
        # each worker's CPU time on its work (operations, sends, receives), per step: positive,
        # and at most the step's wall time (a worker runs on one core)
        assert rt.busy_cpu.shape == (3, 3) and np.all(rt.busy_cpu > 0)
        assert np.all(rt.busy_cpu <= lat[:, None] + 1e-3)
    assert rt._procs == []


def test_towers_split_and_single_device():
    torch.manual_seed(1)
    model, inputs = models.towers(n=2, depth=2, d=16, batch=4, device="cpu")
    graph = capture(model, inputs)
    ref = model(*inputs)
    assert not torch.allclose(ref, torch.zeros_like(ref))
    # tower j on device j (what the expert does), and everything on one device
    split = np.array([1 if ".1." in m or m.endswith(".1") else 0 for m in graph.modules])
    assert split.any() and not split.all()
    torch.testing.assert_close(run_placed(model, split, inputs, timeout=30), ref, rtol=1e-5, atol=1e-5)


def test_errors_are_raised_not_hung():
    model, inputs = models.towers(n=2, depth=1, d=8, batch=2, device="cpu")
    program = export_program(model, inputs)
    graph = graph_from_program(program)
    with pytest.raises(InvalidParameterError, match="one device index"):
        PlacedRuntime(program, np.zeros(3, dtype=np.int64), inputs)
    rt = PlacedRuntime(program, np.zeros(graph.n_nodes, dtype=np.int64), inputs, timeout=30)
    torch.testing.assert_close(rt.start()(*inputs), model(*inputs))  # single device
    rt.close()
    with pytest.raises(RuntimeError, match="not started"):
        rt(*inputs)
    with rt:
        # wrong input shape: the worker's operation fails; its traceback reaches the caller
        with pytest.raises(InvalidParameterError, match="1 input tensors"):
            rt(inputs[0], inputs[0])
        bad = inputs[0][:, :, :4].contiguous()
        with pytest.raises(RuntimeError):
            rt(bad)
    assert rt._procs == []


def test_local_cluster_is_measured():
    c = Cluster.local()
    assert c.n_devices >= 1 and all(d.kind == "cpu" for d in c.devices)
    d = c.devices[0]
    assert 1e8 < d.flops < 1e13 and 1e8 < d.mem_bandwidth < 1e12 and 0 < d.overhead < 1e-3
    if c.n_devices >= 2:
        assert 1e7 < c.bandwidth[0, 1] < 1e12 and 0 <= c.latency[0, 1] < 1e-3
        # a transfer costs its ends: the sender's copy, the receiver's hand-off (from a runtime)
        assert d.charges_transfers and 0 < d.send_overhead < 1e-3 and 1e8 < d.send_bandwidth < 1e12
        assert 0 < d.recv_overhead < 1e-3
        # the receiver's time per byte, from 512-KiB values handed between two runtime workers:
        # a finite positive rate (at most 10x the memory bandwidth when nothing extra is measured)
        assert math.isfinite(d.recv_bandwidth) and 1e8 < d.recv_bandwidth <= 10 * d.mem_bandwidth * (1 + 1e-9)
        # the simulator charges it to the receiving core: input and second tanh on core 0, the
        # first tanh on core 1, 512-KiB values both ways
        g = capture(torch.nn.Sequential(torch.nn.Tanh(), torch.nn.Tanh()), (torch.zeros(128 << 10),))
        assert g.n_nodes == 3 and g.out_bytes.tolist() == [524288.0] * 3
        sim = Simulator(g, c, training=False)
        t = sim.op_times
        send = d.send_overhead + 524288 / d.send_bandwidth
        recv = d.recv_overhead + 524288 / d.recv_bandwidth
        assert sim.busy(np.array([0, 1, 0])) == pytest.approx([t[0, 0] + send + t[2, 0] + recv, recv + t[1, 1] + send], rel=1e-12)
    else:
        assert d.recv_bandwidth == float("inf")
    assert Cluster.local().to_dict() == c.to_dict()  # measured once per process


@pytest.mark.skipif(len(__import__("os").sched_getaffinity(0)) < 2, reason="needs two cores")
def test_handoff_probe_sees_the_bytes():
    # the probe behind recv_bandwidth, on the runtime itself: a 512-KiB value handed to the other
    # core costs the two workers more busy CPU than a one-element value (the sender's copy and the
    # receiver's reads of data the other core wrote), and both costs are finite and positive
    from learnedsys.placement._runtime import _handoff_cost

    one, large = _handoff_cost(torch, sorted(__import__("os").sched_getaffinity(0))[:2], numels=(1, 128 << 10), steps=12, rounds=2)
    assert 0 < one < 1e-3 and math.isfinite(large)
    assert large > one


def _peak_rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) << 10 for line in f if line.startswith("VmHWM:"))


def test_worker_drops_each_value_after_its_last_consumer():
    # ten chained links of 16-MiB values on one worker: dropped after their consumer ran, the
    # worker's peak memory grows by a few of them; kept to the end of the step (the earlier
    # runtime, rebuilt here by emptying the plans' drop lists), by all; same answer both ways
    class Chain(torch.nn.Module):
        def forward(self, x):
            for _ in range(10):
                x = x * 1.5 + 1.0
            return x

    x = torch.ones(4 << 20)
    program = export_program(Chain(), (x,))
    graph = graph_from_program(program)
    place = np.zeros(graph.n_nodes, dtype=np.int64)
    grown = {}
    for keep in (False, True):
        with PlacedRuntime(program, place, (x,), n_devices=1) as rt:
            for p in rt.plans:
                assert all(i in p.consumers[a] for i, ins in enumerate(p.local_inputs) for a in ins)
                assert sum(map(len, p.local_inputs)) == sum(map(len, p.consumers))
            if keep:
                for p in rt.plans:
                    p.local_inputs = [[] for _ in p.nodes]
                rt.close()
                rt.start()
            before = _peak_rss(rt._procs[0].pid)
            out = rt(x)
            grown[keep] = _peak_rss(rt._procs[0].pid) - before
        torch.testing.assert_close(out, Chain()(x))
    # kept, the step's 20 values (a multiply and an add per link) are all alive at its end: at
    # least 20 x 16 MiB; dropped, at most a few at a time (the allocator keeps some freed blocks)
    block = 16 << 20
    assert grown[True] >= 19 * block, grown
    assert grown[False] < 12 * block, grown


@pytest.mark.skipif(len(__import__("os").sched_getaffinity(0)) < 1, reason="needs a core")
def test_op_cost_is_measured_on_the_runtime():
    # what a worker spends per operation beyond the call (Cluster.local's overhead): positive,
    # microseconds, and not below the replica of the worker's loop that it replaced
    from learnedsys.placement._runtime import _op_cost

    cost = _op_cost(torch, min(__import__("os").sched_getaffinity(0)), steps=12, rounds=2)
    assert 0 < cost < 1e-4
    assert Cluster.local().devices[0].overhead >= 1e-7


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "int64", "bool"])
def test_caller_copies_are_plain_and_exact(dtype):
    # the caller's side copies through numpy (one thread, no OpenMP pool left spinning on the
    # workers' cores); bits equal torch's copy, strided buffers and dtypes numpy lacks included
    from learnedsys.placement._runtime import _host_copy

    dt = getattr(torch, dtype)
    src = (torch.randn(64, 600) * 5).to(dt)
    dst = torch.empty_strided((64, 600), (1, 64), dtype=dt)  # column-major, as a buffer can be
    _host_copy(torch, dst, src)
    assert torch.equal(dst, src)
    grad = torch.randn(3, 4, requires_grad=True)
    out = torch.empty(3, 4)
    _host_copy(torch, out, grad)
    assert torch.equal(out, grad.detach())
    cast = torch.empty(3, 4, dtype=torch.float64)  # a cast falls back to torch's copy_
    _host_copy(torch, cast, grad)
    assert torch.equal(cast, grad.detach().double())
    z = torch.randn(5, dtype=torch.complex64)
    lazy = torch.empty(5, dtype=torch.complex64)
    _host_copy(torch, lazy, z.conj())  # a lazy conjugate: numpy would refuse it
    assert torch.equal(lazy, z.conj().resolve_conj())
