"""The one canonical JSON form of what is signed (store orders with HMAC, fleet configurations
with Ed25519): sorted keys, no spaces, UTF-8 as it is, no NaN or infinity. A signer and a
verifier agree byte for byte only if they agree on this form, so it lives in one place."""
from __future__ import annotations

import json
from typing import Any


def canonical_json(document: Any) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")
