"""TensorFlow SavedModels served locally: TF Serving's REST predict contract, the SageMaker
TensorFlow Serving container's handler flow (code/inference.py), and the ResNet50 example end to
end through the sandbox. Needs the `tensorflow` extra, which `make test` installs."""

from __future__ import annotations

import base64
import importlib
import json
import math
import os
import shutil
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deployspec.runtime import ModelWorker
from deployspec.runtime import tfserving as tfs
from deployspec.runtime.errors import ModelError
from deployspec.runtime.handlers import NotRunnableHere, check_servable
from deployspec.runtime.server import make_server
from deployspec.sandbox import control
from tests.conftest import REPO, run_cli

# CI installs the extra (make test): there a missing TensorFlow must fail, never skip.
tf: Any = (
    importlib.import_module("tensorflow")
    if os.environ.get("CI")
    else pytest.importorskip("tensorflow")
)

EXAMPLE = REPO / "examples" / "tensorflow-resnet50"
JSON = "application/json"
PNG = base64.b64decode(json.loads((EXAMPLE / "input.json").read_text())["instances"][0]["b64"])


# ---------------------------------------------------------------- small SavedModels


class _HalfPlusTwo(tf.Module):  # type: ignore[misc]
    """TF Serving's own toy: y = x / 2 + offset, with a second signature doubling x."""

    def __init__(self, offset: float) -> None:
        super().__init__()
        self.offset = tf.constant(offset)
        spec = [tf.TensorSpec([None], tf.float32, name="x")]
        self.serve = tf.function(lambda x: {"y": x * 0.5 + self.offset}, input_signature=spec)
        self.double = tf.function(lambda x: {"y": x * 2.0}, input_signature=spec)


class _Multi(tf.Module):  # type: ignore[misc]
    """Two inputs, three outputs: one numeric, one binary (`_bytes`) and one text."""

    def __init__(self) -> None:
        super().__init__()
        self.serve = tf.function(
            self._serve,
            input_signature=[
                tf.TensorSpec([None, 2], tf.float32, name="x"),
                tf.TensorSpec([None], tf.string, name="tag"),
            ],
        )

    def _serve(self, x: Any, tag: Any) -> dict[str, Any]:
        return {
            "total": tf.reduce_sum(x, axis=1),
            "tag_bytes": tag,
            "label": tf.strings.join([tag, tf.constant("!")]),
        }


class _TopFive(tf.Module):  # type: ignore[misc]
    """The ResNet50 export's signature (image_bytes -> top-5 classes and probabilities), with
    scores from the image's length instead of a network, so that it builds in a moment."""

    def __init__(self) -> None:
        super().__init__()
        self.labels = tf.constant([f"class_{i}" for i in range(10)])
        spec = [tf.TensorSpec([None], tf.string, name="image_bytes")]
        self.serve = tf.function(self._serve, input_signature=spec)

    def _serve(self, image_bytes: Any) -> dict[str, Any]:
        length = tf.cast(tf.strings.length(image_bytes), tf.float32)
        logits = tf.expand_dims(length, 1) * tf.range(10, dtype=tf.float32) / 100.0
        top = tf.math.top_k(tf.nn.softmax(logits), k=5)
        return {"classes": tf.gather(self.labels, top.indices), "probabilities": top.values}


