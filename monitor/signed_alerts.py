"""The monitor's side of signed alerts: it signs what it writes, and counts what it refuses.

Every alert the monitor writes on ``alerts`` is signed with its alert key, so the
retrainer can act on it and a restarted monitor can restore it. On restart the monitor
takes back as firing only alerts signed by a trusted alert key; the others are counted
(``streamml_monitor_alert_refusals_total{reason}``) and never reach the ops page.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from contracts.records import Alert
from monitor.sinks import AlertSink
from scorer.alert_signing import AlertGate
from scorer.signing import Signer


class SigningSink:
    """Signs each alert, then hands it to ``inner`` (the ``alerts`` topic's sink).

    >>> from monitor.sinks import MemorySink
    >>> from monitor.testing import sample_alert
    >>> signer = Signer.generate()
    >>> sink = SigningSink(MemorySink(), signer); sink.send(sample_alert())
    >>> sink.name, sink.inner.alerts[0].key_id == signer.key_id
    ('memory', True)
    """

    def __init__(self, inner: AlertSink, signer: Signer) -> None:
        self.inner, self.signer = inner, signer
        self.name = inner.name

    def send(self, alert: Alert) -> None:
        self.inner.send(self.signer.sign(alert))

    def close(self) -> None:
        self.inner.close()


class AlertRefusals(Collector):
    """The refusals of an :class:`AlertGate` as a Prometheus counter by reason."""

    def __init__(self, gate: AlertGate) -> None:
        self.gate = gate

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(
            "streamml_monitor_alert_refusals",
            "alerts read back on restart and not restored: unsigned, signed by an unknown "
            "key or changed after signing", labels=["reason"])
        for reason, n in sorted(self.gate.refusals.items()):
            family.add_metric([reason], n)
        yield family


__all__ = ["AlertRefusals", "SigningSink"]
