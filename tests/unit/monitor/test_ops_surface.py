"""What on-call sees: the ops page, /metrics, /health; and restart safety of the pipeline."""

from __future__ import annotations

import math
import re
import subprocess
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from contracts.change_point import change_point_of
from monitor.dispatch import Dispatcher
from monitor.exposition import MonitorCollector, Progress, monitor_registry
from monitor.history import SeriesTable
from monitor.page import render
from monitor.pipeline import MonitorPipeline, collapse
from monitor.sinks import MemorySink
from monitor.web import WebServer, runbooks_page
from producers.simulator import Simulator
from scorer.bundle import ModelBundle
from tests.unit.monitor.conftest import START, make_pipeline, play, simulator

LATER = datetime(2030, 1, 1, tzinfo=UTC)  # the restarted monitor's clock


@pytest.fixture(scope="module")
def shifted(bundle: ModelBundle) -> tuple[MonitorPipeline, Dispatcher]:
    pipeline = make_pipeline(bundle)
    dispatcher = Dispatcher([MemorySink()])
    for alert in play(pipeline, bundle, simulator("covariate-shift", drift_at=4000),
                      9000).alerts:
        dispatcher.publish(alert)
    return pipeline, dispatcher


def test_the_page_shows_versions_drifted_features_and_firing_alerts(
        shifted: tuple[MonitorPipeline, Dispatcher]) -> None:
    html = render(*shifted)

    assert "champion: v1" in html
    assert re.search(r"Firing alerts \([1-9]", html)
    assert "feature-drift · v1 champion" in html and "runbook" in html
    assert "drifted: <b>session_length_s</b>" in html
    row = re.search(r"<tr><td>session_length_s<br>.*?</td><td>(.*?)</td>", html)
    assert row is not None and "drifted" in row.group(1)
    assert re.search(r"<tr><td>country<br>.*?</td><td><span class=ok>ok", html)
    assert "<svg" in html and "(est. " in html
    assert "<tr><td>pr_auc</td>" in html
    assert f"<tr><td>decision_threshold</td><td class=num>{bundle_threshold(shifted):.3g}" \
        in html


def shares(html: str, feature: str) -> list[tuple[float, float]]:
    """The (reference, now) shares the feature's distribution chart gives, bin by bin."""
    row = re.search(rf"<tr><td>{feature}<br>.*?</tr>", html)
    assert row is not None
    return [(float(a) / 100, float(b) / 100) for a, b in
            re.findall(r"reference ([0-9.]+)%, now ([0-9.]+)%", row.group(0))]


def test_each_feature_shows_its_distribution_against_the_reference_and_figures_their_units(
        shifted: tuple[MonitorPipeline, Dispatcher]) -> None:
    html = render(*shifted)

    shifted_bins = shares(html, "session_length_s")
    assert len(shifted_bins) >= 5
    assert sum(now for _, now in shifted_bins) == pytest.approx(1.0, abs=0.01)
    moved = sum(abs(now - ref) for ref, now in shifted_bins) / 2
    stable = shares(html, "cart_value")
    still = sum(abs(now - ref) for ref, now in stable) / 2
    # Total variation: the 1.6x scaled feature moved far more of its mass than a stable one.
    assert moved > 0.15 and still < moved / 2, (moved, still)
    assert "<tr><td>latency_p95 <span class=muted>(s)</span></td>" in html
    assert "<tr><td>throughput <span class=muted>(events/s)</span></td>" in html
    assert "<meta http-equiv=refresh content=15>" in html and "<a href=report>export</a>" in html
    exported = render(*shifted, export=True)
    assert "http-equiv=refresh" not in exported and "href=report" not in exported
    assert shares(exported, "session_length_s") == shifted_bins


def test_each_trend_runs_on_event_time_from_its_first_window_to_its_last(
        shifted: tuple[MonitorPipeline, Dispatcher]) -> None:
    pipeline = shifted[0]
    scope = next(s for s, kind in pipeline.history.latest if kind == "features")
    points = pipeline.history.timed(scope, "features", "psi:session_length_s")
    first, last = (datetime.fromtimestamp(t, UTC).strftime("%H:%M:%S")
                   for t in (points[0][0], points[-1][0]))

    html = render(*shifted)

    row = next(r for r in html.split("<tr>") if r.startswith("<td>session_length_s"))
    assert f'aria-label="from {first} to {last} UTC"' in row
    xs = [float(p.split(",")[0]) for p in re.search(r'polyline points="([^"]+)"', row)
          .group(1).split()]  # type: ignore[union-attr]
    assert xs == sorted(xs) and xs[0] == 0.0 and xs[-1] == 60.0


