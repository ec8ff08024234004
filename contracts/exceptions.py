"""The root of every error streamml raises on purpose."""


class StreamMLError(Exception):
    """Base class of the project's own errors, so callers can catch them all at once."""


class SettingsError(StreamMLError, ValueError):
    """A setting is missing or malformed; the message names the variable and what it accepts."""


class ContractError(StreamMLError, ValueError):
    """A record does not follow the contract of its topic."""


class TopicMismatchError(StreamMLError):
    """A topic exists with a layout other than the configured one."""
