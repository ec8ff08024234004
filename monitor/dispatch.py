"""Alerts to every sink, each change of an alert once: de-duplicated by fingerprint.

The dispatcher remembers the last status sent per fingerprint. A second ``firing``
for an alert already firing (or ``resolved`` for one already resolved) is dropped,
so neither a noisy rule nor a restart makes an alert storm. After a restart it is
seeded from the tail of the ``alerts`` topic.
"""

from __future__ import annotations

import logging
from collections import Counter, OrderedDict, deque
from collections.abc import Collection, Iterable, Iterator, Sequence

from contracts.records import Alert
from monitor.exceptions import SinkError
from monitor.sinks import AlertSink, BackgroundSink, DeliveryCounts

logger = logging.getLogger(__name__)


def latest_by_fingerprint(alerts: Iterable[Alert]) -> dict[str, Alert]:
    """The last record of each fingerprint, in topic order.

    >>> from monitor.testing import sample_alert
    >>> last = latest_by_fingerprint([sample_alert("firing"), sample_alert("resolved")])
    >>> last["f00d"].status
    'resolved'
    """
    latest: dict[str, Alert] = {}
    for alert in alerts:
        latest[alert.fingerprint] = alert
    return latest


class Dispatcher:
    """Sends each new status of an alert to every sink; failures of one sink stay there.

    Examples
    --------
    >>> from monitor.sinks import MemorySink
    >>> from monitor.testing import sample_alert
    >>> sink = MemorySink(); d = Dispatcher([sink])
    >>> [d.publish(sample_alert(s)) for s in ("firing", "firing", "resolved")]
    [True, False, True]
    >>> [a.status for a in sink.alerts], d.duplicates
    (['firing', 'resolved'], 1)
    """

    def __init__(self, sinks: Sequence[AlertSink], *, capacity: int = 10_000,
                 recent: int = 50) -> None:
        self.sinks = list(sinks)
        self.capacity = capacity
        self.last: OrderedDict[str, Alert] = OrderedDict()
        self.firing: dict[str, Alert] = {}
        self.recent: deque[Alert] = deque(maxlen=recent)
        self.sent: Counter[tuple[str, str]] = Counter()
        self.failures: Counter[str] = Counter()
        self.duplicates = 0

    def seed(self, alerts: Iterable[Alert]) -> None:
        """Take the alerts already sent (the topic's tail) as sent, without sending them."""
        for alert in latest_by_fingerprint(alerts).values():
            self._remember(alert)

    def publish(self, alert: Alert, *, skip: Collection[str] = ()) -> bool:
        """Send ``alert`` unless its fingerprint already has this status; True if sent.

        ``skip`` names sinks not to send it to (an alert read from a topic is not
        written back to it)."""
        previous = self.last.get(alert.fingerprint)
        if previous is not None and previous.status == alert.status:
            self.duplicates += 1
            if alert.status == "firing":  # keep the freshest cause for the ops page
                self.firing[alert.fingerprint] = alert
            return False
        if previous is None and alert.status == "resolved":
            self.duplicates += 1  # nothing of ours was firing
            return False
        self._remember(alert)
        for sink in self.sinks:
            if sink.name in skip:
                continue
            try:
                sink.send(alert)
                if not isinstance(sink, BackgroundSink):  # that one counts its deliveries
                    self.sent[(sink.name, alert.status)] += 1
            except SinkError as exc:
                self.failures[sink.name] += 1
                logger.error("sink=%s failed for %s %s: %s", sink.name, alert.status,
                             alert.fingerprint, exc)
        logger.info("alert %s fingerprint=%s metric=%s value=%s", alert.status,
                    alert.fingerprint, alert.metric, alert.value)
        return True

    def _remember(self, alert: Alert) -> None:
        self.last[alert.fingerprint] = alert
        self.last.move_to_end(alert.fingerprint)
        while len(self.last) > self.capacity:
            self.last.popitem(last=False)
        if alert.status == "firing":
            self.firing[alert.fingerprint] = alert
        else:
            self.firing.pop(alert.fingerprint, None)
        self.recent.appendleft(alert)

    def failed(self, sink: str, alert: Alert, exc: Exception) -> None:
        """Failure hook for sinks running in the background: they gave up on ``alert``."""
        self.failures[sink] += 1

    def delivered(self) -> Counter[tuple[str, str]]:
        """Alert changes each sink delivered (acknowledged), by sink and status."""
        out = Counter(self.sent)
        for sink, counts in self._background():
            out.update({(sink, status): n for status, n in counts.delivered.items()})
        return out

    def retried(self) -> dict[str, int]:
        """Failed attempts queued again, by sink."""
        return {sink: counts.retried for sink, counts in self._background()}

    def dropped(self) -> Counter[tuple[str, str]]:
        """Alerts a sink abandoned without giving up on them, by sink and reason."""
        out: Counter[tuple[str, str]] = Counter()
        for sink, counts in self._background():
            out.update({(sink, reason): n for reason, n in counts.dropped.items()})
        return out

    def _background(self) -> Iterator[tuple[str, DeliveryCounts]]:
        for sink in self.sinks:
            if isinstance(sink, BackgroundSink):
                yield sink.name, sink.counts()

    def close(self) -> None:
        for sink in self.sinks:
            sink.close()


__all__ = ["Dispatcher", "latest_by_fingerprint"]
