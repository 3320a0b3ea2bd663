"""The inference-toolkit handler contract: user script + framework defaults -> one InferenceService.

Contract:
- `framework_from_image(uri)` names the framework whose container an ECR image is, from its
  repository name: a toolkit framework, or one of the LLM containers (huggingface-llm for TGI,
  huggingface-vllm, huggingface-sglang, huggingface-tei, djl-lmi: llm.py's contracts); None for
  custom images.
- `load_service(model_dir, framework, program, default_accept)` imports `code/<program>` from the
  model directory (the layout the PyTorch, scikit-learn and XGBoost containers expect) and fills
  every handler the script does not define with the framework's default, as the containers do:
  `model_fn(model_dir)`, `input_fn(body, content_type)`, `predict_fn(data, model)`,
  `output_fn(prediction, accept)`, or a single `transform_fn(model, body, content_type, accept)`.
  A handler may take one extra trailing `context` argument, as in the toolkits; it gets None.
- `InferenceService.load_model()` runs model_fn once; `InferenceService.invoke()` runs one
  request and returns `(body, content_type)`. Every failure is a ModelError with the status the
  container would answer (500 script failure, 415 content type, 406 accept, 400 bad body).
- TensorFlow has TF Serving's contract instead (tfserving.py, which the worker uses for it),
  the LLM containers theirs (llm.py); check_servable hands those models' checks to them.
- `NotRunnableHere` (a ModelError) marks what fails only because this machine lacks what the
  container has (a framework runtime, a package); the sandbox does not fail an endpoint's
  health check for it. Exception texts and traces in ModelErrors are capped in size.
Nothing here spawns processes or sets os.environ, but load_user_module puts code/ on sys.path and
imports user code: the worker process (worker.py) is where this runs.
Framework packages (numpy, torch, xgboost, transformers) are imported only when a default needs
them, and a missing one is a ModelError that says what to pip install. Deliberate differences
from the containers are marked where they are made.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import json
import os
import pickle
import re
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from deployspec.runtime import payloads
from deployspec.runtime.errors import ModelError
from deployspec.runtime.payloads import ANY, CSV, JSON, LIBSVM, NPY, UTF8_TYPES, X_LIBSVM

Handler = Callable[..., Any]

# A script can raise an exception whose text is megabytes long; the error reports quote it.
MAX_EXCEPTION_TEXT = 4 * 1024
MAX_TRACE_TEXT = 16 * 1024


class NotRunnableHere(ModelError):
    """The model needs what its container has and this machine lacks (the framework's runtime,
    a package the image or code/requirements.txt provides): not necessarily a fault of the model.
    """


def brief(text: str, limit: int = MAX_EXCEPTION_TEXT) -> str:
    """`text` cut to `limit` characters, saying how much was cut."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit:,} more characters cut)"


def _trace(text: str) -> str:
    # Each line is cut like an exception text (the last line is one), then the end of the
    # traceback is kept: it names the failing line.
    text = "\n".join(brief(line) for line in text.splitlines())
    if len(text) <= MAX_TRACE_TEXT:
        return text
    return f"({len(text) - MAX_TRACE_TEXT:,} characters cut)...\n{text[-MAX_TRACE_TEXT:]}"


def _exception_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {brief(str(exc))}"


