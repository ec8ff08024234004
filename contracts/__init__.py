"""The event contract, topic names, settings and Kafka client plumbing every role shares."""

from contracts.change_point import ChangePoint, change_point_details, change_point_of
from contracts.decoding import REASON_CODES, RecordDecoder, Rejection, decode_event
from contracts.exceptions import ContractError, SettingsError, StreamMLError, TopicMismatchError
from contracts.kafka_clients import KafkaRecord
from contracts.records import (
    SCHEMA_VERSION,
    Alert,
    DeadLetter,
    Deployment,
    Label,
    LabeledEvent,
    ModelVersion,
    Prediction,
    TopicRange,
    UserEvent,
)
from contracts.settings import Secret, Settings
from contracts.topics import ALL_TOPICS, Topics, TopicSpec

__all__ = [
    "ALL_TOPICS",
    "REASON_CODES",
    "SCHEMA_VERSION",
    "Alert",
    "ChangePoint",
    "ContractError",
    "DeadLetter",
    "Deployment",
    "KafkaRecord",
    "Label",
    "LabeledEvent",
    "ModelVersion",
    "Prediction",
    "RecordDecoder",
    "Rejection",
    "Secret",
    "Settings",
    "SettingsError",
    "StreamMLError",
    "TopicMismatchError",
    "TopicRange",
    "TopicSpec",
    "Topics",
    "UserEvent",
    "change_point_details",
    "change_point_of",
    "decode_event",
]
