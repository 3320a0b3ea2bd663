"""Where deployspec keeps derived, disposable data (packaged artifacts, digests, lookups).

Nothing here is state: deleting the folder only costs time. `DEPLOYSPEC_CACHE_DIR` overrides
the location; otherwise `$XDG_CACHE_HOME/deployspec` or `~/.cache/deployspec`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path


def cache_dir(*parts: str) -> Path:
    root = os.environ.get("DEPLOYSPEC_CACHE_DIR")
    if root:
        base = Path(root)
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        base = (Path(xdg) if xdg else Path.home() / ".cache") / "deployspec"
    path = base.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def optional_cache_file(*parts: str) -> Path | None:
    """A file in the cache, or None when the cache cannot be used (it only costs speed)."""
    try:
        return cache_dir(*parts[:-1]) / parts[-1]
    except OSError:
        return None


def read_json(path: Path) -> object | None:
    """A cached JSON value, or None when missing or unreadable (a cache is never fatal)."""
    try:
        with path.open("rb") as handle:
            value: object = json.load(handle)
            return value
    except (OSError, ValueError):
        return None


def write_json(path: Path, value: object) -> None:
    """Write atomically, so a concurrent reader sees the old or the new file, never half."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        import tempfile  # only on a cache miss: start-up matters more

        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
        with os.fdopen(fd, "w") as handle:
            json.dump(value, handle, sort_keys=True)
        os.replace(tmp, path)
    except OSError:
        # A read-only or full cache disk must not stop a deployment; it only costs speed.
        return
