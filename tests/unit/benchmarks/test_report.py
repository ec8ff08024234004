"""The benchmark table and its JSON, on made-up figures (no broker, nothing timed)."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path


def _load_report():  # noqa: ANN202
    # benchmarks/ is run from a checkout (python -m benchmarks), not installed.
    path = Path(__file__).resolve().parents[3] / "benchmarks" / "report.py"
    spec = importlib.util.spec_from_file_location("benchmarks.report", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("benchmarks.report", module)
    spec.loader.exec_module(module)
    return sys.modules["benchmarks.report"]


report = _load_report()
Figures, LatencyFigures, MemoryFigures = report.Figures, report.LatencyFigures, report.MemoryFigures
RowFigures, ServiceFigures = report.RowFigures, report.ServiceFigures
table, targets, write_json = report.table, report.targets, report.write_json


def latency(rate: int, p99: float) -> LatencyFigures:
    return LatencyFigures(rate, p50_ms=p99 / 3, p99_ms=p99, max_ms=p99 * 2, sent=rate,
                          received=rate)


def figures(**changes: object) -> Figures:
    f = Figures(machine="2 cores", command="python -m benchmarks", broker="local",
                default_runner="kafka")
    f.rows = [
        RowFigures("kafka-ceiling", 200_000, 110_000, 0.6, 60, {1000: latency(1000, 30)}),
        RowFigures("faust-ceiling", 200_000, 4_000, 22.0, 70,
                   {1000: latency(1000, 25), 5000: None}),
        RowFigures("quix-ceiling", 200_000, 30_000, 3.0, 90, {1000: latency(1000, 20)}),
        RowFigures("quix-scoring", 200_000, 12_000, 8.0, 180, {1000: latency(1000, 28)}),
        RowFigures("naive", 3_000, 240, 390.0, 170, {1000: None, 5000: None}),
        RowFigures("streamml-faust", 200_000, 7_000, 14.0, 250, {1000: latency(1000, 75)}),
        RowFigures("streamml-kafka", 1_000_000, 90_000, 1.0, 220,
                   {1000: latency(1000, 32), 5000: latency(5000, 40)}),
        RowFigures("streamml-kafka-no-summaries", 200_000, 95_000, 0.95, 220,
                   {1000: latency(1000, 32), 5000: latency(5000, 40)}),
        RowFigures("streamml-kafka-explain3", 200_000, 80_000, 1.2, 225,
                   {1000: latency(1000, 33), 5000: latency(5000, 42)}),
    ]
    f.hot_swap_seconds = {"streamml-kafka": 0.6, "streamml-faust": 0.7}
    f.retrain_rows, f.retrain_seconds = 100_000, 4.2
    f.joiner = ServiceFigures(50_000, 3_800, 220.0)
    f.monitor = ServiceFigures(50_000, 26_000, 33.0)
    f.memory = {"processor": MemoryFigures(200_000, 1_000_000, 250.0, 255.0),
                "monitor": MemoryFigures(200_000, 1_000_000, 220.0, 260.0)}
    for name, value in changes.items():
        setattr(f, name, value)
    return f


def test_targets_are_judged_as_ratios_of_the_default_runner():
    verdicts = {t.name: (t.measured, t.holds) for t in targets(figures())}

    assert verdicts["streamml-kafka events/s / naive"] == ("375.0x", True)
    assert verdicts["streamml-kafka events/s / faust-ceiling"] == ("22.5x", True)
    assert verdicts["streamml-kafka events/s / quix-scoring"] == ("7.5x", True)
    assert verdicts["streamml-kafka p99 @1k - faust-ceiling p99 @1k"] == ("+7 ms", True)
    assert verdicts["processor RSS growth 200k -> 1M events"] == ("+2.0%", True)
    assert verdicts["monitor RSS growth 200k -> 1M events"] == ("+18.2%", False)
    assert verdicts["hot-swap delay (streamml-kafka)"] == ("0.60 s", True)
    assert verdicts["monitor CPU per event / processor's"][1] is False  # 33 µs against 10
    assert verdicts["CPU per event explaining k=3 / streamml-kafka's"] == ("+20%", True)


def test_the_joiner_and_the_whole_loop_are_judged_against_the_processor():
    f = figures(joiner=ServiceFigures(50_000, 46_000, 19.0),
                monitor=ServiceFigures(50_000, 30_000, 12.0))

    verdicts = {t.name: (t.measured, t.holds) for t in targets(f)}

    assert verdicts["joiner events/s / streamml-kafka"] == ("0.51x", True)
    assert verdicts["joiner CPU per event / streamml-kafka's"] == ("1.90x (19.0 / 10.0 µs)", True)
    assert verdicts["loop CPU per event (scoring + joiner + monitor) / scoring"] == ("4.10x", False)


def test_summaries_are_judged_against_the_processor_writing_none():
    [target] = [t for t in targets(figures()) if "with summaries" in t.name]
    assert (target.measured, target.holds) == ("+5%", True)
    f = figures()
    f.rows = [r if r.row != "streamml-kafka" else RowFigures(
        "streamml-kafka", 1_000_000, 90_000, 1.1, 220, r.latency) for r in f.rows]
    [target] = [t for t in targets(f) if "with summaries" in t.name]
    assert (target.measured, target.holds) == ("+16%", False)


def test_a_target_without_its_figures_is_not_judged():
    f = figures(monitor=None, memory={}, hot_swap_seconds={})
    f.rows = [r for r in f.rows
              if r.row not in ("naive", "quix-scoring", "streamml-kafka-explain3")]

    missing = [t.name for t in targets(f) if t.holds is None]

    assert len(missing) == 8  # the loop's CPU needs the monitor's


def test_the_table_shows_every_row_its_latencies_and_every_target():
    text = table(figures())

    lines = text.splitlines()
    for row in ("kafka-ceiling", "faust-ceiling", "quix-ceiling", "quix-scoring", "naive",
                "streamml-faust", "streamml-kafka*"):
        assert any(line.startswith(row) for line in lines), row
    kafka = next(line for line in lines if line.startswith("streamml-kafka*"))
    assert "1,000,000" in kafka and "90,000" in kafka and "11 / 32" in kafka
    naive = next(line for line in lines if line.startswith("naive"))
    assert naive.split()[-2:] == ["overload", "overload"]
    assert text.count("PASS") == 8 and text.count("MISS") == 5
    assert "retraining on 100,000 labeled rows" in text


def test_the_json_holds_the_figures_of_the_table(tmp_path: Path):
    f = figures(retrain_seconds=math.nan)
    path = tmp_path / "figures.json"

    write_json(f, path)

    data = json.loads(path.read_text())
    assert [r["row"] for r in data["rows"]] == [r.row for r in f.rows]
    assert data["rows"][6]["latency"]["1000"]["p99_ms"] == 32
    assert data["retrain_seconds"] is None  # NaN is not JSON
    assert data["memory"]["monitor"]["growth"] > 0.18
    assert {t["name"] for t in data["targets"]} == {t.name for t in targets(f)}


def test_a_service_row_says_how_busy_the_machine_was_where_it_was_measured():
    lines = table(figures(monitor=ServiceFigures(50_000, 30_000, 12.0, machine_busy=0.62)))
    monitor = next(line for line in lines.splitlines()
                   if line.startswith("monitor (streamml monitor)"))
    joiner = next(line for line in lines.splitlines() if line.startswith("joiner (streamml join)"))

    assert monitor.endswith("30,000 events/s, 12.0 µs CPU/event (62% busy)")
    assert "busy" not in joiner


def test_a_row_run_more_than_once_gives_the_spread_of_its_cpu_beside_the_median():
    monitor = ServiceFigures(50_000, 30_000, 4.1, machine_busy=0.15, cpu_spread=(3.6, 9.8))

    line = next(line for line in table(figures(monitor=monitor)).splitlines()
                if line.startswith("monitor (streamml monitor)"))

    assert line.endswith("30,000 events/s, 4.1 µs CPU/event (3.6-9.8 over runs; 15% busy)")
