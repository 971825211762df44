"""``learnedsys place MODULE:FACTORY``: capture a model, run placers, print step times, write the
placement. Imports nothing heavy at module level."""

from __future__ import annotations

import argparse
import functools
import importlib
import json
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

from learnedsys import _output


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "place",
        help="device placement: simulated step time of every placer for a PyTorch model",
        description=(
            "Capture MODULE:FACTORY (a function returning (model, example_inputs)), run the "
            "placement methods against the simulated cluster, print the step time of each and "
            "write the chosen placement. Example: learnedsys place "
            "learnedsys.placement.models:nmt4 --cluster k80x4 --json nmt4.json"
        ),
    )
    p.add_argument("target", help="MODULE:FACTORY, e.g. learnedsys.placement.models:inception_v3")
    p.add_argument("--cluster", default="k80x4",
                   help="preset name (k80x4, p100x4-nvlink, h100x8), 'local' (this machine's cores, measured) or a JSON file")
    p.add_argument("--method", action="append", default=None,
                   help="placer to run (repeatable; default: all); the placement written is the last one's, or 'default'")
    p.add_argument("--kwargs", default="{}", help="JSON keyword arguments for the factory, e.g. '{\"batch\": 32}'")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--iterations", type=int, default=150, help="policy-gradient iterations (rl, hierarchical, default)")
    p.add_argument("--time-budget", type=float, default=240.0, help="seconds cap of a learned search (the whole default search)")
    p.add_argument("--anneal-steps", type=int, default=20000, help="simulated-annealing moves of the default method")
    p.add_argument("--kicks", type=int, default=30, help="iterated-local-search rounds of the default method")
    p.add_argument("--inference", action="store_true", help="simulate forward passes only (default: training step)")
    p.add_argument("--profile", default=None, metavar="DEVICES",
                   help="calibrate the simulator by timing every operation on real devices: one torch device per "
                        "cluster device, comma-separated (e.g. cpu,cuda:0,cuda:1,cuda:2,cuda:3); the model is "
                        "built with device='cpu' when the factory made it on the meta device")
    p.add_argument("--measure", type=int, default=0, metavar="N",
                   help="with --cluster local and --inference: also run the default search's N simulated-fastest "
                        "placements for real (one worker per core) and keep the fastest measured (row default+measured)")
    p.add_argument("--measure-within", type=float, default=0.15, metavar="FRACTION",
                   help="--measure runs only placements simulated within this fraction of the fastest (default 0.15)")
    p.add_argument("--json", type=Path, default=None, metavar="PATH", help="write the results and the placement here")
    p.add_argument("--storage", "--journal", dest="journal", default=None, metavar="PATH|URL",
                   help="where finished methods are journaled (a SQLite file, sqlite:/// or postgresql:// URL); a rerun resumes from it")
    p.add_argument("--study", default="place", metavar="NAME",
                   help="the name of this set of results in --storage (default place); another name keeps its own")
    p.add_argument("--fresh", action="store_true", help="run every method again, replacing what --storage holds for them")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr (the table still goes to stdout, errors to stderr)")
    p.set_defaults(func=run)


def _load_factory(target: str) -> Any:
    if ":" not in target:
        raise SystemExit(f"learnedsys place: target must be MODULE:FACTORY, got {target!r}")
    mod, _, fn = target.partition(":")
    try:
        module = importlib.import_module(mod)
    except ImportError as exc:
        raise SystemExit(f"learnedsys place: cannot import module {mod!r}: {exc}") from None
    factory = getattr(module, fn, None)
    if factory is None:
        raise SystemExit(f"learnedsys place: module {mod!r} has no {fn!r}")
    return factory


def _with_weights(factory: Any, kwargs: dict[str, Any], model: Any, inputs: Any) -> tuple[Any, Any]:
    """The model with real weights: built again with ``device='cpu'`` when the factory made it
    on the meta device (what profiling and running it need)."""
    if any(getattr(p, "is_meta", False) for p in model.parameters()):
        made = factory(**{**kwargs, "device": "cpu"})
        model, inputs = made if isinstance(made, tuple) else (made, made.example_inputs)
    return model, inputs


