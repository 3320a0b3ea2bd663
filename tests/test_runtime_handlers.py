"""The handler contract in-process: resolution against framework defaults, codecs, images."""

from __future__ import annotations

import io
import json
import pickle
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from deployspec.runtime import ModelError, framework_from_image, payloads
from deployspec.runtime.handlers import (
    InferenceService,
    NotRunnableHere,
    load_service,
    read_requirements,
)

ROWS = [[5.1, 3.5, 1.4, 0.2], [6.3, 3.3, 6.0, 2.5]]


@pytest.fixture(scope="module")
def iris_model() -> LogisticRegression:
    features, labels = load_iris(return_X_y=True)
    return LogisticRegression(max_iter=1000).fit(features, labels)


@pytest.fixture(autouse=True)
def isolated_imports(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Scripts are imported into this process here; forget them after each test."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    yield
    for name, module in list(sys.modules.items()):
        if str(getattr(module, "__file__", None) or "").startswith(str(tmp_path)):
            del sys.modules[name]


def model_dir(tmp_path: Path, model: Any, script: str | None, name: str = "inference") -> Path:
    root = tmp_path / "model"
    (root / "code").mkdir(parents=True)
    joblib.dump(model, root / "model.joblib")
    if script is not None:
        (root / "code" / f"{name}.py").write_text(textwrap.dedent(script))
    return root


LOAD_JOBLIB = """
    import os
    import joblib

    def model_fn(model_dir):
        return joblib.load(os.path.join(model_dir, "model.joblib"))
"""


def sklearn_service(tmp_path: Path, model: Any, script: str) -> tuple[InferenceService, Any]:
    service = load_service(model_dir(tmp_path, model, script), "sklearn", "inference.py")
    return service, service.load_model()


# ---------------------------------------------------------------- images


@pytest.mark.parametrize(
    ("uri", "framework"),
    [
        (
            "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3",
            "sklearn",
        ),
        ("683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1", "xgboost"),
        ("811284229777.dkr.ecr.us-east-1.amazonaws.com/xgboost:latest", "xgboost"),
        ("763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.1-cpu-py310", "pytorch"),
        (
            "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference-graviton:2.1-cpu",
            "pytorch",
        ),
        (
            "763104351884.dkr.ecr.us-east-1.amazonaws.com/tensorflow-inference:2.3.0-cpu",
            "tensorflow",
        ),
        (
            "763104351884.dkr.ecr.cn-north-1.amazonaws.com.cn/"
            "huggingface-pytorch-inference:2.1-transformers4.37-cpu-py310-ubuntu22.04",
            "huggingface",
        ),
        (
            "763104351884.dkr.ecr.us-east-1.amazonaws.com/huggingface-tensorflow-inference:2.11",
            "huggingface",
        ),
        ("763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference@sha256:abc", "pytorch"),
        ("localhost:5000/sagemaker-scikit-learn:1.2-1", "sklearn"),
        ("pytorch-inference:2.1-cpu-py310", "pytorch"),
        (
            "763104351884.dkr.ecr.us-east-1.amazonaws.com/huggingface-pytorch-tgi-inference:2.1",
            "huggingface-llm",
        ),
        ("763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.1-cpu-py310", None),
        ("123456789012.dkr.ecr.us-east-1.amazonaws.com/my-team/custom-model:1", None),
    ],
)
def test_framework_from_image(uri: str, framework: str | None) -> None:
    assert framework_from_image(uri) == framework


# ---------------------------------------------------------------- payloads


def test_decode_json_csv_npy() -> None:
    assert payloads.decode(json.dumps(ROWS), "application/json").tolist() == ROWS
    assert payloads.decode("1,2\n3,4\n", "text/csv; charset=utf-8").tolist() == [[1, 2], [3, 4]]
    buffer = io.BytesIO()
    np.save(buffer, np.array(ROWS))
    assert payloads.decode(buffer.getvalue(), "application/x-npy").tolist() == ROWS


def test_decode_refuses_pickled_npy_and_bad_json() -> None:
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ModelError) as npy_error:
        payloads.decode(buffer.getvalue(), "application/x-npy")
    assert npy_error.value.status_code == 400
    with pytest.raises(ModelError) as json_error:
        payloads.decode("[1, 2", "application/json")
    assert json_error.value.status_code == 400


