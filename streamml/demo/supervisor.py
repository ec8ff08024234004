"""Run streamml roles as child processes: start, watch, report the dead, stop them all."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def tail(self, lines: int = 15) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except FileNotFoundError:
            return "(no output)"
        return "\n".join(text.splitlines()[-lines:])


class Supervisor:
    """Children of one run; each writes its output to ``<log_dir>/<name>.log``.

    >>> import os, tempfile
    >>> sup = Supervisor(Path(tempfile.mkdtemp()), dict(os.environ))
    >>> child = sup.start("hello", ["--help"])
    >>> child.process.wait(60)
    0
    >>> sup.dead()
    []
    """

    def __init__(self, log_dir: Path, env: dict[str, str]) -> None:
        self.log_dir = log_dir
        self.env = env
        self.children: list[Child] = []
        log_dir.mkdir(parents=True, exist_ok=True)

    def start(self, name: str, args: list[str], extra_env: dict[str, str] | None = None) \
            -> Child:
        log = self.log_dir / f"{name}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(  # noqa: S603 - our own CLI, a fixed argument list
                [sys.executable, "-m", "streamml", *args], env={**self.env, **(extra_env or {})},
                stdout=out,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                # Own process group: Ctrl-C in the terminal reaches the parent only, which
                # then stops each child in order instead of all at once.
                start_new_session=True,
            )
        child = Child(name, process, log)
        self.children.append(child)
        return child

    def dead(self) -> list[Child]:
        """Children that exited with an error (a clean exit 0 is not a death)."""
        return [c for c in self.children if c.process.poll() not in (None, 0)]

    def stop_all(self, timeout: float = 20.0) -> None:
        for child in reversed(self.children):
            if child.process.poll() is None:
                child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for child in self.children:
            remaining = max(0.1, deadline - time.monotonic())
            try:
                child.process.wait(remaining)
            except subprocess.TimeoutExpired:
                child.process.kill()
                child.process.wait(5)


__all__ = ["Child", "Supervisor"]
