"""STREAMML_LOG_FORMAT=json: one JSON object a line, whatever a message holds."""

from __future__ import annotations

import io
import json
import logging
import sys

import pytest

from contracts.exceptions import StreamMLError
from contracts.settings import Settings
from streamml.cli.log_lines import configure_logging


@pytest.fixture(autouse=True)
def _restore_root_logger():
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:], root.level = handlers, level


def test_every_record_is_one_parsable_line_even_with_forged_newlines_and_a_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("INFO", "json")
    log = logging.getLogger("retrainer.loop")
    # A model name read from a topic, trying to start a line of its own.
    log.warning("refused version of %s", 'm\n{"level": "INFO", "message": "all clear"}')
    try:
        raise ValueError("bad window")
    except ValueError:
        log.exception("round failed")
    log.debug("not at INFO")
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first["level"] == "WARNING" and first["logger"] == "retrainer.loop"
    assert first["message"].endswith('"message": "all clear"}')
    assert first["time"].endswith("Z")
    assert second["message"] == "round failed"
    assert "ValueError: bad window" in second["error"]


def test_text_stays_the_default(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(Settings().log_level, Settings().log_format)
    logging.getLogger("monitor").info("window judged")
    err = capsys.readouterr().err
    assert " INFO monitor window judged" in err and not err.startswith("{")


def test_the_setting_takes_either_case_and_names_its_choices() -> None:
    assert Settings.from_mapping({"STREAMML_LOG_FORMAT": "JSON"}).log_format == "json"
    with pytest.raises(StreamMLError, match="text, json|text.*json"):
        Settings.from_mapping({"STREAMML_LOG_FORMAT": "xml"})


def test_lines_go_to_stderr_as_it_is_when_written(monkeypatch: pytest.MonkeyPatch) -> None:
    made_under = io.StringIO()
    monkeypatch.setattr(sys, "stderr", made_under)
    configure_logging("INFO")
    made_under.close()  # a caller's capture, over before the next line is logged
    now = io.StringIO()
    monkeypatch.setattr(sys, "stderr", now)

    logging.getLogger("scorer.training").info("trained")

    assert now.getvalue().rstrip().endswith("INFO scorer.training trained")