def test_decode_unsupported_type_is_415() -> None:
    with pytest.raises(ModelError) as error:
        payloads.decode(b"\x89PNG", "image/png")
    assert error.value.status_code == 415
    assert "image/png" in error.value.message


def test_encode_picks_first_supported_accept() -> None:
    assert payloads.encode(np.array([0, 2]), "image/png, text/csv;q=0.9") == (b"0\n2\n", "text/csv")
    assert payloads.encode(np.array([[1, 2]]), "text/csv") == (b"1,2\n", "text/csv")
    assert payloads.encode(np.float32(0.5), "*/*") == (b"0.5", "application/json")
    body, kind = payloads.encode([1.5, 2.5], "application/x-npy")
    assert kind == "application/x-npy"
    assert np.load(io.BytesIO(body)).tolist() == [1.5, 2.5]


def test_encode_unsupported_accept_is_406() -> None:
    with pytest.raises(ModelError) as error:
        payloads.encode([1], "application/xml")
    assert error.value.status_code == 406


# ---------------------------------------------------------------- scikit-learn defaults


def test_model_fn_only_uses_the_defaults(tmp_path: Path, iris_model: LogisticRegression) -> None:
    service, model = sklearn_service(tmp_path, iris_model, LOAD_JOBLIB)
    expected = iris_model.predict(np.array(ROWS)).tolist()

    body, kind = service.invoke(model, json.dumps(ROWS).encode(), "application/json", "")
    assert (json.loads(body), kind) == (expected, "application/json")

    csv_rows = "\n".join(",".join(str(v) for v in row) for row in ROWS).encode()
    body, kind = service.invoke(model, csv_rows, "text/csv", "text/csv")
    assert (body.decode().split(), kind) == ([str(v) for v in expected], "text/csv")

    # No Content-Type is JSON, and */* is the default accept, as in the toolkits.
    body, kind = service.invoke(model, json.dumps(ROWS).encode(), "", "*/*")
    assert (json.loads(body), kind) == (expected, "application/json")


def test_default_accept_comes_from_the_environment(
    tmp_path: Path, iris_model: LogisticRegression
) -> None:
    service = load_service(
        model_dir(tmp_path, iris_model, LOAD_JOBLIB), "sklearn", "inference.py", "text/csv"
    )
    body, kind = service.invoke(service.load_model(), json.dumps(ROWS).encode(), "", "")
    assert kind == "text/csv"
    assert body.decode().split() == [str(v) for v in iris_model.predict(np.array(ROWS))]


def test_single_csv_line_fails_like_the_container_with_a_hint(
    tmp_path: Path, iris_model: LogisticRegression
) -> None:
    service, model = sklearn_service(tmp_path, iris_model, LOAD_JOBLIB)
    with pytest.raises(ModelError) as error:
        service.invoke(model, b"5.1,3.5,1.4,0.2", "text/csv", "")
    assert error.value.status_code == 500
    assert "2D array" in error.value.message
    assert error.value.hint is not None and "[[...]]" in error.value.hint


def test_all_four_handlers_are_used(tmp_path: Path, iris_model: LogisticRegression) -> None:
    script = (
        LOAD_JOBLIB
        + """
    import json
    import numpy as np

    def input_fn(input_data, content_type):
        assert isinstance(input_data, str), type(input_data)
        return np.array(json.loads(input_data)["rows"])

    def predict_fn(data, model):
        return model.predict_proba(data)

    def output_fn(prediction, accept):
        return json.dumps({"probabilities": prediction.round(3).tolist(), "accept": accept})
    """
    )
    service, model = sklearn_service(tmp_path, iris_model, script)
    body, kind = service.invoke(
        model, json.dumps({"rows": ROWS}).encode(), "application/json", "application/json"
    )
    answer = json.loads(body)
    assert kind == "application/json"
    assert answer["accept"] == "application/json"
    assert answer["probabilities"] == iris_model.predict_proba(np.array(ROWS)).round(3).tolist()