def _save(module: Any, path: Path, signatures: dict[str, Any]) -> None:
    tf.saved_model.save(module, str(path), signatures=signatures)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Model directories as the container unpacks model.tar.gz (version folders at the root)."""
    root = tmp_path_factory.mktemp("tf-models")
    half = root / "half"
    # Versions 9 and 10: the highest is 10 numerically, but "9" sorts after "10" as text.
    old, new = _HalfPlusTwo(0.0), _HalfPlusTwo(2.0)
    _save(old, half / "9", {"serving_default": old.serve})
    _save(new, half / "10", {"serving_default": new.serve, "double": new.double})
    multi = _Multi()
    _save(multi, root / "multi" / "1", {"serving_default": multi.serve})
    top = _TopFive()
    _save(top, root / "top" / "00002", {"serving_default": top.serve})
    return {"half": half, "multi": root / "multi", "top": root / "top"}


@pytest.fixture(scope="module")
def half(models: dict[str, Path]) -> tfs.SavedModelServer:
    return tfs.SavedModelServer.load(tfs.find_servable(models["half"], {}))


@pytest.fixture(scope="module")
def multi(models: dict[str, Path]) -> tfs.SavedModelServer:
    return tfs.SavedModelServer.load(tfs.find_servable(models["multi"], {}))


def predict(server: tfs.SavedModelServer, request: Any) -> tuple[int, Any]:
    body = request if isinstance(request, bytes) else json.dumps(request).encode()
    status, answer = server.predict(body)
    return status, json.loads(answer)


# ---------------------------------------------------------------- which SavedModel


def test_the_highest_numeric_version_is_served(
    models: dict[str, Path], half: tfs.SavedModelServer
) -> None:
    servable = tfs.find_servable(models["half"], {})
    assert (servable.name, servable.version, servable.path.name) == ("model", 10, "10")
    # Version 10 adds 2; version 9 would answer [1.0].
    assert predict(half, {"instances": [2.0]}) == (200, {"predictions": [3.0]})


def test_the_version_folder_keeps_its_number_without_leading_zeros(
    models: dict[str, Path],
) -> None:
    servable = tfs.find_servable(models["top"], {})
    assert (servable.name, servable.version) == ("model", 2)


def test_named_models_and_the_default_model_name(tmp_path: Path) -> None:
    for name in ("alpha", "beta"):
        (tmp_path / name / "1").mkdir(parents=True)
        (tmp_path / name / "1" / "saved_model.pb").write_bytes(b"")
    assert tfs.find_servable(tmp_path, {}).name == "alpha"
    chosen = tfs.find_servable(tmp_path, {"SAGEMAKER_TFS_DEFAULT_MODEL_NAME": "beta"})
    assert (chosen.name, chosen.path) == ("beta", tmp_path / "beta" / "1")
    with pytest.raises(ModelError, match="SAGEMAKER_TFS_DEFAULT_MODEL_NAME is 'gamma'"):
        tfs.find_servable(tmp_path, {"SAGEMAKER_TFS_DEFAULT_MODEL_NAME": "gamma"})


def test_a_model_without_version_folders_is_refused(tmp_path: Path) -> None:
    (tmp_path / "saved_model.pb").write_bytes(b"")
    (tmp_path / "code").mkdir()
    with pytest.raises(ModelError, match="no SavedModel bundles found"):
        tfs.find_servable(tmp_path, {})


# ---------------------------------------------------------------- the REST predict contract


def test_row_and_columnar_forms_of_a_single_input(half: tfs.SavedModelServer) -> None:
    assert predict(half, {"instances": [1.0, 2.0, 5.0]}) == (200, {"predictions": [2.5, 3.0, 4.5]})
    assert predict(half, {"inputs": [1.0, 2.0]}) == (200, {"outputs": [2.5, 3.0]})
    # JSON integers are numbers for a float input.
    assert predict(half, {"instances": [4]}) == (200, {"predictions": [4.0]})


def test_signature_name_selects_another_signature(half: tfs.SavedModelServer) -> None:
    answer = predict(half, {"signature_name": "double", "instances": [1.5]})
    assert answer == (200, {"predictions": [3.0]})
    status, body = predict(half, {"signature_name": "nope", "instances": [1.0]})
    assert (status, body) == (400, {"error": 'Serving signature key "nope" not found.'})


def test_float32_outputs_are_written_as_float32_reads(half: tfs.SavedModelServer) -> None:
    # 0.1 / 2 + 2 in float32 is 2.05 to float32's precision, not 2.049999952316284.
    status, raw = half.predict(b'{"instances": [0.1]}')
    assert (status, raw) == (200, b'{"predictions": [2.05]}')


def test_nan_and_infinity_pass_as_tf_serving_writes_them(half: tfs.SavedModelServer) -> None:
    status, raw = half.predict(b'{"instances": [NaN, Infinity, -Infinity]}')
    assert status == 200
    assert raw == b'{"predictions": [NaN, Infinity, -Infinity]}'
    values = json.loads(raw)["predictions"]
    assert math.isnan(values[0]) and values[1:] == [math.inf, -math.inf]


def test_multiple_inputs_and_outputs_in_row_form(multi: tfs.SavedModelServer) -> None:
    request = {
        "instances": [
            {"x": [1.0, 2.0], "tag": {"b64": base64.b64encode(b"a\x00b").decode()}},
            {"x": [3, 4], "tag": "cd"},
        ]
    }
    status, body = predict(multi, request)
    assert status == 200
    assert body == {
        "predictions": [
            # `tag_bytes` ends in _bytes: base64 on the way out as well.
            {"total": 3.0, "tag_bytes": {"b64": "YQBi"}, "label": "a\x00b!"},
            {"total": 7.0, "tag_bytes": {"b64": "Y2Q="}, "label": "cd!"},
        ]
    }


def test_multiple_inputs_and_outputs_in_columnar_form(multi: tfs.SavedModelServer) -> None:
    request = {"inputs": {"x": [[1, 1], [2, 2]], "tag": ["p", "q"], "ignored": 1}}
    status, body = predict(multi, request)
    assert status == 200
    assert body == {
        "outputs": {
            "total": [2.0, 4.0],
            "tag_bytes": [{"b64": "cA=="}, {"b64": "cQ=="}],
            "label": ["p!", "q!"],
        }
    }


def test_invalid_utf8_in_a_text_output_is_written_as_it_is(multi: tfs.SavedModelServer) -> None:
    request = {"inputs": {"x": [[0, 0]], "tag": [{"b64": base64.b64encode(b"\xff").decode()}]}}
    status, raw = multi.predict(json.dumps(request).encode())
    assert status == 200
    assert b'"label": ["\xff!"]' in raw


@pytest.mark.parametrize(
    ("request_body", "message"),
    [
        (b"", "JSON Parse error: The document is empty"),
        (b"{nope", "JSON Parse error"),
        (b"[1, 2]", "Is not object"),
        (b'{"examples": [1]}', "Missing 'inputs' or 'instances' key"),
        (b'{"instances": [1], "inputs": [1]}', "expecting only one of 'inputs' or 'instances'"),
        (b'{"instances": 1.0}', "Excepting 'instances' to be an list/array"),
        (b'{"instances": []}', "No values in 'instances' array"),
        (b'{"instances": ["a"]}', 'JSON Value: "a" Type: String is not of expected type: float'),
        (b'{"instances": [true]}', "Type: True is not of expected type: float"),
        (b'{"instances": [16777217]}', "to float without loss of precision"),
        (b'{"instances": [[1.0, [2.0]]]}', "Encountered list at unexpected level: 1"),
        (b'{"inputs": [[1.0], 2.0]}', "found at incorrect level: 2"),
        (b'{"instances": [[1.0]]}', "input 'x' has shape [1,1], but signature"),
        (b'{"inputs": [[1.0, 2.0]]}', "input 'x' has shape [1,2]"),
        (b'{"signature_name": 3, "inputs": [1.0]}', "'signature_name' key must be a string"),
    ],
)
def test_bad_requests_get_tf_servings_error_shape(
    half: tfs.SavedModelServer, request_body: bytes, message: str
) -> None:
    status, body = predict(half, request_body)
    assert status == 400
    assert set(body) == {"error"} and message in body["error"]


def test_deeply_nested_json_is_a_bad_request_not_a_crash(half: tfs.SavedModelServer) -> None:
    for depth in (200, 990, 5000):
        status, body = predict(half, b'{"inputs": ' + b"[" * depth + b"]" * depth + b"}")
        assert status == 400 and set(body) == {"error"}


@pytest.mark.parametrize(
    ("request_body", "message"),
    [
        ({"instances": [1.0, 2.0]}, "instances is a plain list, but expecting list of objects"),
        ({"instances": [{"x": [1, 2]}]}, "must only have keys: tag,x"),
        ({"instances": [{"x": [1, 2], "tag": "a"}, [1, 2]]}, "Expecting object but got list"),
        ({"instances": [{"x": [1, 2], "tag": "a"}, {"x": [1], "tag": "b"}]}, "tensor size: 2"),
        ({"inputs": {"x": [[1, 2]]}}, "Missing named input: tag in 'inputs' object."),
        ({"inputs": {"x": [[1, 2]], "tag": [{"b64": "!!"}]}}, "Unable to base64 decode"),
        ({"inputs": {"x": [[1, 2], [3]], "tag": ["a", "b"]}}, "unexpected size: 1 at level: 1"),
        ({"inputs": {"x": [[1, {"b64": "YQ=="}]], "tag": ["a"]}}, "Type: Object is not of"),
    ],
)
def test_bad_requests_for_named_inputs(
    multi: tfs.SavedModelServer, request_body: Any, message: str
) -> None:
    status, body = predict(multi, request_body)
    assert status == 400, body
    assert message in body["error"]


def test_a_failing_graph_answers_with_its_error_code(tmp_path: Path) -> None:
    class Checked(tf.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            spec = [tf.TensorSpec([None], tf.float32)]
            self.serve = tf.function(self._serve, input_signature=spec)

        def _serve(self, x: Any) -> dict[str, Any]:
            tf.debugging.assert_positive(x, message="x must be positive")
            return {"y": tf.sqrt(x)}

    module = Checked()
    _save(module, tmp_path / "1", {"serving_default": module.serve})
    server = tfs.SavedModelServer.load(tfs.find_servable(tmp_path, {}))
    assert predict(server, {"instances": [4.0]}) == (200, {"predictions": [2.0]})
    status, body = predict(server, {"instances": [-1.0]})
    # INVALID_ARGUMENT is 400 in TF Serving's REST API.
    assert status == 400 and "x must be positive" in body["error"]


def test_a_savedmodel_tensorflow_cannot_read_fails_to_load(tmp_path: Path) -> None:
    (tmp_path / "1").mkdir()
    (tmp_path / "1" / "saved_model.pb").write_bytes(b"\xff\xff not a protobuf")
    with pytest.raises(ModelError, match="TensorFlow cannot load the SavedModel in 1/") as error:
        tfs.SavedModelServer.load(tfs.find_servable(tmp_path, {}))
    assert not isinstance(error.value, NotRunnableHere)
    assert error.value.hint is not None and tf.__version__ in error.value.hint


# ---------------------------------------------------------------- the container's handler flow


@pytest.fixture
def fresh_imports(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test's code/inference.py is imported anew, and neither it nor code/ outlives it."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    before = sys.modules.pop("inference", None)
    yield
    sys.modules.pop("inference", None)
    if before is not None:
        sys.modules["inference"] = before


def model_with_script(root: Path, source: Path, script: str | None) -> Path:
    """A model directory like the unpacked model.tar.gz: version folders and code/."""
    shutil.copytree(source, root)
    if script is not None:
        (root / "code").mkdir()
        (root / "code" / "inference.py").write_text(script)
    return root


def served(model_dir: Path) -> tuple[tfs.TFServingService, tfs.TFServingModel]:
    service = tfs.load_service(model_dir)
    return service, service.load_model()


@pytest.fixture
def top_with_example_script(
    tmp_path: Path, models: dict[str, Path], fresh_imports: None
) -> Iterator[tuple[tfs.TFServingService, tfs.TFServingModel]]:
    script = (EXAMPLE / "inference.py").read_text()
    service, model = served(model_with_script(tmp_path / "model", models["top"], script))
    yield service, model
    model.close()


def test_the_example_script_answers_top_five_classes_for_json(
    top_with_example_script: tuple[tfs.TFServingService, tfs.TFServingModel],
) -> None:
    service, model = top_with_example_script
    body, content_type = service.invoke(
        model, (EXAMPLE / "input.json").read_bytes(), "application/json", "application/json"
    )
    assert content_type == "application/json"
    (top,) = json.loads(body)["predictions"]
    assert len(top) == 5
    assert all(entry["label"].startswith("class_") for entry in top)
    probabilities = [entry["probability"] for entry in top]
    assert probabilities == sorted(probabilities, reverse=True) and sum(probabilities) <= 1.0001


def test_the_example_script_takes_a_raw_image(
    top_with_example_script: tuple[tfs.TFServingService, tfs.TFServingModel],
) -> None:
    service, model = top_with_example_script
    from_json, _ = service.invoke(
        model, (EXAMPLE / "input.json").read_bytes(), "application/json", ""
    )
    from_image, _ = service.invoke(model, PNG, "image/png", "application/json")
    assert from_image == from_json


def test_script_errors_are_model_errors_with_the_script_message(
    top_with_example_script: tuple[tfs.TFServingService, tfs.TFServingModel],
) -> None:
    service, model = top_with_example_script
    with pytest.raises(ModelError) as error:
        service.invoke(model, b"x", "text/plain", "application/json")
    assert error.value.status_code == 500
    assert error.value.message.startswith("input_handler raised ValueError: unsupported content")
    # TF Serving's 400 (a number for the string input) reaches output_handler, which raises:
    # the container answers 500.
    with pytest.raises(ModelError, match="output_handler raised ValueError: TensorFlow Serving "):
        service.invoke(model, b'{"instances": [1.0]}', JSON, JSON)


def test_the_committed_stand_in_answers_a_clear_model_error(
    tmp_path: Path, fresh_imports: None
) -> None:
    stand_in = tmp_path / "model"
    shutil.copytree(EXAMPLE / "00002", stand_in / "00002")
    (stand_in / "code").mkdir()
    shutil.copy(EXAMPLE / "inference.py", stand_in / "code" / "inference.py")
    # TensorFlow loads the stand-in (its graph echoes the image); inference.py rejects the echo.
    service, model = served(stand_in)
    try:
        with pytest.raises(ModelError) as error:
            service.invoke(model, (EXAMPLE / "input.json").read_bytes(), "application/json", "")
    finally:
        model.close()
    assert error.value.status_code == 500
    assert "export_model.py" in error.value.message


def test_handler_posts_to_the_rest_uri_itself(
    tmp_path: Path, models: dict[str, Path], fresh_imports: None
) -> None:
    script = """\
