"""How far this host's speed on NMT's small operations drifts within a minute: the same profile
(``profiled_simulator``: fastest of 5 node-by-node runs on one pinned core) taken twice before,
with 18 idle runtimes started, after they ran and after they closed (issue 21, RESULTS "Run 7").

    .venv/bin/python benchmarks/placement/profile_drift.py
"""

import os

import numpy as np
import torch

from learnedsys.placement import Cluster, PlacedRuntime, models
from learnedsys.placement._measure import _inputs
from learnedsys.placement._refine import profiled_simulator
from learnedsys.placement._runtime import export_program, graph_from_program

torch.manual_seed(0)
model, ex = models.nmt(device="cpu", layers=2, batch=32, seq=6, hidden=256, vocab=2000)
model.eval()
inp = _inputs(torch, ex, 0)
ep = export_program(model, inp)
g = graph_from_program(ep, name="nmt")
cl = Cluster.local()
n = g.n_nodes
def prof(label):
    for _ in range(2):
        _sim, p = profiled_simulator(model, inp, g, cl)
        print(f"{label}: profile sum {p[:,0].sum()*1e3:.2f}", flush=True)
prof("before")
rng = np.random.default_rng(0)
NR = int(os.environ.get("NR", "18"))
rts = [PlacedRuntime(ep, rng.integers(0, 2, n), inp, n_devices=2, timeout=120) for _ in range(NR)]
for rt in rts:
    rt.start()
prof("started, never ran")
for rt in rts:
    rt.time_steps(inp, warmup=0, repeats=2)
prof("ran")
for rt in rts:
    rt.close()
prof("closed")
