"""The retrainer's public names import, and the package needs no Kafka client to do so."""

from __future__ import annotations

import subprocess
import sys

import retrainer


def test_every_public_name_is_importable() -> None:
    for name in retrainer.__all__:
        assert getattr(retrainer, name) is not None, name
    assert sorted(retrainer.__all__) == retrainer.__all__


def test_importing_the_logic_loads_no_kafka_client() -> None:
    code = "import sys, retrainer; print('confluent_kafka' in sys.modules, 'faust' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.split() == ["False", "False"]


def test_the_cli_knows_retrain_and_models() -> None:
    from streamml.cli.main import build_parser

    parser = build_parser()
    args = parser.parse_args(["models", "canary", "3", "--fraction", "0.2", "--reason", "try"])
    assert (args.verb, args.version, args.fraction, args.reason) == ("canary", 3, 0.2, "try")
    assert parser.parse_args(["retrain"]).command == "retrain"