def test_transform_fn_with_context_and_content_type_tuple(
    tmp_path: Path, iris_model: LogisticRegression
) -> None:
    script = (
        LOAD_JOBLIB
        + """
    import numpy as np

    def transform_fn(model, request_body, content_type, accept, context):
        assert context is None
        assert isinstance(request_body, bytes)  # only JSON and CSV arrive decoded
        lines = request_body.decode().split(";")
        rows = np.array([[float(v) for v in line.split()] for line in lines])
        return " ".join(str(v) for v in model.predict(rows)), "text/plain"
    """
    )
    service, model = sklearn_service(tmp_path, iris_model, script)
    body, kind = service.invoke(model, b"5.1 3.5 1.4 0.2;6.3 3.3 6.0 2.5", "text/plain", "")
    assert kind == "text/plain"
    assert body.decode().split() == [str(v) for v in iris_model.predict(np.array(ROWS))]


def test_flask_style_response_objects_are_understood(
    tmp_path: Path, iris_model: LogisticRegression
) -> None:
    script = (
        LOAD_JOBLIB
        + """
    class Response:
        def __init__(self, body, mimetype, status_code=200):
            self._body, self.mimetype, self.status_code = body, mimetype, status_code

        def get_data(self):
            return self._body

    def output_fn(prediction, accept):
        if len(prediction) > 1:
            return Response(b"too many rows", "text/plain", 400)
        return Response(str(prediction[0]).encode(), "text/plain")
    """
    )
    service, model = sklearn_service(tmp_path, iris_model, script)
    assert service.invoke(model, json.dumps(ROWS[:1]).encode(), "application/json", "") == (
        b"0",
        "text/plain",
    )
    with pytest.raises(ModelError) as error:
        service.invoke(model, json.dumps(ROWS).encode(), "application/json", "")
    assert (error.value.status_code, error.value.message) == (400, "too many rows")


def test_script_exception_becomes_model_error_with_trace(
    tmp_path: Path, iris_model: LogisticRegression
) -> None:
    script = (
        LOAD_JOBLIB
        + """
    def predict_fn(data, model):
        raise RuntimeError("boom: feature 7 is missing")
    """
    )
    service, model = sklearn_service(tmp_path, iris_model, script)
    with pytest.raises(ModelError) as error:
        service.invoke(model, json.dumps(ROWS).encode(), "application/json", "")
    assert error.value.status_code == 500
    assert error.value.message == "predict_fn raised RuntimeError: boom: feature 7 is missing"
    assert error.value.trace is not None and "inference.py" in error.value.trace


def test_output_fn_must_return_bytes_or_str(tmp_path: Path, iris_model: LogisticRegression) -> None:
    script = LOAD_JOBLIB + "\n    def output_fn(prediction, accept):\n        return 42\n"
    service, model = sklearn_service(tmp_path, iris_model, script)
    with pytest.raises(ModelError, match="output_fn returned int"):
        service.invoke(model, json.dumps(ROWS).encode(), "application/json", "")


def test_missing_model_fn_for_sklearn_is_a_clear_error(
    tmp_path: Path, iris_model: LogisticRegression
) -> None:
    script = "def predict_fn(data, model):\n    return model.predict(data)\n"
    with pytest.raises(ModelError) as error:
        load_service(model_dir(tmp_path, iris_model, script), "sklearn", "inference.py")
    assert "code/inference.py does not define model_fn(model_dir)" in error.value.message
    assert "scikit-learn container has no default" in error.value.message


def test_sklearn_without_a_script_has_no_model_fn(
    tmp_path: Path, iris_model: LogisticRegression
) -> None:
    with pytest.raises(ModelError, match="no entry point"):
        load_service(model_dir(tmp_path, iris_model, None), "sklearn", None)


