"""The pure monitor over the records a running monitor read, and its alerts beside the service's.

What :class:`monitor.pipeline.MonitorPipeline` decides depends on the order of each data
topic, and for two rules on how the topics interleave: ``labels-missing`` counts the
labels a prediction window saw arrive, and ``estimated-performance-drop`` rescales the
scores with the calibration the labeled windows held when the prediction window closed.
The service's interleaving is whatever its consumer fetched, so those two rules are
left out; every other rule judges windows cut from one topic alone. Within a topic the
order is a partition's order, so the tests that compare give their topics one partition.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable

import msgspec

from contracts.change_point import change_point_of
from contracts.kafka_clients import KafkaRecord
from contracts.records import Alert
from contracts.settings import Settings
from contracts.topics import Topics
from monitor.config import load_config
from monitor.pipeline import MonitorPipeline
from tests.integration.topic_reader import read_topic


class _Summary(msgspec.Struct):
    """What parity reads of either kind of summary: how many events it holds."""

    events: int


class _Outcomes(msgspec.Struct):
    """What parity reads of an outcomes record: the labeled events it holds."""

    event_ids: list[str]


_SUMMARY = msgspec.json.Decoder(_Summary)
_OUTCOMES = msgspec.json.Decoder(_Outcomes)
INTERLEAVED = frozenset({"labels-missing", "estimated-performance-drop"})


def per_topic_rules() -> frozenset[str]:
    """The shipped rules whose decisions follow from each topic's own order."""
    return frozenset(r.name for r in load_config().rules) - INTERLEAVED


def pure_alerts(settings: Settings, events: int) -> list[Alert]:
    """The alerts MonitorPipeline raises over the topics' records: the registry first (the
    service reads it to its end before any data), then each data topic in its order.

    ``events`` is how many simulated events the topics hold (summaries of up to 100,
    outcomes of a batch's labeled events)."""
    topics = Topics(settings.topic_prefix)
    pipeline = MonitorPipeline(load_config(), model=settings.model_name, topics=topics)
    alerts: list[Alert] = []
    for record in read_topic(settings, topics.model_versions):
        alerts += pipeline.apply_registry(record.key, record.value)
    for topic, holds in ((topics.feature_summaries, _summarised),
                         (topics.prediction_summaries, _summarised),
                         (topics.labeled_outcomes, _labeled)):
        records = read_topic(settings, topic,
                             until=lambda rs, holds=holds: holds(rs) >= events)
        assert len({r.partition for r in records}) == 1, "parity needs one partition a topic"
        alerts += pipeline.process(sorted(records, key=lambda r: r.offset))
    return alerts


def _summarised(records: list[KafkaRecord]) -> int:
    return sum(_SUMMARY.decode(r.value).events for r in records if r.value is not None)


def _labeled(records: list[KafkaRecord]) -> int:
    return sum(len(_OUTCOMES.decode(r.value).event_ids) for r in records if r.value is not None)


def _rule(alert: Alert) -> str:
    return str(msgspec.json.decode(alert.details["rule"])["name"])


def _detail(alert: Alert, key: str) -> object:
    raw = alert.details.get(key)
    return msgspec.json.decode(raw) if raw is not None else None


def decisions(alerts: Iterable[Alert], rules: frozenset[str]) \
        -> dict[str, list[tuple[object, ...]]]:
    """Each alert's changes, in order: everything a decision fixes but its float values
    (``started_at`` is the wall clock of whoever decided, so it is left out)."""
    out: dict[str, list[tuple[object, ...]]] = defaultdict(list)
    for a in alerts:
        if a.details.get("rule") is None or _rule(a) not in rules:
            continue
        out[a.fingerprint].append((
            a.kind, _rule(a), a.status, a.version, a.metric, a.threshold, a.window,
            _detail(a, "window_end"), _detail(a, "drifted_features"), change_point_of(a)))
    return dict(out)


def values(alerts: Iterable[Alert], rules: frozenset[str]) -> dict[str, list[float]]:
    """Each alert's metric values in order (NaN for none), the one it fired on for a resolve."""
    out: dict[str, list[float]] = defaultdict(list)
    for a in alerts:
        if a.details.get("rule") is None or _rule(a) not in rules:
            continue
        fired_on = _detail(a, "fired_on")
        out[a.fingerprint] += [math.nan if a.value is None else a.value,
                               math.nan if not isinstance(fired_on, float) else fired_on]
    return dict(out)


def assert_same_decisions(service: list[Alert], pure: list[Alert]) -> int:
    """The service's alerts are the pure pipeline's, rule by rule; how many changes matched."""
    rules = per_topic_rules()
    theirs, ours = decisions(service, rules), decisions(pure, rules)
    assert theirs == ours, _difference(theirs, ours)
    for fingerprint, expected in values(pure, rules).items():
        got = values(service, rules)[fingerprint]
        assert all(math.isclose(g, e, rel_tol=1e-9, abs_tol=2e-6) or (math.isnan(g) and
                   math.isnan(e)) for g, e in zip(got, expected, strict=True)), (got, expected)
    return sum(len(v) for v in ours.values())


def _difference(theirs: dict[str, list[tuple[object, ...]]],
                ours: dict[str, list[tuple[object, ...]]]) -> str:
    lines = []
    for fingerprint in sorted(set(theirs) | set(ours)):
        if theirs.get(fingerprint) != ours.get(fingerprint):
            lines.append(f"{fingerprint}:\n  service {theirs.get(fingerprint)}\n"
                         f"  pure    {ours.get(fingerprint)}")
    return "\n".join(lines)


__all__ = ["INTERLEAVED", "assert_same_decisions", "per_topic_rules", "pure_alerts"]
