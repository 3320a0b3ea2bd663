"""ModelWorker: one user model loaded in its own process, answering invocations.

Contract:
- `ModelWorker(model_dir, framework=, program=, env=, code_dir=)` starts a worker process
  that sets the model's environment in os.environ, imports
  `code/<program>` (or `<code_dir>/<program>`: the container's SAGEMAKER_SUBMIT_DIRECTORY when
  it is not in the model), resolves the handlers (handlers.py; TensorFlow Serving's contract,
  tfserving.py, for TensorFlow; the LLM containers' contracts, llm.py) and runs model_fn once
  (or loads the LLM). The constructor returns when the model
  is loaded, or raises ModelError with the script's error; it never waits longer than
  `startup_timeout`.
- `invoke(body, content_type, accept, timeout)` -> `(body, content_type)`. A script failure is a
  ModelError with the container's status code.
- `invoke_stream(body, content_type, accept, timeout)` -> `(content_type, parts)`: the answer as
  the model produces it, for a service that streams (the LLM containers, llm.py); any other
  gives its whole answer as one part. A failure before the first part raises; one after it is
  raised by the iterator. `timeout` bounds the wait for each part. The worker stays busy until
  the iterator ends or is closed; closed early, the rest of the answer is read and dropped
  (a worker that does not finish it within `timeout` is stopped, and restarts on the next
  request). A worker that dies (segfault, os._exit, sys.exit)
  or exceeds `timeout` is stopped, the call raises ModelError, and the next call starts a fresh
  worker. Calls are serialised: one worker handles one request at a time, like a container with
  one model worker.
- `ping()` is cheap and never blocks: True while the worker process is up.
- `close()` (also on context exit, garbage collection and interpreter exit) ends the process.
The host process never imports or runs the user's code, so a crashing script cannot take it down.

Each worker is a fresh interpreter (multiprocessing's 'spawn' context), except a scikit-learn
model whose environment sets nothing those libraries read when imported (`_IMPORT_TIME_PREFIXES`):
it is forked from multiprocessing's fork server, which imported numpy, joblib and scikit-learn
once for the host process. The container imports them anyway to unpickle the model; what the
script sees is the same, and a worker starts in a tenth of a second instead of two.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import multiprocessing.context
import os
import signal
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from multiprocessing.util import Finalize
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, NoReturn

from deployspec.runtime.errors import ModelError
from deployspec.runtime.handlers import (
    InferenceService,
    check_servable,
    describe_model_error,
    load_service,
)
from deployspec.runtime.payloads import JSON

if TYPE_CHECKING:
    from deployspec.runtime.llm import LLMService
    from deployspec.runtime.tfserving import TFServingService

_CONTAINER_MODEL_DIR = "/opt/ml/model"
_STOP_GRACE_SECONDS = 2.0
# What the fork server imports before it forks scikit-learn workers. Missing ones are skipped.
_PRELOAD = ("numpy", "joblib", "sklearn", "deployspec.runtime.worker")
# Variables numpy's BLAS, OpenMP, joblib or scikit-learn read when they are imported: a model
# that sets one needs them imported after its environment is in place, so it gets 'spawn'.
_IMPORT_TIME_PREFIXES = (
    "OMP_",
    "KMP_",
    "GOMP_",
    "OPENBLAS_",
    "GOTO_",
    "MKL_",
    "BLIS_",
    "NPY_",
    "NUMPY_",
    "SCIPY_",
    "JOBLIB_",
    "LOKY_",
    "SKLEARN_",
    "PYTHON",
)


@dataclass(frozen=True)
class _WorkerConfig:
    model_dir: str
    framework: str
    program: str | None
    env: dict[str, str]
    code_dir: str | None = None


def worker_environment(
    model_dir: Path, program: str | None, env: Mapping[str, str]
) -> dict[str, str]:
    """The variables the script sees: the model's env, with container paths made local."""
    result: dict[str, str] = {}
    for key, value in env.items():
        # Scripts read SM_MODEL_DIR or SAGEMAKER_SUBMIT_DIRECTORY as container paths; here the
        # model lives in model_dir, so /opt/ml/model must point there.
        if value == _CONTAINER_MODEL_DIR or value.startswith(_CONTAINER_MODEL_DIR + "/"):
            value = str(model_dir) + value[len(_CONTAINER_MODEL_DIR) :]
        result[key] = value
    result.setdefault("SM_MODEL_DIR", str(model_dir))
    if program:
        result["SAGEMAKER_PROGRAM"] = program
        result.setdefault("SAGEMAKER_SUBMIT_DIRECTORY", str(model_dir / "code"))
    return result


