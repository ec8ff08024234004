"""The monitor's HTTP server: ``/`` (ops page), ``/metrics``, ``/health``, ``/runbooks``,
``/live`` and ``/ready``.

The project's bounded HTTP server (:mod:`contracts.http_server`) in a background thread:
the consumer loop is synchronous, and pages only read the state under its lock, on the
server's few worker threads, so a page waiting for the lock never holds up a probe.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from html import escape
from importlib.resources import files
from urllib.parse import parse_qsl

from prometheus_client import CONTENT_TYPE_LATEST

from contracts.http_server import Check, HttpServer, Route, probe

Page = Callable[[], tuple[int, str, bytes]]
QueryPage = Callable[[Mapping[str, str]], tuple[int, str, bytes]]

# Open without the bearer token: probes and the Prometheus scraper carry none.
PUBLIC = frozenset({"/metrics"})


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
    """Serves the given pages and probes on ``host:port`` from a background thread.

    With a ``token``, every page but ``/metrics`` needs ``Authorization: Bearer <token>``;
    probes are always open.

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

    def __init__(self, host: str, port: int, pages: Mapping[str, Page], *,
                 probes: Mapping[str, Check] | None = None, token: str | None = None,
                 queried: Mapping[str, QueryPage] | None = None) -> None:
        routes = {path: Route(_ignoring_body(page), private=path not in PUBLIC)
                  for path, page in pages.items()}
        routes.update({path: Route(_query_of(page), query=True)
                       for path, page in (queried or {}).items()})
        routes.update({path: probe(check) for path, check in (probes or {}).items()})
        self._server = HttpServer(host, port, routes, token=token, name="monitor-web")
        self.port = self._server.port

    def close(self) -> None:
        self._server.close()


def _ignoring_body(page: Page) -> Callable[[bytes], tuple[int, str, bytes]]:
    return lambda _body: page()


def _query_of(page: QueryPage) -> Callable[[bytes], tuple[int, str, bytes]]:
    """The page given its query's parameters (the last value of each; at most 16)."""
    def answer(query: bytes) -> tuple[int, str, bytes]:
        try:
            pairs = parse_qsl(query.decode("utf-8", "replace"), max_num_fields=16)
        except ValueError:
            return 400, "application/json", b'{"error": "more than 16 query parameters"}'
        return page(dict(pairs))
    return answer


def json_page(payload: Callable[[], tuple[int, dict[str, object]]]) -> Page:
    def page() -> tuple[int, str, bytes]:
        status, body = payload()
        return status, "application/json", json.dumps(body).encode()
    return page


METRICS_CONTENT_TYPE = CONTENT_TYPE_LATEST

__all__ = ["METRICS_CONTENT_TYPE", "Page", "WebServer", "json_page", "runbooks_page"]
