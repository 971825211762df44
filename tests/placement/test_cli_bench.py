"""The ``learnedsys place`` command and the bench section's module contract."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("torch")


def test_cli_module_imports_nothing_heavy():
    code = (
        "import sys, learnedsys.placement._cli, learnedsys.placement;"
        "print(any(m in sys.modules for m in ('torch', 'numba', 'scipy')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_place_command_writes_json_and_resumes(tmp_path, capsys):
    from learnedsys.cli import main

    out = tmp_path / "p.json"
    journal = tmp_path / "j.sqlite"
    args = [
        "place", "learnedsys.placement.models:towers",
        "--kwargs", json.dumps({"d": 64, "depth": 2, "batch": 16, "n": 2}),
        "--method", "single", "--method", "m-etf", "--method", "default",
        "--iterations", "5", "--time-budget", "2", "--anneal-steps", "100", "--json", str(out), "--journal", str(journal),
    ]
    # once as a user runs it, in a process of its own; the reruns in this one (the same code path)
    r = subprocess.run([sys.executable, "-m", "learnedsys.cli", *args], capture_output=True, text=True, check=True)
    assert "| default |" in r.stdout and "| m-etf |" in r.stdout
    payload = json.loads(out.read_text())
    assert payload["placement"]["method"] == "default"
    assert len(payload["placement"]["devices"]) == payload["graph"]["ops"] == len(payload["placement"]["op_names"])
    assert payload["results"]["default"]["step_time"] <= payload["results"]["m-etf"]["step_time"]

    def rerun(*extra: str) -> tuple[str, str]:
        assert main([*args, *extra]) == 0
        got = capsys.readouterr()
        return got.out, got.err

    assert rerun()[1].count("resumed from journal") == 3
    assert "resumed from journal" not in rerun("--fresh")[1]  # --fresh runs them again, as for tune and nas
    few = ["--method", "single", "--method", "m-etf"]
    i = args.index("--method")
    args[i:i + 6] = few
    assert "resumed from journal" not in rerun("--study", "other")[1]  # another study keeps its own results
    ran = json.loads(out.read_text())["results"]
    stdout, stderr = rerun("--study", "other", "--quiet")
    assert stderr == "" and "| m-etf |" in stdout  # resumed, silently; the table still on stdout
    assert json.loads(out.read_text())["results"] == ran  # what the study 'other' ran, read back


def test_place_resumes_a_journal_written_before_study_names(tmp_path, capsys):
    # journals of the release before --study keyed a method by its settings alone
    import sqlite3

    from learnedsys.cli import main
    from learnedsys.placement import Cluster, place
    from learnedsys.placement._capture import capture
    from learnedsys.placement.models import towers

    kwargs = json.dumps({"d": 32, "depth": 1, "batch": 8, "n": 2})
    made = towers(**json.loads(kwargs))
    model, inputs = made if isinstance(made, tuple) else (made, made.example_inputs)
    target = "learnedsys.placement.models:towers"
    graph = capture(model, inputs, name=target)
    p = place(graph, Cluster.preset("k80x4"), "m-etf", seed=0)
    journal = tmp_path / "old.sqlite"
    con = sqlite3.connect(journal)
    con.execute("CREATE TABLE placement (key TEXT PRIMARY KEY, result TEXT NOT NULL)")
    settings = [target, kwargs, "k80x4", "m-etf", 0, 150, 20000, 30, False]
    con.execute("INSERT INTO placement VALUES (?, ?)", (json.dumps(settings), json.dumps(p.to_dict(), default=float)))
    con.commit()
    con.close()
    assert main(["place", target, "--kwargs", kwargs, "--method", "m-etf", "--storage", str(journal)]) == 0
    got = capsys.readouterr()
    assert "m-etf: resumed from journal" in got.err
    assert f"| m-etf | {p.step_time * 1e3:.3f} |" in got.out


def test_place_command_bad_inputs():
    base = [sys.executable, "-m", "learnedsys.cli", "place"]
    r = subprocess.run([*base, "no_colon"], capture_output=True, text=True)
    assert r.returncode != 0 and "MODULE:FACTORY" in r.stderr
    r = subprocess.run([*base, "learnedsys.placement.models:chain", "--method", "magic"], capture_output=True, text=True)
    assert r.returncode == 2 and "unknown method 'magic'" in r.stderr


@pytest.mark.skipif(not sys.platform.startswith("linux") or len(os.sched_getaffinity(0)) < 2, reason="runs placements on two pinned cores")
def test_place_command_measures_the_shortlist_on_this_machine(tmp_path, capsys):
    pytest.importorskip("torch")
    from learnedsys.cli import main

    out = tmp_path / "p.json"
    args = ["place", "learnedsys.placement.models:towers", "--kwargs", json.dumps({"d": 32, "depth": 2, "batch": 8, "n": 2}),
            "--method", "single", "--method", "default", "--cluster", "local", "--inference", "--measure", "3", "--measure-within", "10",
            "--iterations", "5", "--time-budget", "2", "--anneal-steps", "100", "--kicks", "1", "--json", str(out)]
    assert main(args) == 0
    got = capsys.readouterr()
    assert "| default+measured |" in got.out and "(kept)" in got.err
    payload = json.loads(out.read_text())
    pl = payload["placement"]
    assert pl["method"] == "default+measured" and len(pl["devices"]) == payload["graph"]["ops"]
    meas = pl["info"]["measured"]
    real = [c["real_step_time"] for c in meas]
    assert len(meas) >= 2 and pl["info"]["chosen"] == real.index(min(real))
    assert payload["results"]["default+measured"]["info"]["chosen"] == pl["info"]["chosen"]


def test_place_command_measure_needs_the_local_cluster():
    r = subprocess.run([sys.executable, "-m", "learnedsys.cli", "place", "learnedsys.placement.models:chain", "--measure", "3"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "--cluster local" in r.stderr and "--inference" in r.stderr


def test_bench_section_contract():
    from learnedsys.bench import placement

    assert callable(placement.run) and "torch" in placement.PACKAGES
