"""One convention for every subcommand (issue 23 item 5), read off the argparse parsers that
``learnedsys.cli`` builds: results on stdout, progress on stderr and silenced by ``--quiet``,
``--json PATH`` for the machine-readable record, and ``--storage PATH|URL`` with ``--study NAME``
and ``--fresh`` wherever results are kept. A new subcommand is checked without being listed."""

from __future__ import annotations

import argparse
import importlib.machinery
import json
import sys
import types
from pathlib import Path

import pytest

from learnedsys.cli import build_parser, main


def _leaves(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> dict[str, argparse.ArgumentParser]:
    """Every runnable subcommand ('bench', 'index build', ...) and its parser."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        return {" ".join(path): parser}
    out: dict[str, argparse.ArgumentParser] = {}
    for name, sub in subs[0].choices.items():
        out.update(_leaves(sub, (*path, name)))
    return out


def _options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {o: a for a in parser._actions for o in a.option_strings}


LEAVES = _leaves(build_parser())

#: Subcommands that write progress on stderr (log lines, a live line or a bar): each takes --quiet.
#: index and bloom write only results and errors (checked in test_quiet_commands_write_nothing_on_stderr).
PROGRESS = {"bench", "tune", "nas search", "place"}

#: Subcommands without --json, and why. None today: keep this list short.
NO_JSON: dict[str, str] = {}

#: Known gaps, each a flag the convention wants and the subcommand lacks; the test fails when
#: one is closed, so the list only shrinks. None today.
MISSING: dict[str, set[str]] = {}


def _lacks(name: str, flag: str) -> bool:
    return flag not in _options(LEAVES[name]) and flag in MISSING.get(name, set())


def test_the_walk_sees_every_part() -> None:
    assert {"bench", "index build", "bloom build", "tune", "place", "nas search", "nas predict"} <= set(LEAVES)
    assert (PROGRESS | set(NO_JSON) | set(MISSING)) <= set(LEAVES)


@pytest.mark.parametrize("name", sorted(LEAVES))
def test_json_everywhere(name: str) -> None:
    opts = _options(LEAVES[name])
    if name in NO_JSON:
        assert "--json" not in opts, f"{name} has --json now: remove it from NO_JSON"
        return
    assert "--json" in opts, f"learnedsys {name} has no --json PATH"
    assert opts["--json"].metavar == "PATH"


@pytest.mark.parametrize("name", sorted(PROGRESS))
def test_progress_can_be_silenced(name: str) -> None:
    if _lacks(name, "--quiet"):
        return
    assert "--quiet" not in MISSING.get(name, set()), f"{name} has --quiet now: remove it from MISSING"
    opts = _options(LEAVES[name])
    assert "--quiet" in opts, f"learnedsys {name} writes progress on stderr but has no --quiet"
    assert isinstance(opts["--quiet"], argparse._StoreTrueAction)


@pytest.mark.parametrize("name", sorted(n for n in LEAVES if "--storage" in _options(LEAVES[n])))
def test_storage_comes_with_study_and_fresh(name: str) -> None:
    opts = _options(LEAVES[name])
    assert opts["--storage"].metavar == "PATH|URL"
    for flag in ("--study", "--fresh"):
        if _lacks(name, flag):
            continue
        assert flag not in MISSING.get(name, set()), f"{name} has {flag} now: remove it from MISSING"
        assert flag in opts, f"learnedsys {name} keeps results in --storage but has no {flag}"
    if "--study" in opts:
        assert opts["--study"].metavar == "NAME"


@pytest.mark.parametrize("name", sorted(LEAVES))
def test_resume_is_the_default_not_a_flag(name: str) -> None:
    # an existing study resumes; --fresh starts over. A --resume kept for old scripts is hidden.
    resume = _options(LEAVES[name]).get("--resume")
    assert resume is None or resume.help == argparse.SUPPRESS


def _cmd() -> list[str]:
    # a command with one placeholder that ignores it and exits at once
    return ["--", sys.executable, "-c", "pass", "--x={1..3}"]


def test_tune_quiet_writes_nothing_on_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    js = tmp_path / "t.json"
    assert main(["tune", "--quiet", "--trials", "2", "--no-baseline", "--storage", str(tmp_path / "t.sqlite"),
                 "--study", "s", "--json", str(js), *_cmd()]) == 0
    out = capsys.readouterr()
    assert out.err == ""
    assert "trials: 2 complete" in out.out  # the result: stdout
    record = json.loads(js.read_text())
    assert record["study_name"] == "s" and record["storage"] == f"sqlite:///{tmp_path / 't.sqlite'}"


def test_notices_go_to_stderr_results_to_stdout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # "wrote PATH" is a notice, as in bench and place: stderr, silenced by --quiet
    js = tmp_path / "t.json"
    assert main(["tune", "--trials", "2", "--no-baseline", "--storage", str(tmp_path / "t.sqlite"),
                 "--study", "s", "--json", str(js), *_cmd()]) == 0
    out = capsys.readouterr()
    assert f"wrote {js}" in out.err and "wrote" not in out.out
    assert "trials: 2 complete" in out.out


@pytest.fixture
def tiny_section(monkeypatch: pytest.MonkeyPatch) -> str:
    """A bench section that logs, runs a bar and returns one record: the harness under test,
    in milliseconds (the real sections take half a minute each)."""
    from learnedsys.bench import SECTIONS, SectionResult

    name = "learnedsys_test_tiny_section"

    def run(ctx: object) -> SectionResult:
        ctx.log("tiny: working")  # type: ignore[attr-defined]
        with ctx.bar(3, "tiny") as bar:  # type: ignore[attr-defined]
            for _ in range(3):
                bar.update()
        return SectionResult("tiny", "Tiny", records=[{"x": 1}], columns=[("x", "x", "d")])

    module = types.ModuleType(name)
    module.__spec__ = importlib.machinery.ModuleSpec(name, None)
    module.run = run  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.setitem(SECTIONS, "tiny", name)
    return "tiny"


def test_bench_quiet_writes_nothing_on_stderr(tiny_section: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    js = tmp_path / "b.json"
    assert main(["bench", tiny_section, "--quiet", "--json", str(js), "--data", str(tmp_path)]) == 0
    out = capsys.readouterr()
    assert out.err == ""
    assert "## Tiny" in out.out  # the tables still go to stdout
    assert json.loads(js.read_text())["records"] == [{"section": "tiny", "x": 1}]
    # without --quiet the same run narrates on stderr, and only there
    assert main(["bench", tiny_section, "--json", str(js), "--data", str(tmp_path)]) == 0
    out = capsys.readouterr()
    assert "tiny: working" in out.err and "== section 'tiny' done" in out.err and f"wrote {js}" in out.err
    assert "tiny: working" not in out.out


def test_quiet_commands_write_nothing_on_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # index and bloom have no --quiet because they have no progress to silence: prove it
    import numpy as np

    np.save(tmp_path / "k.npy", np.arange(0, 3000, 3, dtype=np.uint64))
    (tmp_path / "keys.txt").write_text("\n".join(f"k{i}" for i in range(100)) + "\n")
    runs = [
        ["index", "build", str(tmp_path / "k.npy"), "--out", str(tmp_path / "k.rmi")],
        ["index", "lookup", str(tmp_path / "k.rmi"), "3"],
        ["index", "info", str(tmp_path / "k.rmi")],
        ["bloom", "build", "--kind", "bloom", "--keys", str(tmp_path / "keys.txt"), "--out", str(tmp_path / "f.bf")],
        ["bloom", "query", str(tmp_path / "f.bf"), "k1"],
        ["bloom", "info", str(tmp_path / "f.bf")],
    ]
    for argv in runs:
        assert main(argv) == 0, argv
        out = capsys.readouterr()
        assert out.err == "" and out.out, argv
