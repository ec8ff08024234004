"""Fixed Ed25519 key pairs for tests: one the components trust, one they do not, and the
alert key the monitor and the retrainer sign alerts with.

Made once with ``streamml keys generate``; fixed so that test records are the same
on every run. Never use them outside tests.
"""

from __future__ import annotations

import base64

from scorer.alert_signing import ALERT_PUBLIC_KEYS_VARIABLE
from scorer.signing import Signer, TrustedKeys

PRIVATE_KEY = "8CKXO9+Mqx8Gcbr9mVz3xjKc+gWDq2Cd232ECk+pdmM="
PUBLIC_KEY = "oT3E+74jMUj0gW4fqMxkxwcYOmWguEhhWLLninB2tsw="
OTHER_PRIVATE_KEY = "QFU0oZBCTgr+l8IooHYWqYA16b9yTSbDjnzLYyGa4JY="
OTHER_PUBLIC_KEY = "O0P/38d1+4BBr6v1YmpWm6uCHAfvwd/CbbXjF+uLm9Y="
ALERT_PRIVATE_KEY = "fEzfk2MdJ9+SLlJgXl0198gFA5gkoxdIrHmdqUnTxeY="
ALERT_PUBLIC_KEY = "7m1FiZznpCxRwiRCGTjtI95Z825KhVHQ2nxjCF+k3sg="

SIGNER = Signer.from_raw(base64.b64decode(PRIVATE_KEY))
OTHER_SIGNER = Signer.from_raw(base64.b64decode(OTHER_PRIVATE_KEY))
KEYS: TrustedKeys = SIGNER.trusted()
ALERT_SIGNER = Signer.from_raw(base64.b64decode(ALERT_PRIVATE_KEY))
ALERT_KEYS: TrustedKeys = TrustedKeys.from_raw([ALERT_SIGNER.public_key],
                                               ALERT_PUBLIC_KEYS_VARIABLE)
