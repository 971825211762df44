"""Execute a placement for real: one worker process per device, tensors over shared memory.

:class:`PlacedRuntime` exports the model exactly as :func:`capture` did (same fx node names), gives
every fx operation the device of the graph node it was merged into, and starts one worker process
per device. Each worker is pinned to one CPU core (``os.sched_setaffinity``) and runs torch with one
thread, so two devices are two cores running at the same time. A worker runs its operations in the
order they become ready (a FIFO queue, like the simulator's device queues): an operation is ready
when its local inputs are computed and its inputs from other devices have arrived.

A value that crosses devices is one *transfer* (value, destination device), as in the simulator:
the producing worker copies the tensor into a shared-memory buffer allocated before the workers
start, then publishes the step number in a shared flag; the consumer polls the flags of the
transfers it waits for and reads the buffer in place (no second copy). Each transfer has ``slots``
buffers, so up to ``slots`` steps can be in flight: the worker of the first layers starts step
``s + 1`` while the worker of the last layers still runs step ``s`` (pipelining across steps). A
producer waits for the consumer to release a slot before it overwrites it. The copy runs on the
sending core: unlike the simulator's links, a transfer here is not free for its sender (at the
sizes measured, a memcpy of a few MB costs well under a millisecond).

The step is a forward pass (inference): the simulator is compared with ``training=False``.
Parameters live on the device of the operation that owns them; a parameter shared by operations on
several devices (a recurrent weight read at every time step) lives on the device of its parameter
node and is sent to the others at every step, as the simulator charges it.

Workers are started with ``fork`` (milliseconds; the exported program and the weights are shared
copy-on-write): Linux only. Every wait has a deadline (``timeout``), an error in a worker is
raised in the caller with the worker's traceback, and :meth:`PlacedRuntime.close` (or leaving the
``with`` block, or garbage collection) stops the workers, killing any that do not exit.

Devices other than the CPU: ``devices=["cpu", "cuda:0"]`` runs a worker's operations on that torch
device (its parameters are moved there, received values are copied in, sent values copied out
through host shared memory). Not exercised by the test suite (no GPU in CI).
"""

from __future__ import annotations

import contextlib
import os
import time
import traceback
import weakref
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from learnedsys._lazy import require
from learnedsys._validation import InvalidParameterError, check_float, check_int
from learnedsys.placement._capture import export_program, graph_from_program

__all__ = ["PlacedRuntime", "export_program", "graph_from_program", "local_cluster_spec", "pingpong", "run_placed", "transfer_probe"]

_MAIN = -1  # the calling process, as a transfer endpoint (user inputs and outputs)
_SPIN = 200  # polls between yields of the CPU while waiting


@dataclass
class _Transfer:
    tid: int
    value: str  # fx node name
    src: int  # device index or _MAIN
    dst: int


@dataclass
class _WorkerPlan:
    device: int
    nodes: list[Any] = field(default_factory=list)  # fx nodes, in fx (topological) order
    n_deps: list[int] = field(default_factory=list)
    consumers: list[list[int]] = field(default_factory=list)  # local consumer positions
    local_inputs: list[list[int]] = field(default_factory=list)  # positions of the local values each node reads
    outgoing: list[list[int]] = field(default_factory=list)  # transfer ids sent after each node
    incoming: list[int] = field(default_factory=list)  # transfer ids received
    incoming_consumers: dict[int, list[int]] = field(default_factory=dict)


_BITS = {1: "uint8", 2: "int16", 4: "int32", 8: "int64", 16: "complex128"}


def _host_array(torch: Any, t: Any) -> np.ndarray:
    """A numpy view of the CPU tensor ``t`` (same memory; a dtype numpy lacks, such as bfloat16,
    as integers of its width)."""
    t = t.detach()
    try:
        return t.numpy()
    except TypeError:
        return t.view(getattr(torch, _BITS[t.element_size()])).numpy()


def _host_copy(torch: Any, dst: Any, src: Any) -> None:
    """``dst.copy_(src)`` for the caller's side of the runtime, on this thread alone.

    torch runs a copy of more than 32K elements on its OpenMP pool, and after a parallel region
    libgomp's threads spin before they sleep (``OMP_WAIT_POLICY`` unset): after one 512 KB copy,
    4 and 7 ms of CPU on the caller's two threads. The caller may run on every core, so that spin
    took the workers' cores at every step (``on core`` 0.66-0.74 on an idle machine; the caller's
    threads used about 18 ms of CPU per towers step). A numpy copy is a memcpy on this thread."""
    plain = (src.device.type == "cpu" and src.dtype == dst.dtype and src.shape == dst.shape and src.layout == torch.strided
             and not (src.is_quantized or src.is_conj() or src.is_neg()))
    if plain:
        np.copyto(_host_array(torch, dst), _host_array(torch, src))
    else:  # a device copy, a cast or broadcast, a lazy conjugate: torch's rules
        dst.copy_(src)


def _spin_wait(ready: Any, ctrl: np.ndarray, deadline: float, what: str, polite: bool) -> None:
    """Poll ``ready()`` until it is true (yielding the CPU every ``_SPIN`` polls when ``polite``);
    raise on abort or when ``deadline`` (perf_counter seconds) passes."""
    k = 0
    while not ready():
        k += 1
        if k % _SPIN == 0:
            if ctrl[0]:
                raise RuntimeError("aborted: another worker failed")
            if time.perf_counter() > deadline:
                raise TimeoutError(f"timed out waiting for {what}")
            if polite:
                os.sched_yield()