# Checked in order: the Hugging Face repositories also contain "pytorch"/"tensorflow".
_IMAGE_REPOSITORIES: tuple[tuple[re.Pattern[str], str], ...] = (
    # The LLM containers (sagemaker-core's image tables name these repositories).
    (re.compile(r"^huggingface-pytorch-tgi-inference$"), "huggingface-llm"),
    (re.compile(r"^huggingface-vllm(-[a-z0-9-]+)?$"), "huggingface-vllm"),
    (re.compile(r"^huggingface-sglang(-[a-z0-9-]+)?$"), "huggingface-sglang"),
    (re.compile(r"^tei(-cpu)?$"), "huggingface-tei"),
    (re.compile(r"^djl-inference$"), "djl-lmi"),
    (re.compile(r"^huggingface-(pytorch|tensorflow)-inference(-neuronx?)?$"), "huggingface"),
    (re.compile(r"^sagemaker-scikit-learn$"), "sklearn"),
    (re.compile(r"^(sagemaker-)?xgboost$"), "xgboost"),
    (re.compile(r"^(pytorch-inference|sagemaker-pytorch)(-[a-z0-9-]+)?$"), "pytorch"),
    (
        re.compile(r"^(tensorflow-inference|sagemaker-tensorflow-serving)(-[a-z0-9-]+)?$"),
        "tensorflow",
    ),
)


def framework_from_image(image_uri: str) -> str | None:
    """'sklearn' | 'xgboost' | 'pytorch' | 'tensorflow' | 'huggingface' | an LLM container
    kind (llm.FRAMEWORKS) | None."""
    reference = image_uri.strip().split("@", 1)[0]
    parts = reference.split("/")
    # A first component with a dot, a colon or "localhost" is a registry host, not a path.
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        parts = parts[1:]
    name = parts[-1].split(":", 1)[0].lower()
    for pattern, framework in _IMAGE_REPOSITORIES:
        if pattern.match(name):
            return framework
    return None


# ---------------------------------------------------------------- missing packages


# Import names whose distribution on PyPI is called differently.
_DISTRIBUTIONS = {
    "sklearn": "scikit-learn",
    "PIL": "pillow",
    "cv2": "opencv-python",
    "yaml": "PyYAML",
    "bs4": "beautifulsoup4",
    "skimage": "scikit-image",
    "sagemaker_containers": "sagemaker-containers",
    "sagemaker_inference": "sagemaker-inference",
}
_REQUIREMENT_NAME = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)")


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _installed(distribution: str) -> bool:
    try:
        importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def read_requirements(path: Path) -> list[tuple[str, str]]:
    """(distribution name, requirement line) for each package line of a requirements.txt."""
    if not path.is_file():
        return []
    found: list[tuple[str, str]] = []
    for raw in path.read_text(encoding="utf-8", errors="replace").splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith(("#", "-")):
            continue
        match = _REQUIREMENT_NAME.match(line)
        if match:
            found.append((match.group(1), line))
    return found


def missing_module_hint(exc: ModuleNotFoundError, code_dir: Path) -> str:
    """What to install for a failed import, naming the code/requirements.txt line if one fits."""
    module = (exc.name or "").split(".", 1)[0]
    distribution = _DISTRIBUTIONS.get(module, module)
    requirements = read_requirements(code_dir / "requirements.txt")
    wanted = {_canonical(module), _canonical(distribution)}
    for name, line in requirements:
        if _canonical(name) in wanted:
            return (
                f"code/requirements.txt lists {line!r}: the container pip-installs it at start, "
                f"deployspec does not; pip install {line!r} into this environment"
            )
    missing = [line for name, line in requirements if not _installed(name)]
    if missing:
        return (
            f"code/requirements.txt lists packages not installed here ({', '.join(missing)}): "
            f"the container pip-installs them at start, deployspec does not; "
            f"pip install -r {code_dir / 'requirements.txt'}"
        )
    return f"pip install {distribution}"


def _require(module: str, purpose: str, install: str) -> Any:
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        raise NotRunnableHere(
            f"{purpose} needs the {module} package, which is not installed here "
            f"({exc.name} is missing)",
            hint=f"pip install {install}, or define the handler yourself in your script",
        ) from exc


# ---------------------------------------------------------------- framework defaults


@dataclass(frozen=True)
class FrameworkDefaults:
    """What a framework's container does for each handler the script leaves out."""

    display_name: str
    # model_fn when the script exists but defines none; None: the container has no default.
    model_fn: Handler | None
    # model_fn when there is no script at all (XGBoost's algorithm mode loads the model file).
    scriptless_model_fn: Handler | None
    input_fn: Handler
    predict_fn: Handler
    output_fn: Handler