import json
import urllib.request

def handler(data, context):
    request = urllib.request.Request(context.rest_uri, data=data.read(), method="POST")
    with urllib.request.urlopen(request) as response:
        answer = json.loads(response.read())
    status_url = context.rest_uri.rsplit(":", 1)[0]
    with urllib.request.urlopen(status_url) as response:
        state = json.loads(response.read())["model_version_status"][0]
    answer["served"] = [state["version"], state["state"], context.request_content_type]
    return json.dumps(answer), "application/vnd+json"
"""
    service, model = served(model_with_script(tmp_path / "model", models["half"], script))
    try:
        body, content_type = service.invoke(model, b'{"instances": [2.0]}', "", "")
    finally:
        model.close()
    assert content_type == "application/vnd+json"
    assert json.loads(body) == {"predictions": [3.0], "served": ["10", "AVAILABLE", JSON]}


def test_output_handler_gets_a_requests_response(
    tmp_path: Path, models: dict[str, Path], fresh_imports: None
) -> None:
    script = """\
def input_handler(data, context):
    return data.read()

def output_handler(response, context):
    import json
    summary = {
        "type": type(response).__module__ + "." + type(response).__name__,
        "status": response.status_code,
        "ok": response.ok,
        "json": response.json(),
        "accept": context.accept_header,
        "length": context.content_length,
    }
    return json.dumps(summary).encode(), "application/json"
