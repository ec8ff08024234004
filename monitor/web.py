"""The monitor's HTTP server: ``/`` (ops page), ``/metrics``, ``/health``, ``/runbooks``.

The standard library's threading server in a daemon thread: the consumer loop is
synchronous, pages are rare, and the handlers only read the state under its lock.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.resources import files

from prometheus_client import CONTENT_TYPE_LATEST

logger = logging.getLogger(__name__)

Page = Callable[[], tuple[int, str, bytes]]


def runbooks_page() -> tuple[int, str, bytes]:
    """The runbooks shipped with the rules; each ``## name`` is an anchor alerts link to."""
    text = files("monitor").joinpath("runbooks.md").read_text(encoding="utf-8")
    parts = ['<!doctype html><meta charset=utf-8><meta name=viewport '
             'content="width=device-width,initial-scale=1"><title>runbooks</title>'
             '<body style="font:15px/1.4 system-ui,sans-serif;max-width:50em;margin:auto">']
    for block in text.split("\n\n"):
        head, _, rest = block.partition("\n")
        if head.startswith("## "):
            name = escape(head[3:].strip())
            parts.append(f'<h2 id="{name}">{name}</h2>')
        elif head.startswith("# "):
            parts.append(f"<h1>{escape(head[2:].strip())}</h1>")
        else:
            rest = block
        if rest.strip():
            parts.append(f"<p>{escape(rest)}</p>".replace("\n", "<br>"))
    return 200, "text/html; charset=utf-8", "".join(parts).encode()


class WebServer:
    """Serves the given pages on ``host:port`` from a daemon thread.

    Examples
    --------
    >>> from monitor.web import WebServer
    >>> import urllib.request
    >>> server = WebServer("127.0.0.1", 0, {"/health": lambda: (200, "text/plain", b"ok")})
    >>> with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/health") as r:
    ...     r.read()
    b'ok'
    >>> server.close()
    """

    def __init__(self, host: str, port: int, pages: dict[str, Page]) -> None:
        handler = _handler(pages)
        self.httpd = ThreadingHTTPServer((host, port), handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="monitor-web",
                                        daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _handler(pages: dict[str, Page]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
            page = pages.get(self.path.split("?", 1)[0].split("#", 1)[0])
            if page is None:
                self._reply(404, "text/plain; charset=utf-8", b"not found\n")
                return
            try:
                status, content_type, body = page()
            except Exception:  # a broken page must not take the server down
                logger.exception("page %s failed", self.path)
                status, content_type, body = 500, "text/plain; charset=utf-8", b"error\n"
            self._reply(status, content_type, body)

        def _reply(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            logger.debug("http %s", format % args)

    return Handler


def json_page(payload: Callable[[], tuple[int, dict[str, object]]]) -> Page:
    def page() -> tuple[int, str, bytes]:
        status, body = payload()
        return status, "application/json", json.dumps(body).encode()
    return page


METRICS_CONTENT_TYPE = CONTENT_TYPE_LATEST

__all__ = ["METRICS_CONTENT_TYPE", "Page", "WebServer", "json_page", "runbooks_page"]