def _sklearn_input_fn(input_data: str | bytes, content_type: str) -> Any:
    array = payloads.decode(input_data, content_type)
    # The scikit-learn container casts text payloads to float32 before predicting.
    if payloads.media_type(content_type) in UTF8_TYPES:
        return array.astype("float32")
    return array


def _sklearn_predict_fn(data: Any, model: Any) -> Any:
    try:
        return model.predict(data)
    except ValueError as exc:
        if getattr(data, "ndim", None) == 1:
            raise ModelError(
                f"predict_fn raised ValueError: {exc}",
                hint=(
                    "the default input_fn turns a single CSV line or a flat JSON list into a "
                    "1-D array, and the real container fails the same way: send a 2-D JSON list "
                    "([[...]]), several CSV lines, or define input_fn"
                ),
            ) from exc
        raise


def _numpy_output_fn(prediction: Any, accept: str) -> tuple[bytes, str]:
    return payloads.encode(prediction, accept)


def _torch() -> Any:
    return _require("torch", "the PyTorch container's default handlers", "torch")


def _torch_model_file(model_dir: Path) -> Path:
    for name in ("model.pt", "model.pth"):
        if (model_dir / name).is_file():
            return model_dir / name
    candidates = sorted(
        p for p in model_dir.iterdir() if p.is_file() and p.suffix in (".pt", ".pth")
    )
    if len(candidates) != 1:
        raise ModelError(
            "the PyTorch default model_fn needs exactly one .pt or .pth file at the root of the "
            f"model directory, found {[p.name for p in candidates]}",
            hint="name the TorchScript file model.pt, or define model_fn",
        )
    return candidates[0]


def _torch_model_fn(model_dir: str) -> Any:
    torch = _torch()
    path = _torch_model_file(Path(model_dir))
    try:
        model = torch.jit.load(str(path), map_location=torch.device("cpu"))
    except RuntimeError as exc:
        raise ModelError(
            f"the PyTorch default model_fn cannot load {path.name} as TorchScript: {exc}",
            hint="save the model with torch.jit.save(torch.jit.script(model), ...) or define "
            "model_fn",
        ) from exc
    return model


def _torch_input_fn(input_data: str | bytes, content_type: str) -> Any:
    torch = _torch()
    array = payloads.decode(input_data, content_type)
    if payloads.media_type(content_type) in UTF8_TYPES:
        return torch.as_tensor(array, dtype=torch.float32)
    return torch.from_numpy(array)


def _torch_predict_fn(data: Any, model: Any) -> Any:
    torch = _torch()
    with torch.no_grad():
        model.eval()
        return model(data)


def _torch_output_fn(prediction: Any, accept: str) -> tuple[bytes, str]:
    torch = _torch()
    if isinstance(prediction, torch.Tensor):
        prediction = prediction.detach().cpu().numpy().tolist()
    return payloads.encode(prediction, accept)


def _xgboost() -> Any:
    return _require("xgboost", "the XGBoost container's default handlers", "xgboost")


def _xgboost_model_file(model_dir: Path) -> Path:
    if (model_dir / "xgboost-model").is_file():
        return model_dir / "xgboost-model"
    candidates = sorted(
        p for p in model_dir.iterdir() if p.is_file() and not p.name.startswith(".")
    )
    if len(candidates) != 1:
        raise ModelError(
            "the XGBoost container without an entry point loads the single model file at the "
            f"root of model.tar.gz, found {[p.name for p in candidates]}",
            hint="name the model file xgboost-model, or add code/inference.py with model_fn",
        )
    return candidates[0]


