"""Errors of the retrainer and of deployment changes."""

from contracts.exceptions import StreamMLError


class RetrainerError(StreamMLError):
    """Something the retrainer cannot do; the message says what to change."""


class LifecycleError(RetrainerError, ValueError):
    """A deployment change that is not allowed (unknown version, nothing to roll back to...)."""


__all__ = ["LifecycleError", "RetrainerError"]
