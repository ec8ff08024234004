"""How a streamml process writes its log lines: text for a terminal, JSON for a collector.

A JSON line is one object whatever the message holds: a newline or a quote in a
value read from a topic (a model name, a reason) cannot start a forged line.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
TEXT_DATE_FORMAT = "%Y-%m-%dT%H:%M:%S%z"


class JsonLines(logging.Formatter):
    """One JSON object a record: ``time`` (UTC, ISO 8601, milliseconds), ``level``,
    ``logger``, ``message``, ``process``, and ``error`` (the traceback) when there is one.

    >>> record = logging.LogRecord("monitor", logging.WARNING, "", 0, 'a "b"\\nc', None, None)
    >>> record.created, record.process = 0.0, 7
    >>> line = json.loads(JsonLines().format(record))
    >>> line["time"], line["level"], line["logger"], line["process"]
    ('1970-01-01T00:00:00.000Z', 'WARNING', 'monitor', 7)
    >>> line["message"]
    'a "b"\\nc'
    """

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
        }
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False)


class _CurrentStderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to ``sys.stderr`` as it is when a line is written, not as it was when the
    handler was made: a command run inside another program (a test capturing its
    output) must not keep writing to a stream closed since."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _: Any) -> None:
        return None


def configure_logging(level: str, log_format: str = "text") -> None:
    """The root logger at ``level``, writing ``log_format`` lines to stderr."""
    handler = _CurrentStderr()
    handler.setFormatter(JsonLines() if log_format == "json"
                         else logging.Formatter(TEXT_FORMAT, TEXT_DATE_FORMAT))
    logging.basicConfig(level=level, handlers=[handler], force=True)


__all__ = ["JsonLines", "TEXT_DATE_FORMAT", "TEXT_FORMAT", "configure_logging"]