def bundle_threshold(shifted: tuple[MonitorPipeline, Dispatcher]) -> float:
    threshold = shifted[0].monitor.registry.threshold(1)
    assert threshold is not None and threshold != 0.5
    return threshold


def test_the_page_is_self_contained_and_fits_a_phone(
        shifted: tuple[MonitorPipeline, Dispatcher]) -> None:
    html = render(*shifted)

    assert 'name=viewport content="width=device-width' in html
    assert "<script" not in html and "<link" not in html and "src=" not in html
    assert "@import" not in html and "url(" not in html


def test_every_figure_is_on_metrics_with_few_bounded_labels(
        shifted: tuple[MonitorPipeline, Dispatcher]) -> None:
    pipeline, dispatcher = shifted
    text = generate_latest(monitor_registry(MonitorCollector(pipeline, dispatcher,
                                                             Progress()))).decode()

    families = {f.name: f for f in text_string_to_metric_families(text)}
    for name in ("roc_auc", "pr_auc", "decision_threshold", "estimated_roc_auc", "log_loss",
                 "brier", "calibration_error", "score_psi", "throughput_events_per_second",
                 "label_coverage", "concept_drift", "feature_psi", "feature_ks", "alerts_firing",
                 "latency_seconds", "latency_p95_seconds", "label_delay_p50_seconds", "records"):
        assert f"streamml_monitor_{name}" in families, name
    labels = {k for f in families.values() for s in f.samples for k in s.labels}
    assert labels <= {"model", "version", "route", "feature", "kind", "severity", "topic",
                      "outcome", "sink", "status", "le"}
    # Every figure of a version says whose version it is.
    scoped = [s for f in families.values() for s in f.samples if "version" in s.labels]
    assert scoped and all(s.labels["model"] == "conversion" for s in scoped)
    psi = families["streamml_monitor_feature_psi"].samples
    assert {s.labels["feature"] for s in psi} >= {"session_length_s", "device"}


@pytest.mark.parametrize("ranged", [False, True])
def test_the_exported_page_shows_the_figures_metrics_gives(
        shifted: tuple[MonitorPipeline, Dispatcher], ranged: bool) -> None:
    """The page to keep and /metrics read the same windows: every feature's PSI and the
    version's figures agree, to the page's three significant digits; so does a report
    for a range that ends now."""
    pipeline = shifted[0]
    ends = [r.end for r in pipeline.history.latest.values()]
    span = (min(ends) - 600, max(ends)) if ranged else None
    page = render(*shifted, export=True, span=span)
    text = generate_latest(monitor_registry(MonitorCollector(*shifted, Progress()))).decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    psi = {s.labels["feature"]: s.value for s in families["streamml_monitor_feature_psi"].samples}
    assert len(psi) >= 10
    for feature, value in psi.items():
        row = re.search(rf"<tr><td>{feature}<br>.*?</td><td>.*?</td><td class=num>(.*?)</td>",
                        page)
        assert row is not None and row.group(1) == f"{value:.3g}", feature
    for name in ("log_loss", "score_psi", "positive_rate"):
        [sample] = [s for s in families[f"streamml_monitor_{name}"].samples
                    if s.labels["route"] == "champion"]
        assert f"<tr><td>{name}</td><td class=num>{sample.value:.3g}</td>" in page, name


def test_the_metrics_pass_promtool(shifted: tuple[MonitorPipeline, Dispatcher]) -> None:
    exposition = generate_latest(monitor_registry(MonitorCollector(*shifted, Progress())))
    check = subprocess.run(["promtool", "check", "metrics"], input=exposition,  # noqa: S607
                           capture_output=True, timeout=30, check=False)
    assert check.returncode == 0, check.stdout + check.stderr


