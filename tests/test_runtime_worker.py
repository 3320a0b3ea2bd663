"""ModelWorker end to end: real worker processes, real scikit-learn models, real crashes."""

from __future__ import annotations

import importlib.util
import io
import json
import multiprocessing
import os
import sys
import textwrap
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.process import BaseProcess
from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from deployspec.runtime import ModelError, ModelWorker
from deployspec.runtime.handlers import NotRunnableHere
from deployspec.runtime.worker import _context, _WorkerConfig

ROWS = [[5.1, 3.5, 1.4, 0.2], [6.3, 3.3, 6.0, 2.5], [5.9, 3.0, 4.2, 1.5]]
JSON_ROWS = json.dumps(ROWS).encode()

LOAD_JOBLIB = """
    import os
    import joblib

    def model_fn(model_dir):
        return joblib.load(os.path.join(model_dir, "model.joblib"))
"""

# A model without scikit-learn: importing it costs seconds per worker start on small machines.
PETAL_RULE = """
    import os
    import numpy as np

    class PetalRule:
        def predict(self, data):
            return (np.asarray(data)[:, 2] > 2.5).astype(int)

    def model_fn(model_dir):
        return PetalRule()
"""
RULE_ANSWER = [0, 1, 1]

# predict_fn misbehaves on request: the first feature of the first row picks how.
CHAOS = (
    PETAL_RULE
    + """
    import ctypes
    import sys
    import time

    def predict_fn(data, model):
        marker = data[0][0]
        if marker == -1:
            os._exit(3)
        if marker == -2:
            sys.exit(4)
        if marker == -3:
            ctypes.string_at(0)
        if marker == -4:
            raise ValueError("boom: negative sepal")
        if marker == -5:
            time.sleep(30)
        return model.predict(data)
"""
)


@pytest.fixture(scope="module", autouse=True)
def no_leaked_workers() -> Iterator[None]:
    yield
    assert multiprocessing.active_children() == []


def leaked_since(before: set[BaseProcess]) -> set[BaseProcess]:
    return set(multiprocessing.active_children()) - before


@pytest.fixture(scope="module")
def iris_model() -> LogisticRegression:
    features, labels = load_iris(return_X_y=True)
    return LogisticRegression(max_iter=1000).fit(features, labels)


@pytest.fixture(scope="module")
def expected(iris_model: LogisticRegression) -> list[int]:
    return [int(v) for v in iris_model.predict(np.array(ROWS))]


def build(root: Path, model: LogisticRegression, script: str | None) -> Path:
    (root / "code").mkdir(parents=True)
    joblib.dump(model, root / "model.joblib")
    if script is not None:
        (root / "code" / "inference.py").write_text(textwrap.dedent(script))
    return root


def start(root: Path, startup_timeout: float = 60.0) -> ModelWorker:
    return ModelWorker(
        root, framework="sklearn", program="inference.py", startup_timeout=startup_timeout
    )


@pytest.fixture(scope="module")
def sklearn_worker(
    tmp_path_factory: pytest.TempPathFactory, iris_model: LogisticRegression
) -> Iterator[ModelWorker]:
    """model_fn only: the scikit-learn defaults do the rest."""
    with start(build(tmp_path_factory.mktemp("iris"), iris_model, LOAD_JOBLIB)) as worker:
        yield worker


@pytest.fixture(scope="module")
def chaos_worker(
    tmp_path_factory: pytest.TempPathFactory, iris_model: LogisticRegression
) -> Iterator[ModelWorker]:
    with start(build(tmp_path_factory.mktemp("chaos"), iris_model, CHAOS)) as worker:
        yield worker


def crash_request(marker: int) -> bytes:
    return json.dumps([[marker, 0, 0, 0]]).encode()


# ---------------------------------------------------------------- predictions


def test_model_fn_only_serves_json_csv_and_npy(
    sklearn_worker: ModelWorker, expected: list[int]
) -> None:
    assert sklearn_worker.ping()
    body, kind = sklearn_worker.invoke(JSON_ROWS, "application/json", "application/json")
    assert (json.loads(body), kind) == (expected, "application/json")

    csv_rows = "\n".join(",".join(map(str, row)) for row in ROWS).encode()
    body, kind = sklearn_worker.invoke(csv_rows, "text/csv", "text/csv")
    assert (body.decode().split(), kind) == ([str(v) for v in expected], "text/csv")

    body, kind = sklearn_worker.invoke(JSON_ROWS, "application/json", "application/x-npy")
    assert kind == "application/x-npy"
    assert np.load(io.BytesIO(body)).tolist() == expected


