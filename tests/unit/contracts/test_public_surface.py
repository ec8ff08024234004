"""Every package's public names import, and the shared package stays free of the roles."""

from __future__ import annotations

import importlib
import subprocess
import sys
from importlib.resources import files

import pytest

PACKAGES = ["contracts", "producers", "scorer", "stream_processors", "monitor", "retrainer"]
ROLES = {"producers", "scorer", "stream_processors", "monitor", "retrainer"}


@pytest.mark.parametrize("package", PACKAGES)
def test_every_name_in_all_imports(package: str) -> None:
    module = importlib.import_module(package)
    public = list(getattr(module, "__all__", []))

    missing = [name for name in public if not hasattr(module, name)]

    assert not missing, f"{package}.__all__ names what it does not define: {missing}"
    assert len(set(public)) == len(public), f"{package}.__all__ repeats a name"


@pytest.mark.parametrize("package", PACKAGES)
def test_package_ships_py_typed(package: str) -> None:
    assert files(package).joinpath("py.typed").is_file()


def test_contracts_imports_no_role_and_no_kafka_client() -> None:
    # A fresh interpreter, so modules other tests imported do not count.
    code = "import sys, contracts; print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))"
    loaded = set(
        subprocess.run(
            [sys.executable, "-c", code], check=True, capture_output=True, text=True
        ).stdout.split()
    )

    assert not loaded & (ROLES | {"confluent_kafka", "aiokafka", "faust"})
