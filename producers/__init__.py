"""What feeds streamml: the SDK applications send with, the simulator, file replay."""

from producers.delivery import DeliveryFailure, DeliveryReport, ProducerClient
from producers.exceptions import DeliveryError, InvalidRecordError, ReplayError, SimulatorError
from producers.memory import InMemoryClient, SentMessage
from producers.population import CATEGORICAL_FEATURES, FEATURES, NUMERIC_FEATURES
from producers.replay import ColumnMap, RejectedRows, ReplayRecord, ReplayReport, read_records
from producers.scenarios import SCENARIOS, Scenario, drift_weight
from producers.sdk import EventProducer, LabelProducer
from producers.sending import Pacer, SendCounts, send_stream
from producers.simulator import Batch, SimulatedEvent, Simulator, with_labels
from producers.validation import check_event, check_label, make_event, make_label

__all__ = [
    "CATEGORICAL_FEATURES",
    "FEATURES",
    "NUMERIC_FEATURES",
    "SCENARIOS",
    "Batch",
    "ColumnMap",
    "DeliveryError",
    "DeliveryFailure",
    "DeliveryReport",
    "EventProducer",
    "InMemoryClient",
    "InvalidRecordError",
    "LabelProducer",
    "Pacer",
    "ProducerClient",
    "RejectedRows",
    "ReplayError",
    "ReplayRecord",
    "ReplayReport",
    "Scenario",
    "SendCounts",
    "SentMessage",
    "SimulatedEvent",
    "Simulator",
    "SimulatorError",
    "check_event",
    "check_label",
    "drift_weight",
    "make_event",
    "make_label",
    "read_records",
    "send_stream",
    "with_labels",
]