def test_xgboost_script_without_model_fn_fails_like_script_mode(
    tmp_path: Path, iris_model: LogisticRegression
) -> None:
    with pytest.raises(ModelError, match="XGBoost container has no default"):
        load_service(model_dir(tmp_path, iris_model, "x = 1\n"), "xgboost", "inference.py")


def test_transform_fn_cannot_be_mixed(tmp_path: Path, iris_model: LogisticRegression) -> None:
    script = (
        LOAD_JOBLIB
        + """
    def transform_fn(model, body, content_type, accept):
        return body

    def input_fn(body, content_type):
        return body
    """
    )
    with pytest.raises(ModelError, match="transform_fn together with input_fn"):
        load_service(model_dir(tmp_path, iris_model, script), "sklearn", "inference.py")


def test_flat_entry_point_is_ignored_like_the_container(
    tmp_path: Path, iris_model: LogisticRegression
) -> None:
    root = model_dir(tmp_path, iris_model, None)
    (root / "inference.py").write_text(textwrap.dedent(LOAD_JOBLIB))
    with pytest.raises(ModelError) as error:
        load_service(root, "sklearn", "inference.py")
    assert "code/inference.py is not in the model directory" in error.value.message
    assert error.value.hint is not None and "move it under code/" in error.value.hint


def test_missing_requirement_is_named(tmp_path: Path, iris_model: LogisticRegression) -> None:
    root = model_dir(tmp_path, iris_model, "import deployspec_absent_pkg\n")
    (root / "code" / "requirements.txt").write_text(
        "# pinned for the container\njoblib>=1.3\ndeployspec-absent-pkg==1.2.3  # ours\n"
    )
    with pytest.raises(ModelError) as error:
        load_service(root, "sklearn", "inference.py")
    assert "No module named 'deployspec_absent_pkg'" in error.value.message
    assert error.value.hint is not None
    assert "'deployspec-absent-pkg==1.2.3'" in error.value.hint
    assert "deployspec does not" in error.value.hint


def test_unlisted_missing_module_suggests_its_distribution(
    tmp_path: Path, iris_model: LogisticRegression, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = model_dir(tmp_path, iris_model, "import sklearn\n")
    monkeypatch.setitem(sys.modules, "sklearn", None)
    with pytest.raises(ModelError) as error:
        load_service(root, "sklearn", "inference.py")
    assert error.value.hint == "pip install scikit-learn"


def test_read_requirements_skips_options_and_comments(tmp_path: Path) -> None:
    path = tmp_path / "requirements.txt"
    path.write_text(
        "-r base.txt\n--index-url https://x\n\n# c\npandas[parquet]>=2 ; python_version>'3'\n"
    )
    assert read_requirements(path) == [("pandas", "pandas[parquet]>=2 ; python_version>'3'")]


# ---------------------------------------------------------------- other frameworks


def test_pytorch_defaults_name_the_missing_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)
    root = tmp_path / "model"
    root.mkdir()
    (root / "model.pt").write_bytes(b"not really torchscript")
    service = load_service(root, "pytorch", None)
    with pytest.raises(ModelError) as error:
        service.load_model()
    assert "needs the torch package" in error.value.message
    assert error.value.hint is not None and "pip install torch" in error.value.hint


def test_xgboost_defaults_name_the_missing_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "xgboost", None)
    root = tmp_path / "model"
    root.mkdir()
    (root / "xgboost-model").write_bytes(pickle.dumps({"not": "a booster"}))
    service = load_service(root, "xgboost", None)
    with pytest.raises(ModelError) as error:
        service.load_model()
    assert "needs the xgboost package" in error.value.message
    assert error.value.hint is not None and "pip install xgboost" in error.value.hint


def test_tensorflow_has_tf_servings_contract_not_the_toolkits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The worker serves it with tfserving.py (tests/test_tensorflow_serving.py).
    from deployspec.runtime import tfserving

    monkeypatch.setattr(tfserving, "tensorflow_installed", lambda: True)
    (tmp_path / "1" / "variables").mkdir(parents=True)
    with pytest.raises(ModelError, match="TF Serving's contract"):
        load_service(tmp_path, "tensorflow", "inference.py")


