"""The interpreter the Quix Streams rows run with, made on first use.

Quix Streams 3 pins confluent-kafka below 2.13 while streamml runs a newer one, so the
two cannot share an environment. The rows run in ``.venv-quix`` beside this checkout:
Quix Streams and its dependencies from ``benchmarks/quix.lock`` (pinned with hashes,
``make quix-lock``) come first on its path, then this environment's packages (numpy,
scikit-learn, msgspec and streamml itself) for the scoring row's model.
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".venv-quix"
LOCK = ROOT / "benchmarks" / "quix.lock"


def python() -> Path:
    """The Quix environment's interpreter, created (a minute, once) when missing."""
    interpreter = VENV / "bin" / "python"
    ready = VENV / ".installed"
    if ready.exists() and ready.read_text() == LOCK.read_text():
        return interpreter
    print("[benchmarks] installing Quix Streams into .venv-quix (once)", file=sys.stderr,
          flush=True)
    # Fixed arguments: this interpreter, the checkout's own paths and lock.
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)  # noqa: S603
    subprocess.run([str(interpreter), "-m", "pip", "install", "--quiet",  # noqa: S603
                    "--require-hashes", "-r", str(LOCK)], check=True)
    site = subprocess.run([str(interpreter), "-c", "import sysconfig; "  # noqa: S603
                           "print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    # After Quix's own packages: its confluent-kafka wins, ours serve the rest.
    ours = sysconfig.get_paths()["purelib"]
    (Path(site) / "streamml-environment.pth").write_text(
        f"import site; site.addsitedir({ours!r})\n")
    ready.write_text(LOCK.read_text())
    return interpreter
