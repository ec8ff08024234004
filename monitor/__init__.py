"""The monitor: rolling metrics with delayed labels, a label-free performance estimate,
data / prediction / concept drift, alert rules with hysteresis and de-duplication,
alert sinks, Prometheus exposition and an ops page.

Everything here but :mod:`monitor.service` is pure and imports no Kafka client.
"""

from monitor.alerts import fingerprint, to_alert
from monitor.concept import DETECTORS, DriftDetector, ErrorWatch, Strided, make_detector
from monitor.config import MonitorConfig, WindowConfig, load_config, parse_config
from monitor.core import Monitor
from monitor.dispatch import Dispatcher, latest_by_fingerprint
from monitor.engine import RuleEngine, RuleState, Transition
from monitor.estimate import Calibration, ScoreTable, estimate
from monitor.exceptions import MonitorError, RulesError, SinkError
from monitor.http_sinks import AlertmanagerSink, WebhookSink
from monitor.labeled_window import LabeledWindow
from monitor.pipeline import MonitorPipeline, collapse
from monitor.records import LabeledOutcome
from monitor.reference import Registry
from monitor.report import Scope, WindowReport
from monitor.rules import Rule, Verdict, judge, parse_rule
from monitor.sinks import AlertSink, BackgroundSink, KafkaSink, MemorySink
from monitor.windows import WindowClock

__all__ = [
    "DETECTORS",
    "AlertSink",
    "AlertmanagerSink",
    "BackgroundSink",
    "Calibration",
    "Dispatcher",
    "DriftDetector",
    "ErrorWatch",
    "KafkaSink",
    "LabeledOutcome",
    "LabeledWindow",
    "MemorySink",
    "Monitor",
    "MonitorConfig",
    "MonitorError",
    "MonitorPipeline",
    "Registry",
    "Rule",
    "RuleEngine",
    "RuleState",
    "RulesError",
    "ScoreTable",
    "Scope",
    "SinkError",
    "Strided",
    "Transition",
    "Verdict",
    "WebhookSink",
    "WindowClock",
    "WindowConfig",
    "WindowReport",
    "collapse",
    "estimate",
    "fingerprint",
    "judge",
    "latest_by_fingerprint",
    "load_config",
    "make_detector",
    "parse_config",
    "parse_rule",
    "to_alert",
]
