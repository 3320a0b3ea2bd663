"""TensorFlow Serving and the SageMaker TensorFlow Serving container's handler flow, run locally.

Contract:
- `check_servable(model_dir)` runs in the host, cheaply: NotRunnableHere when TensorFlow is not
  installed (the `tensorflow` extra), ModelError when the model directory is missing.
- `find_servable(model_dir, env)` finds the SavedModel the container serves: as the container
  does, every `saved_model.pb` in a numeric folder is a version of the model named by the
  folder above it (`model` for version folders at the root of model.tar.gz); the default model
  is SAGEMAKER_TFS_DEFAULT_MODEL_NAME or the first found, and a request without a version gets
  its highest version, as in TF Serving.
- `SavedModelServer.load(servable)` loads it with TensorFlow (tag `serve`); `predict(body)`
  answers TF Serving's REST predict request body (`{"instances": ...}` in row form or
  `{"inputs": ...}` in columnar form, `{"b64": ...}` for binary strings, optional
  `signature_name`, default `serving_default`) with `(status, body)`: `{"predictions": ...}` or
  `{"outputs": ...}`, or TF Serving's error shape `{"error": "..."}` with its HTTP status.
  Outputs whose name ends in `_bytes` come back as `{"b64": ...}`, other strings as they are.
- `TFServingService(model_dir, env)` is the container: `load_model()` loads the SavedModel and
  `code/inference.py` (the only script the container reads) and, when there is a script, serves
  TF Serving's REST API on a loopback port for `context.rest_uri`; `invoke(model, body,
  content_type, accept)` runs the script's `handler(data, context)`, or `input_handler` -> TF
  Serving -> `output_handler(response, context)` with a `requests.Response`, or without a
  script passes JSON, JSON lines and CSV to TF Serving as the container's nginx does. It
  returns `(body, content_type)`; every failure is a ModelError with the container's status.
TensorFlow is imported only in the worker process that serves a TensorFlow model. Deliberate
differences from the container are marked where they are made; gRPC (`context.grpc_port`,
`context.channel`) is not emulated.
"""

from __future__ import annotations

import base64
import binascii
import collections
import contextlib
import http.server
import importlib
import importlib.util
import io
import json
import math
import os
import re
import sys
import threading
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deployspec.runtime.errors import ModelError
from deployspec.runtime.handlers import (
    NotRunnableHere,
    _exception_text,
    _trace,
    brief,
    load_user_module,
)

DEFAULT_SIGNATURE = "serving_default"
SERVE_TAG = "serve"
JSON_TYPE = "application/json"
INSTALL_HINT = "pip install 'deployspec[tensorflow]' (TensorFlow for CPUs, tensorflow-cpu)"
# The container's name for a model whose version folders sit at the root of model.tar.gz: the
# basename of /opt/ml/model.
ROOT_MODEL_NAME = "model"
_SCRIPT = "inference.py"
_VERSION_FOLDER = re.compile(r"^\d+$")
_BYTES_SUFFIX = "_bytes"

# The fields of the container's request context (tfs_utils.Context), in its order.
Context = collections.namedtuple(
    "Context",
    "model_name, model_version, method, rest_uri, grpc_port, channel, "
    "custom_attributes, request_content_type, accept_header, content_length",
)


class RestError(Exception):
    """A TF Serving REST error: its HTTP status and its message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _bad(message: str) -> RestError:
    return RestError(400, message)


# ---------------------------------------------------------------- TensorFlow, lazily


def tensorflow_installed() -> bool:
    return importlib.util.find_spec("tensorflow") is not None


def _tensorflow() -> Any:
    # TensorFlow's C++ start-up notes (oneDNN, CPU features) would flood `deployspec serve`.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        return importlib.import_module("tensorflow")
    except ModuleNotFoundError as exc:
        raise NotRunnableHere(
            "serving a TensorFlow SavedModel locally needs TensorFlow, which is not installed "
            f"here ({exc.name} is missing)",
            hint=INSTALL_HINT,
        ) from exc


def check_servable(model_dir: Path) -> None:
    """What the host can tell before starting a worker, without importing TensorFlow."""
    if not tensorflow_installed():
        raise NotRunnableHere(
            "serving a TensorFlow SavedModel locally needs TensorFlow, which is not installed here",
            hint=INSTALL_HINT,
        )
    if not model_dir.is_dir():
        raise ModelError(f"model directory {model_dir} does not exist")


# ---------------------------------------------------------------- which SavedModel


@dataclass(frozen=True)
class Servable:
    """One version of one model, as TF Serving names it."""

    name: str
    version: int
    path: Path


def _saved_models(model_dir: Path) -> dict[Path, dict[int, Path]]:
    """{model base folder: {version: version folder}} for every saved_model.pb in a numeric
    folder below model_dir, as the container's find_models walks /opt/ml/model."""
    found: dict[Path, dict[int, Path]] = {}
    for folder, dirs, files in os.walk(model_dir):
        # Sorted, so the default model does not depend on the file system's listing order
        # (the container takes os.scandir's order).
        dirs.sort()
        here = Path(folder)
        if "saved_model.pb" in files and here != model_dir and _VERSION_FOLDER.match(here.name):
            found.setdefault(here.parent, {})[int(here.name)] = here
    return found