def test_the_web_server_serves_pages_and_survives_a_broken_one() -> None:
    def broken() -> tuple[int, str, bytes]:
        raise RuntimeError("boom")

    server = WebServer("127.0.0.1", 0, {"/runbooks": runbooks_page, "/broken": broken})
    base = f"http://127.0.0.1:{server.port}"
    try:
        with urllib.request.urlopen(base + "/runbooks") as r:  # noqa: S310
            assert b'id="feature-drift"' in r.read()
        for path, status in (("/broken", 500), ("/nope", 404)):
            with pytest.raises(urllib.error.HTTPError) as caught:
                urllib.request.urlopen(base + path)  # noqa: S310
            assert caught.value.code == status
    finally:
        server.close()


def test_a_restarted_pipeline_does_not_fire_again_and_still_resolves(
        bundle: ModelBundle, shifted: tuple[MonitorPipeline, Dispatcher]) -> None:
    _, before = shifted
    firing = list(before.firing.values())
    sink = MemorySink()
    after = Dispatcher([sink])
    after.seed(before.recent)
    pipeline = make_pipeline(bundle)

    assert pipeline.restore(firing) == len(firing) > 0
    replayed = play(pipeline, bundle, simulator("covariate-shift", drift_at=0), 5000).alerts
    for alert in collapse(replayed):
        after.publish(alert)
    assert sink.alerts == []  # still drifted: nothing new to say

    # After the replay in event time: windows ending before the last breaching one
    # are out of order and clear nothing.
    calm = play(pipeline, bundle, Simulator(seed=11, start=START + timedelta(hours=1),
                                            id_prefix="calm"), 6000).alerts
    for alert in collapse(calm):
        after.publish(alert)
    assert sink.alerts
    assert {a.status for a in sink.alerts} == {"resolved"}, [a.metric for a in sink.alerts]
    assert {a.fingerprint for a in sink.alerts} <= {a.fingerprint for a in firing}


def test_a_restored_alert_the_replay_resolves_and_fires_again_is_the_alert_already_sent(
        bundle: ModelBundle, shifted: tuple[MonitorPipeline, Dispatcher]) -> None:
    """A restart replays the stream from before the drift, so its first windows are clean.

    Seeded simulator; the first assertion checks that the replay does resolve the restored
    alerts before firing them again."""
    _, before = shifted
    firing = {a.fingerprint: a for a in before.firing.values()}
    sink = MemorySink()
    after = Dispatcher([sink])
    after.seed(before.last.values())
    pipeline = make_pipeline(bundle)
    pipeline.engine.now = lambda: LATER

    assert pipeline.restore(firing.values()) == len(firing) > 0
    replayed = play(pipeline, bundle, simulator("covariate-shift", drift_at=4000), 9000).alerts
    for fingerprint in firing:
        assert [a.status for a in replayed if a.fingerprint == fingerprint] == [
            "resolved", "firing"]
    for alert in pipeline.end_replay(replayed):
        after.publish(alert)
    assert sink.alerts == [] and after.duplicates == 0  # as seen outside, nothing happened

    # After the replay in event time: windows ending before the last breaching one
    # are out of order and clear nothing.
    calm = play(pipeline, bundle, Simulator(seed=11, start=START + timedelta(hours=1),
                                            id_prefix="calm"), 6000).alerts
    for alert in collapse(calm):
        after.publish(alert)
    resolved = [a for a in sink.alerts if a.fingerprint in firing]
    assert resolved and {a.status for a in resolved} == {"resolved"}
    assert [(a.started_at, change_point_of(a)) for a in resolved] == [
        (firing[a.fingerprint].started_at, change_point_of(firing[a.fingerprint]))
        for a in resolved]


