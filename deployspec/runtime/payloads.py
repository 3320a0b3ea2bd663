"""Request and response bodies <-> numpy arrays, as the SageMaker inference toolkits do them.

Contract:
- `decode(data, content_type)` turns application/json, text/csv or application/x-npy into a
  numpy array; any other type raises ModelError 415, a body that does not parse ModelError 400.
- `encode(value, accept)` serialises a prediction into the first type of `accept` (a header,
  possibly a comma-separated list) among application/json, text/csv and application/x-npy, and
  returns `(body, content_type)`; none supported raises ModelError 406.
- Media types are compared without parameters and case-insensitively, so
  `application/json; charset=utf-8` counts as JSON (the toolkits compare exactly; being lenient
  here only removes false failures, it never accepts a payload the default would misread).
numpy is imported lazily: a missing numpy is a ModelError naming what to install.
"""

from __future__ import annotations

import csv
import io
import json
from types import ModuleType
from typing import Any

from deployspec.runtime.errors import ModelError

JSON = "application/json"
CSV = "text/csv"
NPY = "application/x-npy"
ANY = "*/*"
LIBSVM = "text/libsvm"
X_LIBSVM = "text/x-libsvm"

# The toolkits hand these to input_fn as str (decoded UTF-8); every other type stays bytes.
UTF8_TYPES = frozenset({JSON, CSV})
ENCODABLE_TYPES = (JSON, CSV, NPY)


def media_type(header: str | None) -> str:
    """`Text/CSV; charset=utf-8` -> `text/csv`."""
    return (header or "").split(";", 1)[0].strip().lower()


def accepted_types(accept: str, default_accept: str) -> list[str]:
    """The media types of an Accept header in order; `*/*` stands for the default accept."""
    types: list[str] = []
    for part in accept.split(","):
        kind = media_type(part)
        if not kind:
            continue
        types.append(media_type(default_accept) if kind == ANY else kind)
    return types or [media_type(default_accept)]


def as_text(data: str | bytes) -> str:
    if isinstance(data, str):
        return data
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ModelError(f"request body is not valid UTF-8: {exc}", 400) from exc


def require_numpy() -> ModuleType:
    try:
        import numpy
    except ModuleNotFoundError as exc:
        raise ModelError(
            "the default input_fn/output_fn need numpy, which is not installed here",
            hint="pip install numpy",
        ) from exc
    return numpy


def unsupported_content_type(content_type: str, supported: tuple[str, ...]) -> ModelError:
    return ModelError(
        f"content type {content_type or '(none)'} is not supported by the default input_fn "
        f"(supported: {', '.join(supported)})",
        415,
        hint="send one of the supported types or define input_fn in your inference script",
    )


def decode(data: str | bytes, content_type: str) -> Any:
    """The request body as a numpy array (JSON, CSV or NPY)."""
    np = require_numpy()
    kind = media_type(content_type)
    try:
        if kind == JSON:
            return np.array(json.loads(as_text(data)))
        if kind == CSV:
            # genfromtxt, like the toolkits: one CSV line becomes a 1-D array, several lines 2-D.
            return np.genfromtxt(io.StringIO(as_text(data)), delimiter=",")
        if kind == NPY:
            raw = data.encode("utf-8") if isinstance(data, str) else data
            # Pickled object arrays would let a request run code in the model process.
            return np.load(io.BytesIO(raw), allow_pickle=False)
    except ModelError:
        raise
    except (ValueError, TypeError, OSError, EOFError) as exc:
        raise ModelError(f"cannot decode the {kind} request body: {exc}", 400) from exc
    raise unsupported_content_type(content_type, (JSON, CSV, NPY))


def encode(value: Any, accept: str, default_accept: str = JSON) -> tuple[bytes, str]:
    """The prediction serialised in the first supported type the client accepts."""
    for kind in accepted_types(accept, default_accept):
        if kind == JSON:
            return _to_json(value), JSON
        if kind == CSV:
            return _to_csv(value), CSV
        if kind == NPY:
            return _to_npy(value), NPY
    raise ModelError(
        f"accept type {accept or '(none)'} is not supported by the default output_fn "
        f"(supported: {', '.join(ENCODABLE_TYPES)})",
        406,
        hint="ask for one of the supported types or define output_fn in your inference script",
    )


def _tolist(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _to_json(value: Any) -> bytes:
    try:
        return json.dumps(value, default=_tolist).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise ModelError(f"cannot serialise the prediction as JSON: {exc}") from exc


def _to_csv(value: Any) -> bytes:
    np = require_numpy()
    array = np.asarray(value)
    if array.ndim == 0:
        rows: list[Any] = [[array.tolist()]]
    elif array.ndim == 1:
        # As the toolkits: a vector of predictions is one value per line.
        rows = [[item] for item in array.tolist()]
    else:
        rows = array.tolist()
    stream = io.StringIO()
    csv.writer(stream, lineterminator="\n").writerows(rows)
    return stream.getvalue().encode("utf-8")


def _to_npy(value: Any) -> bytes:
    np = require_numpy()
    buffer = io.BytesIO()
    try:
        np.save(buffer, np.asarray(value), allow_pickle=False)
    except ValueError as exc:
        raise ModelError(f"cannot serialise the prediction as NPY: {exc}") from exc
    return buffer.getvalue()