class PlacedRuntime:
    """A model running with its operations on the devices a placement chose, one process each.

    Args:
        model: the ``torch.nn.Module`` that was captured (with real weights), or its
            ``ExportedProgram`` from :func:`export_program` (which saves one export when several
            runtimes run the same model: ``graph_from_program(program)`` is its graph).
        placement: a :class:`Placement` (or device indices) of ``capture(model, example_inputs)``.
        example_inputs: the inputs used for capture (later calls must have the same shapes).
        n_devices: workers to start (default: the largest device index used + 1; a device with no
            operation gets an idle worker).
        cores: CPU core of each worker (default: the cores this process may run on, round robin).
        devices: torch device of each worker (default ``"cpu"`` for all).
        slots: buffers per transfer: the most steps :meth:`run` keeps in flight.
        timeout: seconds any wait may last before it raises ``TimeoutError``.
        polite: a waiting worker yields its core now and then (``sched_yield``). Default: only
            when two workers share a core (more devices than cores). Otherwise a worker waiting
            for a transfer busy-polls its own core (while a step runs only), as a device waits
            for a link; on a machine shared with other jobs, yielding hands the core to another
            process for a whole time slice and a wait costs milliseconds.

    Use as a context manager (the workers start on entry and stop on exit), or call
    :meth:`start` and :meth:`close`. ``runtime(*inputs)`` runs one step and returns what
    ``model(*inputs)`` returns; :meth:`run` pipelines several steps; :meth:`time_steps` measures.

    Cost: one ``torch.export`` at construction; starting the workers takes milliseconds (fork).
    """

    def __init__(
        self,
        model: Any,
        placement: Any,
        example_inputs: Any,
        *,
        n_devices: int | None = None,
        cores: list[int] | None = None,
        devices: list[str] | None = None,
        slots: int = 2,
        timeout: float = 120.0,
        polite: bool | None = None,
    ) -> None:
        torch = require("torch", extra="torch", purpose="running a placement")
        if not hasattr(os, "fork") or not hasattr(os, "sched_setaffinity"):
            raise RuntimeError("PlacedRuntime needs Linux (fork and sched_setaffinity)")
        self._torch = torch
        if not isinstance(example_inputs, tuple):
            example_inputs = (example_inputs,)
        self.slots = check_int(slots, "slots", "PlacedRuntime", low=1)
        self.timeout = check_float(timeout, "timeout", "PlacedRuntime", low=0.0)
        if isinstance(model, torch.export.ExportedProgram):
            ep = model
        else:
            ep = export_program(model, example_inputs)
        graph = graph_from_program(ep, name=type(model).__name__)
        dev_idx = np.asarray(getattr(placement, "devices", placement), dtype=np.int64)
        if dev_idx.shape != (graph.n_nodes,) or (dev_idx.size and dev_idx.min() < 0):
            raise InvalidParameterError(
                f"The 'placement' parameter of PlacedRuntime must hold one device index >= 0 per operation of the captured graph ({graph.n_nodes}). Got shape {dev_idx.shape} instead."
            )
        used = int(dev_idx.max()) + 1
        self.n_devices = check_int(n_devices if n_devices is not None else used, "n_devices", "PlacedRuntime", low=used)
        avail = sorted(os.sched_getaffinity(0))
        self.cores = list(cores) if cores is not None else [avail[i % len(avail)] for i in range(self.n_devices)]
        if len(self.cores) < self.n_devices:
            raise InvalidParameterError(f"The 'cores' parameter of PlacedRuntime must give a core to each of the {self.n_devices} workers. Got {len(self.cores)} instead.")
        cores_used = self.cores[: self.n_devices]
        self.polite = bool(polite) if polite is not None else len(set(cores_used)) < len(cores_used)
        self.devices = list(devices) if devices is not None else ["cpu"] * self.n_devices
        if len(self.devices) < self.n_devices:
            raise InvalidParameterError(f"The 'devices' parameter of PlacedRuntime must give a torch device to each of the {self.n_devices} workers. Got {len(self.devices)} instead.")
        self.graph = graph
        self.placement = dev_idx
        self._plan(ep, graph, dev_idx)
        self._procs: list[Any] = []
        self._conns: list[Any] = []
        self._step = 0
        self._finalizer: Any = None
        self.cpu_share = np.zeros(0)
        self.busy_cpu = np.zeros((0, self.n_devices))

    # ------------------------------------------------------------------ planning
    def _plan(self, ep: Any, graph: Any, dev_idx: np.ndarray) -> None:
        torch = self._torch
        gm = ep.graph_module
        sig = ep.graph_signature
        state = dict(ep.state_dict)
        state.update(getattr(ep, "constants", {}) or {})
        nodes = [n for n in gm.graph.nodes if n.op in ("placeholder", "call_function")]
        assert graph.fx_names is not None
        dev: dict[str, int] = {}
        for i, names in enumerate(graph.fx_names):
            for nm in names:
                dev[nm] = int(dev_idx[i])
        for i, nm in enumerate(graph.names):  # parameters shared by several operations
            if nm.startswith("param:"):
                target = nm[len("param:") :]
                for spec in sig.input_specs:
                    if spec.kind.name != "USER_INPUT" and str(spec.target) == target:
                        dev[spec.arg.name] = int(dev_idx[i])
        # the rest (parameters and their views): the device of their first user, walking back
        for n in reversed(nodes):
            if n.name not in dev:
                users = [u.name for u in n.users if u.name in dev]
                dev[n.name] = dev[users[0]] if users else 0
        self._state: dict[str, Any] = {}
        self.user_inputs: list[str] = []
        for spec in sig.input_specs:
            if spec.kind.name == "USER_INPUT":
                self.user_inputs.append(spec.arg.name)
            else:
                self._state[spec.arg.name] = state[spec.target].detach()
        out_node = next(n for n in gm.graph.nodes if n.op == "output")
        outs = out_node.args[0]
        outs = list(outs) if isinstance(outs, (list, tuple)) else [outs]
        user_idx = [i for i, s in enumerate(sig.output_specs) if s.kind.name == "USER_OUTPUT"]
        self.user_outputs = [outs[i] for i in user_idx]
        self.out_spec = ep.call_spec.out_spec

        transfers: list[_Transfer] = []
        key: dict[tuple[str, int], int] = {}

        def transfer(value: str, src: int, dst: int) -> int:
            k = (value, dst)
            if k not in key:
                key[k] = len(transfers)
                transfers.append(_Transfer(len(transfers), value, src, dst))
            return key[k]

        meta = {n.name: n.meta.get("val") for n in nodes}
        plans = [_WorkerPlan(d) for d in range(self.n_devices)]
        pos: dict[str, int] = {}
        for n in nodes:
            p = plans[dev[n.name]]
            pos[n.name] = len(p.nodes)
            p.nodes.append(n)
            p.n_deps.append(0)
            p.consumers.append([])
            p.local_inputs.append([])
            p.outgoing.append([])
        for n in nodes:
            d = dev[n.name]
            p = plans[d]
            me = pos[n.name]
            if n.op == "placeholder" and n.name in self.user_inputs:
                t = transfer(n.name, _MAIN, d)
                p.incoming.append(t)
                p.incoming_consumers[t] = [me]
                p.n_deps[me] += 1
                continue
            for a in dict.fromkeys(n.all_input_nodes):
                if dev[a.name] == d:
                    p.consumers[pos[a.name]].append(me)
                    p.local_inputs[me].append(pos[a.name])
                    p.n_deps[me] += 1
                else:
                    t = transfer(a.name, dev[a.name], d)
                    if t not in p.incoming_consumers:
                        p.incoming.append(t)
                        p.incoming_consumers[t] = []
                        plans[dev[a.name]].outgoing[pos[a.name]].append(t)
                    p.incoming_consumers[t].append(me)
                    p.n_deps[me] += 1
        for o in self.user_outputs:
            if isinstance(o, torch.fx.Node):
                t = transfer(o.name, dev[o.name], _MAIN)
                if t not in plans[dev[o.name]].outgoing[pos[o.name]]:
                    plans[dev[o.name]].outgoing[pos[o.name]].append(t)
        for tr in transfers:
            v = meta.get(tr.value)
            if not isinstance(v, torch.Tensor):
                raise NotImplementedError(
                    f"PlacedRuntime sends tensors between devices; {tr.value!r} ({type(v).__name__}) crosses devices {tr.src} -> {tr.dst}."
                )
        self.transfers = transfers
        self._meta = meta
        self.plans = plans

    def _row(self, device: int) -> int:
        return self.n_devices if device == _MAIN else device

    # ------------------------------------------------------------------ lifecycle
    def _alloc(self) -> None:
        torch = self._torch
        T, K = len(self.transfers), self.slots
        self._bufs = []
        for t in self.transfers:
            v = self._meta[t.value]
            self._bufs.append([torch.empty_strided(tuple(v.shape), tuple(v.stride()), dtype=v.dtype).share_memory_() for _ in range(K)])
        self._written_t = torch.zeros((max(T, 1), K), dtype=torch.int64).share_memory_()
        self._read_t = torch.zeros((max(T, 1), K), dtype=torch.int64).share_memory_()
        self._ctrl_t = torch.zeros(4, dtype=torch.int64).share_memory_()
        # arrivals[src, dst]: transfers src has published to dst (one writer per entry; the
        # caller is row and column n_devices): a cheap "anything new?" before scanning flags
        self._arrivals_t = torch.zeros((self.n_devices + 1, self.n_devices + 1), dtype=torch.int64).share_memory_()
        self._arrivals = self._arrivals_t.numpy()
        self._written = self._written_t.numpy()
        self._read = self._read_t.numpy()
        self._ctrl = self._ctrl_t.numpy()

    def start(self) -> PlacedRuntime:
        """Start the workers (fork): a no-op when they run already."""
        if self._procs:
            return self
        import multiprocessing as mp

        self._alloc()
        ctx = mp.get_context("fork")
        for d in range(self.n_devices):
            parent, child = ctx.Pipe(duplex=True)
            proc = ctx.Process(target=self._worker_main, args=(d, child), daemon=True, name=f"learnedsys-placed-{d}")
            proc.start()
            child.close()
            self._procs.append(proc)
            self._conns.append(parent)
        for d, conn in enumerate(self._conns):  # each worker says it is pinned and ready
            if not conn.poll(self.timeout):
                self.close()
                raise TimeoutError(f"worker {d} did not start within {self.timeout} s")
            msg = conn.recv()
            if msg[0] != "ready":
                self.close()
                raise RuntimeError(f"worker {d} failed to start:\n{msg[1]}")
        self._finalizer = weakref.finalize(self, _stop, list(self._procs), list(self._conns))
        return self

    def close(self) -> None:
        """Stop the workers (kill any that do not exit within a second). Idempotent."""
        if self._finalizer is not None:
            self._finalizer()
            self._finalizer = None
        else:
            _stop(self._procs, self._conns)
        self._procs, self._conns = [], []

    def __enter__(self) -> PlacedRuntime:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ------------------------------------------------------------------ worker side
    def _worker_main(self, d: int, conn: Any) -> None:
        torch = self._torch
        try:
            os.sched_setaffinity(0, {self.cores[d]})
            torch.set_num_threads(1)
            dev = torch.device(self.devices[d])
            plan = self.plans[d]
            local_state = {}
            for n in plan.nodes:
                if n.op == "placeholder" and n.name in self._state:
                    local_state[n.name] = self._state[n.name].to(dev)
            conn.send(("ready", os.getpid()))
        except BaseException:
            conn.send(("error", traceback.format_exc()))
            return
        while True:
            try:
                msg = conn.recv()
            except EOFError:
                return
            if msg[0] == "stop":
                return
            first, count = msg[1], msg[2]
            try:
                with torch.inference_mode():
                    for s in range(first, first + count):
                        w0, c0 = time.perf_counter(), time.thread_time()
                        idle = self._worker_step(plan, s, local_state, dev)
                        cpu = time.thread_time() - c0
                        conn.send(("done", s, cpu, time.perf_counter() - w0, cpu - idle))
            except BaseException:
                self._ctrl[0] = 1
                with contextlib.suppress(OSError):
                    conn.send(("error", f"worker {d} (core {self.cores[d]}):\n{traceback.format_exc()}"))
                return

    def _worker_step(self, plan: _WorkerPlan, s: int, local_state: dict[str, Any], dev: Any) -> float:
        """Run this worker's part of step ``s``; returns the CPU seconds it spent polling with
        nothing to run (the rest of its CPU time is its operations, sends and receives)."""
        torch = self._torch
        fx = torch.fx
        K = self.slots
        slot = s % K
        written, read, ctrl, bufs = self._written, self._read, self._ctrl, self._bufs
        deadline = time.perf_counter() + self.timeout
        env: dict[str, Any] = {}
        # a value is dropped after its last local consumer ran, as torch.fx's interpreter does:
        # kept to the end of the step, every intermediate took fresh memory (cold pages and
        # cache lines) where a freed block would have been reused
        uses = [len(c) for c in plan.consumers]
        pending = list(plan.n_deps)
        ready = deque(i for i, c in enumerate(pending) if c == 0)
        waiting = np.asarray(plan.incoming, dtype=np.int64)
        arrivals = self._arrivals
        me = plan.device
        srcs = sorted({self._row(self.transfers[t].src) for t in plan.incoming})
        seen = {src: -1 for src in srcs}  # -1: scan the flags once at the start of the step
        nodes = plan.nodes
        n_left = len(nodes)
        on_cpu = dev.type == "cpu"
        stamp = s + 1
        k = 0
        idle = 0.0
        idle_since = -1.0  # thread_time when the worker ran out of ready operations
        while n_left:
            fresh = False
            for src in srcs:
                c = arrivals[src, me]
                if c != seen[src]:
                    seen[src] = c
                    fresh = True
            if waiting.size and (fresh or not ready):
                arrived = written[waiting, slot] == stamp
                if arrived.any():
                    if idle_since >= 0:  # receiving is work, not waiting
                        idle += time.thread_time() - idle_since
                        idle_since = -1.0
                    for t in waiting[arrived].tolist():
                        buf = bufs[t][slot]
                        env[self.transfers[t].value] = buf if on_cpu else buf.to(dev)
                        for j in plan.incoming_consumers[t]:
                            pending[j] -= 1
                            if pending[j] == 0:
                                ready.append(j)
                    waiting = waiting[~arrived]
            if not ready:
                if idle_since < 0:
                    idle_since = time.thread_time()
                k += 1
                if k % _SPIN == 0:
                    if ctrl[0]:
                        raise RuntimeError("aborted: another worker failed")
                    if time.perf_counter() > deadline:
                        names = [self.transfers[t].value for t in waiting[:5].tolist()]
                        raise TimeoutError(f"step {s}: timed out waiting for {names} from other devices")
                    if self.polite:
                        os.sched_yield()
                continue
            if idle_since >= 0:
                idle += time.thread_time() - idle_since
                idle_since = -1.0
            i = ready.popleft()
            n = nodes[i]
            if n.op == "placeholder":
                val = env[n.name] if n.name in env else local_state[n.name]
            else:
                args, kwargs = fx.node.map_arg((n.args, n.kwargs), lambda a: env[a.name])
                if not on_cpu and "device" in kwargs:
                    kwargs = {**kwargs, "device": dev}
                val = n.target(*args, **kwargs)
            if uses[i]:
                env[n.name] = val
            for a in plan.local_inputs[i]:
                uses[a] -= 1
                if not uses[a]:
                    del env[nodes[a].name]
            for t in plan.outgoing[i]:
                floor = stamp - K  # the step that used this slot before must have released it
                if read[t, slot] < floor:  # waiting for a consumer, not working
                    w = time.thread_time()
                    _spin_wait(lambda t=t, floor=floor: read[t, slot] >= floor, ctrl, deadline, f"slot {slot} of {self.transfers[t].value!r}", self.polite)
                    idle += time.thread_time() - w
                bufs[t][slot].copy_(val)
                written[t, slot] = stamp
                arrivals[me, self._row(self.transfers[t].dst)] += 1
            for j in plan.consumers[i]:
                pending[j] -= 1
                if pending[j] == 0:
                    ready.append(j)
            n_left -= 1
        if plan.incoming:
            read[np.asarray(plan.incoming, dtype=np.int64), slot] = stamp
        return idle

    # ------------------------------------------------------------------ caller side
    def _feed(self, s: int, inputs: tuple[Any, ...], deadline: float) -> None:
        torch = self._torch
        flat, _ = torch.utils._pytree.tree_flatten(inputs)
        if len(flat) != len(self.user_inputs):
            raise InvalidParameterError(f"PlacedRuntime takes {len(self.user_inputs)} input tensors (as captured). Got {len(flat)} instead.")
        slot = s % self.slots
        stamp = s + 1
        for t in self.transfers:
            if t.src != _MAIN:
                continue
            floor = stamp - self.slots
            while self._read[t.tid, slot] < floor:
                if time.perf_counter() > deadline:
                    raise TimeoutError(f"timed out waiting for input slot {slot}")
                time.sleep(1e-5)
            _host_copy(torch, self._bufs[t.tid][slot], flat[self.user_inputs.index(t.value)])
        for t in self.transfers:  # publish the inputs together
            if t.src == _MAIN:
                self._written[t.tid, slot] = stamp
                self._arrivals[self.n_devices, t.dst] += 1

    def _collect(self, s: int) -> Any:
        torch = self._torch
        slot = s % self.slots
        by_name = {}
        for t in self.transfers:
            if t.dst == _MAIN:
                buf = self._bufs[t.tid][slot]
                by_name[t.value] = out = torch.empty_like(buf)
                _host_copy(torch, out, buf)
        for t in self.transfers:
            if t.dst == _MAIN:
                self._read[t.tid, slot] = s + 1
        outs = [by_name[o.name] if isinstance(o, torch.fx.Node) else o for o in self.user_outputs]
        return torch.utils._pytree.tree_unflatten(outs, self.out_spec)

    def run(self, batches: list[tuple[Any, ...]], *, in_flight: int | None = None) -> tuple[list[Any], np.ndarray, np.ndarray]:
        """Run one step per entry of ``batches`` (each a tuple of inputs), up to ``in_flight``
        (default ``slots``) at once.

        Returns:
            ``(outputs, released, finished)``: the model's outputs per step, and per step the
            ``perf_counter`` times at which its inputs were published and at which every worker had
            finished it. With ``in_flight=1``, ``finished - released`` is the step latency.
            ``self.cpu_share`` then holds, per step, the smallest fraction of the step's wall time
            that a worker spent on its core (a waiting worker polls, so 1.0 means no worker was
            descheduled: below it, other processes took the cores and the time is inflated).
            ``self.busy_cpu`` holds, per step and worker, the CPU seconds it spent on its
            operations, sends and receives (its CPU time less the polling while it had nothing
            to run): what the simulator's devices are busy for. Other processes on the cores
            take wall time from it, not CPU time, though they can slow its operations (shared
            caches and memory).
        """
        from multiprocessing.connection import wait

        if not self._procs:
            raise RuntimeError("PlacedRuntime is not started: use it in a with block or call start().")
        in_flight = check_int(in_flight if in_flight is not None else self.slots, "in_flight", "PlacedRuntime.run", low=1, high=self.slots)
        n = len(batches)
        base = self._step
        for conn in self._conns:
            conn.send(("run", base, n))
        released = np.zeros(n)
        finished = np.zeros(n)
        outputs: list[Any] = []
        done = np.zeros(n, dtype=np.int64)
        share = np.ones(n)
        busy = np.zeros((n, self.n_devices))
        sent = completed = 0
        deadline = time.perf_counter() + self.timeout
        try:
            while completed < n:
                while sent < n and sent - completed < in_flight:
                    b = batches[sent]
                    self._feed(base + sent, b if isinstance(b, tuple) else (b,), deadline)
                    released[sent] = time.perf_counter()
                    sent += 1
                ready = wait(self._conns, timeout=max(0.0, deadline - time.perf_counter()))
                if not ready:
                    raise TimeoutError(f"step {base + completed}: no worker finished within {self.timeout} s")
                now = time.perf_counter()
                for conn in ready:
                    try:
                        msg = conn.recv()  # type: ignore[union-attr,call-arg]
                    except EOFError:
                        raise RuntimeError("a placement worker exited unexpectedly") from None
                    if msg[0] == "error":
                        raise RuntimeError(f"a placement worker failed: {msg[1]}")
                    j = msg[1] - base
                    d = self._conns.index(conn)
                    busy[j, d] = msg[4]
                    if self.plans[d].nodes:  # a worker with no operation has no share
                        share[j] = min(share[j], msg[2] / max(msg[3], 1e-12))
                    done[j] += 1
                    if done[j] == self.n_devices:
                        finished[j] = now
                while completed < n and done[completed] == self.n_devices:
                    outputs.append(self._collect(base + completed))
                    completed += 1
                    deadline = time.perf_counter() + self.timeout
        except BaseException:
            self.close()
            raise
        self._step = base + n
        self.cpu_share = share
        self.busy_cpu = busy
        return outputs, released, finished

    def __call__(self, *inputs: Any) -> Any:
        """One step: what ``model(*inputs)`` returns."""
        outs, _, _ = self.run([inputs], in_flight=1)
        return outs[0]

    def time_steps(self, inputs: tuple[Any, ...], *, warmup: int = 2, repeats: int = 10, in_flight: int = 1) -> np.ndarray:
        """Seconds per step over ``repeats`` steps after ``warmup`` steps. With ``in_flight=1``,
        the latency of each step; otherwise one figure: the pipelined throughput time
        (wall time of all the steps / ``repeats``)."""
        warmup = check_int(warmup, "warmup", "PlacedRuntime.time_steps", low=0)
        repeats = check_int(repeats, "repeats", "PlacedRuntime.time_steps", low=1)
        if warmup:
            self.run([inputs] * warmup, in_flight=1)
        _, rel, fin = self.run([inputs] * repeats, in_flight=in_flight)
        if in_flight == 1:
            return np.asarray(fin - rel)
        return np.array([(fin[-1] - rel[0]) / repeats])