def test_a_report_for_a_time_range_shows_only_the_windows_that_ended_in_it(
        shifted: tuple[MonitorPipeline, Dispatcher]) -> None:
    pipeline, dispatcher = shifted
    scope = next(s for s, kind in pipeline.history.latest if kind == "predictions")
    every = pipeline.history.timed(scope, "predictions", "score_psi", span=(0.0, 1e12))
    drift = pipeline.history.timed(scope, "features", "psi:session_length_s", span=(0.0, 1e12))
    assert len(drift) > pipeline.history.points  # the archive reaches past the page's trend
    before = every[len(every) // 3][0]  # before the shift: nothing firing yet
    span = (every[0][0], before)

    html = render(pipeline, dispatcher, export=True, span=span)

    start, end = (datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%SZ") for t in span)
    assert f"windows that ended from {start} to {end}" in html
    assert "Firing alerts" not in html
    assert "Alert changes in this range" in html
    assert "feature-drift" not in html.split("<h2>v1")[0]  # it began after the range
    row = next(r for r in html.split("<tr>") if r.startswith("<td>score_psi"))
    in_range = [v for t, v in every if t <= before]
    assert f"<td class=num>{in_range[-1]:.3g}</td>" in row
    assert f'aria-label="from {datetime.fromtimestamp(span[0], UTC):%H:%M:%S} to ' \
           f'{datetime.fromtimestamp(before, UTC):%H:%M:%S} UTC"' in row

    later = render(pipeline, dispatcher, export=True, span=(before, every[-1][0]))
    assert "feature-drift" in later.split("<h2>v1")[0]

    # Each feature's distribution as it was in the range, not as it is now.
    kept = pipeline.history.features_within(scope, span)
    assert kept is not None and span[0] <= kept.end <= span[1]
    assert f"the window that ended at {datetime.fromtimestamp(kept.end, UTC):%Y-%m-%d %H:%M:%S}Z" \
        in html
    for page, drifted in ((html, False), (later, True)):
        row = next(r for r in page.split("<tr>") if r.startswith("<td>session_length_s"))
        assert ('class="bad">drifted' in row) is drifted
    shown = next(r for r in html.split("<tr>") if r.startswith("<td>session_length_s"))
    assert f"<td class=num>{kept.features['session_length_s'].psi:.3g}</td>" in shown


def test_a_figure_s_archive_stays_bounded_and_covers_the_whole_run() -> None:
    line = SeriesTable(capacity=512, recent=60)
    for t in range(200_000):
        line.add(float(t), ["half", "rising"], [float(t % 10 < 5), float(t)])
    points = line.points("half")
    assert 256 <= len(points) <= 512 and line.stride == 512
    assert points[0][0] < 1024 and points[-1][0] >= 200_000 - line.stride
    assert all(abs(v - 0.5) < 0.01 for _, v in points)  # each point a mean of equal windows
    assert line.last("half", 60) == [(float(t), float(t % 10 < 5))
                                     for t in range(199_940, 200_000)]
    assert [t for t, _ in line.points("half", 50_000, 60_000)] == \
        [t for t, _ in points if 50_000 <= t <= 60_000] != []
    # Each point of a figure the mean of its own windows, beside the others.
    assert all(v == t - (line.stride - 1) / 2 for t, v in line.points("rising"))


def test_a_figure_a_window_did_not_report_has_no_value_there_and_others_keep_theirs() -> None:
    line = SeriesTable(capacity=4, recent=8)
    line.add(0.0, ["a"], [1.0])
    line.add(1.0, ["a", "b"], [3.0, math.inf])  # b appears, not finite
    line.add(2.0, ["b"], [5.0])  # a missing
    line.add(3.0, ["a", "b"], [7.0, 6.0])
    line.add(4.0, ["a", "b"], [9.0, 8.0])  # the four places filled: pairs merge first

    assert line.points("a") == [(1.0, 2.0), (3.0, 7.0)] and line.stride == 2
    (first, unreported), (second, b) = line.points("b")
    assert (first, second, b) == (1.0, 3.0, 5.5) and math.isnan(unreported)
    recent = line.last("b", 8)
    assert [end for end, _ in recent] == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert all(math.isnan(v) for _, v in recent[:2]) and [v for _, v in recent[2:]] == [5, 6, 8]
    assert line.points("nothing") == [] and line.last("nothing", 3) == []


def test_the_report_route_takes_its_range_from_the_query_and_refuses_a_bad_one() -> None:
    seen: list[dict[str, str]] = []

    def report(query: object) -> tuple[int, str, bytes]:
        seen.append(dict(query))  # type: ignore[call-overload]
        return 200, "text/html", b"ok"

    server = WebServer("127.0.0.1", 0, {}, queried={"/report": report})
    base = f"http://127.0.0.1:{server.port}/report"
    try:
        with urllib.request.urlopen(base + "?since=1.5&until=9") as r:  # noqa: S310
            assert r.read() == b"ok"
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(base + "?" + "&".join(f"p{i}=1" for i in range(17)))  # noqa: S310
        assert caught.value.code == 400
    finally:
        server.close()
    assert seen == [{"since": "1.5", "until": "9"}]
