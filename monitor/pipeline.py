"""Records in, alerts out: the monitor's core, its rules and its history, wired together.

This is everything the service does but talk to Kafka and HTTP, so tests and the
memory benchmark drive it with plain records.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime

from contracts.change_point import change_point_of
from contracts.decoding import JSON_INPUTS, InputDecoders
from contracts.kafka_clients import KafkaRecord
from contracts.records import Alert, LabeledEvent, Prediction, UserEvent
from contracts.topics import Topics
from monitor.alerts import detail, to_alert
from monitor.config import MonitorConfig
from monitor.core import Monitor
from monitor.engine import RuleEngine, utc_now
from monitor.history import History
from monitor.records import LabeledOutcome
from monitor.report import Scope, WindowReport

logger = logging.getLogger(__name__)


class MonitorPipeline:
    """The monitor without its transports.

    Examples
    --------
    >>> from monitor.config import load_config
    >>> pipeline = MonitorPipeline(load_config(), model="conversion")
    >>> pipeline.process([]), len(pipeline.engine.rules) > 5
    ([], True)
    """

    def __init__(self, config: MonitorConfig, *, model: str, topics: Topics | None = None,
                 now: Callable[[], datetime] = utc_now,
                 inputs: InputDecoders = JSON_INPUTS) -> None:
        self.config = config
        self.monitor = Monitor(model=model, windows=config.windows, topics=topics,
                               detectors=config.detectors, inputs=inputs)
        self.engine = RuleEngine(config.rules, now=now)
        self.history = History(points=config.windows.history)
        self.windows_closed = 0
        self._restored: set[str] = set()  # fingerprints restored as firing, until replayed

    def process(self, records: Sequence[KafkaRecord]) -> list[Alert]:
        """Add a batch of records of the three data topics; the alerts that changed."""
        return self._judge(self.monitor.ingest(records))

    def process_values(self, by_topic: Mapping[str, list[bytes | None]], *,
                       labeled_positions: tuple[Sequence[int], Sequence[int]] | None = None) \
            -> list[Alert]:
        """As :meth:`process`, for message values already listed by topic (and the
        partitions and offsets of the ``labeled-events`` values, where known)."""
        return self._judge(self.monitor.ingest_values(by_topic,
                                                      labeled_positions=labeled_positions))

    def add(self, *, predictions: Sequence[Prediction] = (),
            labeled: Sequence[LabeledEvent | LabeledOutcome] = (),
            events: Sequence[UserEvent] = ()) -> list[Alert]:
        """Add decoded records (tests and benchmarks feed these directly)."""
        reports = self.monitor.add_labeled(labeled)
        reports += self.monitor.add_predictions(predictions)
        reports += self.monitor.add_events(events)
        return self._judge(reports)

    def apply_registry(self, key: bytes | None, value: bytes | None) -> list[Alert]:
        self.monitor.apply_registry(key, value)
        return self._judge([])

    def _judge(self, reports: list[WindowReport]) -> list[Alert]:
        self.history.add_all(reports)
        transitions = self.engine.evaluate_all(reports)
        self.windows_closed += len(reports)
        retired = self.monitor.take_retired()
        for scope in retired:
            transitions += self.engine.retire(scope)
        self.history.forget(retired)
        return [to_alert(t) for t in transitions]

    def owns(self, alert: Alert) -> bool:
        """Whether ``alert`` came from one of this monitor's rules (others share the topic)."""
        rule = detail(alert, "rule")
        return alert.model == self.monitor.model and isinstance(rule, dict) \
            and rule.get("name") in {r.name for r in self.engine.rules}

    def restore(self, alerts: Iterable[Alert]) -> int:
        """Take the firing alerts of a previous run as firing; how many were restored."""
        restored = 0
        for alert in alerts:
            rule, route = detail(alert, "rule"), detail(alert, "route")
            if alert.status != "firing" or not isinstance(rule, dict) or alert.version is None:
                continue
            scope = Scope(alert.model, alert.version, str(route or "champion"))
            if self.engine.restore(str(rule.get("name")), scope, alert.started_at, alert.window,
                                   change_point_of(alert)):
                self._restored.add(alert.fingerprint)
                restored += 1
        return restored

    def end_replay(self, changes: Iterable[Alert]) -> list[Alert]:
        """The changes a replay after :meth:`restore` made, net, that are news to send.

        A restored alert that resolved and fired again within the replay is the alert
        already sent, still firing: its start and change point stay those it was sent
        with, and nothing is sent for it.
        """
        restored, self._restored = self._restored, set()
        self.engine.end_replay()
        return [a for a in collapse(changes)
                if not (a.status == "firing" and a.fingerprint in restored)]


def collapse(alerts: Iterable[Alert]) -> list[Alert]:
    """Only the last change of each alert, in order: replaying a tail sends no old news.

    >>> from monitor.testing import sample_alert
    >>> [a.status for a in collapse([sample_alert("firing"), sample_alert("resolved")])]
    ['resolved']
    """
    last: dict[str, Alert] = {}
    for alert in alerts:
        last.pop(alert.fingerprint, None)
        last[alert.fingerprint] = alert
    return list(last.values())


__all__ = ["MonitorPipeline", "collapse"]
