"""The command line's one convention for results: stdout for results, stderr for progress,
notices and errors (progress and notices silenced by ``--quiet``), and ``--json PATH`` on every subcommand for the machine-readable record (written
atomically; a bad path is a one-line error before any work)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_json", "check_json", "note", "write_json"]


def note(msg: str, *, quiet: bool) -> None:
    """A progress line or a notice ("wrote PATH") on stderr, unless ``--quiet``."""
    if not quiet:
        print(msg, file=sys.stderr)


def add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", type=Path, default=None, metavar="PATH", help="also write the result as JSON to PATH")


def check_json(path: Path | None) -> str | None:
    """None when ``path`` can be written (or is None), else the one-line problem."""
    if path is None:
        return None
    from learnedsys._atomic import PathError, check_output_path

    try:
        check_output_path(path, "--json")
    except PathError as exc:
        return str(exc)
    return None


def write_json(path: Path | None, record: Any) -> str | None:
    """Write ``record`` to ``path`` (if given); None on success, else the one-line problem."""
    if path is None:
        return None
    from learnedsys._atomic import PathError, atomic_write
    from learnedsys._serialization import json_default

    try:
        atomic_write(path, json.dumps(record, indent=1, default=json_default) + "\n", what="--json")
    except (PathError, OSError) as exc:
        return f"cannot write --json {path}: {exc}"
    return None
