"""``python -m analysis COMMAND ...``: each analysis on files, without Django.

Each command lives in ``analysis/commands/<name>.py`` and provides ``HELP`` (one line),
``add_arguments(parser)`` and ``run(args) -> dict``. This module owns what is common to all of them:
the JSON written to ``--out`` (atomically: a failed run leaves no partial file), and the contract for
bad input: one line on stderr and exit code 2, never a traceback. Every result carries
``analysis_version`` (``analysis.__version__``, which changes with the package's source), so a stored
result says which code made it.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

import analysis
from analysis.errors import AnalysisInputError

#: command name -> module; modules are imported only when their command runs.
COMMANDS = {
    "blinking": "analysis.commands.blinking",
    "trpl": "analysis.commands.trpl",
    "photodetector": "analysis.commands.photodetector",
    "spectrum": "analysis.commands.spectrum",
    "xrd": "analysis.commands.xrd",
}

EXIT_BAD_INPUT = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse's own usage errors are bad input too: exit 2, one line
        self.print_usage(sys.stderr)
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}\n")


def jsonable(value):
    """numpy scalars/arrays to Python; NaN and inf to null (JSON has neither).

    Also used by labbook's jobs to store analysis output in JSON columns."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json_atomic(path: str | os.PathLike, data: dict) -> None:
    """Write ``data`` as JSON to ``path`` through a temporary file renamed into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(jsonable(data), fh, indent=1, allow_nan=False)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def with_version(result: dict) -> dict:
    """``result`` with the ``analysis_version`` key of the code that made it (added, never replacing)."""
    return {**result, "analysis_version": result.get("analysis_version", analysis.__version__)}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command, or of ``only`` that one (a run imports its own command's modules
    alone: the others' dependencies, lmfit and pint among them, cost a second)."""
    parser = _Parser(prog="python -m analysis", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name, module_name in COMMANDS.items():
        if only is not None and name != only:
            continue
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue  # command not built yet
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.add_argument("--out", required=True, help="where to write the JSON result")
        p.set_defaults(_run=module.run)
    return parser


class _RaisingParser(_Parser):
    def error(self, message):
        raise AnalysisInputError(message)


def run_command(argv: list[str]) -> dict:
    """Run a command in-process and return its JSON contract as a dict (without writing ``--out``).

    The service's analysis jobs call the same contract that other tools read from the command line.
    Argument errors raise :class:`AnalysisInputError` instead of exiting.
    """
    if not argv or argv[0] not in COMMANDS:
        raise AnalysisInputError(f"unknown analysis {argv[0] if argv else ''!r}")
    module = importlib.import_module(COMMANDS[argv[0]])
    parser = _RaisingParser(prog=f"python -m analysis {argv[0]}")
    module.add_arguments(parser)
    return jsonable(with_version(module.run(parser.parse_args([str(a) for a in argv[1:]]))))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(only=argv[0] if argv and argv[0] in COMMANDS else None)
    args = parser.parse_args(argv)
    try:
        result = with_version(args._run(args))
        write_json_atomic(args.out, result)
    except AnalysisInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        print(f"error: {exc.filename}: {exc.strerror}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0
