"""``learnedsys nas search | predict | tabular``. Imports nothing heavy at module level."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

_DEFAULT_EPOCHS = {"mlp": 20, "cnn": 12, "cell": 8}


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("nas", help="neural architecture search (search, predict, tabular)",
                              description="Search architectures for your data, predict with the best, or compare strategies on the shipped tabular benchmark.")
    sub = p.add_subparsers(dest="nas_command", metavar="ACTION")

    s = sub.add_parser("search", help="search architectures on a dataset and export the best model",
                       description="Train child models (PyTorch, one thread per trial) proposed by a strategy until the budget ends; "
                       "retrain the best on train+validation, report its held-out test accuracy, save it to --out.")
    s.add_argument("--data", required=True, help="a .npz with X and y, a .csv (with --target), or 'digits'")
    s.add_argument("--target", help="label column of a CSV")
    s.add_argument("--budget", default="240", help="wall-clock budget: seconds, or like 10m / 1h (default 240)")
    s.add_argument("--strategy", default="evolution", choices=["evolution", "reinforce", "random", "tpe"])
    s.add_argument("--space", default="auto", choices=["auto", "mlp", "cnn", "cell"],
                   help="search space (default auto: cnn for images, mlp otherwise)")
    s.add_argument("--workers", type=int, default=1, help="trials in parallel (default 1)")
    s.add_argument("--backend", default="local", choices=["local", "ray", "inline"], help="local worker processes (default), ray, or inline")
    s.add_argument("--address", help="Ray cluster address (default: start a local Ray)")
    s.add_argument("--storage", help="journal URL: sqlite:///PATH or postgresql://... (default: none)")
    s.add_argument("--study", default="nas", help="study name in --storage (default 'nas')")
    s.add_argument("--resume", action="store_true", help="continue the study in --storage, keeping its finished trials")
    s.add_argument("--epochs", type=int, help="epochs per trial (default: mlp 20, cnn 12, cell 8)")
    s.add_argument("--asha", action="store_true", help="successive halving: start at epochs/9, promote the top 1/3")
    s.add_argument("--objective", default="accuracy", choices=["accuracy", "latency", "params"],
                   help="accuracy, or accuracy traded against latency/params (Pareto front in the JSON)")
    s.add_argument("--max-trials", type=int, help="stop after this many new trials")
    s.add_argument("--final-epochs", type=int,
                   help="epochs of the final retraining on train+validation (default: twice --epochs; the learning "
                   "rate decays over them, and more data deserves more steps)")
    s.add_argument("--no-defaults", action="store_true",
                   help="do not try the space's hand-built architecture first (by default the search starts from it)")
    s.add_argument("--ensemble", type=int,
                   help="retrain the top K architectures and average their predictions (default 3, fewer when their "
                   "retraining would take more than half the budget; 1 = the best alone)")
    s.add_argument("--seed", type=int, default=0, help="seed for the split, the strategy and training (default 0)")
    s.add_argument("--out", type=Path, help="directory for the best model (architecture.json + model.lsys)")
    s.add_argument("--json", type=Path, help="write best, trials, resumed_trials, history, pareto as JSON")
    s.add_argument("--no-progress", action="store_true", help="no progress bar")
    s.set_defaults(func=_search)

    pr = sub.add_parser("predict", help="predict with a model written by 'nas search --out'")
    pr.add_argument("model", type=Path, help="model directory")
    pr.add_argument("--data", required=True, help="a .npz with X (y optional), a .csv (with --target), or 'digits'")
    pr.add_argument("--target", help="label column of a CSV")
    pr.add_argument("--out", type=Path, required=True, help="where to write the predictions (.npy)")
    pr.set_defaults(func=_predict)

    tb = sub.add_parser("tabular", help="compare strategies on the shipped tabular benchmark (seconds, no training)")
    tb.add_argument("--strategies", nargs="+", default=["random", "evolution", "reinforce"],
                    choices=["random", "evolution", "reinforce", "tpe"])
    tb.add_argument("--runs", type=int, default=100, help="seeded runs per strategy (default 100)")
    tb.add_argument("--evals", type=int, default=150, help="evaluations per run (default 150)")
    tb.add_argument("--asha", action="store_true", help="run the strategies under successive halving")
    tb.add_argument("--seed", type=int, default=0)
    tb.add_argument("--json", type=Path, help="write mean and 95%% band per evaluation")
    tb.set_defaults(func=_tabular)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _fail(msg: str) -> int:
    print(f"learnedsys nas: {msg}", file=sys.stderr)
    return 2


def _write_json(path: Path, payload: Any) -> str | None:
    """Write ``payload`` atomically; the one-line error message on failure, else None."""
    from learnedsys._atomic import atomic_write

    try:
        atomic_write(path, json.dumps(payload, indent=1, default=_default) + "\n", what="--json")
    except (ValueError, OSError) as exc:
        return f"cannot write --json {str(path)!r}: {exc}"
    return None


def _check_outputs(args: argparse.Namespace) -> None:
    """Fail before the work, not after it: --json must be a file path in an existing folder,
    --out of 'search' a directory path (created if missing), --out of 'predict' a file path."""
    from learnedsys._atomic import PathError, check_output_path

    if getattr(args, "json", None) is not None:
        check_output_path(args.json, "--json")
    out = getattr(args, "out", None)
    if out is not None:
        if args.nas_command == "search":
            if out.exists() and not out.is_dir():
                raise PathError(f"--out {str(out)!r} is a file; give a directory path for the model (it is created if missing).")
        else:
            check_output_path(out, "--out")


def _search(args: argparse.Namespace) -> int:
    from learnedsys._atomic import PathError
    from learnedsys._validation import InvalidParameterError
    from learnedsys.nas import fit_final, get_space, load_dataset, parse_budget, search

    try:
        _check_outputs(args)
        budget = parse_budget(args.budget)
        if args.final_epochs is not None and args.final_epochs < 1:
            return _fail(f"--final-epochs must be an int >= 1. Got {args.final_epochs} instead.")
        if args.ensemble is not None and args.ensemble < 1:
            return _fail(f"--ensemble must be an int >= 1. Got {args.ensemble} instead.")
        if args.workers < 1:
            return _fail(f"--workers must be an int >= 1. Got {args.workers} instead.")
        if args.resume and not args.storage:
            return _fail("--resume needs --storage (the journal to resume from)")
        data = load_dataset(args.data, target=args.target, seed=args.seed)
        space = args.space if args.space != "auto" else ("cnn" if data.is_image else "mlp")
        epochs = args.epochs or _DEFAULT_EPOCHS[space]
        print(f"searching {space} space on {data.name} ({len(data.y_train)} train / {len(data.y_val)} validation / "
              f"{len(data.y_test)} test, {data.n_classes} classes) with {args.strategy}, {args.workers} worker(s), "
              f"{budget:.0f} s", file=sys.stderr)
        res = search(data, space=space, strategy=args.strategy, budget=budget, max_trials=args.max_trials,
                     workers=args.workers, backend=args.backend, address=args.address, storage=args.storage,
                     study=args.study, resume=args.resume, seed=args.seed, epochs=epochs, asha=args.asha,
                     objective=args.objective, progress=not args.no_progress, try_defaults=not args.no_defaults)
    except (InvalidParameterError, PathError, FileNotFoundError) as exc:
        return _fail(str(exc))
    out: dict[str, Any] = res.to_json()
    print(f"{res.trials} finished trials ({res.resumed_trials} resumed, {res.failed} failed) in {res.seconds:.0f} s",
          file=sys.stderr)
    rc = 0
    if res.best is None:
        print("no trial succeeded; nothing to export", file=sys.stderr)
        rc = 1
    else:
        print(f"best validation accuracy {res.best['val_acc']:.4f}: {json.dumps(res.best['architecture'])}", file=sys.stderr)
        members, final_epochs = _final_plan(res, args, epochs, budget, data)
        model, test_acc = fit_final(get_space(space), members, data, epochs=final_epochs, seed=args.seed)
        out["test_acc"] = test_acc
        out["ensemble"] = [{"action": m, "architecture": get_space(space).decode(m)} for m in members]
        print(f"retrained {len(members)} architecture(s) on train+validation: held-out test accuracy {test_acc:.4f}",
              file=sys.stderr)
        if args.out is not None:
            try:
                model.save(args.out)
            except (ValueError, OSError) as exc:
                print(f"learnedsys nas: cannot write the model to --out {str(args.out)!r}: {exc}", file=sys.stderr)
                rc = 2
            else:
                out["model_dir"] = str(args.out)
                print(f"model written to {args.out}", file=sys.stderr)
    if args.json is not None:
        err = _write_json(args.json, out)
        if err is not None:
            return _fail(err)
    return rc


def _final_plan(res: Any, args: argparse.Namespace, epochs: int, budget: float, data: Any) -> tuple[list[Any], int]:
    """Members and epochs of the final retraining: by default the top 3 for twice the search's
    epochs, cut back (first to the search's epochs, then to fewer members) when the estimate from
    the members' own trial times exceeds half the search budget."""
    seconds = {h["number"]: h.get("seconds") or 0.0 for h in res.history}
    top = res.top[: args.ensemble or 3]
    final_epochs = args.final_epochs or 2 * epochs
    grow = (len(data.y_train) + len(data.y_val)) / max(1, len(data.y_train))

    def estimate(k: int, ep: int) -> float:
        return sum(seconds.get(t["number"], 0.0) * ep / t["epochs"] for t in top[:k]) * grow

    k = len(top)
    if args.final_epochs is None and estimate(k, final_epochs) > budget / 2:
        final_epochs = epochs
    while args.ensemble is None and k > 1 and estimate(k, final_epochs) > budget / 2:
        k -= 1
    print(f"final retraining: {k} architecture(s) x {final_epochs} epochs on train+validation "
          f"(about {estimate(k, final_epochs):.0f} s of training)", file=sys.stderr)
    return [t["action"] for t in top[:k]], final_epochs


def _default(o: Any) -> Any:
    if hasattr(o, "item"):
        return o.item()
    return str(o)


def _predict(args: argparse.Namespace) -> int:
    import io

    import numpy as np

    from learnedsys._atomic import atomic_write
    from learnedsys._serialization import FormatError
    from learnedsys._validation import InvalidParameterError
    from learnedsys.nas import load_arrays, load_model

    try:
        _check_outputs(args)
        model = load_model(args.model)
        if str(args.data).endswith(".npz"):
            with np.load(args.data, allow_pickle=False) as z:
                if "X" not in z.files:
                    return _fail(f"{args.data!r} must hold an array 'X'; it has {z.files}")
                X = z["X"]
                y = z["y"] if "y" in z.files else None
        else:
            X, y, _ = load_arrays(args.data, args.target)
        pred = model.predict(X)  # rejects NaN / inf pixels, as 'nas search' does
        buf = io.BytesIO()
        np.save(buf, pred, allow_pickle=False)
    except (InvalidParameterError, FileNotFoundError, FormatError, ValueError) as exc:
        return _fail(str(exc))
    try:
        atomic_write(args.out, buf.getbuffer(), what="--out")
    except (ValueError, OSError) as exc:
        return _fail(f"cannot write --out {str(args.out)!r}: {exc}")
    msg = f"wrote {len(pred)} predictions to {args.out}"
    if y is not None and len(y) == len(pred):
        msg += f"; accuracy against y: {float(np.mean(pred.astype(str) == np.asarray(y).astype(str))):.4f}"
    print(msg, file=sys.stderr)
    return 0


def _tabular(args: argparse.Namespace) -> int:
    import time

    from learnedsys.nas import TabularBenchmark, summarize

    if args.runs < 2 or args.evals < 1:
        return _fail(f"--runs must be >= 2 and --evals >= 1. Got {args.runs} and {args.evals} instead.")
    try:
        _check_outputs(args)
    except ValueError as exc:
        return _fail(str(exc))
    bench = TabularBenchmark.load()
    t0 = time.perf_counter()
    curves = bench.compare(args.strategies, n_runs=args.runs, n_evals=args.evals, seed=args.seed, asha=args.asha)
    out = {}
    print(f"test regret (%) at {args.evals} evaluations, mean and 95% band over {args.runs} runs "
          f"({len(bench)} architectures; {time.perf_counter() - t0:.1f} s)")
    for name, c in curves.items():
        s = summarize(c)
        print(f"  {name:10s} {100 * s['mean'][-1]:.3f}  [{100 * s['lo'][-1]:.3f}, {100 * s['hi'][-1]:.3f}]")
        out[name] = {k: v.tolist() for k, v in s.items()}
    if args.json is not None:
        err = _write_json(args.json, out)
        if err is not None:
            return _fail(err)
    return 0