def _serve(conn: Connection, config: _WorkerConfig) -> None:
    """The worker process: load the model, then answer requests until the pipe closes."""
    # Ctrl-C in `deployspec serve` reaches the whole process group; the host stops us itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ.update(config.env)
    try:
        service: InferenceService | TFServingService | LLMService
        from deployspec.runtime import llm

        if config.framework == "tensorflow":
            # TensorFlow Serving's contract, not the toolkits' handlers; it imports TensorFlow.
            from deployspec.runtime.tfserving import load_service as load_tf_serving

            service = load_tf_serving(Path(config.model_dir))
        elif config.framework in llm.FRAMEWORKS:
            service = llm.load_service(Path(config.model_dir), config.framework)
        else:
            service = load_service(
                Path(config.model_dir),
                config.framework,
                config.program,
                default_accept=os.environ.get("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT") or JSON,
                code_dir=Path(config.code_dir) if config.code_dir else None,
            )
        model: Any = service.load_model()
    except Exception as exc:
        conn.send(("error", describe_model_error(exc)))
        return
    conn.send(("ready", None))
    while True:
        try:
            request = conn.recv()
        except EOFError:
            return
        body, content_type, accept, stream = request
        if stream and isinstance(service, llm.LLMService):
            _stream(conn, service, model, body, content_type, accept)
            continue
        try:
            reply: tuple[str, Any] = ("ok", service.invoke(model, body, content_type, accept))
        except Exception as exc:
            reply = ("error", describe_model_error(exc))
        conn.send(reply)


def _stream(
    conn: Connection, service: LLMService, model: Any, body: bytes, content_type: str, accept: str
) -> None:
    """One streamed answer: ("start", content type), ("part", bytes)..., then ("end", None) or
    ("error", ModelError); an error before the start is the only message."""
    try:
        result_type, parts = service.invoke_stream(model, body, content_type, accept)
        first = next(parts, None)
    except Exception as exc:
        conn.send(("error", describe_model_error(exc)))
        return
    conn.send(("start", result_type))
    try:
        if first is not None:
            conn.send(("part", first))
            for part in parts:
                conn.send(("part", part))
    except Exception as exc:
        conn.send(("error", describe_model_error(exc)))
        return
    conn.send(("end", None))


def _stop(process: BaseProcess, conn: Connection) -> None:
    conn.close()
    try:
        process.terminate()
        process.join(_STOP_GRACE_SECONDS)
        if process.exitcode is None:
            process.kill()
            process.join()
        process.close()
    except ValueError:
        # Already closed by a concurrent stop (close() racing a crashed invoke).
        pass


def _context(
    config: _WorkerConfig,
) -> multiprocessing.context.SpawnContext | multiprocessing.context.ForkServerContext:
    """Where a worker process comes from; see the module docstring."""
    if config.framework != "sklearn" or any(
        key.startswith(_IMPORT_TIME_PREFIXES) for key in config.env
    ):
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    # Read when the fork server starts (the first fork); later calls change nothing.
    context.set_forkserver_preload(list(_PRELOAD))
    return context


def _describe_exit(exitcode: int | None) -> str:
    if exitcode is None:
        return "stopped responding"
    if exitcode < 0:
        try:
            return f"was killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"was killed by signal {-exitcode}"
    return f"exited with code {exitcode}"