def _stop(procs: list[Any], conns: list[Any]) -> None:
    for conn in conns:
        with contextlib.suppress(OSError, ValueError):
            conn.send(("stop",))
    end = time.monotonic() + 1.0
    for p in procs:
        p.join(max(0.0, end - time.monotonic()))
        if p.is_alive():
            p.kill()
            p.join(1.0)
    for conn in conns:
        conn.close()


def run_placed(model: Any, placement: Any, example_inputs: Any, **kwargs: Any) -> Any:
    """Run one step of ``model`` on ``example_inputs`` as ``placement`` places it (workers started
    and stopped around the call); returns what ``model(*example_inputs)`` returns. ``kwargs`` go to
    :class:`PlacedRuntime`."""
    if not isinstance(example_inputs, tuple):
        example_inputs = (example_inputs,)
    with PlacedRuntime(model, placement, example_inputs, **kwargs) as rt:
        return rt(*example_inputs)


# ---------------------------------------------------------------------- link measurement
def _pong(buf_a: Any, priv: Any, flags: np.ndarray, reads: np.ndarray, core: int, rounds: int) -> None:
    import torch

    os.sched_setaffinity(0, {core})
    torch.set_num_threads(1)  # a forked child must not enter the parent's OpenMP pool
    deadline = time.perf_counter() + 60.0
    for r in range(1, rounds + 1):
        while flags[0] < r:
            if time.perf_counter() > deadline:
                os._exit(1)
        t0 = time.perf_counter()
        priv.copy_(buf_a)  # one pass over the value, as its consumer reads it in place
        reads[r - 1] = time.perf_counter() - t0
        flags[1] = r
    os._exit(0)


