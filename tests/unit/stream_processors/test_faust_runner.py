"""The faust runner's app settings."""

from __future__ import annotations

from contracts.settings import Settings
from stream_processors.faust_runner import faust_config


def test_faust_apps_take_the_same_session_timeout() -> None:
    default = faust_config(Settings())
    long = faust_config(Settings(session_timeout_s=300))

    assert (default["broker_session_timeout"], default["broker_heartbeat_interval"]) == (45.0, 3.0)
    assert default["broker_request_timeout"] == 90.0
    # faust refuses a session timeout above its request timeout.
    assert long["broker_request_timeout"] > long["broker_session_timeout"] == 300.0
