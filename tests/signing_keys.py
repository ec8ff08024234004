"""Fixed Ed25519 key pairs for tests: one the components trust, one they do not.

Made once with ``streamml keys generate``; fixed so that test records are the same
on every run. Never use them outside tests.
"""

from __future__ import annotations

import base64

from scorer.signing import Signer, TrustedKeys

PRIVATE_KEY = "8CKXO9+Mqx8Gcbr9mVz3xjKc+gWDq2Cd232ECk+pdmM="
PUBLIC_KEY = "oT3E+74jMUj0gW4fqMxkxwcYOmWguEhhWLLninB2tsw="
OTHER_PRIVATE_KEY = "QFU0oZBCTgr+l8IooHYWqYA16b9yTSbDjnzLYyGa4JY="
OTHER_PUBLIC_KEY = "O0P/38d1+4BBr6v1YmpWm6uCHAfvwd/CbbXjF+uLm9Y="

SIGNER = Signer.from_raw(base64.b64decode(PRIVATE_KEY))
OTHER_SIGNER = Signer.from_raw(base64.b64decode(OTHER_PRIVATE_KEY))
KEYS: TrustedKeys = SIGNER.trusted()
