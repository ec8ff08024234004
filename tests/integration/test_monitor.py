"""The monitor on a real broker with simulated traffic scored by a real model.

Counts are scaled so the whole module takes a minute or two: the 200,000-event stable
stream runs on the pure monitor in tests/unit/monitor/test_scenarios.py; here a
12,000-event stable stream, a covariate shift that returns (with a restart of the
monitor in the middle, a real Alertmanager and the ops page in headless Chromium),
and a concept drift go through Kafka.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from contracts.change_point import change_point_of
from contracts.records import Alert
from contracts.settings import Settings
from contracts.topics import Topics
from producers.scenarios import SCENARIOS
from tests.integration.monitor_parity import assert_same_decisions, pure_alerts
from tests.integration.processes import http_get
from tests.integration.test_monitor_support import (
    ARTIFACTS,
    Capture,
    Feeder,
    alertmanager,
    chromium,
    detail,
    fresh_settings,
    monitor_process,
    publish_model,
    read_alerts,
    rule_of,
    simulator,
    wait_until,
)

DRIFT_AT, RETURN_AT, EVENTS = 4000, 9000, 15_000
QUALITY = {"data_drift", "prediction_drift", "performance", "concept_drift", "data_quality",
           "performance_estimate"}


def firing(alerts: list[Alert], rule: str, status: str = "firing") -> list[Alert]:
    return [a for a in alerts if rule_of(a) == rule and a.status == status]


@dataclass
class ShiftRun:
    """Everything the covariate-shift-return run observed, for the tests below."""

    feeder: Feeder
    fired: Alert
    alerts_after_restart: list[Alert]
    alerts: list[Alert]
    dom: str
    screenshot: Path
    am_while_firing: list[dict[str, object]]
    am_after_resolve: list[dict[str, object]]
    settings: Settings
    settled: list[Alert]  # every alert, once the monitor has counted every record
    notifications: list[dict[str, object]] = field(default_factory=list)


@pytest.fixture(scope="module")
def shift_run(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) \
        -> Iterator[ShiftRun]:
    workdir = tmp_path_factory.mktemp("monitor-shift")
    # One partition a topic: the pure pipeline then reads each topic in the service's order.
    settings = fresh_settings(kafka_bootstrap, partitions=1)
    bundle = publish_model(settings)
    capture = Capture()
    try:
        with alertmanager(workdir, capture.url) as am:
            yield _shift_run(settings, bundle, workdir, am, capture)
    finally:
        capture.close()


def _shift_run(settings: Settings, bundle: object, workdir: Path, am: str,
               capture: Capture) -> ShiftRun:
    env = {"STREAMML_ALERTMANAGER_URL": am}
    feeder = Feeder(settings, bundle,  # type: ignore[arg-type]
                    simulator("covariate-shift-return", EVENTS, drift_at=DRIFT_AT,
                              return_at=RETURN_AT), EVENTS)
    with monitor_process(settings, workdir / "monitor-1.log", **env) as (_, port):
        feeder.send(RETURN_AT - 1000)
        alerts = read_alerts(settings, lambda a: bool(firing(a, "feature-drift")))
        [fired] = firing(alerts, "feature-drift")
        screenshot = ARTIFACTS / "monitor-ops-page.png"
        dom = chromium(f"http://127.0.0.1:{port}/", screenshot)
        am_firing = wait_until(lambda: _am_alerts(am, fired.fingerprint))
    # A restart reads the alerts topic's tail and the data topics' tail again.
    with monitor_process(settings, workdir / "monitor-2.log", **env) as (_, port):
        wait_until(lambda: json.loads(http_get(f"http://127.0.0.1:{port}/health")[1])
                   ["status"] == "ok")
        after_restart = read_alerts(settings)
        feeder.send(EVENTS)
        feeder.drain()
        alerts = read_alerts(settings, lambda a: bool(firing(a, "feature-drift", "resolved")))
        am_resolved = wait_until(lambda: not _am_alerts(am, fired.fingerprint) and ["gone"])
        # Other alerts notify too: wait for this one's resolved notification itself.
        wait_until(lambda: "resolved" in _notified(capture.bodies, fired.fingerprint),
                   timeout=30)
        settled = settled_alerts(settings, port, 3 * EVENTS)
    return ShiftRun(feeder, fired, after_restart, alerts, dom, screenshot,
                    am_firing, am_resolved, settings, settled,  # type: ignore[arg-type]
                    capture.bodies)


def settled_alerts(settings: Settings, port: int, records: int) -> list[Alert]:
    """Every alert on the topic once the monitor on ``port`` has counted ``records``
    records (events, predictions and labeled events): nothing it read is left to judge."""
    wait_until(lambda: json.loads(http_get(f"http://127.0.0.1:{port}/health")[1])
               ["records"] >= records, timeout=120)
    return read_alerts(settings)


def _am_alerts(am: str, fingerprint: str) -> list[dict[str, object]]:
    status, body = http_get(f"{am}/api/v2/alerts")
    assert status == 200
    return [a for a in json.loads(body) if a["labels"].get("fingerprint") == fingerprint]


def _notified(bodies: list[object], fingerprint: str) -> list[str]:
    """The status of each webhook notification Alertmanager sent about ``fingerprint``."""
    return [n["status"] for n in bodies  # type: ignore[index]
            if any(a["labels"].get("fingerprint") == fingerprint
                   for a in n["alerts"])]  # type: ignore[index]


def test_covariate_shift_alert_names_the_shifted_features_within_1000_events(
        shift_run: ShiftRun) -> None:
    fired = shift_run.fired
    at = shift_run.feeder.index_at(detail(fired, "window_end"))  # type: ignore[arg-type]

    # The pure monitor alerts 289-397 events after the shift (20 seeds); here events of
    # three partitions reach it interleaved, so its windows hold a mix of event times.
    assert DRIFT_AT < at <= DRIFT_AT + 1000
    drifted = detail(fired, "drifted_features")
    assert {"session_length_s", "time_on_site_s"} <= set(drifted)  # type: ignore[arg-type]
    assert set(drifted) <= set(SCENARIOS["covariate-shift"].changes)  # type: ignore[arg-type]
    assert fired.kind == "data_drift" and fired.value and fired.value > 0.2
    assert fired.runbook.endswith("/runbooks#feature-drift")


def test_a_restart_does_not_fire_the_alert_again(shift_run: ShiftRun) -> None:
    fingerprint = shift_run.fired.fingerprint
    fired = [a for a in shift_run.alerts if a.fingerprint == fingerprint
             and a.status == "firing"]

    assert len(fired) == 1
    assert len({a.fingerprint for a in shift_run.alerts_after_restart
                if a.status == "firing"}) == len(
        [a for a in shift_run.alerts_after_restart if a.status == "firing"])


def test_alerts_resolve_once_the_data_returns(shift_run: ShiftRun) -> None:
    [resolved] = firing(shift_run.alerts, "feature-drift", "resolved")
    at = shift_run.feeder.index_at(detail(resolved, "window_end"))  # type: ignore[arg-type]

    assert resolved.fingerprint == shift_run.fired.fingerprint
    assert resolved.started_at == shift_run.fired.started_at
    assert RETURN_AT < at <= RETURN_AT + 5000
    # Read once the monitor counted every record: ``alerts`` stops at feature-drift's
    # resolution, and others resolved by the same batch may land just after it.
    settled = shift_run.settled
    still_firing = {a.fingerprint for a in settled if a.status == "firing"} - {
        a.fingerprint for a in settled if a.status == "resolved"}
    assert not still_firing


def test_alertmanager_receives_the_alert_once_and_resolves(shift_run: ShiftRun) -> None:
    [alert] = shift_run.am_while_firing
    assert alert["labels"]["alertname"] == "feature-drift"  # type: ignore[index]
    assert "session_length_s" in alert["annotations"]["drifted_features"]  # type: ignore[index]
    assert _notified(shift_run.notifications, shift_run.fired.fingerprint) == [
        "firing", "resolved"]


def test_the_ops_page_in_chromium_shows_the_drifted_feature_and_the_firing_alert(
        shift_run: ShiftRun) -> None:
    dom = shift_run.dom

    assert "Firing alerts (" in dom and "feature-drift · v1 champion" in dom
    assert "drifted: <b>session_length_s</b>" in dom
    assert re.search(r'<td>session_length_s<br>.*?</td><td><span class="bad">drifted', dom)
    assert shift_run.screenshot.stat().st_size > 10_000


def test_the_pure_pipeline_raises_the_services_alerts_across_its_restart(
        shift_run: ShiftRun) -> None:
    """MonitorPipeline, fed the records the two monitors read, changes every alert as they
    did, value for value (to float rounding), with the same windows and change points.

    Exact by construction, not by luck: each topic has one partition, so its records reach
    both in offset order, and the rules compared judge windows cut from one topic alone
    (:mod:`tests.integration.monitor_parity` names the two that depend on how topics
    interleave). The restarted monitor re-read every record (its tail, 20,000 a partition,
    holds them all) from the alerts it had restored, and sent only changes it had not
    sent, so its topic holds one continuous monitor's changes. ``started_at`` is each
    decider's wall clock and is not compared.
    """
    pure = pure_alerts(shift_run.settings, EVENTS)
    matched = assert_same_decisions(shift_run.settled, pure)

    assert matched >= 2  # feature-drift fired and resolved, at least
    assert shift_run.fired.fingerprint in {a.fingerprint for a in pure}


def test_a_stable_stream_raises_no_drift_or_performance_alert(
        kafka_settings: Settings, tmp_path: Path) -> None:
    bundle = publish_model(kafka_settings)
    feeder = Feeder(kafka_settings, bundle, simulator("stable", 12_000), 12_000)
    with monitor_process(kafka_settings, tmp_path / "monitor.log") as (_, port):
        feeder.send(12_000)
        feeder.drain()
        wait_until(lambda: json.loads(http_get(f"http://127.0.0.1:{port}/health")[1])
                   ["windows"] >= 30)
        alerts = read_alerts(kafka_settings)

    assert [(a.kind, a.metric) for a in alerts if a.kind in QUALITY] == []


def test_concept_drift_raises_a_performance_or_concept_alert_within_5000_labeled_events(
        kafka_bootstrap: str, tmp_path: Path) -> None:
    """And the pure pipeline over the records the service read raises the same alerts
    (one partition a topic, so that order is the service's: see monitor_parity)."""
    kafka_settings = fresh_settings(kafka_bootstrap, partitions=1)
    bundle = publish_model(kafka_settings)
    feeder = Feeder(kafka_settings, bundle, simulator("concept-drift", 13_000, drift_at=6000),
                    13_000)
    with monitor_process(kafka_settings, tmp_path / "monitor.log") as (_, port):
        feeder.send(13_000)
        feeder.drain()
        alerts = read_alerts(kafka_settings, lambda a: any(
            x.kind in ("performance", "concept_drift") for x in a))
        settled = settled_alerts(kafka_settings, port, 3 * 13_000)

    raised = [a for a in alerts if a.kind in ("performance", "concept_drift")]
    first = min(feeder.index_at(detail(a, "window_end")) for a in raised)  # type: ignore[arg-type]
    assert 6000 < first <= 6000 + 5000
    assert not [a for a in alerts if a.kind == "data_drift"]
    # Each says where the change began, with the labeled-events offsets the monitor read.
    labeled = Topics(kafka_settings.topic_prefix).labeled_events
    for alert in raised:
        cp = change_point_of(alert)
        assert cp is not None and cp.offsets, alert.details
        assert {topic for topic, _, _ in cp.offsets} == {labeled}
        assert -2500 <= feeder.index_at(cp.at.timestamp()) - 6000 <= 5000
    matched = assert_same_decisions(settled, pure_alerts(kafka_settings, 13_000))
    assert matched >= len(raised)