def test_unknown_framework(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="no local runtime for framework 'mxnet'"):
        load_service(tmp_path, "mxnet", None)


def test_model_error_survives_pickling() -> None:
    error = ModelError("bad accept", 406, hint="ask for JSON", trace="Traceback ...")
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.message, copy.status_code, copy.hint, copy.trace) == (
        "bad accept",
        406,
        "ask for JSON",
        "Traceback ...",
    )
    assert str(copy) == "bad accept"


def test_libsvm_payload_becomes_a_sparse_matrix() -> None:
    from deployspec.runtime.handlers import _libsvm_matrix

    matrix = _libsvm_matrix("1 0:5.1 2:1.4\n\n0 3:0.2\n")
    assert matrix.toarray().tolist() == [[5.1, 0.0, 1.4, 0.0], [0.0, 0.0, 0.0, 0.2]]
    with pytest.raises(ModelError) as error:
        _libsvm_matrix("0:abc")
    assert error.value.status_code == 400


def test_handler_with_the_wrong_arity_is_named(
    tmp_path: Path, iris_model: LogisticRegression
) -> None:
    script = LOAD_JOBLIB + "\n    def input_fn(a, b, c, d):\n        return a\n"
    service, model = sklearn_service(tmp_path, iris_model, script)
    with pytest.raises(ModelError, match="input_fn takes 4 argument"):
        service.invoke(model, b"[]", "application/json", "")


# ---------------------------------------------------------------- what this machine lacks, sizes


def test_what_this_machine_lacks_is_told_apart_from_a_broken_script(
    tmp_path: Path, iris_model: LogisticRegression, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The sandbox fails an endpoint's health check for a broken script, never for a package
    # that the container has and this machine does not.
    missing = model_dir(tmp_path / "a", iris_model, "import deployspec_absent_pkg\n")
    with pytest.raises(NotRunnableHere):
        load_service(missing, "sklearn", "inference.py")
    monkeypatch.setitem(sys.modules, "torch", None)
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "model.pt").write_bytes(b"not really torchscript")
    with pytest.raises(NotRunnableHere):
        load_service(tmp_path / "b", "pytorch", None).load_model()
    broken = model_dir(tmp_path / "c", iris_model, "def model_fn(model_dir)\n    return 1\n")
    with pytest.raises(ModelError) as error:
        load_service(broken, "sklearn", "inference.py")
    assert not isinstance(error.value, NotRunnableHere)
    assert "SyntaxError" in error.value.message


def test_huge_exception_texts_are_cut(tmp_path: Path, iris_model: LogisticRegression) -> None:
    script = LOAD_JOBLIB + (
        "\n    def predict_fn(data, model):\n        raise RuntimeError('x' * 5_000_000)\n"
    )
    service, model = sklearn_service(tmp_path, iris_model, script)
    with pytest.raises(ModelError) as error:
        service.invoke(model, json.dumps(ROWS).encode(), "application/json", "")
    assert len(error.value.message) < 5_000
    assert error.value.message.endswith("(4,995,904 more characters cut)")
    assert error.value.trace is not None and len(error.value.trace) < 17_000
    assert error.value.trace.rstrip().endswith("more characters cut)")


def test_the_entry_point_can_come_from_a_submitted_source_dir(
    tmp_path: Path, iris_model: LogisticRegression
) -> None:
    root = model_dir(tmp_path, iris_model, None)
    source = tmp_path / "sourcedir"
    source.mkdir()
    (source / "serve_iris.py").write_text(textwrap.dedent(LOAD_JOBLIB))
    service = load_service(root, "sklearn", "serve_iris.py", code_dir=source)
    model = service.load_model()
    body, _ = service.invoke(model, json.dumps(ROWS).encode(), "application/json", "")
    assert json.loads(body) == iris_model.predict(np.array(ROWS)).tolist()
    with pytest.raises(ModelError, match=r"SAGEMAKER_SUBMIT_DIRECTORY names has no other\.py"):
        load_service(root, "sklearn", "other.py", code_dir=source)
