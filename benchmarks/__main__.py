"""Run the benchmarks: ``python -m benchmarks [--quick] [--json PATH]`` runs the suite (one
table: every row side by side, the pipeline, the performance targets); ``python -m benchmarks
NAME [ARGS]`` runs one benchmark on its own.

A benchmark is a module here with ``main(argv) -> int``; register it in ``BENCHMARKS``.
Modules are imported only when run, so one benchmark's dependencies never slow another.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Sequence

BENCHMARKS: dict[str, str] = {
    "suite": "every row side by side, the pipeline and the targets (the default)",
    "decode": "decode and validate user-events messages (contracts.decoding)",
    "monitor_memory": "the monitor's RSS after 200k and 1M events, and its CPU per event",
    "adaptation": "recovery from drift over many seeds: the loop against never, every-N, online",
    "drift_delay": "events from a data change to the monitor's first alert, and stable alarms",
    "explain": "the CPU each recipe's explained predictions cost against plain scoring",
    "concept_blocks": "concept drift seen by ADWIN on every labeled event or on block means",
}


def load(name: str) -> Callable[[Sequence[str]], int]:
    main: Callable[[Sequence[str]], int] = importlib.import_module(f"benchmarks.{name}").main
    return main


def usage() -> str:
    names = "\n".join(f"  {name:<16}{what}" for name, what in BENCHMARKS.items())
    return (
        "usage: python -m benchmarks [--quick] [--json PATH] [--rows ...] [--skip ...]\n"
        "       python -m benchmarks NAME [ARGS...]\n\n"
        f"Benchmarks:\n{names}\n"
        "Each takes --help, e.g. python -m benchmarks suite --help"
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in ("-h", "--help"):
        print(usage())
        return 0
    if not args or args[0].startswith("-"):
        return load("suite")(args)
    name, rest = args[0], args[1:]
    if name not in BENCHMARKS:
        print(f"unknown benchmark {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    return load(name)(rest)


if __name__ == "__main__":
    raise SystemExit(main())
