"""The ``learnedsys`` command line: one subcommand per part.

Subcommands live in the parts' own ``_cli`` modules, each exposing ``add_parser(subparsers)``;
those modules import nothing heavy, so ``learnedsys --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from collections.abc import Sequence

from learnedsys import __version__

#: Subcommand modules, in the order ``--help`` lists them.
COMMANDS: tuple[str, ...] = (
    "learnedsys.bench._cli",
    "learnedsys.index._cli",
    "learnedsys.bloom._cli",
    "learnedsys.tune._cli",
    "learnedsys.placement._cli",
    "learnedsys.nas._cli",
)


def module_exists(name: str) -> bool:
    """Whether ``name`` can be imported (its parent packages too), without importing it."""
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="learnedsys",
        description="Machine learning in the core of computer systems.",
    )
    parser.add_argument("--version", action="version", version=f"learnedsys {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for mod in COMMANDS:
        if not module_exists(mod):
            continue
        importlib.import_module(mod).add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:  # bare `learnedsys`: the help is the answer
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