def _model_name(base: Path, model_dir: Path) -> str:
    return ROOT_MODEL_NAME if base == model_dir else base.name


def find_servable(model_dir: Path, env: Mapping[str, str]) -> Servable:
    """The SavedModel that answers requests without a model name or version."""
    models = _saved_models(model_dir)
    if not models:
        pbtxt = any(model_dir.rglob("saved_model.pbtxt"))
        raise ModelError(
            "no SavedModel bundles found: the TensorFlow Serving container serves numeric "
            f"version folders holding saved_model.pb (like 1/saved_model.pb) in {model_dir}",
            hint="the container looks for saved_model.pb only; export it in binary form"
            if pbtxt
            else "point model.artifacts at the SavedModel folder (it is packaged under 1/) or "
            "at a folder of numeric version folders",
        )
    names = {_model_name(base, model_dir): base for base in models}
    wanted = env.get("SAGEMAKER_TFS_DEFAULT_MODEL_NAME", "None")
    if wanted == "None":
        name = next(iter(names))
    elif wanted in names:
        name = wanted
    else:
        raise ModelError(
            f"SAGEMAKER_TFS_DEFAULT_MODEL_NAME is {wanted!r}, but the model holds "
            f"{', '.join(sorted(names))}",
            hint="TF Serving names each model after the folder holding its version folders "
            f"({ROOT_MODEL_NAME!r} for version folders at the root of model.tar.gz)",
        )
    versions = models[names[name]]
    latest = max(versions)
    return Servable(name=name, version=latest, path=versions[latest])


# ---------------------------------------------------------------- JSON -> tensors