"""
    service, model = served(model_with_script(tmp_path / "model", models["half"], script))
    try:
        body, _ = service.invoke(model, b'{"instances": [0.0]}', JSON, "")
        failed, _ = service.invoke(model, b'{"instances": "x"}', JSON, "")
    finally:
        model.close()
    assert json.loads(body) == {
        "type": "requests.models.Response",
        "status": 200,
        "ok": True,
        "json": {"predictions": [2.0]},
        "accept": JSON,
        "length": 20,
    }
    # The container hands TF Serving's errors to output_handler too.
    answer = json.loads(failed)
    assert (answer["status"], answer["ok"]) == (400, False)
    assert "Excepting 'instances' to be an list/array" in answer["json"]["error"]


@pytest.mark.parametrize(
    ("script", "message"),
    [
        ("def input_handler(data, context):\n    return 1\n", "defines neither handler"),
        ("import deployspec_absent_module\n", "importing code/inference.py failed"),
    ],
)
def test_scripts_the_container_refuses_fail_to_load(
    tmp_path: Path, models: dict[str, Path], fresh_imports: None, script: str, message: str
) -> None:
    service = tfs.load_service(model_with_script(tmp_path / "model", models["half"], script))
    with pytest.raises(ModelError, match=message):
        service.load_model()


def test_input_handler_must_return_the_request_text(
    tmp_path: Path, models: dict[str, Path], fresh_imports: None
) -> None:
    script = (
        "def input_handler(data, context):\n    return {'instances': [1.0]}\n"
        "def output_handler(response, context):\n    return response.content, 'application/json'\n"
    )
    service, model = served(model_with_script(tmp_path / "model", models["half"], script))
    try:
        with pytest.raises(ModelError, match="input_handler returned dict"):
            service.invoke(model, b"{}", JSON, "")
    finally:
        model.close()


# ---------------------------------------------------------------- no inference.py: nginx's rules


@pytest.fixture(scope="module")
def scriptless(
    models: dict[str, Path],
) -> tuple[tfs.TFServingService, tfs.TFServingModel]:
    return served(models["half"])


@pytest.mark.parametrize(
    ("body", "content_type", "predictions"),
    [
        (b'{"instances": [2.0]}', JSON, [3.0]),
        # Other JSON is one instance (a list only when it is a list of lists).
        (b"6", JSON, [5.0]),
        (b"2.0\n4.0\n", "text/csv", [3.0, 4.0]),
    ],
)
def test_without_a_script_json_and_csv_go_to_tf_serving(
    scriptless: tuple[tfs.TFServingService, tfs.TFServingModel],
    body: bytes,
    content_type: str,
    predictions: list[Any],
) -> None:
    service, model = scriptless
    answer, answer_type = service.invoke(model, body, content_type, "")
    assert (json.loads(answer), answer_type) == ({"predictions": predictions}, JSON)


def test_without_a_script_json_lines_are_instances(models: dict[str, Path]) -> None:
    service, model = served(models["multi"])
    lines = b'{"x": [1, 2], "tag": "a"}\n{"x": [3, 4], "tag": "b"}\n'
    answer, _ = service.invoke(model, lines, "application/jsonlines", "")
    assert [row["total"] for row in json.loads(answer)["predictions"]] == [3.0, 7.0]


def test_without_a_script_the_container_answers_415_and_tf_servings_status(
    scriptless: tuple[tfs.TFServingService, tfs.TFServingModel],
) -> None:
    service, model = scriptless
    for content_type in ("text/plain", "application/json; charset=utf-8", ""):
        with pytest.raises(ModelError) as error:
            service.invoke(model, b"[1.0]", content_type, "")
        assert error.value.status_code == 415
        assert error.value.message.startswith("Unsupported Media Type: ")
    with pytest.raises(ModelError) as error:
        service.invoke(model, b'{"instances": ["a"]}', JSON, "")
    assert error.value.status_code == 400
    assert "is not of expected type: float" in error.value.message
    # A flat JSON list is one instance to the container, not a batch.
    with pytest.raises(ModelError, match=r"has shape \[1,2\]"):
        service.invoke(model, b"[2.0, 4.0]", JSON, "")


def test_without_a_script_the_answer_takes_the_first_accepted_type(
    scriptless: tuple[tfs.TFServingService, tfs.TFServingModel],
) -> None:
    service, model = scriptless
    _, answer_type = service.invoke(model, b"2.0", JSON, "application/jsonlines,application/json")
    assert answer_type == "application/jsonlines"
    _, answer_type = service.invoke(model, b"2.0", JSON, "text/csv")
    assert answer_type == JSON


# ---------------------------------------------------------------- without TensorFlow


def test_without_tensorflow_the_extra_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tfs, "tensorflow_installed", lambda: False)
    with pytest.raises(NotRunnableHere) as error:
        check_servable(tmp_path, "tensorflow")
    assert error.value.hint is not None and "deployspec[tensorflow]" in error.value.hint
    # In the worker, an import that fails says the same.
    monkeypatch.setitem(sys.modules, "tensorflow", None)
    with pytest.raises(NotRunnableHere, match="needs TensorFlow") as loading:
        tfs.SavedModelServer.load(tfs.Servable("model", 1, tmp_path))
    assert loading.value.hint == tfs.INSTALL_HINT


def test_deployspec_runtime_does_not_import_tensorflow() -> None:
    code = (
        "import sys, deployspec.runtime, deployspec.runtime.tfserving, deployspec.sandbox.hosting;"
        "print('tensorflow' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    )
    assert result.stdout.strip() == "False"


# ---------------------------------------------------------------- serve: worker + HTTP server


def test_serve_runs_a_savedmodel_in_a_worker_behind_the_container_contract(
    tmp_path: Path, models: dict[str, Path]
) -> None:
    model_dir = model_with_script(
        tmp_path / "model", models["top"], (EXAMPLE / "inference.py").read_text()
    )
    with ModelWorker(model_dir, framework="tensorflow", program=None, env={}) as worker:
        server = make_server(worker, "127.0.0.1", 0)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            port = server.server_address[1]
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/invocations",
                data=PNG,
                headers={"Content-Type": "image/png", "Accept": JSON},
            )
            with urllib.request.urlopen(request, timeout=60) as response:
                answer = json.loads(response.read())
        finally:
            server.shutdown()
            server.server_close()
    (top,) = answer["predictions"]
    assert [set(entry) for entry in top] == [{"label", "probability"}] * 5


# ---------------------------------------------------------------- the example, end to end


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A private sandbox: its own home and port, stopped at the end."""
    home = tmp_path_factory.mktemp("tf-sandbox-home")
    cache = tmp_path_factory.mktemp("tf-cache")
    control.start(0, transition_seconds=0.2, home=home)
    try:
        yield {"DEPLOYSPEC_HOME": str(home), "DEPLOYSPEC_CACHE_DIR": str(cache)}
    finally:
        control.stop(home)


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, "--sandbox", env=env, timeout=300)