def _xgboost_model_fn(model_dir: str) -> Any:
    xgb = _xgboost()
    path = _xgboost_model_file(Path(model_dir))
    booster = xgb.Booster()
    try:
        booster.load_model(str(path))
        return booster
    except Exception as native_error:
        # Like the container, fall back to a pickled model: it is the user's own artifact.
        try:
            with path.open("rb") as stream:
                return pickle.load(stream)
        except Exception as pickle_error:
            raise ModelError(
                f"cannot load {path.name} as an XGBoost model ({native_error}) nor as a pickle "
                f"({type(pickle_error).__name__}: {pickle_error})"
            ) from pickle_error


def _libsvm_matrix(text: str) -> Any:
    """`label idx:value ...` lines as a scipy CSR matrix; labels are ignored, like the container."""
    sparse = _require("scipy.sparse", "the XGBoost default input_fn for libsvm", "scipy")

    rows: list[int] = []
    columns: list[int] = []
    values: list[float] = []
    lines = [line for line in text.splitlines() if line.strip()]
    try:
        for row, line in enumerate(lines):
            for token in line.split():
                if ":" in token:
                    column, value = token.split(":", 1)
                    rows.append(row)
                    columns.append(int(column))
                    values.append(float(value))
    except ValueError as exc:
        raise ModelError(f"cannot decode the libsvm request body: {exc}", 400) from exc
    width = max(columns, default=-1) + 1
    return sparse.csr_matrix((values, (rows, columns)), shape=(len(lines), width))


def _xgboost_input_fn(input_data: str | bytes, content_type: str) -> Any:
    xgb = _xgboost()
    np = payloads.require_numpy()
    kind = payloads.media_type(content_type)
    if kind == CSV:
        # Unlike the numpy decoder, the XGBoost one keeps every line a row and empty cells NaN.
        lines = [line for line in payloads.as_text(input_data).splitlines() if line.strip()]
        rows = [["nan" if cell == "" else cell for cell in line.split(",")] for line in lines]
        try:
            return xgb.DMatrix(np.array(rows, dtype="float32"))
        except ValueError as exc:
            raise ModelError(f"cannot decode the text/csv request body: {exc}", 400) from exc
    if kind in (LIBSVM, X_LIBSVM):
        return xgb.DMatrix(_libsvm_matrix(payloads.as_text(input_data)))
    if kind in (JSON, NPY):
        array = payloads.decode(input_data, content_type)
        return xgb.DMatrix(np.atleast_2d(array).astype("float32"))
    raise payloads.unsupported_content_type(content_type, (CSV, LIBSVM, X_LIBSVM, JSON, NPY))


def _xgboost_predict_fn(data: Any, model: Any) -> Any:
    xgb = _xgboost()
    if isinstance(model, xgb.Booster):
        return model.predict(data, validate_features=False)
    return model.predict(data)


def _huggingface_model_fn(model_dir: str) -> Any:
    transformers = _require(
        "transformers", "the Hugging Face container's default model_fn", "transformers"
    )
    task = os.environ.get("HF_TASK")
    if not task:
        raise ModelError(
            "the Hugging Face default model_fn needs the HF_TASK environment variable "
            "(e.g. text-classification) to build a pipeline from the model directory",
            hint="set HF_TASK in the spec's environment, or define model_fn",
        )
    return transformers.pipeline(task=task, model=model_dir, device=-1)


def _huggingface_input_fn(input_data: str | bytes, content_type: str) -> Any:
    if payloads.media_type(content_type) != JSON:
        raise payloads.unsupported_content_type(content_type, (JSON,))
    try:
        data = json.loads(payloads.as_text(input_data))
    except ValueError as exc:
        raise ModelError(f"cannot decode the application/json request body: {exc}", 400) from exc
    if not isinstance(data, dict) or "inputs" not in data:
        raise ModelError('the Hugging Face default input_fn expects {"inputs": ...}', 400)
    return data


def _huggingface_predict_fn(data: dict[str, Any], model: Any) -> Any:
    parameters = data.get("parameters") or {}
    return model(data["inputs"], **parameters)


