"""Does the loop recover from drift, every time? ``python -m benchmarks adaptation``.

Every stream of :data:`benchmarks.adaptation_streams.STREAMS` (the demo's own, sudden
and gradual concept drift, covariate shift with and without a concept change, label
shift, a recurring concept, and a stable stream) is played for each seed through the
streamml loop (monitor, retrainer, canary release, all pure, in event time; see
:mod:`benchmarks.adaptation_streamml`) and through the baselines (never retrain,
retrain every N labels with a point-estimate gate, river online). One table: a row
per stream and policy with the spread over seeds, then the targets.

    python -m benchmarks adaptation [--seeds N] [--first-seed S] [--quick] [--json PATH]
                                    [--streams a,b] [--policies a,b] [--jobs J]
    python -m benchmarks adaptation --table RUNS.json [RUNS.json ...]

``--table`` prints the table and targets again from the ``--json`` files of earlier
runs, merged (so seeds run apart, or policies run apart, make one table).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from pathlib import Path

from benchmarks.adaptation_loop import RunFigures, run
from benchmarks.adaptation_streams import QUICK_EVENTS, STREAMS
from benchmarks.adaptation_table import render, targets

POLICIES = ("streamml", "never", "every-n", "online")
# A scheduled retrainer retrains on a stable stream by design, and costs a fit per
# 2,000 labels: its stable row would say nothing and take most of the run.
SKIPPED = {("stable", "every-n")}


def make(policy: str, seed: int):  # type: ignore[no-untyped-def]
    from benchmarks import adaptation_baselines as baselines

    if policy == "streamml":
        from benchmarks.adaptation_streamml import StreamML

        return lambda journal: StreamML(journal, seed)
    kind = {"never": baselines.Never, "every-n": baselines.EveryN,
            "online": baselines.Online}[policy]
    return lambda journal: kind(journal, seed)


def one_seed(job: tuple[int, tuple[str, ...], tuple[str, ...], bool]) -> list[RunFigures]:
    """Every stream and policy of one seed in one process, which trains its version 1 once."""
    seed, streams, policies, quick = job
    return [run(STREAMS[s], seed, make(p, seed), events=QUICK_EVENTS.get(s) if quick else None)
            for s in streams for p in policies if (s, p) not in SKIPPED]


def parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks adaptation",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, help="seeds per stream (default 20; 5 with --quick)")
    parser.add_argument("--first-seed", type=int, default=1,
                        help="the first seed (default 1): seeds S to S+N-1 are run")
    parser.add_argument("--table", type=Path, nargs="+", metavar="RUNS",
                        help="only print the table of these --json files, merged")
    parser.add_argument("--quick", action="store_true",
                        help="5 seeds (unless --seeds) and a 50,000-event stable stream")
    parser.add_argument("--json", type=Path, help="also write every run's figures here")
    parser.add_argument("--streams", default=",".join(STREAMS),
                        help=f"comma-separated, of: {', '.join(STREAMS)}")
    parser.add_argument("--policies", default=",".join(POLICIES),
                        help=f"comma-separated, of: {', '.join(POLICIES)}")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="runs at once (default: one per core)")
    args = parser.parse_args(argv)
    for name, allowed in (("streams", STREAMS), ("policies", POLICIES)):
        chosen = [w.strip() for w in getattr(args, name).split(",") if w.strip()]
        unknown = [w for w in chosen if w not in allowed]
        if unknown or not chosen:
            parser.error(f"--{name}: unknown {', '.join(unknown) or '(none given)'}; "
                         f"expected some of {', '.join(allowed)}")
        setattr(args, name, chosen)
    if args.seeds is None:
        args.seeds = 5 if args.quick else 20
    if args.seeds < 1 or args.jobs < 1:
        parser.error("--seeds and --jobs must be at least 1")
    return args


def saved(paths: Sequence[Path]) -> list[RunFigures]:
    """The runs of earlier ``--json`` files; a seed run twice counts once (the last)."""
    runs: dict[tuple[str, int, str], RunFigures] = {}
    for path in paths:
        try:
            for r in json.loads(path.read_text())["runs"]:
                figures = RunFigures(**{**r, "gaps": tuple(r["gaps"])})
                runs[(figures.stream, figures.seed, figures.policy)] = figures
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise SystemExit(f"{path}: not a --json file of this benchmark ({exc})") from exc
    return list(runs.values())


def main(argv: Sequence[str]) -> int:
    args = parse(argv)
    if args.table:
        earlier = saved(args.table)
        print(render(earlier, len({r.seed for r in earlier})))
        for line in targets(earlier):
            print(line)
        return 0
    seeds = args.seeds
    jobs = [(seed, tuple(args.streams), tuple(args.policies), args.quick)
            for seed in range(args.first_seed, args.first_seed + seeds)]
    started = time.perf_counter()
    results: list[RunFigures] = []
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        for i, runs in enumerate(pool.map(one_seed, jobs), 1):
            results += runs
            lost = [f"{r.stream}/{r.policy}" for r in runs if not r.recovered]
            print(f"[seed {i}/{len(jobs)}] {len(runs)} runs, "
                  f"{time.perf_counter() - started:.0f} s; not recovered: "
                  f"{', '.join(lost) or 'none'}", file=sys.stderr, flush=True)
    print(render(results, seeds))
    verdicts = targets(results)
    for line in verdicts:
        print(line)
    print(f"{len(results)} runs in {time.perf_counter() - started:.0f} s")
    if args.json:
        args.json.write_text(json.dumps({"runs": [asdict(r) for r in results],
                                         "targets": verdicts}, indent=2))
    return 0


__all__ = ["POLICIES", "main"]
