"""The limit of the engine: a faust agent that forwards each event's raw bytes to the
output topic, no decoding, no model. Same app settings (and garbage-collector policy)
as the scoring processor's faust runner. Each event is sent with ``Topic.send_soon``,
which here forwarded 1.5-2x as many events a second as ``await Topic.send``. Run by
``benchmarks.suite`` as a child process.

    python -m benchmarks.faust_ceiling
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from contracts.settings import Settings
from contracts.topics import Topics
from stream_processors.faust_runner import build_faust_app, raw_topic, run_worker
from stream_processors.gc_policy import quiet_garbage_collector


def main() -> int:
    settings = Settings.from_mapping(os.environ)
    topics = Topics(settings.topic_prefix)
    app = build_faust_app("faust-ceiling", settings, web_port=settings.scoring_port,
                          datadir=Path(tempfile.mkdtemp(prefix="faust-ceiling-")))
    events = raw_topic(app, topics.user_events)
    outputs = raw_topic(app, topics.predictions)

    @app.agent(events, concurrency=1)
    async def forward(stream: Any) -> None:
        quiet_garbage_collector()
        async for event in stream.events():
            outputs.send_soon(key=event.key, value=event.value)

    run_worker(app, "WARNING")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