DEFAULTS: dict[str, FrameworkDefaults] = {
    "sklearn": FrameworkDefaults(
        display_name="scikit-learn",
        model_fn=None,
        scriptless_model_fn=None,
        input_fn=_sklearn_input_fn,
        predict_fn=_sklearn_predict_fn,
        output_fn=_numpy_output_fn,
    ),
    # In script mode the XGBoost container has no default model_fn; only without a script
    # (algorithm mode) does it load the model file itself.
    "xgboost": FrameworkDefaults(
        display_name="XGBoost",
        model_fn=None,
        scriptless_model_fn=_xgboost_model_fn,
        input_fn=_xgboost_input_fn,
        predict_fn=_xgboost_predict_fn,
        output_fn=_numpy_output_fn,
    ),
    "pytorch": FrameworkDefaults(
        display_name="PyTorch",
        model_fn=_torch_model_fn,
        scriptless_model_fn=_torch_model_fn,
        input_fn=_torch_input_fn,
        predict_fn=_torch_predict_fn,
        output_fn=_torch_output_fn,
    ),
    "huggingface": FrameworkDefaults(
        display_name="Hugging Face",
        model_fn=_huggingface_model_fn,
        scriptless_model_fn=_huggingface_model_fn,
        input_fn=_huggingface_input_fn,
        predict_fn=_huggingface_predict_fn,
        output_fn=_numpy_output_fn,
    ),
}


def check_servable(model_dir: Path, framework: str) -> None:
    """Raise ModelError unless this runtime can serve `framework` from `model_dir`."""
    if framework == "tensorflow":
        # TensorFlow Serving's contract, not the toolkits' handlers: tfserving.py.
        from deployspec.runtime import tfserving

        tfserving.check_servable(model_dir)
        return
    from deployspec.runtime import llm

    if framework in llm.FRAMEWORKS:
        llm.check_servable(model_dir, framework)
        return
    if framework not in DEFAULTS:
        raise NotRunnableHere(
            f"no local runtime for framework {framework!r} "
            f"(local serving supports {', '.join(sorted(DEFAULTS))})"
        )
    if not model_dir.is_dir():
        raise ModelError(f"model directory {model_dir} does not exist")


# ---------------------------------------------------------------- user script


def _module_name(program: str) -> str:
    stem = program[: -len(".py")] if program.endswith(".py") else program
    return stem.replace("/", ".")


def load_user_module(model_dir: Path, program: str, code_dir: Path | None = None) -> ModuleType:
    """Import code/<program> with code/ first on sys.path, as the containers do; `code_dir`
    replaces code/ when SAGEMAKER_SUBMIT_DIRECTORY named another place (an unpacked
    sourcedir.tar.gz)."""
    submitted = code_dir is not None
    code_dir = code_dir if code_dir is not None else model_dir / "code"
    module_name = _module_name(program)
    script = code_dir / (module_name.replace(".", "/") + ".py")
    if not script.is_file() and submitted:
        raise ModelError(
            f"SAGEMAKER_PROGRAM is {program} but the source directory that "
            f"SAGEMAKER_SUBMIT_DIRECTORY names has no {script.relative_to(code_dir)}",
            hint="put the entry point at the root of sourcedir.tar.gz",
        )
    if not script.is_file():
        flat = model_dir / script.name
        hint = (
            f"the containers load the entry point from code/ only: {script.name} at the root of "
            "model.tar.gz is ignored; move it under code/"
            if flat.is_file()
            else "put the entry point under code/ in model.tar.gz"
        )
        raise ModelError(
            f"SAGEMAKER_PROGRAM is {program} but {script.relative_to(model_dir)} is not in the "
            f"model directory {model_dir}",
            hint=hint,
        )
    sys.path.insert(0, str(code_dir))
    importlib.invalidate_caches()
    where = _where(program, submitted)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise NotRunnableHere(
            f"importing {where} failed: {brief(str(exc))}",
            hint=missing_module_hint(exc, code_dir),
            trace=_trace(traceback.format_exc()),
        ) from exc
    except Exception as exc:
        raise ModelError(
            f"importing {where} failed: {_exception_text(exc)}",
            trace=_trace(traceback.format_exc()),
        ) from exc
    loaded_from = getattr(module, "__file__", None)
    if loaded_from is None or Path(loaded_from).resolve() != script.resolve():
        raise ModelError(
            f"{where} is shadowed by the already imported module {module_name!r} "
            f"({loaded_from or 'built in'})",
            hint=f"rename {where} and SAGEMAKER_PROGRAM",
        )
    return module