def test_unsupported_content_type_and_accept(
    sklearn_worker: ModelWorker, expected: list[int]
) -> None:
    with pytest.raises(ModelError) as content_type_error:
        sklearn_worker.invoke(b"<rows/>", "application/xml", "")
    assert content_type_error.value.status_code == 415
    assert "application/xml" in content_type_error.value.message

    with pytest.raises(ModelError) as accept_error:
        sklearn_worker.invoke(JSON_ROWS, "application/json", "image/png")
    assert accept_error.value.status_code == 406

    body, _ = sklearn_worker.invoke(JSON_ROWS, "application/json", "*/*")
    assert json.loads(body) == expected


def test_all_four_handlers(tmp_path: Path, iris_model: LogisticRegression) -> None:
    script = (
        LOAD_JOBLIB
        + """
    import json
    import numpy as np

    def input_fn(input_data, content_type):
        return np.array(json.loads(input_data)["instances"])

    def predict_fn(data, model):
        return model.predict_proba(data)

    def output_fn(prediction, accept):
        best = prediction.argmax(axis=1)
        return json.dumps({"labels": best.tolist(), "pid": os.getpid()}), "application/json"
    """
    )
    with start(build(tmp_path, iris_model, script)) as worker:
        body, kind = worker.invoke(json.dumps({"instances": ROWS}).encode(), "application/json", "")
    answer = json.loads(body)
    assert kind == "application/json"
    assert answer["labels"] == iris_model.predict_proba(np.array(ROWS)).argmax(axis=1).tolist()
    assert answer["pid"] != os.getpid()


def test_transform_fn(tmp_path: Path, iris_model: LogisticRegression, expected: list[int]) -> None:
    script = (
        LOAD_JOBLIB
        + """
    import numpy as np

    def transform_fn(model, request_body, content_type, accept):
        rows = np.array([[float(v) for v in line.split(",")] for line in request_body.splitlines()])
        names = ["setosa", "versicolor", "virginica"]
        return "\\n".join(names[i] for i in model.predict(rows)), "text/plain"
    """
    )
    csv_rows = "\n".join(",".join(map(str, row)) for row in ROWS).encode()
    with start(build(tmp_path, iris_model, script)) as worker:
        body, kind = worker.invoke(csv_rows, "text/csv", "")
    names = ["setosa", "versicolor", "virginica"]
    assert (body.decode().splitlines(), kind) == ([names[i] for i in expected], "text/plain")


def test_environment_reaches_the_script(tmp_path: Path, iris_model: LogisticRegression) -> None:
    script = (
        PETAL_RULE
        + """
    import json

    def transform_fn(model, request_body, content_type, accept):
        keys = ["GREETING", "SAGEMAKER_PROGRAM", "SM_MODEL_DIR", "SAGEMAKER_SUBMIT_DIRECTORY"]
        return json.dumps({key: os.environ.get(key) for key in keys})
    """
    )
    root = build(tmp_path, iris_model, script)
    env = {
        "GREETING": "hello",
        "SAGEMAKER_PROGRAM": "inference.py",
        "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
    }
    with ModelWorker(root, framework="sklearn", program=None, env=env) as worker:
        body, _ = worker.invoke(b"{}", "application/json", "")
    assert json.loads(body) == {
        "GREETING": "hello",
        "SAGEMAKER_PROGRAM": "inference.py",
        "SM_MODEL_DIR": str(root.resolve()),
        "SAGEMAKER_SUBMIT_DIRECTORY": str(root.resolve() / "code"),
    }
    assert "GREETING" not in os.environ


# Where the worker process came from (its parent), and what it sees of its environment.
ORIGIN = (
    PETAL_RULE
    + """
    import json
    import sys

    PRELOADED = "sklearn" in sys.modules

    def transform_fn(model, request_body, content_type, accept):
        return json.dumps(
            {
                "parent": os.getppid(),
                "threads": os.environ.get("OMP_NUM_THREADS"),
                "preloaded": PRELOADED,
            }
        )
    """
)


