"""Which values are secret, and how they are hidden.

Contract: `is_secret_key(key)` is true for environment keys that look like credentials;
`mask_env(env)` replaces their values with SENSITIVE. Every rendering of a plan (text, JSON,
markdown) and every reason string goes through these, so secrets never reach output or logs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

SENSITIVE = "(sensitive)"
_SECRET = re.compile(r"KEY|SECRET|TOKEN|PASSWORD|PASSWD|CREDENTIAL|PRIVATE", re.IGNORECASE)


def is_secret_key(key: str) -> bool:
    return bool(_SECRET.search(key))


def mask_env(env: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (SENSITIVE if is_secret_key(k) and v is not None else v) for k, v in env.items()}


def mask_resource(data: Any) -> Any:
    """A copy of before/after data with every `environment` mapping masked."""
    if isinstance(data, dict):
        return {
            k: mask_env(v) if k == "environment" and isinstance(v, dict) else mask_resource(v)
            for k, v in data.items()
        }
    if isinstance(data, list):
        return [mask_resource(v) for v in data]
    return data