class ModelWorker:
    """A model served by a child process; see the module docstring for the contract."""

    def __init__(
        self,
        model_dir: Path,
        *,
        framework: str,
        program: str | None,
        env: Mapping[str, str] | None = None,
        startup_timeout: float = 60.0,
        code_dir: Path | None = None,
    ) -> None:
        self._model_dir = Path(model_dir).resolve()
        check_servable(self._model_dir, framework)
        given = dict(env or {})
        program = program or given.get("SAGEMAKER_PROGRAM") or None
        self._config = _WorkerConfig(
            model_dir=str(self._model_dir),
            framework=framework,
            program=program,
            env=worker_environment(self._model_dir, program, given),
            code_dir=str(Path(code_dir).resolve()) if code_dir is not None else None,
        )
        self._startup_timeout = startup_timeout
        self._lock = threading.Lock()
        self._process: BaseProcess | None = None
        self._conn: Connection | None = None
        self._finalizer: Finalize | None = None
        self._closed = False
        self._startup_done = False
        with self._lock:
            self._start()
        self._startup_done = True

    @property
    def model_dir(self) -> Path:
        return self._model_dir

    @property
    def framework(self) -> str:
        return self._config.framework

    @property
    def pid(self) -> int | None:
        """The worker process id, None while no worker runs (after a crash or close)."""
        process = self._process
        return process.pid if process is not None else None

    def invoke(
        self, body: bytes, content_type: str, accept: str, timeout: float = 60.0
    ) -> tuple[bytes, str]:
        with self._lock:
            if self._closed:
                raise ModelError("the model worker is closed")
            if self._conn is None or not self._running():
                self._discard()
                self._start()
            conn = self._conn
            if conn is None:  # _start() sets it or raises; never None here
                raise ModelError("the model worker did not start")
            try:
                conn.send((bytes(body), content_type, accept, False))
            except (OSError, ValueError):
                self._died("handling the request")
            kind, payload = self._receive(timeout, "handling the request")
        if kind == "error":
            raise payload
        body_out, content_type_out = payload
        return body_out, content_type_out

    def invoke_stream(
        self, body: bytes, content_type: str, accept: str, timeout: float = 60.0
    ) -> tuple[str, Iterator[bytes]]:
        # The lock is held until the stream ends: the worker answers one request at a time.
        self._lock.acquire()
        try:
            if self._closed:
                raise ModelError("the model worker is closed")
            if self._conn is None or not self._running():
                self._discard()
                self._start()
            conn = self._conn
            if conn is None:  # _start() sets it or raises; never None here
                raise ModelError("the model worker did not start")
            try:
                conn.send((bytes(body), content_type, accept, True))
            except (OSError, ValueError):
                self._died("handling the request")
            kind, payload = self._receive(timeout, "handling the request")
        except BaseException:
            self._lock.release()
            raise
        if kind == "start":
            return str(payload), _Stream(self, timeout)
        self._lock.release()
        if kind == "error":
            raise payload
        body_out, content_type_out = payload
        return content_type_out, iter([body_out])

    def ping(self) -> bool:
        process = self._process
        if self._closed or process is None:
            return False
        try:
            # Waiting on the sentinel, unlike is_alive(), never reaps: safe from any thread.
            return not multiprocessing.connection.wait([process.sentinel], 0)
        except (OSError, ValueError):
            return False

    def close(self) -> None:
        # No lock: close() must be able to interrupt an invocation that hangs.
        self._closed = True
        finalizer = self._finalizer
        if finalizer is not None:
            finalizer()

    def __enter__(self) -> ModelWorker:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # The methods below run with self._lock held.

    def _start(self) -> None:
        context = _context(self._config)
        parent_conn, child_conn = context.Pipe(duplex=True)
        process = context.Process(
            target=_serve,
            args=(child_conn, self._config),
            name=f"deployspec-model-worker[{self._model_dir.name}]",
        )
        process.start()
        child_conn.close()
        self._process, self._conn = process, parent_conn
        # Finalize (not atexit) runs before multiprocessing joins its children at exit, and
        # when this object is garbage collected; exitpriority makes it run at exit at all.
        self._finalizer = Finalize(self, _stop, args=(process, parent_conn), exitpriority=10)
        kind, payload = self._receive(self._startup_timeout, "loading the model")
        if kind == "error":
            self._discard()
            raise payload

    def _running(self) -> bool:
        process = self._process
        return process is not None and not multiprocessing.connection.wait([process.sentinel], 0)

    def _receive(self, timeout: float, activity: str) -> tuple[str, Any]:
        process, conn = self._process, self._conn
        if process is None or conn is None:
            raise ModelError("the model worker is not running")
        try:
            ready = multiprocessing.connection.wait([conn, process.sentinel], timeout)
            if conn.poll(0):
                message: tuple[str, Any] = conn.recv()
                return message
        except (EOFError, OSError, ValueError):
            self._died(activity)
        if not ready:
            self._discard()
            raise ModelError(
                f"the model did not finish {activity} within {timeout:g} s; "
                "its worker was stopped and restarts on the next request",
                504,
            )
        self._died(activity)

    def _died(self, activity: str) -> NoReturn:
        process = self._process
        exitcode: int | None = None
        if process is not None:
            try:
                process.join(_STOP_GRACE_SECONDS)
                exitcode = process.exitcode
            except ValueError:
                exitcode = None
        self._discard()
        if self._closed:
            raise ModelError("the model worker was closed while " + activity) from None
        hint = "something in the inference script ended the process (os._exit, sys.exit, a crash "
        hint += "in native code)"
        if self._startup_done:
            hint += "; a fresh worker starts on the next request"
        raise ModelError(
            f"the model worker process {_describe_exit(exitcode)} while {activity}", hint=hint
        ) from None

    def _discard(self) -> None:
        finalizer = self._finalizer
        self._process = self._conn = self._finalizer = None
        if finalizer is not None:
            finalizer()


class _Stream:
    """The parts of one streamed answer, read from the worker as they arrive. It holds the
    worker's lock until the last part, an error, or close() (also on garbage collection)."""

    def __init__(self, worker: ModelWorker, timeout: float) -> None:
        self._worker = worker
        self._timeout = timeout
        self._open = True

    def __iter__(self) -> _Stream:
        return self

    def __next__(self) -> bytes:
        if not self._open:
            raise StopIteration
        try:
            kind, payload = self._worker._receive(self._timeout, "streaming the response")
        except BaseException:
            self._finish()  # _receive stopped a worker that died or hung
            raise
        if kind == "part":
            return bytes(payload)
        self._finish()
        if kind == "end":
            raise StopIteration
        raise payload

    def close(self) -> None:
        if not self._open:
            return
        # The worker is mid-answer: the rest of it would be read as the next answer. Reading
        # it to the end costs less than a new worker (importing torch alone takes seconds);
        # one that does not end within the timeout is stopped.
        try:
            while True:
                kind, _ = self._worker._receive(self._timeout, "finishing an abandoned stream")
                if kind != "part":
                    break
        except ModelError:
            pass  # _receive stopped the worker
        self._finish()

    def __del__(self) -> None:
        self.close()

    def _finish(self) -> None:
        self._open = False
        self._worker._lock.release()
