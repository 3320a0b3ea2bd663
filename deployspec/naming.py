"""Content-addressed names for SageMaker's immutable resources.

Contract: `content_name(base, content)` is `<base>-<hash>` where the hash covers the full
canonical JSON of `content`; the same content always gives the same name and any change gives
a new one. Models and endpoint configs cannot be changed in SageMaker, so naming them by content
makes re-running apply safe (an existing name means the resource is already right) and lets an
update create new ones beside the old while the endpoint keeps its stable name.
"""

from __future__ import annotations

import hashlib
import json
import re

MAX_NAME = 63
HASH_LENGTH = 10
_HASHED = re.compile(rf"^(?P<base>.+)-(?P<hash>[0-9a-f]{{{HASH_LENGTH}}})$")


def digest(content: object) -> str:
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def name_base(base: str) -> str:
    """The part of `base` that content names keep: what listings must search for.

    Truncating the base keeps the hash whole (the hash is what makes the name unique), so two
    spec names alike in their first 52 characters share a base: ownership tags tell them apart.
    """
    return base[: MAX_NAME - HASH_LENGTH - 1]


def content_name(base: str, content: object) -> str:
    kept = name_base(base)
    # A cut base no longer tells two specs apart by itself: the whole name joins the hash.
    # (Only then, so that names of shorter specs stay what earlier versions made.)
    hashed = content if kept == base else {"spec": base, "content": content}
    return f"{kept}-{digest(hashed)[:HASH_LENGTH]}"


def is_content_name(name: str, base: str) -> bool:
    """Whether `name` looks like one of ours for `base` (ownership is still checked by tags)."""
    match = _HASHED.match(name)
    return match is not None and match.group("base") == name_base(base)
