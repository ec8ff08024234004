"""Every package's public names import, and the shared package stays free of the roles."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
from importlib.resources import files

import pytest

PACKAGES = ["contracts", "producers", "scorer", "stream_processors", "monitor", "retrainer"]
ROLES = {"producers", "scorer", "stream_processors", "monitor", "retrainer"}


@pytest.mark.parametrize("package", [*PACKAGES, "streamml"])
def test_every_name_in_all_imports(package: str) -> None:
    """Each module's ``__all__`` (the package's and every module's in it) names what it
    defines, once; a package without one declared anywhere fails, so this cannot pass
    on nothing."""
    root = importlib.import_module(package)
    modules = [root, *(importlib.import_module(info.name) for info in
                       pkgutil.walk_packages(root.__path__, f"{package}.")
                       if not info.name.endswith("__main__"))]  # __main__ runs the CLI
    declared = {m.__name__: list(m.__all__) for m in modules if hasattr(m, "__all__")}

    assert declared, f"no module of {package} declares __all__"
    for name, public in declared.items():
        module = sys.modules[name]
        missing = [n for n in public if not hasattr(module, n)]
        assert not missing, f"{name}.__all__ names what it does not define: {missing}"
        assert len(set(public)) == len(public), f"{name}.__all__ repeats a name"


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