def _where(program: str, submitted: bool) -> str:
    """How error messages name the entry point."""
    script = _module_name(program).replace(".", "/") + ".py"
    return f"{script} (from SAGEMAKER_SUBMIT_DIRECTORY)" if submitted else f"code/{script}"


def _call(handler: Handler, *args: Any) -> Any:
    """Call a handler, adding the toolkits' trailing context argument (None) if it wants one."""
    try:
        parameters = list(inspect.signature(handler).parameters.values())
    except (TypeError, ValueError):
        return handler(*args)
    positional = [
        p
        for p in parameters
        if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    ]
    required = [p for p in positional if p.default is inspect.Parameter.empty]
    takes_varargs = any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in parameters)
    if len(required) == len(args) + 1 and not takes_varargs:
        return handler(*args, None)
    if len(required) <= len(args) and (takes_varargs or len(positional) >= len(args)):
        return handler(*args)
    name = getattr(handler, "__name__", "handler")
    raise ModelError(
        f"{name} takes {len(required)} argument(s) but the toolkit passes {len(args)} "
        f"(or {len(args) + 1} with context)"
    )


@dataclass(frozen=True)
class InferenceService:
    """One model's handlers, resolved; runs inside the worker process."""

    framework: str
    model_dir: Path
    script: str | None
    model_fn: Handler
    input_fn: Handler
    predict_fn: Handler
    output_fn: Handler
    transform_fn: Handler | None
    default_accept: str = JSON
    code_dir_override: Path | None = None

    @property
    def code_dir(self) -> Path:
        """Where the entry point and its requirements.txt are."""
        return self.code_dir_override or self.model_dir / "code"

    def load_model(self) -> Any:
        return self._run("model_fn", self.model_fn, str(self.model_dir))

    def invoke(self, model: Any, body: bytes, content_type: str, accept: str) -> tuple[bytes, str]:
        # Both defaults are the toolkits': a missing Content-Type is JSON, and a missing or
        # wildcard Accept is SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT (JSON unless set).
        content_type = content_type.strip() or JSON
        accept = accept.strip()
        if not accept or accept == ANY:
            accept = self.default_accept
        data: str | bytes = body
        if payloads.media_type(content_type) in UTF8_TYPES:
            data = payloads.as_text(body)
        if self.transform_fn is not None:
            result = self._run("transform_fn", self.transform_fn, model, data, content_type, accept)
            return _response("transform_fn", result, accept)
        decoded = self._run("input_fn", self.input_fn, data, content_type)
        prediction = self._run("predict_fn", self.predict_fn, decoded, model)
        result = self._run("output_fn", self.output_fn, prediction, accept)
        return _response("output_fn", result, accept)

    def _run(self, stage: str, handler: Handler, *args: Any) -> Any:
        try:
            return _call(handler, *args)
        except ModelError as exc:
            if exc.trace is None:
                exc.trace = _trace(traceback.format_exc())
            raise
        except ModuleNotFoundError as exc:
            raise NotRunnableHere(
                f"{stage} raised {_exception_text(exc)}",
                hint=missing_module_hint(exc, self.code_dir),
                trace=_trace(traceback.format_exc()),
            ) from exc
        except Exception as exc:
            raise ModelError(
                f"{stage} raised {_exception_text(exc)}", trace=_trace(traceback.format_exc())
            ) from exc


