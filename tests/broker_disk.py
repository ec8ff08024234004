"""The tests' brokers keep their logs in memory when the machine has a RAM disk.

A KRaft node fsyncs its metadata log for every batch it appends, and does so every
half second when idle. On a virtual disk where an fsync takes ~110 ms (measured on
the project's 2-core machine; 0.01 ms on ``/dev/shm``) three nodes' fsyncs queue
behind each other and behind the tests' writes, and the controller's events took
5-60 s: a node restarted after a kill -9 then needed up to 132 s to answer.
The tests are about processes crashing, never the machine, so what a broker wrote
before a kill -9 stays in memory just as it would in the page cache.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

RAM_DISK = Path("/dev/shm")  # noqa: S108 - only mkdtemp folders (mode 0700) go there


def ram_disk_folder() -> Path | None:
    """A new private folder on the RAM disk (None without one, or with under 1 GiB free)."""
    if not (RAM_DISK.is_dir() and shutil.disk_usage(RAM_DISK).free > 2**30):
        return None
    return Path(tempfile.mkdtemp(prefix="streamml-tests-", dir=RAM_DISK))


def logs_in_memory(node_dir: Path, root: Path | None) -> Path:
    """Make ``node_dir/data`` (where a node keeps its logs) a link to a fresh folder in
    ``root``; the node's own log and state files stay in ``node_dir``."""
    node_dir.mkdir(parents=True, exist_ok=True)
    if root is not None:
        (node_dir / "data").symlink_to(tempfile.mkdtemp(dir=root), target_is_directory=True)
    return node_dir


__all__ = ["RAM_DISK", "logs_in_memory", "ram_disk_folder"]
