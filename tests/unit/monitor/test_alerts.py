"""Alert records carry their cause, have stable fingerprints and are de-duplicated."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import msgspec

from contracts.records import Alert
from monitor.alerts import detail, fingerprint, to_alert
from monitor.dispatch import Dispatcher
from monitor.engine import Transition
from monitor.report import Scope
from monitor.rules import Verdict, parse_rule
from monitor.sinks import MemorySink
from monitor.testing import sample_alert

SCOPE = Scope("conversion", 3, "canary")
RULE = parse_rule({"name": "feature-drift", "kind": "data_drift", "metric": "feature_psi",
                   "above": 0.2, "runbook": "http://m/runbooks#feature-drift"})
CAUSE = Verdict(0.8, 0.2, True, (
    {"feature": "cart_value", "feature_psi": 0.8, "threshold": 0.2, "median": 12.0,
     "reference_median": 35.0, "ks": math.nan},))


def transition(status: str) -> Transition:
    return Transition(status, RULE, SCOPE, CAUSE if status == "firing" else Verdict(
        0.01, 0.2, False), CAUSE, "features: 1000 records, a to b",
        datetime(2026, 1, 1, tzinfo=UTC), 1767225600.0)  # type: ignore[arg-type]


def test_a_firing_alert_names_the_drifted_features_with_current_and_reference_values() -> None:
    alert = to_alert(transition("firing"))

    assert alert.status == "firing" and alert.kind == "data_drift"
    assert alert.value == 0.8 and alert.threshold == 0.2
    assert alert.window == "features: 1000 records, a to b"
    assert detail(alert, "drifted_features") == ["cart_value"]
    [cause] = detail(alert, "features")  # type: ignore[misc]
    assert cause["median"] == 12.0 and cause["reference_median"] == 35.0
    assert cause["ks"] is None  # JSON has no NaN
    assert "cart_value 0.8 > 0.2" in str(detail(alert, "summary"))
    assert msgspec.json.decode(msgspec.json.encode(alert), type=Alert) == alert


def test_the_resolved_record_keeps_the_fingerprint_and_the_cause_it_fired_on() -> None:
    fired, resolved = to_alert(transition("firing")), to_alert(transition("resolved"))

    assert resolved.fingerprint == fired.fingerprint
    assert resolved.value == 0.01 and detail(resolved, "fired_on") == 0.8
    assert detail(resolved, "drifted_features") == ["cart_value"]


def test_fingerprints_differ_by_rule_version_and_route() -> None:
    prints = {fingerprint(r, Scope("conversion", v, route))
              for r in ("a", "b") for v in (1, 2) for route in ("champion", "canary")}

    assert len(prints) == 8


def test_the_dispatcher_sends_each_change_once() -> None:
    sink = MemorySink()
    d = Dispatcher([sink])

    sent = [d.publish(sample_alert(s)) for s in ("firing", "firing", "resolved", "resolved",
                                                 "firing")]

    assert sent == [True, False, True, False, True]
    assert [a.status for a in sink.alerts] == ["firing", "resolved", "firing"]


def test_a_seeded_dispatcher_does_not_resend_what_the_topic_holds() -> None:
    sink = MemorySink()
    d = Dispatcher([sink])
    d.seed([sample_alert("firing", "a"), sample_alert("firing", "b"),
            sample_alert("resolved", "b")])

    assert not d.publish(sample_alert("firing", "a"))
    assert d.publish(sample_alert("resolved", "a"))
    assert not d.publish(sample_alert("resolved", "c"))  # never fired here
    assert [a.fingerprint for a in sink.alerts] == ["a"]
    assert set(d.firing) == set()


def test_one_failing_sink_does_not_stop_the_others() -> None:
    class Broken:
        name = "broken"

        def send(self, alert: Alert) -> None:
            from monitor.exceptions import SinkError

            raise SinkError("down")

        def close(self) -> None:
            pass

    sink = MemorySink()
    d = Dispatcher([Broken(), sink])

    d.publish(sample_alert())

    assert len(sink.alerts) == 1 and d.failures["broken"] == 1