def _journal(where: str | None) -> Any:
    """The journal of finished methods, in the storage grammar of every part (a path, sqlite:///
    or postgresql://)."""
    if where is None:
        return None
    from learnedsys import _storage

    con = _storage.connect(where, purpose="a PostgreSQL placement journal", what="--storage")
    cur = con.cursor()
    cur.execute("CREATE TABLE IF NOT EXISTS placement (key TEXT PRIMARY KEY, result TEXT NOT NULL)")
    con.commit()
    return con


def _journal_get(con: Any, key: str) -> Any:
    cur = con.cursor()
    cur.execute("SELECT result FROM placement WHERE key = " + ("%s" if _is_pg(con) else "?"), (key,))
    return cur.fetchone()


def _journal_put(con: Any, key: str, value: str) -> None:
    cur = con.cursor()
    if _is_pg(con):
        cur.execute("INSERT INTO placement VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET result = EXCLUDED.result", (key, value))
    else:
        cur.execute("INSERT OR REPLACE INTO placement VALUES (?, ?)", (key, value))
    con.commit()


def _is_pg(con: Any) -> bool:
    return not isinstance(con, sqlite3.Connection)


def _journal_key(study: str, settings: list[Any]) -> str:
    """A finished method's key in the journal: the study's name, then every setting that changes
    its result."""
    return json.dumps([study, *settings])