# TF Serving's names for the types in its messages (DataTypeString).
_TYPE_NAMES = {"float32": "float", "float64": "double"}
_INT_RANGES = {
    "int8": (-(2**31), 2**31 - 1),
    "int16": (-(2**31), 2**31 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "uint8": (-(2**31), 2**31 - 1),
    "int64": (-(2**63), 2**63 - 1),
    "uint32": (0, 2**32 - 1),
    "uint64": (0, 2**64 - 1),
}
# The largest integer each float type holds exactly.
_EXACT_INTS = {"float32": 2**24 - 1, "float64": 2**53 - 1}
_FLOAT32_MAX = 3.4028234663852886e38


def _type_name(dtype: str) -> str:
    return _TYPE_NAMES.get(dtype, dtype)


def _json_type(value: Any) -> str:
    if value is None:
        return "Null"
    if value is True:
        return "True"
    if value is False:
        return "False"
    if isinstance(value, dict):
        return "Object"
    if isinstance(value, list):
        return "Array"
    if isinstance(value, str):
        return "String"
    return "Number"


def _show(value: Any) -> str:
    # Messages quote the offending value; a request can hold megabytes of it.
    return brief(json.dumps(value, allow_nan=True), 200)


def _is_b64(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and len(value) == 1
        and "b64" in value
        and isinstance(value["b64"], str)
    )


def _decode_b64(value: Any) -> bytes:
    if not _is_b64(value):
        raise _bad(f"JSON Value: {_show(value)} not formatted correctly for base64 data")
    text: str = value["b64"]
    try:
        # Padding is optional, as for TF Serving's decoder; anything outside the alphabet is not.
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise _bad("Unable to base64 decode") from None


def _scalar(value: Any, dtype: str) -> Any:
    """One JSON leaf as a value of `dtype`, checked as TF Serving checks it."""
    if isinstance(value, dict):
        if dtype == "string":
            return _decode_b64(value)
        raise _type_error(value, dtype)
    if dtype == "string":
        if not isinstance(value, str):
            raise _type_error(value, dtype)
        return value.encode("utf-8", "surrogatepass")
    if dtype == "bool":
        if not isinstance(value, bool):
            raise _type_error(value, dtype)
        return value
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    if dtype in _EXACT_INTS:
        if not is_number:
            raise _type_error(value, dtype)
        if isinstance(value, int) and abs(value) > _EXACT_INTS[dtype]:
            raise _lossy(value, dtype)
        if dtype == "float32" and math.isfinite(value) and abs(value) > _FLOAT32_MAX:
            raise _lossy(value, dtype)
        return value
    if dtype in _INT_RANGES:
        low, high = _INT_RANGES[dtype]
        if not (is_number and isinstance(value, int) and low <= value <= high):
            raise _type_error(value, dtype)
        return value
    raise RestError(501, f"Conversion of JSON Value: {_show(value)} to type: {_type_name(dtype)}")


def _type_error(value: Any, dtype: str) -> RestError:
    return _bad(
        f"JSON Value: {_show(value)} Type: {_json_type(value)} is not of expected type: "
        f"{_type_name(dtype)}"
    )


def _lossy(value: Any, dtype: str) -> RestError:
    return _bad(
        f"Cannot convert JSON value: {_show(value)} to {_type_name(dtype)} without loss of "
        "precision."
    )


def _dense_shape(value: Any) -> list[int]:
    """The shape a JSON value stands for, read along its first elements (as TF Serving)."""
    shape: list[int] = []
    while isinstance(value, list):
        shape.append(len(value))
        if not value:
            break
        value = value[0]
    return shape


def _fill(value: Any, shape: list[int], level: int, dtype: str, out: list[Any]) -> None:
    if not isinstance(value, list):
        if level != len(shape):
            raise _bad(
                f"JSON Value: {_show(value)} found at incorrect level: {level + 1} in the JSON "
                f"DOM. Expected at level: {len(shape)}"
            )
        out.append(_scalar(value, dtype))
        return
    if level >= len(shape):
        raise _bad(f"Encountered list at unexpected level: {level} expected < {len(shape)}")
    if len(value) != shape[level]:
        raise _bad(
            f"Encountered list at unexpected size: {len(value)} at level: {level} expected "
            f"size: {shape[level]}"
        )
    for item in value:
        _fill(item, shape, level + 1, dtype, out)


def _values(value: Any, dtype: str) -> tuple[list[int], list[Any]]:
    shape = _dense_shape(value)
    out: list[Any] = []
    _fill(value, shape, 0, dtype, out)
    return shape, out


def _shape_text(shape: list[int]) -> str:
    return "[" + ",".join(str(size) for size in shape) + "]"


@dataclass(frozen=True)
class _Input:
    """One named input of a signature: its type's name (numpy's, `string` for tf.string), its
    tf.DType and its TensorShape."""

    dtype: str
    tf_dtype: Any
    shape: Any


def _row_inputs(
    instances: Any, inputs: Mapping[str, _Input]
) -> dict[str, tuple[list[int], list[Any]]]:
    """`instances` as {input name: (batched shape, flat values)}."""
    if not isinstance(instances, list):
        raise _bad(f"JSON Value: {_show(instances)} Excepting 'instances' to be an list/array")
    if not instances:
        raise _bad("JSON Value: [] No values in 'instances' array")
    as_objects = isinstance(instances[0], dict) and not _is_b64(instances[0])
    if not as_objects and len(inputs) > 1:
        raise _bad(
            "instances is a plain list, but expecting list of objects as multiple input "
            "tensors required as per tensorinfo_map"
        )
    names = sorted(inputs)
    shapes: dict[str, list[int]] = {}
    values: dict[str, list[Any]] = {name: [] for name in names}
    sizes: dict[str, int] = {}

    def add(item: Any, name: str) -> None:
        if name not in inputs:
            raise _bad(f"JSON object: does not have named input: {name}")
        shape, flat = _values(item, inputs[name].dtype)
        if name not in shapes:
            shapes[name], sizes[name] = shape, len(flat)
        elif sizes[name] != len(flat):
            raise _bad(f"Expecting tensor size: {sizes[name]} but got: {len(flat)}")
        elif shapes[name] != shape:
            raise _bad(f"Expecting shape {_shape_text(shapes[name])} but got: {_shape_text(shape)}")
        values[name].extend(flat)

    for index, element in enumerate(instances):
        element_is_object = isinstance(element, dict) and not _is_b64(element)
        if as_objects:
            if not element_is_object:
                raise _bad(f"Expecting object but got list at item {index} of input list")
            for name, item in element.items():
                try:
                    add(item, name)
                except RestError as error:
                    raise _bad(
                        f"Failed to process element: {index} key: {name} of 'instances' list. "
                        f"Error: Invalid argument: {error.message}"
                    ) from None
            if set(element) != set(names):
                raise _bad(
                    f"Failed to process element: {index} of 'instances' list. JSON object: "
                    f"{_show(element)} must only have keys: {','.join(names)}"
                )
        else:
            if element_is_object:
                raise _bad(f"Expecting value/list but got object at item {index} of input list")
            try:
                add(element, names[0])
            except RestError as error:
                raise _bad(
                    f"Failed to process element: {index} of 'instances' list. Error: "
                    f"Invalid argument: {error.message}"
                ) from None
    return {name: ([len(instances), *shapes[name]], values[name]) for name in names}


def _columnar_inputs(
    columns: Any, inputs: Mapping[str, _Input]
) -> dict[str, tuple[list[int], list[Any]]]:
    """`inputs` (one value, or an object of named values) as {name: (shape, flat values)}."""
    if not isinstance(columns, dict) or _is_b64(columns):
        if len(inputs) > 1:
            raise _bad(
                "inputs is a plain value/list, but expecting an object as multiple input "
                "tensors required as per tensorinfo_map"
            )
        name = next(iter(inputs))
        return {name: _values(columns, inputs[name].dtype)}
    found: dict[str, tuple[list[int], list[Any]]] = {}
    for name in sorted(inputs):
        if name not in columns:
            raise _bad(f"Missing named input: {name} in 'inputs' object.")
        found[name] = _values(columns[name], inputs[name].dtype)
    return found


# ---------------------------------------------------------------- tensors -> JSON


def _json_values(name: str, array: Any) -> Any:
    """A numpy array (or scalar) as the JSON value TF Serving writes for it."""
    np = importlib.import_module("numpy")
    array = np.asarray(array)
    kind = array.dtype.kind
    if kind == "f" and array.dtype.itemsize in (4, 8):
        if array.dtype.itemsize == 4:
            # Through the shortest text that round-trips in float32, as TF Serving writes
            # floats: 0.1 stays 0.1 instead of becoming 0.10000000149011612.
            array = array.astype(str).astype(np.float64)
        return array.tolist()
    if kind in "iub":
        return array.tolist()
    if kind in "OSU":
        as_bytes = name.endswith(_BYTES_SUFFIX)

        def convert(item: Any) -> Any:
            raw = item if isinstance(item, bytes) else str(item).encode("utf-8")
            if as_bytes:
                return {"b64": base64.b64encode(raw).decode("ascii")}
            # TF Serving writes a string tensor's bytes as they are, valid UTF-8 or not;
            # surrogateescape carries them through json.dumps unchanged.
            return raw.decode("utf-8", "surrogateescape")

        return np.vectorize(convert, otypes=[object])(array).tolist()
    raise _bad(f"Failed to write JSON value for tensor type: {_type_name(str(array.dtype))}")


def _row_response(outputs: Mapping[str, Any]) -> dict[str, Any]:
    batch = 0
    for name, array in outputs.items():
        if array.ndim == 0:
            raise _bad(f"Tensor name: {name} has no shape information ")
        size = int(array.shape[0])
        if size < 1:
            raise _bad(f"Tensor name: {name} has invalid batch size: {size}")
        if batch and size != batch:
            raise _bad(
                f"Tensor name: {name} has inconsistent batch size: {size} expecting: {batch}"
            )
        batch = size
    columns = {name: _json_values(name, array) for name, array in sorted(outputs.items())}
    if len(columns) == 1:
        return {"predictions": next(iter(columns.values()))}
    return {"predictions": [{name: columns[name][i] for name in columns} for i in range(batch)]}


def _columnar_response(outputs: Mapping[str, Any]) -> dict[str, Any]:
    columns = {name: _json_values(name, array) for name, array in sorted(outputs.items())}
    if len(columns) == 1:
        return {"outputs": next(iter(columns.values()))}
    return {"outputs": columns}


def _dumps(payload: Any) -> bytes:
    # Compact where TF Serving pretty-prints: the same JSON to any parser. NaN and Infinity are
    # written as the tokens TF Serving writes.
    return json.dumps(payload, ensure_ascii=False, allow_nan=True).encode(
        "utf-8", "surrogateescape"
    )


def error_body(message: str) -> bytes:
    return _dumps({"error": message})


# ---------------------------------------------------------------- the model server

# TensorFlow's error codes (absl / gRPC status codes) -> HTTP, as TF Serving's REST API maps them.
_HTTP_STATUS = {
    1: 499,  # CANCELLED
    3: 400,  # INVALID_ARGUMENT
    4: 504,  # DEADLINE_EXCEEDED
    5: 404,  # NOT_FOUND
    6: 409,  # ALREADY_EXISTS
    7: 403,  # PERMISSION_DENIED
    8: 429,  # RESOURCE_EXHAUSTED
    9: 400,  # FAILED_PRECONDITION
    10: 409,  # ABORTED
    11: 400,  # OUT_OF_RANGE
    12: 501,  # UNIMPLEMENTED
    14: 503,  # UNAVAILABLE
    16: 401,  # UNAUTHENTICATED
}


@dataclass
class SavedModelServer:
    """One loaded SavedModel answering TF Serving's REST predict API."""

    servable: Servable
    loaded: Any
    tf: Any
    _inputs: dict[str, dict[str, _Input]] = field(default_factory=dict)

    @classmethod
    def load(cls, servable: Servable) -> SavedModelServer:
        tf = _tensorflow()
        try:
            loaded = tf.saved_model.load(str(servable.path), tags=[SERVE_TAG])
        except Exception as exc:
            raise ModelError(
                f"TensorFlow cannot load the SavedModel in {servable.path.name}/ (model "
                f"{servable.name!r}, version {servable.version}): {_exception_text(exc)}",
                hint=f"this machine loads it with TensorFlow {tf.__version__}; the container's "
                "TensorFlow Serving is the spec's model.version: export with a TensorFlow that "
                "both can read",
                trace=_trace(traceback.format_exc()),
            ) from exc
        return cls(servable=servable, loaded=loaded, tf=tf)

    @property
    def signature_names(self) -> list[str]:
        return sorted(self.loaded.signatures.keys())

    def _signature(self, name: str) -> tuple[Any, dict[str, _Input]]:
        signatures = self.loaded.signatures
        if name not in signatures:
            raise _bad(f'Serving signature key "{name}" not found.')
        function = signatures[name]
        if name not in self._inputs:
            _, named = function.structured_input_signature
            self._inputs[name] = {
                key: _Input(dtype=spec.dtype.name, tf_dtype=spec.dtype, shape=spec.shape)
                for key, spec in named.items()
            }
        if not self._inputs[name]:
            raise _bad(f"Failed to get input map for signature: {name}")
        return function, self._inputs[name]

    def predict(self, body: bytes | str) -> tuple[int, bytes]:
        """TF Serving's answer to a REST predict request: (HTTP status, JSON body)."""
        try:
            return 200, _dumps(self._predict(body))
        except RestError as error:
            return error.status, error_body(error.message)
        except RecursionError:
            # JSON nested almost as deep as the parser allows leaves no stack to walk it.
            return 400, error_body("JSON Value: nested too deeply to be a tensor")

    def _predict(self, body: bytes | str) -> dict[str, Any]:
        request = _parse_request(body)
        signature_name = request.get("signature_name", DEFAULT_SIGNATURE)
        if not isinstance(signature_name, str):
            raise _bad(
                f"JSON Value: {_show(request)} not formatted correctly. 'signature_name' key "
                "must be a string value."
            )
        function, inputs = self._signature(signature_name)
        has_instances, has_inputs = "instances" in request, "inputs" in request
        if has_instances and has_inputs:
            raise _bad(
                f"JSON Value: {_show(request)} Not formatted correctly expecting only one of "
                "'inputs' or 'instances' keys to exist "
            )
        if has_instances:
            values = _row_inputs(request["instances"], inputs)
        elif has_inputs:
            values = _columnar_inputs(request["inputs"], inputs)
        else:
            raise _bad("Missing 'inputs' or 'instances' key")
        outputs = self._run(function, signature_name, inputs, values)
        return _row_response(outputs) if has_instances else _columnar_response(outputs)

    def _run(
        self,
        function: Any,
        signature_name: str,
        inputs: Mapping[str, _Input],
        values: Mapping[str, tuple[list[int], list[Any]]],
    ) -> dict[str, Any]:
        tf = self.tf
        np = importlib.import_module("numpy")
        tensors: dict[str, Any] = {}
        for name, (shape, flat) in values.items():
            spec = inputs[name]
            if not spec.shape.is_compatible_with(shape):
                raise _bad(
                    f"input {name!r} has shape {_shape_text(shape)}, but signature "
                    f"{signature_name!r} takes {spec.shape}"
                )
            try:
                if spec.dtype == "string":
                    array = np.empty(len(flat), dtype=object)
                    array[:] = flat
                elif spec.dtype in _INT_RANGES:
                    # Narrow integer types wrap, as TF Serving's int_val -> tensor conversion does.
                    wide = np.uint64 if spec.dtype == "uint64" else np.int64
                    array = np.array(flat, dtype=wide).astype(spec.dtype)
                else:
                    array = np.array(flat, dtype=spec.dtype)
                tensors[name] = tf.constant(array.reshape(shape), dtype=spec.tf_dtype)
            except (TypeError, ValueError) as error:
                raise _bad(f"input {name!r}: {brief(str(error))}") from None
        try:
            result = function(**tensors)
        except tf.errors.OpError as error:
            raise RestError(_HTTP_STATUS.get(error.error_code, 500), error.message) from None
        except (TypeError, ValueError) as error:
            raise _bad(brief(str(error))) from None
        if not isinstance(result, Mapping):
            result = {"output_0": result}
        return {name: np.asarray(tensor) for name, tensor in result.items()}


def _parse_request(body: bytes | str) -> dict[str, Any]:
    if isinstance(body, bytes | bytearray):
        try:
            text = bytes(body).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _bad(
                f"JSON Parse error: Invalid encoding in string. at offset: {exc.start}"
            ) from None
    else:
        text = body
    if not text.strip():
        raise _bad("JSON Parse error: The document is empty")
    try:
        request = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _bad(f"JSON Parse error: {exc.msg} at offset: {exc.pos}") from None
    except RecursionError:
        raise _bad("JSON Parse error: the document is nested too deeply") from None
    if not isinstance(request, dict):
        raise _bad(f"JSON Value: {_show(request)} Is not object")
    return request


# ---------------------------------------------------------------- TF Serving's REST port

_PREDICT_PATH = re.compile(r"^/v1/models/([^/:]+)(?:/versions/(\d+))?(?::([a-z]+))?$")


class _RestServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, model: SavedModelServer) -> None:
        self.model = model
        super().__init__(("127.0.0.1", 0), _RestHandler)