def transfer_probe(nbytes: int, cores: tuple[int, int] = (0, 1), rounds: int = 50) -> dict[str, float]:
    """Median seconds of what sending ``nbytes`` between two processes on ``cores`` costs the way
    :class:`PlacedRuntime` sends (the sender copies into shared memory and raises a flag; the
    receiver polls the flag and reads the buffer in place), per round of a ping-pong:

    * ``send``: the sender's copy into the shared buffer (which the receiver read last round);
    * ``read_remote``: the receiver's pass over the value just written by the other core;
    * ``read_local``: the same pass over a value in the receiver's own cache;
    * ``flag``: one way of the flag, ``(round trip - send - read_remote) / 2``;
    * ``one_way``: half the round trip (what :func:`pingpong` returns).
    """
    torch = require("torch", extra="torch", purpose="measuring links")
    import multiprocessing as mp

    rounds = check_int(rounds, "rounds", "transfer_probe", low=2)
    n = max(1, nbytes // 4)
    a = torch.zeros(n).share_memory_()
    priv = torch.zeros(n)
    src = torch.ones(n)
    flags = torch.zeros(2, dtype=torch.int64).share_memory_().numpy()
    reads = torch.zeros(rounds, dtype=torch.float64).share_memory_().numpy()
    old = os.sched_getaffinity(0)
    old_threads = torch.get_num_threads()
    proc = mp.get_context("fork").Process(target=_pong, args=(a, priv, flags, reads, cores[1], rounds), daemon=True)
    proc.start()
    sends, trips = [], []
    try:
        os.sched_setaffinity(0, {cores[0]})
        torch.set_num_threads(1)
        deadline = time.perf_counter() + 60.0
        for r in range(1, rounds + 1):
            t0 = time.perf_counter()
            a.copy_(src)
            t1 = time.perf_counter()
            flags[0] = r
            while flags[1] < r:
                if time.perf_counter() > deadline:
                    raise TimeoutError("ping-pong partner did not answer")
            sends.append(t1 - t0)
            trips.append(time.perf_counter() - t0)
        local = []
        for _ in range(rounds):  # the same pass over a value in this core's cache
            priv.copy_(src)
            t0 = time.perf_counter()
            src.copy_(priv)
            local.append(time.perf_counter() - t0)
    finally:
        os.sched_setaffinity(0, old)
        torch.set_num_threads(old_threads)
        proc.join(5.0)
        if proc.is_alive():
            proc.kill()
            proc.join(1.0)
    skip = min(5, rounds - 1)  # the first rounds fault the pages in
    send, trip, read = (float(np.median(np.asarray(x)[skip:])) for x in (sends, trips, reads))
    return {"send": send, "read_remote": read, "read_local": float(np.median(local[skip:])),
            "flag": max(0.0, (trip - send - read) / 2), "one_way": trip / 2}


def pingpong(nbytes: int, cores: tuple[int, int] = (0, 1), rounds: int = 50) -> float:
    """Median one-way seconds to send ``nbytes`` between two processes on ``cores`` the way
    :class:`PlacedRuntime` does (a copy into shared memory, a flag, a polling reader that reads
    the value once): half of :func:`transfer_probe`'s round trip."""
    return transfer_probe(nbytes, cores, rounds)["one_way"]


def _time_min(fn: Any, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _transfer_overheads(torch: Any, n: int = 200) -> tuple[float, float]:
    """Seconds per transfer that a worker spends sending a one-element value and finding it
    arrived (the code paths of :meth:`PlacedRuntime._worker_step`, best of 7 over ``n``)."""
    bufs = [torch.zeros(1).share_memory_() for _ in range(n)]
    val = torch.ones(1)
    written = torch.zeros((n, 2), dtype=torch.int64).share_memory_().numpy()
    read = np.zeros((n, 2), dtype=np.int64)
    arrivals = np.zeros((2, 2), dtype=np.int64)

    def send() -> None:
        for t in range(n):
            if read[t, 0] < -1:  # the slot check
                raise AssertionError
            bufs[t].copy_(val)
            written[t, 0] += 1
            arrivals[0, 1] += 1

    consumers = [[t] for t in range(n)]

    def receive() -> None:
        waiting = np.arange(n, dtype=np.int64)
        stamp = int(written[0, 0]) + 1
        seen = arrivals[0, 1]
        env: dict[int, Any] = {}
        pending = [1] * n
        ready: deque[int] = deque()
        for i in range(n):
            written[i, 0] = stamp
            arrivals[0, 1] += 1
            if arrivals[0, 1] != seen:  # something new: scan the flags of what it waits for
                seen = arrivals[0, 1]
                arrived = written[waiting, 0] == stamp
                if arrived.any():
                    for t in waiting[arrived].tolist():
                        env[t] = bufs[t]
                        for j in consumers[t]:
                            pending[j] -= 1
                            if pending[j] == 0:
                                ready.append(j)
                    waiting = waiting[~arrived]

    return _time_min(send, 7) / n, _time_min(receive, 7) / n


def _neg_chain(torch: Any, n: int) -> Any:
    """A module of ``n`` chained negations (each reads its input once)."""

    class _Chain(torch.nn.Module):
        def forward(self, x: Any) -> Any:
            for _ in range(n):
                x = torch.neg(x)
            return x

    return _Chain()


def _busy_medians(runs: list[tuple[PlacedRuntime, tuple[Any, ...]]], steps: int, rounds: int) -> list[float]:
    """Median busy CPU seconds per step (all workers) of each started runtime on its inputs:
    ``steps`` steps each, in ``rounds`` interleaved rounds so that a change of the machine's state
    falls on every runtime alike. Closes the runtimes."""
    try:
        busy: list[list[float]] = [[] for _ in runs]
        per_round = max(1, steps // rounds)
        for _ in range(rounds):
            for i, (rt, inputs) in enumerate(runs):
                rt.time_steps(inputs, warmup=0, repeats=per_round)
                busy[i].extend(rt.busy_cpu.sum(axis=1).tolist())
    finally:
        for rt, _ in runs:
            rt.close()
    return [float(np.median(b)) for b in busy]


def _handoff_cost(torch: Any, cores: list[int], numels: tuple[int, ...] = (1,), n: int = 32, steps: int = 30, rounds: int = 3) -> list[float]:
    """Busy CPU seconds per transfer between two :class:`PlacedRuntime` workers on ``cores``, one
    figure per value size in ``numels`` (float32 elements): a chain of ``n`` negations (each reads
    its input once) alternating between the two workers, less the same chain on one worker, over
    its ``n`` transfers (medians over ``steps`` steps per runtime, timed in ``rounds`` interleaved
    rounds so that a change of the machine's state falls on every runtime alike). Busy CPU time
    (not wall time) so that other processes on the cores hardly change it. A transfer here costs
    the sender its copy into the shared buffer and the receiver finding the arrival and reading
    the value, written by the other core, in its consuming operation."""

    runs: list[tuple[PlacedRuntime, tuple[Any, ...]]] = []
    crossing = []
    try:
        for numel in numels:
            x = torch.zeros(check_int(numel, "numels", "_handoff_cost", low=1))
            program = export_program(_neg_chain(torch, n), (x,))
            graph = graph_from_program(program)
            alternate = np.arange(graph.n_nodes, dtype=np.int64) % 2
            crossing.append(max(1, int(np.sum(alternate[graph.edge_src] != alternate[graph.edge_dst]))))
            for dev in (np.zeros(graph.n_nodes, dtype=np.int64), alternate):
                rt = PlacedRuntime(program, dev, (x,), n_devices=2, cores=list(cores), timeout=60.0).start()
                runs.append((rt, (x,)))
                rt.time_steps((x,), warmup=3, repeats=1)
    except BaseException:
        for rt, _ in runs:
            rt.close()
        raise
    med = _busy_medians(runs, steps, rounds)
    return [max(0.0, (med[2 * k + 1] - med[2 * k]) / crossing[k]) for k in range(len(numels))]


def _op_cost(torch: Any, core: int, lengths: tuple[int, int] = (16, 128), steps: int = 30, rounds: int = 3) -> float:
    """Busy CPU seconds a :class:`PlacedRuntime` worker on ``core`` spends per operation beyond the
    operation's own call: chains of ``lengths`` one-element negations on that one worker, the
    slope of their busy time per step over the chain length (medians over ``steps`` steps per
    runtime, in ``rounds`` interleaved rounds; the slope drops what every step costs once), less
    a bare negation timed on the same core."""
    x = torch.zeros(1)
    runs: list[tuple[PlacedRuntime, tuple[Any, ...]]] = []
    try:
        for n in lengths:
            program = export_program(_neg_chain(torch, n), (x,))
            graph = graph_from_program(program)
            rt = PlacedRuntime(program, np.zeros(graph.n_nodes, dtype=np.int64), (x,), n_devices=1, cores=[core], timeout=60.0).start()
            runs.append((rt, (x,)))
            rt.time_steps((x,), warmup=3, repeats=1)
    except BaseException:
        for rt, _ in runs:
            rt.close()
        raise
    short, long = _busy_medians(runs, steps, rounds)
    per_op = (long - short) / (lengths[1] - lengths[0])
    neg = torch.ops.aten.neg.default
    old_aff = os.sched_getaffinity(0)
    try:
        os.sched_setaffinity(0, {core})
        with torch.inference_mode():
            bare = _time_min(lambda: [neg(x) for _ in range(200)], 7) / 200
    finally:
        os.sched_setaffinity(0, old_aff)
    return max(0.0, per_op - bare)


_LOCAL: dict[tuple[int, ...], dict[str, Any]] = {}


def local_cluster_spec(cores: list[int] | None = None, *, refresh: bool = False) -> dict[str, Any]:
    """The :meth:`Cluster.from_dict` form of this machine: one device per core in ``cores``
    (default: the cores this process may run on), measured once per process (about 5 s on two cores).

    * ``flops``: a single-thread 256 x 512 x 512 matrix product (best of 5).
    * ``mem_bandwidth``: bytes read + written by a single-thread copy of 32 MiB (best of 5).
    * ``overhead``: per operation, what a worker spends around an operation's call (its ready
      queue, argument lookup, bookkeeping, freeing values): the busy time of a
      :class:`PlacedRuntime` worker on chains of 16 and 128 tiny operations, per added operation,
      less the bare operation (:func:`_op_cost`); never less than a replica of the worker's loop
      timed on a chain of 200 tiny operations minus the calls (best of 7), nor than that walk
      without the calls: what an operation costs beyond its own time.
    * ``send_overhead``: per transfer, what a worker spends sending a one-element value (its slot
      check, the copy into the shared buffer, the flags), timed over 200 transfers (best of 7).
    * ``send_bandwidth``: bytes/s of the sender's copy into a shared buffer that the other core
      read last (:func:`transfer_probe`, 512 KiB against 8 bytes).
    * ``recv_overhead``: per transfer, the rest of what a transfer of a one-element value costs
      the two workers of a :class:`PlacedRuntime` (finding the arrival, handing it to its
      consumers, resuming after the wait): their busy CPU time on a chain of 32 tiny operations
      alternating between two cores, less the same chain on one core, per transfer, less
      ``send_overhead`` (:func:`_handoff_cost`; no less than the bookkeeping alone, timed over
      200 arrivals). The replicas of the code paths alone missed two thirds of it.
    * ``recv_bandwidth``: bytes/s of what receiving costs beyond ``recv_overhead``, measured on
      the runtime itself: the same chain on 512-KiB values, timed in the same interleaved rounds
      as the one-element chain; per transfer, its cost over the one-element chain's, less the
      sender's copy (``send_bandwidth``) and the link's share (below), is the receiver's time for
      the bytes (its operation reading a value written by the other core, which is slower than
      reading its own; at most 10x ``mem_bandwidth`` when there is no measurable extra). The
      runtime spends it inside the consuming operation, on the receiving core.
    * links: ``latency`` the flag's one-way time (8-byte :func:`transfer_probe`); ``bandwidth``
      the rate of the receiver's extra time reading 512 KiB written by the other core over reading
      them from its own cache in a plain copy (at most 10x ``mem_bandwidth`` when there is no
      measurable extra). The sender's copy is not on the link: it is the sender's time, as the
      runtime spends it.
    * ``memory``: physical memory divided among the devices.
    """
    torch = require("torch", extra="torch", purpose="measuring this machine")
    cores = sorted(cores if cores is not None else os.sched_getaffinity(0))
    key = tuple(cores)
    if key in _LOCAL and not refresh:
        return _LOCAL[key]
    old_threads = torch.get_num_threads()
    old_aff = os.sched_getaffinity(0)
    try:
        torch.set_num_threads(1)
        os.sched_setaffinity(0, {cores[0]})
        with torch.inference_mode():
            a = torch.randn(256, 512)
            b = torch.randn(512, 512)
            mm = torch.ops.aten.mm.default
            flops = 2 * 256 * 512 * 512 / _time_min(lambda: mm(a, b), 5)
            big = torch.randn(8 << 20)
            dst = torch.empty_like(big)
            mem_bw = 2 * big.numel() * 4 / _time_min(lambda: dst.copy_(big), 5)
            x = torch.ones(1)
            add = torch.ops.aten.add.Tensor
            graph = torch.fx.Graph()
            a = graph.placeholder("a")
            chain = [a]
            for _ in range(200):
                chain.append(graph.call_function(add, (chain[-1], chain[-1])))
            fx_map = torch.fx.node.map_arg
            consumers = [[i + 1] for i in range(201)]

            def walk(call: bool) -> None:  # what a worker does around each operation's call
                env: dict[str, Any] = {"a": x}
                pending = [1] * 202
                ready = deque([1])
                while ready:
                    i = ready.popleft()
                    if i > 200:
                        break
                    n = chain[i]
                    args, kwargs = fx_map((n.args, n.kwargs), lambda v: env[v.name])
                    env[n.name] = n.target(*args, **kwargs) if call else x
                    for j in consumers[i]:
                        pending[j] -= 1
                        if pending[j] == 0:
                            ready.append(j)

            def calls() -> None:
                for _ in range(200):
                    add(x, x)

            # the loop less the bare calls; on a busy machine that difference can drown in noise,
            # so it is never taken below the bookkeeping alone, timed directly
            overhead = max((_time_min(lambda: walk(True), 7) - _time_min(calls, 7)) / 200,
                           _time_min(lambda: walk(False), 7) / 200)
            send_overhead, recv_overhead = _transfer_overheads(torch)
    finally:
        torch.set_num_threads(old_threads)
        os.sched_setaffinity(0, old_aff)
    # the replica of the worker's loop above misses most of what the runtime spends per operation
    # (2.8 against 0.55 us here): measured on the runtime itself, never below the replica
    overhead = max(overhead, _op_cost(torch, cores[0]))
    big = 512 << 10
    if len(cores) >= 2:
        one, large_handoff = _handoff_cost(torch, cores[:2], numels=(1, big // 4))
        recv_overhead = max(recv_overhead, one - send_overhead)
        small = transfer_probe(8, (cores[0], cores[1]))
        large = transfer_probe(big, (cores[0], cores[1]), rounds=30)
        lat = small["flag"]
        send_bw = big / max(large["send"] - small["send"], big / (10 * mem_bw))
        bw = big / max(large["read_remote"] - large["read_local"], big / (10 * mem_bw))
        # what the 512-KiB hand-off costs beyond the one-element one, less the sender's copy of
        # the bytes and the link's share of them: the receiver's time for the bytes
        recv_bytes = large_handoff - one - (big - 4) / send_bw - big / bw
        recv_bw = big / max(recv_bytes, big / (10 * mem_bw))
    else:
        lat, bw, send_bw, recv_bw = 0.0, mem_bw / 2, mem_bw / 2, float("inf")
    mem_total = float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    devices = [
        {"name": f"core{c}", "kind": "cpu", "flops": flops, "memory": mem_total / len(cores), "mem_bandwidth": mem_bw, "overhead": overhead,
         "send_overhead": send_overhead, "send_bandwidth": send_bw, "recv_overhead": recv_overhead, "recv_bandwidth": recv_bw}
        for c in cores
    ]
    spec = {"name": f"local-{len(cores)}core", "devices": devices, "links": {"bandwidth": bw, "latency": lat}}
    _LOCAL[key] = spec
    return spec