@pytest.mark.parametrize(
    ("env", "forked"),
    [
        ({}, True),
        ({"GREETING": "hello"}, True),
        # numpy's BLAS reads it when imported: the model's value must be set before that.
        ({"OMP_NUM_THREADS": "3"}, False),
        ({"SKLEARN_ASSUME_FINITE": "true"}, False),
    ],
)
def test_a_sklearn_worker_is_forked_from_preloaded_libraries_unless_its_env_is_read_at_import(
    tmp_path: Path, iris_model: LogisticRegression, env: dict[str, str], forked: bool
) -> None:
    root = build(tmp_path, iris_model, ORIGIN)
    with ModelWorker(root, framework="sklearn", program="inference.py", env=env) as worker:
        body, _ = worker.invoke(b"{}", "application/json", "")
    seen = json.loads(body)
    # A spawned worker is this process's child; a forked one is the fork server's.
    assert (seen["parent"] != os.getpid()) is forked
    assert seen["threads"] == env.get("OMP_NUM_THREADS")
    assert seen["preloaded"] is forked


@pytest.mark.parametrize("framework", ["pytorch", "xgboost", "huggingface", "tensorflow"])
def test_other_frameworks_start_a_fresh_interpreter(framework: str) -> None:
    config = _WorkerConfig(model_dir="/m", framework=framework, program=None, env={})
    assert _context(config).get_start_method() == "spawn"


def test_concurrent_invocations_are_serialised(
    sklearn_worker: ModelWorker, expected: list[int]
) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(
            pool.map(
                lambda _: sklearn_worker.invoke(JSON_ROWS, "application/json", "")[0], range(32)
            )
        )
    assert set(answers) == {json.dumps(expected).encode()}


# ---------------------------------------------------------------- script failures


def test_script_exception_is_a_model_error_and_the_worker_survives(
    chaos_worker: ModelWorker,
) -> None:
    pid = chaos_worker.pid
    with pytest.raises(ModelError) as error:
        chaos_worker.invoke(crash_request(-4), "application/json", "")
    assert error.value.status_code == 500
    assert error.value.message == "predict_fn raised ValueError: boom: negative sepal"
    assert error.value.trace is not None and "inference.py" in error.value.trace
    assert chaos_worker.pid == pid
    assert json.loads(chaos_worker.invoke(JSON_ROWS, "application/json", "")[0]) == RULE_ANSWER


@pytest.mark.parametrize(
    ("marker", "death"),
    [(-1, "exited with code 3"), (-2, "exited with code 4"), (-3, "was killed by SIGSEGV")],
)
def test_dying_worker_is_restarted_on_the_next_call(
    chaos_worker: ModelWorker, marker: int, death: str
) -> None:
    chaos_worker.invoke(JSON_ROWS, "application/json", "")
    pid = chaos_worker.pid
    with pytest.raises(ModelError) as error:
        chaos_worker.invoke(crash_request(marker), "application/json", "")
    assert error.value.message == f"the model worker process {death} while handling the request"
    assert not chaos_worker.ping()

    body, _ = chaos_worker.invoke(JSON_ROWS, "application/json", "")
    assert json.loads(body) == RULE_ANSWER
    assert chaos_worker.pid not in (None, pid)
    assert chaos_worker.ping()


def test_hanging_request_times_out_and_the_worker_restarts(chaos_worker: ModelWorker) -> None:
    began = time.monotonic()
    with pytest.raises(ModelError) as error:
        chaos_worker.invoke(crash_request(-5), "application/json", "", timeout=0.5)
    assert time.monotonic() - began < 10
    assert error.value.status_code == 504
    body, _ = chaos_worker.invoke(JSON_ROWS, "application/json", "")
    assert json.loads(body) == RULE_ANSWER


# ---------------------------------------------------------------- load failures


def test_missing_model_fn_fails_at_start(tmp_path: Path, iris_model: LogisticRegression) -> None:
    before = set(multiprocessing.active_children())
    script = "def predict_fn(data, model):\n    return model.predict(data)\n"
    with pytest.raises(ModelError) as error:
        start(build(tmp_path, iris_model, script))
    assert "does not define model_fn(model_dir)" in error.value.message
    assert not leaked_since(before)


def test_model_fn_exception_fails_at_start(tmp_path: Path, iris_model: LogisticRegression) -> None:
    before = set(multiprocessing.active_children())
    script = "def model_fn(model_dir):\n    raise FileNotFoundError('model.joblib is gone')\n"
    with pytest.raises(ModelError) as error:
        start(build(tmp_path, iris_model, script))
    assert error.value.message == "model_fn raised FileNotFoundError: model.joblib is gone"
    assert not leaked_since(before)


