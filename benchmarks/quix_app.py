"""The peer rows: a Quix Streams application on the same events and broker.

``ceiling`` forwards each event's bytes to the output topic (the engine's limit);
``scoring`` decodes each event, scores it with the same compiled model the scoring
processor uses and sends the same prediction record. Quix Streams hands an
application one message at a time, so each event is scored alone. Run by
``benchmarks.suite`` as a child process, with the interpreter of
:mod:`benchmarks.quix_env` (Quix Streams pins an older confluent-kafka than streamml).

    python -m benchmarks.quix_app ceiling|scoring [ARTIFACT_FILE PRIVATE_KEY]
"""

from __future__ import annotations

import base64
import hashlib
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
from quixstreams import Application

from contracts.decoding import decode_event
from contracts.records import Prediction, UserEvent
from contracts.settings import Settings
from contracts.topics import Topics
from scorer.artifact import load_artifact
from scorer.signing import Signer


def main(argv: list[str]) -> int:
    settings = Settings.from_mapping(os.environ)
    topics = Topics(settings.topic_prefix)
    app = Application(broker_address=settings.bootstrap_servers,
                      consumer_group=f"{settings.group_prefix}.quix-{argv[0]}",
                      auto_offset_reset="earliest", auto_create_topics=False,
                      loglevel="WARNING")
    source = app.topic(topics.user_events, key_deserializer="bytes",
                       value_deserializer="bytes")
    target = app.topic(topics.predictions, key_serializer="bytes", value_serializer="bytes")
    frame = app.dataframe(source)
    if argv[0] == "scoring":
        frame = frame.apply(scorer(Path(argv[1]), argv[2])).filter(lambda v: v is not None)
    frame.to_topic(target)
    app.run()
    return 0


def scorer(artifact_path: Path, key: str) -> Any:
    signer = Signer.from_raw(base64.b64decode(key))
    data = artifact_path.read_bytes()
    bundle = load_artifact(data, hashlib.sha256(data).hexdigest(), signer.sign_bytes(data),
                           signer.trusted(), key_id=signer.key_id)
    compiled = bundle.compiled
    if compiled is None:
        raise SystemExit("the benchmark's model does not compile")
    encode = msgspec.json.Encoder().encode

    def score(raw: bytes) -> bytes | None:
        event = decode_event(raw)
        if not isinstance(event, UserEvent):
            return None
        value = float(compiled.scores([event.features])[0])
        return encode(Prediction(
            event_id=event.event_id, user_id=event.user_id, ts=event.ts, model=bundle.model,
            version=bundle.version, route="champion", score=value,
            decision=int(value >= bundle.threshold), scored_at=datetime.now(UTC)))

    return score


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