def _response(stage: str, result: Any, accept: str) -> tuple[bytes, str]:
    body: Any = result
    content_type = accept
    if isinstance(result, tuple) and len(result) == 2:
        body, content_type = result[0], str(result[1])
    elif hasattr(result, "get_data") and hasattr(result, "mimetype"):
        # A Flask-style response, as scripts written for sagemaker-containers return.
        status = int(getattr(result, "status_code", 200))
        body, content_type = result.get_data(), result.mimetype or accept
        if status >= 400:
            raise ModelError(payloads.as_text(body), status)
    if isinstance(body, str):
        return body.encode("utf-8"), content_type
    if isinstance(body, bytes | bytearray | memoryview):
        return bytes(body), content_type
    raise ModelError(
        f"{stage} returned {type(body).__name__}; it must return bytes or str, "
        "or a (body, content_type) tuple"
    )


_HANDLER_NAMES = ("model_fn", "input_fn", "predict_fn", "output_fn", "transform_fn")


def load_service(
    model_dir: Path,
    framework: str,
    program: str | None,
    default_accept: str = JSON,
    code_dir: Path | None = None,
) -> InferenceService:
    """Import the user's script (if any) and resolve every handler against the defaults;
    `code_dir` is where the script is when not under code/ (see load_user_module)."""
    check_servable(model_dir, framework)
    if framework == "tensorflow":
        raise ModelError(
            "TensorFlow models have TF Serving's contract, not the toolkits' handlers: "
            "serve them with tfserving.load_service"
        )
    defaults = DEFAULTS[framework]
    module = load_user_module(model_dir, program, code_dir) if program else None
    where = _where(program, code_dir is not None) if program else None
    user: dict[str, Handler] = {}
    for name in _HANDLER_NAMES:
        handler = getattr(module, name, None) if module is not None else None
        if handler is None:
            continue
        if not callable(handler):
            raise ModelError(f"{name} in {where} is a {type(handler).__name__}, not a function")
        user[name] = handler

    transform_fn = user.get("transform_fn")
    if transform_fn is not None and {"input_fn", "predict_fn", "output_fn"} & user.keys():
        raise ModelError(
            f"{where} defines transform_fn together with input_fn, predict_fn or output_fn; "
            "the containers refuse that combination",
            hint="keep either transform_fn alone or the input_fn/predict_fn/output_fn trio",
        )

    model_fn = user.get("model_fn")
    if model_fn is None:
        model_fn = defaults.model_fn if module is not None else defaults.scriptless_model_fn
    if model_fn is None:
        if where is None:
            message = (
                f"no entry point (SAGEMAKER_PROGRAM) and the {defaults.display_name} container "
                "has no default model_fn to load the model"
            )
        else:
            message = (
                f"{where} does not define model_fn(model_dir), and the "
                f"{defaults.display_name} container has no default one"
            )
        raise ModelError(
            message,
            hint="define model_fn(model_dir) in code/inference.py, returning the loaded model "
            "(e.g. joblib.load(os.path.join(model_dir, 'model.joblib')))",
        )

    return InferenceService(
        framework=framework,
        model_dir=model_dir,
        script=where,
        model_fn=model_fn,
        input_fn=user.get("input_fn", defaults.input_fn),
        predict_fn=user.get("predict_fn", defaults.predict_fn),
        output_fn=user.get("output_fn", defaults.output_fn),
        transform_fn=transform_fn,
        default_accept=default_accept,
        code_dir_override=code_dir,
    )


def describe_model_error(exc: BaseException) -> ModelError:
    """Any exception escaping the service, as the ModelError the worker sends back."""
    if isinstance(exc, ModelError):
        return exc
    trace = _trace("".join(traceback.format_exception(exc)))
    return ModelError(_exception_text(exc), trace=trace)