class _RestHandler(http.server.BaseHTTPRequestHandler):
    """TF Serving's REST API for scripts that call `context.rest_uri` themselves."""

    server: _RestServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        match = _PREDICT_PATH.match(self.path.split("?", 1)[0])
        status, payload = self._servable(match)
        if status == 200 and match is not None and match.group(3) is None:
            version = str(self.server.model.servable.version)
            payload = {
                "model_version_status": [
                    {
                        "version": version,
                        "state": "AVAILABLE",
                        "status": {"error_code": "OK", "error_message": ""},
                    }
                ]
            }
        elif status == 200:
            status, payload = 404, {"error": f"Malformed request: GET {self.path}"}
        self._send(status, _dumps(payload))

    def do_POST(self) -> None:
        length = (self.headers.get("Content-Length") or "0").strip()
        if not (length.isascii() and length.isdigit()):
            self.close_connection = True
            self._send(400, error_body(f"Content-Length {length[:40]!r} is not a number"))
            return
        body = self.rfile.read(int(length))
        match = _PREDICT_PATH.match(self.path.split("?", 1)[0])
        status, payload = self._servable(match)
        if status != 200 or match is None:
            self._send(status, _dumps(payload))
            return
        method = match.group(3)
        if method == "predict":
            self._send(*self.server.model.predict(body))
        elif method in ("classify", "regress"):
            self._send(
                501,
                error_body(
                    f"deployspec emulates TensorFlow Serving's predict API only, not {method}"
                ),
            )
        else:
            self._send(404, error_body(f"Malformed request: POST {self.path}"))

    def _servable(self, match: re.Match[str] | None) -> tuple[int, dict[str, Any]]:
        if match is None:
            return 404, {"error": f"Malformed request: {self.command} {self.path}"}
        servable = self.server.model.servable
        name, version = match.group(1), match.group(2)
        if name != servable.name:
            return 404, {"error": f"Servable not found for request: Latest({name})"}
        if version is not None and int(version) != servable.version:
            return 404, {"error": f"Servable not found for request: Specific({name}, {version})"}
        return 200, {}

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", JSON_TYPE)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        # The worker's stderr is the user's terminal under `deployspec serve`.
        pass


