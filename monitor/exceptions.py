"""Errors the monitor raises on purpose."""

from __future__ import annotations

from contracts.exceptions import StreamMLError


class MonitorError(StreamMLError):
    """Base class of the monitor's errors."""


class RulesError(MonitorError, ValueError):
    """An alert-rules file cannot be used; the message names the rule and what is allowed."""


class SinkError(MonitorError):
    """An alert could not be delivered to one sink; trying again will not help."""


class RetryableSinkError(SinkError):
    """A delivery failed for a reason that may pass (refused connection, 5xx, 429).

    ``retry_after`` is the wait the receiver asked for, in seconds (0 when it did not).
    """

    def __init__(self, message: str, *, retry_after: float = 0.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


__all__ = ["MonitorError", "RetryableSinkError", "RulesError", "SinkError"]
