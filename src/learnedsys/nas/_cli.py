"""``learnedsys nas search | predict | tabular``. Imports nothing heavy at module level."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from learnedsys._output import note

_DEFAULT_EPOCHS = {"mlp": 20, "cnn": 12, "cell": 8}
_IMAGE_MEMBERS = 2


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("nas", help="neural architecture search (search, predict, tabular)",
                              description="Search architectures for your data, predict with the best, or compare strategies on the shipped tabular benchmark.")
    sub = p.add_subparsers(dest="nas_command", metavar="ACTION")

    s = sub.add_parser("search", help="search architectures on a dataset and export the best model",
                       description="Train child models (PyTorch, one thread per trial) proposed by a strategy; retrain the best on "
                       "train+validation, report its held-out test accuracy, save it to --out. On images (space 'image', the default) "
                       "--budget covers both: at most about 55%% for the search (successive halving over epochs and data, the hand-built "
                       "CNN trained first as the floor; exploring stops early when the hand-built CNN still leads once a searched "
                       "architecture has been trained as long), the rest for the final ensemble. Results go to stdout, progress to "
                       "stderr.")
    s.add_argument("--data", required=True, help="a .npz with X and y, a .csv (with --target), or 'digits'")
    s.add_argument("--target", help="label column of a CSV")
    s.add_argument("--budget", default="240", help="wall-clock budget: seconds, or like 10m / 1h (default 240)")
    s.add_argument("--strategy", default="evolution", choices=["evolution", "reinforce", "random", "tpe"])
    s.add_argument("--space", default="auto", choices=["auto", "image", "mlp", "cnn", "cell"],
                   help="search space (default auto: image for images, mlp otherwise)")
    s.add_argument("--workers", type=int, default=1, help="trials in parallel (default 1)")
    s.add_argument("--backend", default="local", choices=["local", "ray", "inline"], help="local worker processes (default), ray, or inline")
    s.add_argument("--address", help="Ray cluster address (default: start a local Ray)")
    s.add_argument("--storage", metavar="PATH|URL",
                   help="where the Optuna study of the trials lives: a SQLite file or an RDB URL (sqlite:///..., "
                   "postgresql://...); an existing study resumes with its finished trials (default: none, in memory)")
    s.add_argument("--study", default="nas", metavar="NAME", help="the study's name in --storage (default nas)")
    s.add_argument("--fresh", action="store_true", help="discard the study's trials and start over")
    s.add_argument("--resume", action="store_true", help=argparse.SUPPRESS)  # the default now; kept for old scripts
    s.add_argument("--epochs", type=int, help="epochs per trial, the top rung's with ASHA (default: image: what fits the "
                   "budget; mlp 20, cnn 12, cell 8)")
    s.add_argument("--hand-built", action="store_true",
                   help="image space: no search; the whole budget trains an ensemble of the hand-built CNN with the same "
                   "recipe (the fair baseline)")
    s.add_argument("--full-search", action="store_true",
                   help="image space: explore for the search's whole share of the budget even when the hand-built CNN still "
                   "leads (by default, once the first searched architecture has been trained as long as it, at the top "
                   "rung, and none beats it, the rest of the budget goes to its final training)")
    s.add_argument("--warm-final", action="store_true",
                   help="image space, experimental: start each final member from the weights the search trained for its "
                   "architecture (same recipe, the schedule restarted) instead of fresh ones; off by default: in small "
                   "checks it generalised worse than a fresh start (the warm-starting gap of Ash and Adams, 2020)")
    s.add_argument("--asha", action="store_true", help="successive halving: start at epochs/9, promote the top 1/3 "
                   "(always on for the image space, with a third of the data at the lowest rung)")
    s.add_argument("--objective", default="accuracy", choices=["accuracy", "latency", "params"],
                   help="accuracy, or accuracy traded against latency/params (Pareto front in the JSON)")
    s.add_argument("--max-trials", type=int, help="stop after this many new trials (and wait for them all; with --epochs "
                   "and --final-epochs the run is then the same for the same --seed, whatever the machine's speed)")
    s.add_argument("--final-epochs", type=int,
                   help="epochs of the final retraining on train+validation (default: twice --epochs; the learning "
                   "rate decays over them, and more data deserves more steps)")
    s.add_argument("--no-defaults", action="store_true",
                   help="do not try the space's hand-built architecture first (by default the search starts from it)")
    s.add_argument("--ensemble", type=int,
                   help="retrain the top K architectures and average their predictions (image space: default 2, the best "
                   "repeated with other seeds when fewer reached the top rung; others: default 3, fewer when their "
                   "retraining would take more than half the budget; 1 = the best alone)")
    s.add_argument("--seed", type=int, default=0, help="seed for the split, the strategy and training (default 0)")
    s.add_argument("--out", type=Path, help="directory for the best model (architecture.json + model.lsys)")
    s.add_argument("--json", type=Path, metavar="PATH", help="write best, trials, resumed_trials, history, pareto as JSON")
    s.add_argument("--quiet", "--no-progress", dest="no_progress", action="store_true",
                   help="no progress on stderr (the live line and the plan notes); results still go to stdout")
    s.set_defaults(func=_search)

    pr = sub.add_parser("predict", help="predict with a model written by 'nas search --out'")
    pr.add_argument("model", type=Path, help="model directory")
    pr.add_argument("--data", required=True, help="a .npz with X (y optional), a .csv (with --target), or 'digits'")
    pr.add_argument("--target", help="label column of a CSV")
    pr.add_argument("--out", type=Path, required=True, help="where to write the predictions (.npy)")
    pr.add_argument("--json", type=Path, metavar="PATH", help="write the count, the paths and the accuracy against y (when the data has y) as JSON")
    pr.set_defaults(func=_predict)

    tb = sub.add_parser("tabular", help="compare strategies on the shipped tabular benchmark (seconds, no training)")
    tb.add_argument("--strategies", nargs="+", default=["random", "evolution", "reinforce"],
                    choices=["random", "evolution", "reinforce", "tpe"])
    tb.add_argument("--runs", type=int, default=100, help="seeded runs per strategy (default 100)")
    tb.add_argument("--evals", type=int, default=150, help="evaluations per run (default 150)")
    tb.add_argument("--asha", action="store_true", help="run the strategies under successive halving")
    tb.add_argument("--seed", type=int, default=0)
    tb.add_argument("--json", type=Path, metavar="PATH", help="write mean and 95%% band per evaluation")
    tb.set_defaults(func=_tabular)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _fail(msg: str) -> int:
    print(f"learnedsys nas: {msg}", file=sys.stderr)
    return 2


def _note(args: argparse.Namespace, msg: str) -> None:
    """A progress note on stderr, unless --quiet."""
    note(msg, quiet=getattr(args, "no_progress", False))


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
    storage = getattr(args, "storage", None)
    if storage and "://" not in storage:  # a SQLite file: its folder must exist
        check_output_path(Path(storage), "--storage")
    out = getattr(args, "out", None)
    if out is not None:
        if args.nas_command == "search":
            if out.exists() and not out.is_dir():
                raise PathError(f"--out {str(out)!r} is a file; give a directory path for the model (it is created if missing).")
        else:
            check_output_path(out, "--out")


def _search(args: argparse.Namespace) -> int:
    import time

    started = time.monotonic()
    from learnedsys._atomic import PathError
    from learnedsys._validation import InfrastructureError, InvalidParameterError
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
        if args.epochs is not None and args.epochs < 1:
            return _fail(f"--epochs must be an int >= 1. Got {args.epochs} instead.")
        if args.resume and not args.storage:
            return _fail("--resume needs --storage (the study to resume; an existing study there resumes by default)")
        data = load_dataset(args.data, target=args.target, seed=args.seed)
        space = args.space if args.space != "auto" else ("image" if data.is_image else "mlp")
        if args.hand_built and space != "image":
            return _fail(f"--hand-built needs the image space (images of shape (C, H, W)); got space {space!r}")
        if space == "image":
            return _search_image(args, data, budget, started)
        epochs = args.epochs or _DEFAULT_EPOCHS[space]
        _note(args, f"searching {space} space on {data.name} ({len(data.y_train)} train / {len(data.y_val)} validation / "
              f"{len(data.y_test)} test, {data.n_classes} classes) with {args.strategy}, {args.workers} worker(s), "
              f"{budget:.0f} s")
        res = search(data, space=space, strategy=args.strategy, budget=budget, max_trials=args.max_trials,
                     workers=args.workers, backend=args.backend, address=args.address, storage=args.storage,
                     study=args.study, fresh=args.fresh, seed=args.seed, epochs=epochs, asha=args.asha,
                     objective=args.objective, progress=not args.no_progress, try_defaults=not args.no_defaults)
    except InfrastructureError as exc:  # a Ray cluster or a database server that cannot be used
        print(f"learnedsys nas: {exc}", file=sys.stderr)
        return 1
    except (InvalidParameterError, PathError, FileNotFoundError) as exc:
        return _fail(str(exc))
    out: dict[str, Any] = res.to_json()
    print(f"{res.trials} finished trials ({res.resumed_trials} resumed, {res.failed} failed) in {res.seconds:.0f} s")
    if res.best is None:
        return _fail("no trial succeeded; nothing to export (see --json for the trials' errors)")
    print(f"best validation accuracy {res.best['val_acc']:.4f}: {json.dumps(res.best['architecture'])}")
    members, final_epochs = _final_plan(res, args, epochs, budget, data)
    model, test_acc = fit_final(get_space(space), members, data, epochs=final_epochs, seed=args.seed)
    out["test_acc"] = test_acc
    out["ensemble"] = [{"action": m, "architecture": get_space(space).decode(m)} for m in members]
    print(f"retrained {len(members)} architecture(s) on train+validation: held-out test accuracy {test_acc:.4f}")
    return _finish(args, model, out)


def _finish(args: argparse.Namespace, model: Any, out: dict[str, Any]) -> int:
    """Write --out and --json (after the work; their paths were checked before it)."""
    if args.out is not None:
        try:
            model.save(args.out)
        except (ValueError, OSError) as exc:
            return _fail(f"cannot write the model to --out {str(args.out)!r}: {exc}")
        out["model_dir"] = str(args.out)
        print(f"model written to {args.out}")
    if args.json is not None:
        err = _write_json(args.json, out)
        if err is not None:
            return _fail(err)
    return 0


def _search_image(args: argparse.Namespace, data: Any, budget: float, started: float) -> int:
    """The image space: one budget for the search and the final ensemble (:mod:`._plan`),
    counted from ``started`` (the command's start, data loading included)."""
    import time

    from learnedsys._validation import InfrastructureError
    from learnedsys.nas import fit_final, search
    from learnedsys.nas._executor import make_pool
    from learnedsys.nas._plan import SearchPlan, chance_floor, epoch_seconds, less_trained_rival
    from learnedsys.nas._space import image_space

    sp = image_space()
    hand = sp.default_actions()[0]
    grow = (len(data.y_train) + len(data.y_val)) / max(1, len(data.y_train))
    plan = SearchPlan.make(budget, epoch_seconds(sp, hand, data), grow, args.workers)
    if args.epochs is not None:
        plan.epochs = args.epochs
        plan.min_epochs = max(1, min(3, args.epochs // 4))
        plan.patience = max(2, args.epochs // 3)
    k = args.ensemble or _IMAGE_MEMBERS
    what = "the hand-built CNN only (baseline)" if args.hand_built else f"{args.strategy}, ASHA over epochs and data"
    _note(args, f"searching the image space on {data.name} ({len(data.y_train)} train / {len(data.y_val)} validation / "
          f"{len(data.y_test)} test, {data.n_classes} classes, {data.shape}) with {what}, {args.workers} worker(s), "
          f"{budget:.0f} s in all: about {plan.search_s:.0f} s of search (top rung {plan.epochs} epochs), the rest for "
          f"{k} final member(s); one epoch of the hand-built CNN takes about {plan.epoch_s:.1f} s here")
    options = {"batch_size": 64, "measure_latency": False, "patience": plan.patience}
    try:
        pool = make_pool(args.backend, "image", data, options, args.workers, args.address)
    except InfrastructureError as exc:  # a Ray cluster that cannot be used
        print(f"learnedsys nas: {exc}", file=sys.stderr)
        return 1
    out: dict[str, Any] = {}
    by_clock = args.final_epochs is None and args.max_trials is None
    weights: dict[tuple[int, ...], dict[str, Any]] = {}
    explore = "none (--hand-built)"
    try:
        pool.warm()
        if args.hand_built:
            members = [hand] * k
            out.update(plan=plan.to_json(), best=None, trials=0, history=[])
            winner = "the hand-built CNN (no search: --hand-built)"
        else:
            # the final training by the clock is what an early stop feeds; with fixed final
            # epochs (or a fixed trial count) there is nothing to trade, so the search runs as asked
            stop = 1 if by_clock and not args.full_search else 0
            search_from = time.monotonic() - started
            res = search(data, space="image", strategy=args.strategy, budget=max(1.0, plan.search_s - search_from),
                         max_trials=args.max_trials, workers=args.workers, backend=args.backend, address=args.address,
                         storage=args.storage, study=args.study, fresh=args.fresh, seed=args.seed, epochs=plan.epochs,
                         asha=True, min_epochs=plan.min_epochs, min_fraction=plan.min_fraction, patience=plan.patience,
                         objective=args.objective, progress=not args.no_progress, try_defaults=not args.no_defaults,
                         measure_latency=False, pool=pool, hand_built_stop=stop,
                         keep_weights=k if args.warm_final else 0)
            weights = res.weights
            out.update(res.to_json())
            out["plan"] = plan.to_json()
            print(f"{res.trials} finished trials ({res.resumed_trials} resumed, {res.failed} failed) in {res.seconds:.0f} s")
            if res.best is None:
                return _fail("no trial succeeded; nothing to export (see --json for the trials' errors)")
            # the workers' own pace under the current load, not the calibration's
            paced = [h["seconds"] / h["epochs_run"] for h in res.history
                     if h["hand_built"] and h["status"] == "ok" and h.get("seconds") and h["fraction"] == 1.0]
            if paced:
                plan.epoch_s = max(paced)
            top = [t["action"] for t in res.top if t["epochs"] == res.best["epochs"]][:k] or [res.best["action"]]
            members = [tuple(top[i % len(top)]) for i in range(k)]
            hb = res.hand_built
            floor = chance_floor(data.y_val)
            explore_end = time.monotonic() - started
            if res.stopped is not None:
                st = res.stopped
                explore = (f"explore stopped at {search_from + st['t']:.0f} s of {budget:.0f} (the search's share: "
                           f"{plan.search_s:.0f} s): hand-built incumbent ({st['hand_built_val_acc']:.4f} against "
                           f"{st['rivals']} searched architecture(s) at the top rung, best "
                           f"{'-' if st['rivals_best_val_acc'] is None else format(st['rivals_best_val_acc'], '.4f')})")
            else:
                explore = f"explored to {explore_end:.0f} s of {budget:.0f} (the search's share: {plan.search_s:.0f} s)"
            rival = less_trained_rival(res.history, res.best["val_acc"], len(data.y_val), plan.epochs) if res.best["hand_built"] else None
            if rival is not None:
                # a searched network beat the hand-built one with less training than it had: the
                # better bet for the final phase, every member that network
                members = [tuple(rival["action"])] * k
                how = (f"cut by the budget after {rival['epochs_run']} of {rival['epochs']} epochs" if rival["status"] == "timeout"
                       else f"{rival['epochs']} epochs on {rival['fraction']:.0%} of the training data")
                winner = (f"a searched architecture: {rival['evidence_val_acc']:.4f} on validation with less training ({how}) "
                          f"against the hand-built CNN's {res.best['val_acc']:.4f} at {res.best['epochs']} epochs")
                out["less_trained_rival"] = {k2: rival[k2] for k2 in ("number", "action", "status", "epochs", "epochs_run", "fraction",
                                                                       "evidence_val_acc")}
                out["less_trained_rival"]["architecture"] = sp.decode(rival["action"])
            elif res.best["hand_built"]:
                # every member hand-built, as the baseline trains it: a weaker searched network
                # as the second member cost the ensemble accuracy (textures32 seed 2, issue 20)
                members = [hand] * k
                winner = "the hand-built CNN (no searched architecture beat it on validation)"
            elif res.best["val_acc"] < floor:
                # nothing learnt the task in the search's epochs: a winner at chance is noise, and
                # the hand-built CNN given the rest of the budget is the better bet (issue 20)
                members = [hand] * k
                winner = (f"the hand-built CNN: the search's best validation accuracy {res.best['val_acc']:.4f} is "
                          f"below {floor:.4f}, within 3 standard errors of chance, so the final phase trains the "
                          f"hand-built CNN longer")
                out["fallback"] = {"reason": "chance", "floor": floor, "best_val_acc": res.best["val_acc"]}
            else:
                vs = f"; the hand-built CNN had {hb['val_acc']:.4f}" if hb else ""
                winner = f"a searched architecture{vs}"
            won = res.best["architecture"] if rival is None else sp.decode(rival["action"])
            print(f"best validation accuracy {res.best['val_acc']:.4f} ({res.best['epochs']} epochs), won by {winner}: "
                  f"{json.dumps(won)}")
        remaining = budget - (time.monotonic() - started)
        seconds = None
        init = [weights.get(tuple(m)) if args.warm_final else None for m in members]
        warm = [0 if w is None else int(w["epochs_run"]) for w in init]
        if by_clock:
            # by the clock: every member's one-cycle schedule is stretched over its share of the
            # time left, so the ensemble ends converged and on time whatever the machine's load
            rounds = -(-len(members) // max(1, min(args.workers, pool.capacity)))
            seconds = max(1.0, (remaining - 3.0) / rounds)
            final_epochs = 1000
            _note(args, f"final training: {len(members)} member(s) on train+validation for {seconds:.0f} s each "
                  f"({remaining:.0f} s of the budget left){_warm_note(warm)}")
        else:
            final_epochs = args.final_epochs or plan.final_epochs(remaining, len(members))
            _note(args, f"final training: {len(members)} member(s) x {final_epochs} epochs on train+validation "
                  f"({remaining:.0f} s of the budget left){_warm_note(warm)}")
        final_from = time.monotonic()
        model, test_acc = fit_final(sp, [tuple(m) for m in members], data, epochs=final_epochs, seed=args.seed,
                                    pool=pool, seconds=seconds, init_states=[None if w is None else w["state"] for w in init])
        final_s = time.monotonic() - final_from
        final_epochs = max(model.meta["epochs_run"])
    except RuntimeError as exc:
        return _fail(str(exc))
    finally:
        pool.close()
    out["test_acc"] = test_acc
    out["final_epochs"] = final_epochs
    out["winner"] = winner
    out["ensemble"] = [{"action": list(m), "architecture": sp.decode(m)} for m in members]
    out["seconds_total"] = round(time.monotonic() - started, 3)
    out["final_epochs_run"] = model.meta["epochs_run"]
    got = f"final phase got {final_s:.0f} s / {final_epochs} epochs" + (
        f" (+{max(warm)} from the search: warm start)" if any(warm) else "")
    out["allocation"] = {
        "explore": explore, "stopped_early": bool(out.get("stopped")),
        "stopped_at_s": None if not out.get("stopped") else round(search_from + out["stopped"]["t"], 3),
        "search_share_s": round(plan.search_s, 1), "final_s": round(final_s, 3),
        "final_seconds_per_member": None if seconds is None else round(seconds, 3),
        "final_epochs_run": model.meta["epochs_run"], "warm_start_epochs": warm,
        "summary": f"{explore}; {got}"}
    print(f"{explore}; {got}")
    print(f"retrained {len(members)} member(s) ({'/'.join(map(str, model.meta['epochs_run']))} epochs) on train+validation in "
          f"{out['seconds_total']:.0f} s in all: held-out test accuracy {test_acc:.4f}")
    return _finish(args, model, out)


def _warm_note(warm: list[int]) -> str:
    """How the final members start, for the progress notes."""
    if not any(warm):
        return ""
    return "; starting from the weights the search trained (" + "/".join(map(str, warm)) + " epochs)"


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
    _note(args, f"final retraining: {k} architecture(s) x {final_epochs} epochs on train+validation "
          f"(about {estimate(k, final_epochs):.0f} s of training)")
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
    record: dict[str, Any] = {"model": str(args.model), "data": str(args.data), "out": str(args.out), "predictions": len(pred)}
    msg = f"wrote {len(pred)} predictions to {args.out}"
    if y is not None and len(y) == len(pred):
        record["accuracy"] = float(np.mean(pred.astype(str) == np.asarray(y).astype(str)))
        msg += f"; accuracy against y: {record['accuracy']:.4f}"
    print(msg)  # the result: stdout, as every subcommand's
    if args.json is not None:
        err = _write_json(args.json, record)
        if err is not None:
            return _fail(err)
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
