"""``/live``, ``/ready``, ``/metrics``, ``/health`` and ``POST /predict`` of a scoring
worker, either runner, on the project's bounded HTTP server (see
:mod:`contracts.http_server` for its limits)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from contracts.http_server import JSON, MAX_BODY, Answer, Check, HttpServer, Route, probe
from stream_processors.predict_api import predict_response
from stream_processors.serving_state import ServingState

__all__ = ["MAX_BODY", "serve"]


def serve(host: str, port: int, registry: CollectorRegistry,
          state: Callable[[], ServingState], health: Callable[[], dict[str, Any]], *,
          live: Check, ready: Check, token: str | None = None) -> HttpServer:
    """Start serving in a background thread; call ``close()`` on the result to stop.

    With a ``token``, ``/predict`` and ``/health`` need ``Authorization: Bearer <token>``;
    ``/live``, ``/ready`` and ``/metrics`` stay open to probes and scrapers.
    """
    def metrics(_body: bytes) -> Answer:
        return 200, CONTENT_TYPE_LATEST, generate_latest(registry)

    def predict(body: bytes) -> Answer:
        status, answer = predict_response(body, state())
        return status, JSON, answer

    routes = {
        "/live": probe(live),
        "/ready": probe(ready),
        "/metrics": Route(metrics, private=False),
        "/health": Route(lambda _body: (200, JSON, json.dumps(health()).encode())),
        "/predict": Route(predict, method="POST"),
    }
    return HttpServer(host, port, routes, token=token, name="http")
