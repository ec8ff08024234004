"""The monitor's pages as a browser gets them: a strict Content-Security-Policy and no link
an alert record can turn into script.

Alert records are anyone's to write who can produce to ``alerts``; the ops page renders
their runbook. The monitor's real server and page renderer run in this process with no
broker; a user checks the response headers and the ``href`` of each runbook link.
"""

from __future__ import annotations

import re
import urllib.request
from collections.abc import Iterator
from email.message import Message

import pytest

from contracts.http_server import CSP
from contracts.topics import Topics
from monitor.config import load_config
from monitor.dispatch import Dispatcher
from monitor.page import render
from monitor.pipeline import MonitorPipeline
from monitor.sinks import MemorySink
from monitor.testing import sample_alert
from monitor.web import WebServer, runbooks_page

RUNBOOKS = {
    "a": "javascript:alert(1)",
    "b": " JavaScript:alert(document.cookie)",
    "c": "data:text/html,<script>alert(1)</script>",
    "d": "//evil.example/phish",
    "e": "/\\evil.example",
    "f": "java\tscript:alert(1)",
    "g": "https://wiki.example/runbooks#feature-drift",
    "h": "/runbooks#feature-drift",
}


@pytest.fixture
def ops_page() -> Iterator[str]:
    pipeline = MonitorPipeline(load_config(None), model="conversion", topics=Topics(""))
    dispatcher = Dispatcher([MemorySink()])
    for fingerprint, runbook in RUNBOOKS.items():
        dispatcher.publish(sample_alert("firing", fingerprint=fingerprint, runbook=runbook))

    def page() -> tuple[int, str, bytes]:
        return 200, "text/html; charset=utf-8", render(pipeline, dispatcher).encode()

    server = WebServer("127.0.0.1", 0, {"/": page, "/runbooks": runbooks_page})
    yield f"http://127.0.0.1:{server.port}"
    server.close()


def get(url: str) -> tuple[Message, str]:
    with urllib.request.urlopen(url, timeout=5) as reply:  # noqa: S310 - a local test server
        return reply.headers, reply.read().decode()


def test_a_forged_runbook_is_shown_as_text_never_as_a_link(ops_page: str) -> None:
    """Only the http(s) and the same-server runbooks become links; the others are text."""
    _, html = get(ops_page + "/")

    hrefs = re.findall(r'href="([^"]*)"', html)
    assert sorted(hrefs) == ["/runbooks#feature-drift",
                             "https://wiki.example/runbooks#feature-drift"]
    assert "javascript:alert(1)</code>" in html  # still shown, so on-call sees the forgery
    assert "<script>" not in html


@pytest.mark.parametrize("path", ["/", "/runbooks"])
def test_every_html_page_sends_a_strict_policy(ops_page: str, path: str) -> None:
    """No script, frame, form or foreign resource may run even if markup got through."""
    headers, _ = get(ops_page + path)

    assert headers["Content-Type"].startswith("text/html")
    assert headers["Content-Security-Policy"] == CSP
    assert "default-src 'none'" in CSP and "script-src" not in CSP
    assert "frame-ancestors 'none'" in CSP
    assert headers["X-Content-Type-Options"] == "nosniff"
