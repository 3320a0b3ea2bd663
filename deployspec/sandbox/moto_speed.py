"""Two lookups moto's server repeats on every request, done once (offered upstream as is).

Contract: `install()` (idempotent) makes
- `moto.backends.list_of_moto_modules()` list moto's package folder once: the dispatcher calls
  it twice per request to route by host, and each call lists and stats ~180 folders;
- `moto.core.responses.method_names_from_class(cls)` remember each class's method names: it
  runs `inspect.getmembers` over the whole responses class on every call.
Both answers cannot change while the server runs (the package is on disk; the response
classes, ours included, are complete before the first request). Together they were about
half of the sandbox's time per call (bench/bench_many.py).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable

_installed = False


def install() -> None:
    global _installed
    if _installed:
        return
    import moto.backends
    import moto.core.responses
    import moto.core.utils

    modules = tuple(moto.backends.list_of_moto_modules())

    def list_of_moto_modules() -> Iterable[str]:
        return modules

    moto.backends.list_of_moto_modules = list_of_moto_modules
    names: Callable[[object], list[str]] = moto.core.utils.method_names_from_class
    cached = functools.lru_cache(maxsize=None)(names)

    def method_names_from_class(clazz: object) -> list[str]:
        return list(cached(clazz))  # a copy: callers may change the list they get

    # responses.py imported the function by name: its own binding is the one to replace.
    vars(moto.core.responses)["method_names_from_class"] = method_names_from_class
    _installed = True
