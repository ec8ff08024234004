from __future__ import annotations

import subprocess
import sys

import scorer


def test_every_public_name_is_exported() -> None:
    assert sorted(scorer.__all__) == sorted(set(scorer.__all__))
    assert all(hasattr(scorer, name) for name in scorer.__all__)


def test_importing_the_scorer_loads_no_kafka_client_and_no_other_role() -> None:
    # pandas is optional (streamml[import]): blocked here, the scorer must still import.
    code = (
        "import sys; sys.modules['pandas'] = None; import scorer; "
        "bad = [m for m in ('confluent_kafka', 'faust', 'aiokafka', 'monitor', 'retrainer', "
        "'stream_processors') if m in sys.modules]; "
        "print(bad)"
    )

    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)

    assert result.stdout.strip() == "[]"
