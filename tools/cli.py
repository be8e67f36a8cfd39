"""The ``pcos`` command line.

Thin by design: each ``tools/cmd_*.py`` module registers its sub-commands and
calls into the packages. Any error a user can cause prints one line on stderr
and exits with code 2; no traceback reaches the terminal.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from election.errors import PcosError

# Sub-command modules, in the order they appear in ``pcos --help``.
COMMAND_MODULES = (
    "tools.cmd_election",
    "tools.cmd_ballots",
    "tools.cmd_sim",
    "tools.cmd_scan",
    "tools.cmd_testdeck",
    "tools.cmd_bench",
    "tools.cmd_calibrate",
    "tools.cmd_modem",
    "tools.cmd_demo",
    "tools.cmd_package",
    "tools.cmd_cvr",
    "tools.cmd_report",
    "tools.cmd_cec",
    "tools.cmd_station",
    "tools.cmd_audit",
    "tools.cmd_console",
    "tools.cmd_national",
)


# The modules a command needs (``sim`` gains ``national``; ``device`` is shared). ``pcos
# COMMAND ...`` imports only these, so a command starts without the others' imports (the
# benchmarks, the web stack, the TUI); anything else (``pcos --help``) imports them all.
COMMANDS: dict[str, tuple[str, ...]] = {
    "election": ("tools.cmd_election",),
    "ballots": ("tools.cmd_ballots",),
    "sim": ("tools.cmd_sim", "tools.cmd_national"),
    "scan": ("tools.cmd_scan",),
    "testdeck": ("tools.cmd_testdeck",),
    "bench": ("tools.cmd_bench",),
    "calibrate": ("tools.cmd_calibrate",),
    "modem": ("tools.cmd_modem",),
    "demo": ("tools.cmd_demo",),
    "package": ("tools.cmd_package",),
    "device": ("tools.cmd_package", "tools.cmd_console"),
    "cvr": ("tools.cmd_cvr",),
    "verify-report": ("tools.cmd_report",),
    "report": ("tools.cmd_report",),
    "cec": ("tools.cmd_cec",),
    "station": ("tools.cmd_station",),
    "audit": ("tools.cmd_audit",),
}


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise PcosError(f"{self.prog}: {message}")


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser; for ``argv`` naming a known command, with only that command's modules."""
    parser = _Parser(prog="pcos", description="PCOS-KG: precinct-count optical scanner tools")
    subs = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    subs.required = True
    wanted = COMMANDS.get(argv[0]) if argv else None
    for name in COMMAND_MODULES:
        if wanted is not None and name not in wanted:
            continue
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # command not built yet
                continue
            raise
        module.register(subs)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # numpy (imported after this, by the command) and every process the command starts:
    # no madvise(MADV_HUGEPAGE) on each large array, numpy's Linux default, which cost the
    # simulator ~5 ms of a sheet's ~45 ms of rendering here and the reader nothing
    # (simulator/station_day.py, MALLOC_ENV). Set by the user, it is left as they set it.
    os.environ.setdefault("NUMPY_MADVISE_HUGEPAGE", "0")
    try:
        argv = list(sys.argv[1:] if argv is None else argv)
        args = build_parser(argv).parse_args(argv)
        result = args.func(args)
        return int(result or 0)
    except (PcosError, OSError, ValueError) as exc:
        print(f"pcos: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("pcos: interrupted", file=sys.stderr)
        return 2
    except Exception as exc:
        print(f"pcos: internal error ({type(exc).__name__}): {_one_line(exc)}", file=sys.stderr)
        return 2


def _one_line(exc: BaseException) -> str:
    """The first non-empty line of an error's message (some libraries' span several)."""
    for line in str(exc).splitlines():
        if line.strip():
            return line.strip()
    return type(exc).__name__


if __name__ == "__main__":
    sys.exit(main())
