"""Errors the producers raise on purpose."""

from __future__ import annotations

from typing import TYPE_CHECKING

from contracts.decoding import Rejection
from contracts.exceptions import ContractError, StreamMLError

if TYPE_CHECKING:
    from producers.delivery import DeliveryReport


class InvalidRecordError(ContractError):
    """A record was refused before sending; ``rejection`` holds the reason code and message."""

    def __init__(self, rejection: Rejection) -> None:
        super().__init__(rejection.message)
        self.rejection = rejection


class DeliveryError(StreamMLError):
    """Some records were not acknowledged by Kafka; ``report`` says which and why."""

    def __init__(self, report: DeliveryReport) -> None:
        super().__init__(report.summary())
        self.report = report


class SimulatorError(StreamMLError, ValueError):
    """A simulation was asked for with a value it cannot use; the message lists what works."""


class ReplayError(StreamMLError, ValueError):
    """A whole file cannot be replayed (unknown format, missing header or column)."""