def start_rest_api(model: SavedModelServer) -> tuple[str, Callable[[], None]]:
    """Serve TF Serving's REST API on a loopback port: (base URL, stop)."""
    server = _RestServer(model)
    thread = threading.Thread(target=server.serve_forever, name="tfserving-rest", daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()

    return f"http://127.0.0.1:{server.server_port}", stop


# ---------------------------------------------------------------- the container's flow


def _nginx_request(body: bytes, content_type: str) -> str:
    """The TF Serving request the container's nginx script makes when there is no
    inference.py: JSON that already is one passes, JSON lines and other JSON become
    `instances`, CSV lines become rows. Raises ModelError 415 for any other content type."""
    # The script compares the header exactly: `application/json; charset=utf-8` is refused.
    if content_type in ("application/json", "application/jsonlines", "application/jsons"):
        data = body.decode("utf-8", "replace")
        if re.search(r'"(instances|inputs|examples)"\s*:', data):
            return data
        if re.search(r"[}\]]\s*[\[{]", data):
            return _json_lines(data)
        if not re.match(r"^\s*\[\s*\[", data):
            data = "[" + data + "]"
        return '{"instances":' + data + "}"
    if content_type == "text/csv":
        return _csv_rows(body.decode("utf-8", "replace"))
    raise ModelError(
        f"Unsupported Media Type: {content_type or 'Unknown'}",
        415,
        hint="without code/inference.py the TensorFlow Serving container takes "
        "application/json, application/jsonlines or text/csv (exactly, without parameters)",
    )


def _js_lines(data: str) -> list[str]:
    return re.split(r"\r?\n", data.strip())


def _json_lines(data: str) -> str:
    lines = _js_lines(data)
    parts = ['{"instances":']
    if len(lines) != 1:
        parts.append("[")
    for index, raw in enumerate(lines):
        line = raw.strip()
        if line:
            parts.append(("" if index == 0 else ",") + line)
    parts.append("}" if len(lines) == 1 else "]}")
    return "".join(parts)


def _csv_rows(data: str) -> str:
    # Quoted unless the first field starts like a number or a quote; as in the container's
    # script, only the first quote and the first comma of each line are rewritten.
    needs_quotes = re.match(r'^\s*("|[\d.Ee+\-]+.*)', data) is None
    lines = _js_lines(data)
    parts = ['{"instances":[']
    for index, raw in enumerate(lines):
        line = raw.strip()
        if not line:
            continue
        several = "," in line
        text = line
        if needs_quotes:
            text = '"' + line.replace('"', '\\"', 1).replace(",", '","', 1) + '"'
        parts.append(f"[{text}]" if several else text)
        if index != len(lines) - 1:
            parts.append(",")
    parts.append("]}")
    return "".join(parts)


def _accepted_json_type(accept: str) -> str | None:
    """The content type the nginx script answers with: the first of the Accept list when it
    lists a JSON type, else None (TF Serving's own)."""
    types = accept.strip().replace(" ", "", 1).split(",")
    if "application/jsonlines" in types or "application/json" in types:
        return types[0]
    return None


def serving_response(status: int, content: bytes, url: str) -> Any:
    """TF Serving's answer as the container hands it to output_handler: a requests.Response."""
    requests = importlib.import_module("requests")
    structures = importlib.import_module("requests.structures")
    response = requests.Response()
    response.status_code = status
    # Set as requests sets it when it has read a body.
    response._content = content
    response.headers = structures.CaseInsensitiveDict(
        {"Content-Type": JSON_TYPE, "Content-Length": str(len(content))}
    )
    response.url = url
    response.encoding = "utf-8"
    response.reason = http.HTTPStatus(status).phrase if status in _KNOWN_STATUSES else ""
    return response


_KNOWN_STATUSES = {status.value for status in http.HTTPStatus}


@dataclass
class TFServingModel:
    """What load_model returns: the SavedModel and the script's handlers."""

    server: SavedModelServer
    handler: Callable[..., Any] | None = None
    input_handler: Callable[..., Any] | None = None
    output_handler: Callable[..., Any] | None = None
    rest_uri: str | None = None
    stop_rest_api: Callable[[], None] | None = None

    @property
    def has_script(self) -> bool:
        return self.handler is not None or self.input_handler is not None

    def close(self) -> None:
        """Stop the REST port (the worker process's exit ends it too)."""
        stop, self.stop_rest_api = self.stop_rest_api, None
        if stop is not None:
            stop()


@dataclass(frozen=True)
class TFServingService:
    """The SageMaker TensorFlow Serving container, in the worker process."""

    model_dir: Path
    env: Mapping[str, str] = field(default_factory=dict)
    framework: str = "tensorflow"

    @property
    def script_path(self) -> Path:
        return self.model_dir / "code" / _SCRIPT

    def load_model(self) -> TFServingModel:
        servable = find_servable(self.model_dir, self.env)
        server = SavedModelServer.load(servable)
        model = TFServingModel(server=server)
        if not self.script_path.is_file():
            return model
        lib = self.model_dir / "code" / "lib"
        if lib.is_dir():
            # The container puts code/lib on the path too, for packages shipped in the model.
            sys.path.insert(0, str(lib))
        module = load_user_module(self.model_dir, _SCRIPT)
        handler = getattr(module, "handler", None)
        if handler is not None:
            model.handler = _callable(handler, "handler")
        elif hasattr(module, "input_handler") and hasattr(module, "output_handler"):
            model.input_handler = _callable(module.input_handler, "input_handler")
            model.output_handler = _callable(module.output_handler, "output_handler")
        else:
            raise ModelError(
                "code/inference.py defines neither handler(data, context) nor both "
                "input_handler(data, context) and output_handler(response, context); the "
                "container refuses it (Handlers are not implemented correctly in user script.)",
                hint="define input_handler and output_handler, or a single handler",
            )
        base, model.stop_rest_api = start_rest_api(server)
        model.rest_uri = f"{base}/v1/models/{servable.name}:predict"
        return model

    def invoke(
        self, model: TFServingModel, body: bytes, content_type: str, accept: str
    ) -> tuple[bytes, str]:
        if not model.has_script:
            return self._without_script(model, body, content_type, accept)
        context = Context(
            model_name=None,
            model_version=None,
            method=None,
            rest_uri=model.rest_uri,
            grpc_port=None,
            channel=None,
            custom_attributes=None,
            request_content_type=content_type or JSON_TYPE,
            accept_header=accept or JSON_TYPE,
            content_length=len(body),
        )
        data = io.BytesIO(body)
        if model.handler is not None:
            result = _run("handler", model.handler, data, context)
            return _handler_result("handler", result)
        if model.input_handler is None or model.output_handler is None:
            raise ModelError("the script's handlers were not loaded")
        request = _run("input_handler", model.input_handler, data, context)
        if not isinstance(request, str | bytes | bytearray):
            raise ModelError(
                f"input_handler returned {type(request).__name__}; it must return the TF "
                "Serving request body as str or bytes (the container posts it as it is, and "
                "TF Serving would not read a form-encoded dict)",
                hint='return json.dumps({"instances": [...]})',
            )
        status, content = model.server.predict(
            bytes(request) if isinstance(request, bytearray) else request
        )
        response = serving_response(status, content, model.rest_uri or "")
        result = _run("output_handler", model.output_handler, response, context)
        return _handler_result("output_handler", result)

    def _without_script(
        self, model: TFServingModel, body: bytes, content_type: str, accept: str
    ) -> tuple[bytes, str]:
        request = _nginx_request(body, content_type)
        status, content = model.server.predict(request)
        if status != 200:
            message = content.decode("utf-8", "replace")
            with contextlib.suppress(ValueError, KeyError, TypeError):
                message = str(json.loads(message)["error"])
            raise ModelError(f"TensorFlow Serving answered {status}: {brief(message)}", status)
        answer_type = _accepted_json_type(accept) if accept else None
        if answer_type is None:
            return content, JSON_TYPE
        return content.replace(b"\n", b""), answer_type


def _callable(value: Any, name: str) -> Callable[..., Any]:
    if not callable(value):
        raise ModelError(f"{name} in code/inference.py is a {type(value).__name__}, not a function")
    return value  # type: ignore[no-any-return]


def _run(stage: str, handler: Callable[..., Any], *args: Any) -> Any:
    # The container answers 500 with the exception's text for any failure of the script.
    try:
        return handler(*args)
    except ModelError:
        raise
    except Exception as exc:
        raise ModelError(
            f"{stage} raised {_exception_text(exc)}", trace=_trace(traceback.format_exc())
        ) from exc


def _handler_result(stage: str, result: Any) -> tuple[bytes, str]:
    """The container sets its response from `body, content_type = result`."""
    try:
        body, content_type = result
    except (TypeError, ValueError):
        raise ModelError(
            f"{stage} returned {type(result).__name__}; the container needs a "
            "(body, content_type) tuple"
        ) from None
    if isinstance(body, str):
        body = body.encode("utf-8")
    if not isinstance(body, bytes | bytearray) or not isinstance(content_type, str):
        raise ModelError(
            f"{stage} returned ({type(body).__name__}, {type(content_type).__name__}); the "
            "container needs (str or bytes, str)"
        )
    return bytes(body), content_type


def load_service(model_dir: Path, env: Mapping[str, str] | None = None) -> TFServingService:
    """The container for the model in model_dir; TensorFlow loads in load_model()."""
    check_servable(model_dir)
    return TFServingService(model_dir=model_dir, env=dict(os.environ if env is None else env))
