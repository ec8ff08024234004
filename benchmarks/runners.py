"""The processes compared, each started as a child on its own topics: the ceilings, the
naive agent and the scoring processor on either runner."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Final

from benchmarks import quix_env
from contracts.settings import Settings
from scorer.artifact import SignedArtifact
from streamml.broker import single_node

# A fixed test key pair, never a deployment's: the benchmark's records are signed with it.
KEY: Final = "j0ZyO5mEpa7VkXcfmXRc1yQ3Ymc1Jpt3DDS4zlzfLKM="
ALERT_KEY: Final = "aO/0CETXhygHI4mgC2/FITxDlDt3X1fBFLSaIePYusA="
# The kafka runner with STREAMML_EXPLAIN_TOP_K=3: what explanations cost on the stream.
EXPLAINED: Final = "streamml-kafka-explain3"
# The kafka runner writing no feature summaries (STREAMML_MONITOR_SOURCE=records): what
# the summaries cost the processor.
UNSUMMARISED: Final = "streamml-kafka-no-summaries"
# The kafka runner serving a scikit-learn pipeline imported from skops, and from ONNX.
IMPORTED: Final = {"streamml-kafka-imported": "skops", "streamml-kafka-onnx": "onnx"}
QUIX_ROWS: Final = ("quix-ceiling", "quix-scoring")
# The row without summaries runs before the default one, and the one explaining after
# it: a row after another runs on a broker holding more, and costs more CPU an event
# for it, so each comparison errs against the summaries and the explanations.
COMPARED: Final = (UNSUMMARISED, EXPLAINED)
ROWS: Final = ("kafka-ceiling", "faust-ceiling", *QUIX_ROWS, "naive", "streamml-faust",
               UNSUMMARISED, "streamml-kafka", EXPLAINED, *IMPORTED)


def environment(settings: Settings) -> dict[str, str]:
    return {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
            "STREAMML_TOPIC_PREFIX": settings.topic_prefix,
            "STREAMML_GROUP_PREFIX": settings.group_prefix,
            "STREAMML_MODEL_PRIVATE_KEY": KEY, "STREAMML_ALERT_PRIVATE_KEY": ALERT_KEY,
            "STREAMML_LOG_LEVEL": "WARNING",
            "STREAMML_SCORING_PORT": str(single_node.free_port()),
            "STREAMML_JOINER_PORT": str(single_node.free_port()),
            "STREAMML_MONITOR_PORT": str(single_node.free_port())}


def row_environment(row: str) -> dict[str, str]:
    """Settings a row runs with beyond the common ones."""
    if row == UNSUMMARISED:
        return {"STREAMML_MONITOR_SOURCE": "records"}
    return {"STREAMML_EXPLAIN_TOP_K": "3"} if row == EXPLAINED else {}


def command(row: str, workdir: Path, signed: SignedArtifact) -> list[str]:
    python = sys.executable
    if row.startswith("streamml-"):
        runner = "kafka" if row in (EXPLAINED, UNSUMMARISED) or row in IMPORTED \
            else row.removeprefix("streamml-")
        return [python, "-m", "streamml", "process", "--data-dir", str(workdir),
                "--runner", runner]
    if row in ("naive", "quix-scoring"):
        artifact = workdir / "model.skops.zip"
        artifact.write_bytes(signed.data)
        if row == "naive":
            return [python, "-m", "benchmarks.naive_agent", str(artifact), KEY]
        return [str(quix_env.python()), "-m", "benchmarks.quix_app", "scoring", str(artifact),
                KEY]
    if row == "quix-ceiling":
        return [str(quix_env.python()), "-m", "benchmarks.quix_app", "ceiling"]
    if row in ("kafka-ceiling", "faust-ceiling"):
        return [python, "-m", f"benchmarks.{row.replace('-', '_')}"]
    raise ValueError(f"unknown row {row!r}; expected one of {', '.join(ROWS)}")


def start(args: list[str], settings: Settings, workdir: Path,
          extra_env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start a child with its output in ``workdir/runner.log``."""
    env = {**environment(settings), **(extra_env or {})}
    with (workdir / "runner.log").open("ab") as log:
        return subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603


def stop(child: subprocess.Popen[bytes]) -> None:
    child.terminate()
    try:
        child.wait(30)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait(10)