def test_the_example_runs_offline_and_answers_its_top_five_classes(tmp_path: Path) -> None:
    # The documented command: export (untrained, no download), apply to a private sandbox,
    # invoke with input.json and with the raw image, destroy, stop.
    ran = subprocess.run(
        [sys.executable, str(EXAMPLE / "run_offline.py")],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={**os.environ, "NO_COLOR": "1", "TMPDIR": str(tmp_path)},
    )
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    assert "Apply complete!" in ran.stdout and "Destroy complete!" in ran.stdout
    answers = [json.loads(line) for line in ran.stdout.splitlines() if line.startswith("{")]
    assert len(answers) == 2
    from_json, from_image = answers
    assert from_image == from_json
    (top,) = from_json["predictions"]
    assert len(top) == 5
    labels = [entry["label"] for entry in top]
    assert all(label.startswith("class_") for label in labels) and len(set(labels)) == 5
    probabilities = [entry["probability"] for entry in top]
    assert all(0.0 < p <= 1.0 for p in probabilities)
    assert probabilities == sorted(probabilities, reverse=True)
    # The copy, its cache and its private sandbox's home are removed.
    assert list(tmp_path.glob("deployspec-resnet50-*")) == []


def test_the_committed_stand_in_answers_a_model_error_from_the_sandbox(
    sandbox: dict[str, str], tmp_path: Path
) -> None:
    folder = tmp_path / "tensorflow-resnet50"
    shutil.copytree(EXAMPLE, folder)
    spec = str(folder / "deployment.yaml")
    applied = cli(sandbox, "apply", spec, "--var", "stage=standin", "--auto-approve")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    answer = cli(
        sandbox, "invoke", spec, "--var", "stage=standin", "--body", f"@{folder / 'input.json'}"
    )
    assert answer.returncode == 1, answer.stdout + answer.stderr
    assert "export_model.py" in answer.stderr, answer.stderr
    assert "Traceback" not in answer.stderr