def run(args: argparse.Namespace) -> int:
    from learnedsys._atomic import check_output_path
    from learnedsys.placement import METHODS, Cluster, Placement, Simulator, place
    from learnedsys.placement._capture import CaptureError, capture
    from learnedsys.placement._jsonfile import write_json

    methods = args.method or list(METHODS)
    for m in methods:
        if m not in METHODS:
            print(f"learnedsys place: unknown method {m!r}; choose from {', '.join(METHODS)}", file=sys.stderr)
            return 2
    try:
        kwargs = json.loads(args.kwargs)
    except json.JSONDecodeError as exc:
        print(f"learnedsys place: --kwargs is not JSON: {exc}", file=sys.stderr)
        return 2
    try:
        if args.json is not None:  # before the search: a bad path fails now, not after minutes
            check_output_path(args.json, "--json")
        if not args.measure_within >= 0:
            print(f"learnedsys place: --measure-within must be a fraction >= 0, got {args.measure_within}", file=sys.stderr)
            return 2
        if args.measure and (args.cluster != "local" or not args.inference or args.measure < 2):
            print("learnedsys place: --measure N needs N >= 2, --cluster local (placements run on this machine's cores) "
                  "and --inference (the runtime runs forward steps)", file=sys.stderr)
            return 2
        if args.cluster == "local":
            cluster = Cluster.local()
        else:
            cluster = Cluster.from_json(args.cluster) if args.cluster.endswith(".json") else Cluster.preset(args.cluster)
    except (ValueError, FileNotFoundError) as exc:  # PathError, InvalidParameterError: one line each
        print(f"learnedsys place: {exc}", file=sys.stderr)
        return 2
    factory = _load_factory(args.target)
    t0 = time.perf_counter()
    made = factory(**kwargs)
    model, inputs = made if isinstance(made, tuple) else (made, made.example_inputs)
    try:
        graph = capture(model, inputs, name=args.target)
    except CaptureError as exc:
        print(f"learnedsys place: {exc}", file=sys.stderr)
        return 1
    note = functools.partial(_output.note, quiet=args.quiet)
    note(f"{args.target}: {graph.summary()}; captured in {time.perf_counter() - t0:.1f} s; cluster {cluster}")
    op_times = None
    if args.profile:
        from learnedsys.placement import profile_op_times

        names = [d.strip() for d in args.profile.split(",")]
        if len(names) != cluster.n_devices:
            print(f"learnedsys place: --profile needs {cluster.n_devices} devices (one per cluster device), got {len(names)}", file=sys.stderr)
            return 2
        model, inputs = _with_weights(factory, kwargs, model, inputs)
        op_times = profile_op_times(model, inputs, graph, names)
        note(f"profiled {graph.n_nodes} operations on {', '.join(dict.fromkeys(names))}")
    sim = Simulator(graph, cluster, training=not args.inference, op_times=op_times)
    if args.measure:  # every row against the simulator place_measured uses: op times profiled on one core
        from learnedsys.placement._refine import profiled_simulator

        model, inputs = _with_weights(factory, kwargs, model, inputs)
        if hasattr(model, "eval"):
            model.eval()
        if not isinstance(inputs, tuple):
            inputs = (inputs,)
        sim = profiled_simulator(model, inputs, graph, cluster)[0]
        note(f"profiled {graph.n_nodes} operations on one core of {cluster.name}")
    from learnedsys._validation import InfrastructureError, InvalidParameterError

    try:
        con = _journal(args.journal)
    except InfrastructureError as exc:
        print(f"learnedsys place: {exc}", file=sys.stderr)
        return 1
    except InvalidParameterError as exc:
        print(f"learnedsys place: {exc}", file=sys.stderr)
        return 2
    results: dict[str, Placement] = {}
    for m in methods:
        settings = [args.target, args.kwargs, cluster.name, m, args.seed, args.iterations, args.anneal_steps, args.kicks, args.inference]
        if args.measure:  # a simulator with op times profiled here: results of their own
            settings.append("profiled")
        key = _journal_key(args.study, settings)
        row = None
        if con is not None and not args.fresh:
            row = _journal_get(con, key)
            if row is None and args.study == "place":  # a journal written before --study: its keys had no name
                row = _journal_get(con, json.dumps(settings))
        if row is not None:
            results[m] = Placement.from_dict(json.loads(row[0]))
            note(f"  {m}: resumed from journal (study {args.study!r})")
            continue
        p = place(graph, cluster, m, seed=args.seed, iterations=args.iterations, time_budget=args.time_budget,
                  anneal_steps=args.anneal_steps, kicks=args.kicks, simulator=sim)
        results[m] = p
        if con is not None:
            _journal_put(con, key, json.dumps(p.to_dict(), default=float))
    if args.measure:
        from learnedsys.placement import place_measured

        pm = place_measured(model, inputs, cluster, shortlist=args.measure, tolerance=args.measure_within, seed=args.seed, simulator=sim, iterations=args.iterations,
                            time_budget=args.time_budget, anneal_steps=args.anneal_steps, kicks=args.kicks)
        for i, c in enumerate(pm.info["measured"]):
            real = "-" if c["real_step_time"] is None else f"{c['real_step_time'] * 1e3:.3f} ms"
            note(f"  measured {c['source']}: simulated {c['sim_step_time'] * 1e3:.3f} ms, real {real}" + (" (kept)" if i == pm.info["chosen"] else ""))
        results["default+measured"] = pm
    base = results.get("single")
    print("| method | step time (ms) | vs single | feasible | search (s) |\n|---|---|---|---|---|")
    for m, p in results.items():
        rel = f"{p.step_time / base.step_time:.3f}" if base is not None and base.feasible and p.feasible else "-"
        st = f"{p.step_time * 1e3:.3f}" if p.feasible else "infeasible"
        print(f"| {m} | {st} | {rel} | {p.feasible} | {p.search_seconds:.2f} |")
    chosen = results.get("default+measured") or (results["default"] if "default" in results else results[methods[-1]])
    if args.json is not None:
        payload = {
            "model": args.target,
            "kwargs": kwargs,
            "cluster": cluster.to_dict(),
            "graph": {"ops": graph.n_nodes, "edges": graph.n_edges, "forward_flops": graph.total_flops},
            "results": {m: {k: v for k, v in p.to_dict().items() if k != "devices"} for m, p in results.items()},
            "placement": chosen.to_dict(op_names=graph.names),
        }
        try:
            write_json(args.json, payload, what="--json")
        except (ValueError, OSError) as exc:
            print(f"learnedsys place: cannot write --json {str(args.json)!r}: {exc}", file=sys.stderr)
            return 2
        note(f"wrote {args.json}")
    return 0
