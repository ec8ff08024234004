"""``streamml keys generate``: an Ed25519 key pair for signing models and registry records."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from contracts.exceptions import SettingsError
from contracts.settings import Settings

PRIVATE_FILE = "model_private_key"
PUBLIC_FILE = "model_public_key"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "keys", help="make the key pair that signs models and registry records",
        description="The private key signs (trainer, retrainer, `streamml models` changes); "
                    "its public key verifies (scoring, joiner, monitor). Keys are written as "
                    "base64 of their 32 raw Ed25519 bytes, one line each.")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    generate = verbs.add_parser("generate", help="write a new key pair and print its settings")
    generate.add_argument("--out", type=Path, default=Path("."), metavar="DIR",
                          help=f"folder for {PRIVATE_FILE} (mode 0600) and {PUBLIC_FILE} "
                               "(default: the current folder)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from scorer.signing import PRIVATE_KEY_VARIABLE, PUBLIC_KEYS_VARIABLE, Signer

    signer = Signer.generate()
    args.out.mkdir(parents=True, exist_ok=True)
    private_path, public_path = args.out / PRIVATE_FILE, args.out / PUBLIC_FILE
    _write_new(private_path, signer.private_text(), mode=0o600)
    _write_new(public_path, signer.public_text(), mode=0o644)
    print(f"key id {signer.key_id}\n"
          f"private key: {private_path} (mode 0600; give it to the trainer and retrainer only)\n"
          f"public key:  {public_path}\n\n"
          f"trainer, retrainer, `streamml models` changes:\n"
          f"  {PRIVATE_KEY_VARIABLE}_FILE={private_path.resolve()}\n"
          f"everything (scoring, joiner, monitor, and the above):\n"
          f"  {PUBLIC_KEYS_VARIABLE}={signer.public_text()}\n"
          f"while rotating, list the old and the new public key, comma-separated.")
    return 0


def _write_new(path: Path, text: str, *, mode: int) -> None:
    """Write ``text`` to a file that must not exist yet, created with ``mode`` from the start."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        raise SettingsError(f"{path} exists; keys are never overwritten, choose another "
                            "--out folder") from None
    with os.fdopen(fd, "w") as stream:
        stream.write(text + "\n")


__all__ = ["PRIVATE_FILE", "PUBLIC_FILE", "register", "run"]