def test_exit_while_loading_fails_at_start(tmp_path: Path, iris_model: LogisticRegression) -> None:
    before = set(multiprocessing.active_children())
    script = "import os\n\nos._exit(7)\n"
    with pytest.raises(ModelError, match="exited with code 7 while loading the model"):
        start(build(tmp_path, iris_model, script))
    assert not leaked_since(before)


def test_slow_model_fn_hits_the_startup_timeout(
    tmp_path: Path, iris_model: LogisticRegression
) -> None:
    before = set(multiprocessing.active_children())
    script = "import time\n\ndef model_fn(model_dir):\n    time.sleep(60)\n"
    began = time.monotonic()
    with pytest.raises(ModelError) as error:
        start(build(tmp_path, iris_model, script), startup_timeout=1.0)
    assert time.monotonic() - began < 15
    assert error.value.status_code == 504
    assert "loading the model" in error.value.message
    assert not leaked_since(before)


def test_missing_requirement_is_named(tmp_path: Path, iris_model: LogisticRegression) -> None:
    before = set(multiprocessing.active_children())
    root = build(tmp_path, iris_model, "import deployspec_absent_pkg\n")
    (root / "code" / "requirements.txt").write_text("deployspec-absent-pkg>=2\n")
    with pytest.raises(ModelError) as error:
        start(root)
    assert "No module named 'deployspec_absent_pkg'" in error.value.message
    assert error.value.hint is not None and "'deployspec-absent-pkg>=2'" in error.value.hint
    assert not leaked_since(before)


def test_tensorflow_without_the_extra_is_refused_without_starting_a_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from deployspec.runtime import tfserving

    monkeypatch.setattr(tfserving, "tensorflow_installed", lambda: False)
    before = set(multiprocessing.active_children())
    (tmp_path / "1").mkdir()
    (tmp_path / "1" / "saved_model.pb").write_bytes(b"")
    with pytest.raises(NotRunnableHere, match="needs TensorFlow") as error:
        ModelWorker(tmp_path, framework="tensorflow", program=None)
    assert error.value.hint is not None and "deployspec[tensorflow]" in error.value.hint
    assert not leaked_since(before)


def test_a_savedmodel_that_does_not_load_fails_the_worker_start(tmp_path: Path) -> None:
    # TensorFlow Serving's own loader fails on it, so the container never comes up.
    pytest.importorskip("tensorflow")
    before = set(multiprocessing.active_children())
    (tmp_path / "1").mkdir()
    (tmp_path / "1" / "saved_model.pb").write_bytes(b"\xff not a SavedModel")
    with pytest.raises(ModelError, match="TensorFlow cannot load the SavedModel") as error:
        ModelWorker(tmp_path, framework="tensorflow", program=None)
    assert not isinstance(error.value, NotRunnableHere)
    assert not leaked_since(before)


@pytest.mark.parametrize(("framework", "package"), [("pytorch", "torch"), ("xgboost", "xgboost")])
def test_framework_defaults_without_the_framework_installed(
    tmp_path: Path, framework: str, package: str
) -> None:
    if importlib.util.find_spec(package) is not None:
        pytest.skip(f"{package} is installed here; the in-process tests cover this path")
    (tmp_path / ("model.pt" if framework == "pytorch" else "xgboost-model")).write_bytes(b"\0")
    with pytest.raises(ModelError) as error:
        ModelWorker(tmp_path, framework=framework, program=None)
    assert f"needs the {package} package" in error.value.message
    assert error.value.hint is not None and f"pip install {package}" in error.value.hint


# ---------------------------------------------------------------- lifecycle


def test_close_ends_the_process(tmp_path: Path, iris_model: LogisticRegression) -> None:
    before = set(multiprocessing.active_children())
    worker = start(build(tmp_path, iris_model, PETAL_RULE))
    pid = worker.pid
    assert pid is not None
    worker.close()
    assert not worker.ping()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    with pytest.raises(ModelError, match="closed"):
        worker.invoke(JSON_ROWS, "application/json", "")
    worker.close()
    assert not leaked_since(before)


def test_garbage_collected_worker_ends_its_process(
    tmp_path: Path, iris_model: LogisticRegression
) -> None:
    before = set(multiprocessing.active_children())
    worker = start(build(tmp_path, iris_model, PETAL_RULE))
    pid = worker.pid
    assert pid is not None
    del worker
    assert not leaked_since(before)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_host_never_imports_the_script() -> None:
    assert "inference" not in sys.modules
