"""``/metrics``, ``/health`` and ``POST /predict`` on a small threaded HTTP server, for the
runner that has no faust web server."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from stream_processors.predict_api import predict_response
from stream_processors.serving_state import ServingState

logger = logging.getLogger(__name__)

MAX_BODY = 64 * 1024


def serve(host: str, port: int, registry: CollectorRegistry,
          state: Callable[[], ServingState], health: Callable[[], dict[str, Any]]
          ) -> ThreadingHTTPServer:
    """Start serving in a daemon thread; call ``shutdown()`` on the result to stop."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
            if self.path == "/metrics":
                self._send(200, generate_latest(registry), CONTENT_TYPE_LATEST)
            elif self.path == "/health":
                self._send(200, json.dumps(health()).encode(), "application/json")
            else:
                self._send(404, b'{"error": "not found"}', "application/json")

        def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
            if self.path != "/predict":
                self._send(404, b'{"error": "not found"}', "application/json")
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self._send(413, b'{"error": "the body is larger than 64 KiB"}',
                           "application/json")
                return
            status, body = predict_response(self.rfile.read(length), state())
            self._send(status, body, "application/json")

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            logger.debug("http %s", format % args)

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
    return server
