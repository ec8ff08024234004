"""A faust worker whose agent holds a ``slow`` event until released, for faust #606.

Run as ``python tests/faults/inflight_app.py`` with the settings' ``STREAMML_*``
variables and ``INFLIGHT_TOPIC``, ``INFLIGHT_CONCURRENCY``, ``INFLIGHT_PORT``,
``INFLIGHT_DIR``. It writes ``start <offset>`` and ``done <offset>`` lines to
``INFLIGHT_DIR/trail`` and holds the ``slow`` event until ``INFLIGHT_DIR/release``
exists. The app is built like the scoring app (``build_faust_app``), with commits
every 0.2 s so the test needs no long waits.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from contracts.settings import Settings
from stream_processors.faust_runner import build_faust_app, raw_topic, run_worker

COMMIT_INTERVAL_S = 0.2


def main() -> None:
    settings = Settings.from_mapping(os.environ)
    directory = Path(os.environ["INFLIGHT_DIR"])
    trail, release = directory / "trail", directory / "release"
    app = build_faust_app("inflight", settings, web_port=int(os.environ["INFLIGHT_PORT"]),
                          datadir=directory / "data", broker_commit_interval=COMMIT_INTERVAL_S)
    concurrency = int(os.environ["INFLIGHT_CONCURRENCY"])

    def note(line: str) -> None:
        with trail.open("a") as out:
            out.write(line + "\n")

    @app.agent(raw_topic(app, os.environ["INFLIGHT_TOPIC"]), concurrency=concurrency)
    async def handle(stream: Any) -> None:
        async for event in stream.events():
            offset = event.message.offset
            note(f"start {offset}")
            while event.value == b"slow" and not release.exists():
                await asyncio.sleep(0.05)
            note(f"done {offset}")

    run_worker(app, "INFO")


if __name__ == "__main__":
    main()
