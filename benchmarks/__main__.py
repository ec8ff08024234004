"""Run the benchmarks: ``python -m benchmarks`` runs all, ``python -m benchmarks NAME [ARGS]`` one.

A benchmark is a module here with ``main(argv) -> int``; register it in ``BENCHMARKS``.
Modules are imported only when run, so one benchmark's dependencies never slow another.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Sequence

BENCHMARKS: dict[str, str] = {
    "monitor_memory": "the monitor's RSS after 200k and 1M events, and its CPU per event",
    "decode": "decode and validate user-events messages (contracts.decoding)",
    "scoring_throughput": "one scoring worker's events/s beside a per-event faust agent",
}


def load(name: str) -> Callable[[Sequence[str]], int]:
    main: Callable[[Sequence[str]], int] = importlib.import_module(f"benchmarks.{name}").main
    return main


def usage() -> str:
    names = "\n".join(f"  {name:<12}{what}" for name, what in BENCHMARKS.items())
    return (
        "usage: python -m benchmarks [NAME [ARGS...]]\n\n"
        f"With no NAME, runs every benchmark with its defaults. Benchmarks:\n{names}\n"
        "Each takes --help, e.g. python -m benchmarks decode --help"
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        codes = []
        for name in BENCHMARKS:
            print(f"== {name}", flush=True)
            codes.append(load(name)([]))
        return max(codes, default=0)
    name, rest = args[0], args[1:]
    if name in ("-h", "--help"):
        print(usage())
        return 0
    if name not in BENCHMARKS:
        print(f"unknown benchmark {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    return load(name)(rest)


if __name__ == "__main__":
    raise SystemExit(main())
