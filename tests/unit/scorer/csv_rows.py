"""Labelled rows written as the flat CSV a user hands to ``streamml train``."""

from __future__ import annotations

import csv
from pathlib import Path

from scorer.datasets import TrainingRow


def write_csv(path: Path, rows: list[TrainingRow]) -> Path:
    """``rows`` as the flat CSV ``streamml train`` reads, label column ``converted``."""
    with path.open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["user_id", "ts", "cart_value", "pages", "device", "country", "converted"])
        for i, row in enumerate(rows):
            f = row.features
            writer.writerow([f"u{i}", row.ts.isoformat() if row.ts else "", f["cart_value"] or "",
                             f["pages"], f["device"] or "", f["country"], row.label])
    return path
