"""The adaptation table and its targets, on made-up runs (no training, nothing timed)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[3])
if ROOT not in sys.path:  # benchmarks/ runs from a checkout (python -m benchmarks), not installed
    sys.path.insert(0, ROOT)

from benchmarks.adaptation_loop import RunFigures  # noqa: E402
from benchmarks.adaptation_table import render, targets  # noqa: E402


def figures(stream: str, policy: str, seed: int, *, recovered: bool = True,
            regret: float = 100.0, promote: int | None = 2_000, rounds: int = 1,
            promotions: int = 1, events: int = 40_000) -> RunFigures:
    return RunFigures(stream=stream, seed=seed, policy=policy, recovered=recovered,
                      gaps=(0.001,), regret=regret,
                      labels_to={"alert": 300, "publish": 1_500, "promote": promote},
                      counts={"round": rounds, "promote": promotions}, events=events,
                      seconds=1.0)


def test_a_row_per_stream_and_policy_with_the_spread_over_seeds() -> None:
    runs = [figures("demo", "streamml", s, regret=r) for s, r in ((1, 90.0), (2, 110.0),
                                                                  (3, 100.0))]
    runs.append(figures("demo", "streamml", 4, promote=None, recovered=False))

    table = render(runs, seeds=4)

    row = next(line for line in table.splitlines() if line.startswith("| demo | streamml"))
    assert "| 3/4 |" in row
    assert "2000 [2000-2000] (1/4 never)" in row
    assert "100 [90-110]" in row


def test_targets_name_each_miss() -> None:
    runs = [figures("sudden-concept", "streamml", s, recovered=s != 1, regret=50.0)
            for s in range(1, 21)]
    runs += [figures("sudden-concept", "never", s, regret=40.0, recovered=False)
             for s in range(1, 21)]
    runs += [figures("stable", "streamml", s, rounds=0, promotions=0, events=200_000)
             for s in range(1, 21)]

    lines = targets(runs)

    assert "met     sudden-concept: recovered 19/20" in lines
    assert any(line.startswith("MISSED  sudden-concept: median regret 50 < never's 40")
               for line in lines)
    assert any(line.startswith("met     stable: 0 promotions") for line in lines)


def test_a_stable_stream_may_retrain_once_per_two_hundred_thousand_events() -> None:
    runs = [figures("stable", "streamml", s, rounds=2 if s == 1 else 0, promotions=0,
                    events=200_000) for s in range(1, 3)]

    assert targets(runs) == ["met     stable: 0 promotions (0 allowed), 2 rounds over "
                             "400,000 events (2 allowed)"]
    runs.append(figures("stable", "streamml", 3, rounds=1, promotions=1, events=200_000))
    assert targets(runs)[0].startswith("MISSED  stable: 1 promotions")


def test_where_version_one_stays_good_matching_never_is_the_target() -> None:
    runs = [figures("covariate-shift", policy, s, regret=30.0, promotions=0)
            for policy in ("streamml", "never") for s in range(1, 6)]

    assert "met     covariate-shift: median regret 30 <= never's 30" in targets(runs)


def test_the_table_of_runs_saved_apart_is_the_table_of_them_together(
        tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    import json
    from dataclasses import asdict

    from benchmarks.adaptation import main

    first = [figures("demo", "streamml", s, regret=float(s)) for s in (1, 2)]
    later = [figures("demo", "streamml", s, regret=float(s)) for s in (2, 3)]
    for name, runs in (("a.json", first), ("b.json", later)):
        (tmp_path / name).write_text(json.dumps({"runs": [asdict(r) for r in runs]}))
    assert main(["--table", str(tmp_path / "a.json"), str(tmp_path / "b.json")]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines()
               if line.startswith("| demo | streamml"))
    assert "| 3/3 |" in row and "2 [1-3]" in row, "seed 2, saved twice, counts once"
    (tmp_path / "bad.json").write_text("{}")
    try:
        main(["--table", str(tmp_path / "bad.json")])
    except SystemExit as exc:
        assert "not a --json file of this benchmark" in str(exc)
    else:
        raise AssertionError("a file without runs was taken")
