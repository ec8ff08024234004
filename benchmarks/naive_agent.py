"""The baseline the scoring processor is measured against: a faust agent that decodes
each event and calls ``Pipeline.predict_proba`` on it alone, as a per-request
endpoint would. Run by ``benchmarks.scoring_throughput`` as a child process.

    python -m benchmarks.naive_agent ARTIFACT_FILE PRIVATE_KEY
"""

from __future__ import annotations

import base64
import hashlib
import os
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

from contracts.decoding import decode_event
from contracts.records import Prediction, UserEvent
from contracts.settings import Settings
from contracts.topics import Topics
from scorer.artifact import load_artifact
from scorer.preprocessing import vectorise
from scorer.signing import Signer
from stream_processors.faust_runner import build_faust_app, raw_topic, run_worker


def main(argv: list[str]) -> int:
    artifact_path, signer = Path(argv[0]), Signer.from_raw(base64.b64decode(argv[1]))
    data = artifact_path.read_bytes()
    bundle = load_artifact(data, hashlib.sha256(data).hexdigest(), signer.sign_bytes(data),
                           signer.trusted(), key_id=signer.key_id)
    settings = Settings.from_mapping(os.environ)
    topics = Topics(settings.topic_prefix)
    app = build_faust_app("naive", settings, web_port=settings.scoring_port,
                          datadir=Path(tempfile.mkdtemp()))
    events = raw_topic(app, topics.user_events)
    predictions = raw_topic(app, topics.predictions)
    encoder = msgspec.json.Encoder()

    @app.agent(events, concurrency=1)
    async def score(stream: Any) -> None:
        async for raw in stream:
            event = decode_event(raw)
            if not isinstance(event, UserEvent):
                continue
            score = float(bundle.pipeline.predict_proba(vectorise(bundle.schema,
                                                                  [event.features]))[0, 1])
            await predictions.send(key=event.user_id.encode(), value=encoder.encode(Prediction(
                event_id=event.event_id, user_id=event.user_id, ts=event.ts,
                model=bundle.model, version=bundle.version, route="champion", score=score,
                decision=int(score >= bundle.threshold), scored_at=datetime.now(UTC))))

    run_worker(app, "WARNING")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
