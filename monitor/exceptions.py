"""Errors the monitor raises on purpose."""

from __future__ import annotations

from contracts.exceptions import StreamMLError


class MonitorError(StreamMLError):
    """Base class of the monitor's errors."""


class RulesError(MonitorError, ValueError):
    """An alert-rules file cannot be used; the message names the rule and what is allowed."""


class SinkError(MonitorError):
    """An alert could not be delivered to one sink (after its retries)."""


__all__ = ["MonitorError", "RulesError", "SinkError"]
