"""Prometheus: the shipped rules pass promtool, and a real Prometheus scrapes a scoring
processor and the monitor (fed by that processor) and loads the rules."""

from __future__ import annotations

import json
import subprocess
import urllib.parse
from pathlib import Path

import pytest

from contracts.settings import Secret, Settings
from streamml.broker.single_node import free_port
from tests.integration.processes import http_get, settings_env, streamml_child, wait_for_health
from tests.integration.scoring_fixtures import SIGNING_KEY, send_events
from tests.integration.test_monitor_support import (
    monitor_process,
    prometheus,
    publish_model,
    wait_until,
)

RULES = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"


@pytest.mark.parametrize("command", [["check", "rules", "streamml-rules.yml"],
                                     ["test", "rules", "streamml-rules.test.yml"],
                                     ["check", "config", "prometheus.yml"]])
def test_the_shipped_rules_and_config_pass_promtool(command: list[str]) -> None:
    result = subprocess.run(["promtool", *command], cwd=RULES, capture_output=True, text=True,
                            check=False)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


def query(prom: str, expr: str) -> list[dict[str, object]]:
    status, body = http_get(f"{prom}/api/v1/query?query={urllib.parse.quote(expr)}")
    assert status == 200, body
    result: list[dict[str, object]] = json.loads(body)["data"]["result"]
    return result


def test_prometheus_scrapes_the_processor_and_the_monitor_and_loads_the_rules(
        kafka_settings: Settings, tmp_path: Path) -> None:
    settings = kafka_settings.with_overrides(model_private_key=Secret(SIGNING_KEY))
    publish_model(settings)
    scoring = free_port()
    env = settings_env(settings, STREAMML_SCORING_PORT=str(scoring))
    with streamml_child(["process", "--data-dir", str(tmp_path / "w")], env,
                        tmp_path / "process.log") as processor, \
            monitor_process(settings, tmp_path / "monitor.log") as (_, monitor):
        wait_for_health(processor, scoring)
        send_events(settings, 3000)
        targets = {"streamml-scoring": f"127.0.0.1:{scoring}",
                   "streamml-monitor": f"127.0.0.1:{monitor}"}
        with prometheus(tmp_path, targets, RULES / "streamml-rules.yml") as prom:
            up = wait_until(lambda: {r["metric"]["job"]: r["value"][1]  # type: ignore[index]
                                     for r in query(prom, "up")} == dict.fromkeys(targets, "1"))
            seen = wait_until(lambda: query(
                prom, "streamml_monitor_predictions_total >= 3000"), timeout=90)
            scored = query(prom, "streamml_predictions_total")
            figures = query(prom, "streamml_monitor_score_psi")
            groups = json.loads(http_get(f"{prom}/api/v1/rules")[1])["data"]["groups"]

    assert up and seen and scored
    assert figures and figures[0]["metric"]["route"] == "champion"  # type: ignore[index]
    [group] = groups
    assert group["name"] == "streamml-streaming-health"
    names = {r["name"] for r in group["rules"]}
    assert {"StreammlEventLagHigh", "StreammlConsumerLagHigh", "StreammlDeadLetterRateHigh",
            "StreammlNoPredictions", "StreammlModelNotReady"} <= names
    assert all(r["health"] == "ok" for r in group["rules"])
