"""The scripts and handlers shipped in examples/ do what their READMEs say.

Scripts run as a user runs them (a subprocess, from an unrelated working directory, writing into
a temporary folder); handlers are imported from the example by path and called as the serving
containers call them. Nothing here writes into the working tree.
"""

from __future__ import annotations

import base64
import importlib.util
import io
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
SKLEARN = EXAMPLES / "sklearn-iris"
PYTORCH = EXAMPLES / "pytorch-serverless"
TENSORFLOW = EXAMPLES / "tensorflow-resnet50"
STANDIN = TENSORFLOW / "00002"
SCHEMA_COMMENT = "# yaml-language-server: $schema=../../schemas/deployment.schema.json"

# Suffixes of serialized models; the stand-in SavedModel is the only one allowed in examples/.
MODEL_SUFFIXES = {".pb", ".pth", ".pt", ".joblib", ".pkl", ".pickle", ".h5", ".keras", ".onnx"}
MODEL_SUFFIXES |= {".safetensors", ".bin", ".npy", ".npz", ".index", ".data-00000-of-00001"}


def _has_module(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def _run(script: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(script), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _import(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # Keep the examples' folders free of __pycache__: they are packaged as they stand.
    previous, sys.dont_write_bytecode = sys.dont_write_bytecode, True
    try:
        spec.loader.exec_module(module)
    finally:
        sys.dont_write_bytecode = previous
    return module


# --- scikit-learn -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def iris_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("iris") / "model"
    elsewhere = tmp_path_factory.mktemp("cwd")
    result = _run(SKLEARN / "train.py", "--out", str(out), cwd=elsewhere)
    assert result.returncode == 0, result.stderr
    assert f"wrote {out / 'model.joblib'}" in result.stdout
    return out


@pytest.fixture(scope="module")
def iris() -> ModuleType:
    return _import(SKLEARN / "inference.py", "example_sklearn_iris_inference")


def _iris_predict(iris: ModuleType, model_dir: Path, body: bytes | str, content_type: str) -> Any:
    model = iris.model_fn(str(model_dir))
    prediction = iris.predict_fn(iris.input_fn(body, content_type), model)
    return json.loads(iris.output_fn(prediction, "application/json"))


def test_sklearn_train_writes_only_the_model(iris_model_dir: Path) -> None:
    assert sorted(p.name for p in iris_model_dir.iterdir()) == ["model.joblib"]
    # Readable by a serving process running as another user.
    assert iris_model_dir.joinpath("model.joblib").stat().st_mode & 0o044 == 0o044


def test_sklearn_handlers_predict_species_of_sample_body(
    iris: ModuleType, iris_model_dir: Path
) -> None:
    body = (SKLEARN / "input.json").read_bytes()
    answer = _iris_predict(iris, iris_model_dir, body, "application/json")
    assert answer == {"predictions": ["setosa", "versicolor", "virginica"]}


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ('{"instances": [[5.9, 3.0, 5.1, 1.8]]}', "application/json; charset=utf-8"),
        (bytearray(b'{"instances": [[5.9, 3.0, 5.1, 1.8]]}'), "application/json"),
    ],
)
def test_sklearn_input_fn_accepts_text_bytearray_and_charset(
    iris: ModuleType, iris_model_dir: Path, body: bytes | str, content_type: str
) -> None:
    answer = _iris_predict(iris, iris_model_dir, body, content_type)
    assert answer == {"predictions": ["virginica"]}


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        (b"5.1,3.5,1.4,0.2", "text/csv", "unsupported content type 'text/csv'"),
        (b"{not json", "application/json", "not valid JSON"),
        (b'{"rows": [[1, 2, 3, 4]]}', "application/json", 'expected {"instances"'),
        (b'{"instances": []}', "application/json", "at least one row"),
        (b'{"instances": [[1, 2, 3]]}', "application/json", "instances[0] must be a list of 4"),
        (b'{"instances": [[1, 2, 3, 4], [1, 2, "x", 4]]}', "application/json", "instances[1]"),
        (b'{"instances": [[1, 2, 3, true]]}', "application/json", "instances[0]"),
        (b'{"instances": [[1, 2, 3, NaN]]}', "application/json", "finite numbers"),
    ],
)
def test_sklearn_input_fn_rejects_bad_requests(
    iris: ModuleType, body: bytes, content_type: str, message: str
) -> None:
    with pytest.raises(ValueError) as caught:
        iris.input_fn(body, content_type)
    assert message in str(caught.value)


def test_sklearn_output_fn_refuses_other_accept_types(iris: ModuleType) -> None:
    assert json.loads(iris.output_fn(["setosa"], "*/*")) == {"predictions": ["setosa"]}
    with pytest.raises(ValueError, match="unsupported accept type 'text/csv'"):
        iris.output_fn(["setosa"], "text/csv")


def test_sklearn_model_fn_names_missing_model(iris: ModuleType, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"model\.joblib not found: run train\.py"):
        iris.model_fn(str(tmp_path))


def test_sklearn_train_is_idempotent(
    iris: ModuleType, iris_model_dir: Path, tmp_path: Path
) -> None:
    grid = [[x / 2, 3.0, y / 2, z / 4] for x in range(8, 16) for y in range(2, 14) for z in (1, 6)]
    body = json.dumps({"instances": grid})
    before = _iris_predict(iris, iris_model_dir, body, "application/json")
    assert len(set(before["predictions"])) == 3
    result = _run(SKLEARN / "train.py", "--out", str(iris_model_dir), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in iris_model_dir.iterdir()) == ["model.joblib"]
    assert _iris_predict(iris, iris_model_dir, body, "application/json") == before


def test_sklearn_example_validates_once_trained(tmp_path: Path) -> None:
    copy = tmp_path / "sklearn-iris"
    shutil.copytree(SKLEARN, copy, ignore=shutil.ignore_patterns("model", "__pycache__"))
    spec = copy / "deployment.yaml"
    missing = _validate(spec)
    assert missing.returncode == 1
    assert "model.artifacts" in missing.stderr and str(copy / "model") in missing.stderr
    assert _run(copy / "train.py", cwd=tmp_path).returncode == 0
    valid = _validate(spec)
    assert valid.returncode == 0, valid.stderr


# --- TensorFlow ---------------------------------------------------------------------------


def test_make_standin_reproduces_committed_savedmodel(tmp_path: Path) -> None:
    out = tmp_path / "00002"
    result = _run(TENSORFLOW / "make_standin.py", "--out", str(out), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["saved_model.pb"]
    assert sorted(p.name for p in STANDIN.iterdir()) == ["saved_model.pb"]
    written = (out / "saved_model.pb").read_bytes()
    assert written == (STANDIN / "saved_model.pb").read_bytes()
    assert len(written) < 512
    # A second run rewrites the same bytes and leaves no temporary file behind.
    assert _run(TENSORFLOW / "make_standin.py", "--out", str(out), cwd=tmp_path).returncode == 0
    assert sorted(p.name for p in out.iterdir()) == ["saved_model.pb"]
    assert (out / "saved_model.pb").read_bytes() == written


def _savedmodel_class() -> Any:
    """Message classes for the part of TensorFlow's SavedModel schema the stand-in uses.

    Field numbers and types are those of tensorflow/core/protobuf/saved_model.proto,
    meta_graph.proto and core/framework/{graph,node_def,attr_value,tensor_shape}.proto; enums
    are read as int32, which has the same wire encoding.
    """
    descriptor_pb2 = pytest.importorskip("google.protobuf.descriptor_pb2")
    descriptor_pool = pytest.importorskip("google.protobuf.descriptor_pool")
    message_factory = pytest.importorskip("google.protobuf.message_factory")
    f = descriptor_pb2.FieldDescriptorProto
    optional, repeated = f.LABEL_OPTIONAL, f.LABEL_REPEATED

    file = descriptor_pb2.FileDescriptorProto(
        name="standin_check.proto", package="check", syntax="proto3"
    )

    def message(name: str, fields: list[tuple[str, int, int, int, str]], parent: Any = None) -> Any:
        msg = (parent.nested_type if parent is not None else file.message_type).add(name=name)
        for field_name, number, kind, label, type_name in fields:
            field = msg.field.add(name=field_name, number=number, type=kind, label=label)
            if type_name:
                field.type_name = type_name
        return msg

    def map_entry(parent: Any, name: str, value_type: str) -> None:
        entry = message(
            name,
            [
                ("key", 1, f.TYPE_STRING, optional, ""),
                ("value", 2, f.TYPE_MESSAGE, optional, value_type),
            ],
            parent,
        )
        entry.options.map_entry = True

    message(
        "SavedModel",
        [
            ("saved_model_schema_version", 1, f.TYPE_INT64, optional, ""),
            ("meta_graphs", 2, f.TYPE_MESSAGE, repeated, ".check.MetaGraphDef"),
        ],
    )
    meta_graph = message(
        "MetaGraphDef",
        [
            ("meta_info_def", 1, f.TYPE_MESSAGE, optional, ".check.MetaInfoDef"),
            ("graph_def", 2, f.TYPE_MESSAGE, optional, ".check.GraphDef"),
            ("signature_def", 5, f.TYPE_MESSAGE, repeated, ".check.MetaGraphDef.SignatureDefEntry"),
        ],
    )
    map_entry(meta_graph, "SignatureDefEntry", ".check.SignatureDef")
    message("MetaInfoDef", [("tags", 4, f.TYPE_STRING, repeated, "")])
    message(
        "GraphDef",
        [
            ("node", 1, f.TYPE_MESSAGE, repeated, ".check.NodeDef"),
            ("versions", 4, f.TYPE_MESSAGE, optional, ".check.VersionDef"),
        ],
    )
    message("VersionDef", [("producer", 1, f.TYPE_INT32, optional, "")])
    node = message(
        "NodeDef",
        [
            ("name", 1, f.TYPE_STRING, optional, ""),
            ("op", 2, f.TYPE_STRING, optional, ""),
            ("input", 3, f.TYPE_STRING, repeated, ""),
            ("attr", 5, f.TYPE_MESSAGE, repeated, ".check.NodeDef.AttrEntry"),
        ],
    )
    map_entry(node, "AttrEntry", ".check.AttrValue")
    message(
        "AttrValue",
        [
            ("type", 6, f.TYPE_INT32, optional, ""),
            ("shape", 7, f.TYPE_MESSAGE, optional, ".check.TensorShapeProto"),
        ],
    )
    shape = message(
        "TensorShapeProto",
        [
            ("dim", 2, f.TYPE_MESSAGE, repeated, ".check.TensorShapeProto.Dim"),
            ("unknown_rank", 3, f.TYPE_BOOL, optional, ""),
        ],
    )
    message("Dim", [("size", 1, f.TYPE_INT64, optional, "")], shape)
    signature = message(
        "SignatureDef",
        [
            ("inputs", 1, f.TYPE_MESSAGE, repeated, ".check.SignatureDef.InputsEntry"),
            ("outputs", 2, f.TYPE_MESSAGE, repeated, ".check.SignatureDef.OutputsEntry"),
            ("method_name", 3, f.TYPE_STRING, optional, ""),
        ],
    )
    map_entry(signature, "InputsEntry", ".check.TensorInfo")
    map_entry(signature, "OutputsEntry", ".check.TensorInfo")
    message(
        "TensorInfo",
        [
            ("name", 1, f.TYPE_STRING, optional, ""),
            ("dtype", 2, f.TYPE_INT32, optional, ""),
            ("tensor_shape", 3, f.TYPE_MESSAGE, optional, ".check.TensorShapeProto"),
        ],
    )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("check.SavedModel"))


def test_standin_is_a_servable_savedmodel() -> None:
    saved_model = _savedmodel_class()()
    data = (STANDIN / "saved_model.pb").read_bytes()
    saved_model.ParseFromString(data)
    # Every byte was understood: nothing landed in unknown fields, and it re-encodes the same.
    assert saved_model.SerializeToString(deterministic=True) == data
    assert saved_model.saved_model_schema_version == 1
    assert len(saved_model.meta_graphs) == 1
    meta_graph = saved_model.meta_graphs[0]
    assert list(meta_graph.meta_info_def.tags) == ["serve"]
    nodes = {n.name: n for n in meta_graph.graph_def.node}
    assert nodes["image_bytes"].op == "Placeholder"
    assert nodes["image_bytes"].attr["dtype"].type == 7  # DT_STRING
    assert [d.size for d in nodes["image_bytes"].attr["shape"].shape.dim] == [-1]
    assert nodes["echo"].op == "Identity" and list(nodes["echo"].input) == ["image_bytes"]
    signature = meta_graph.signature_def["serving_default"]
    assert signature.method_name == "tensorflow/serving/predict"
    assert signature.inputs["image_bytes"].name == "image_bytes:0"
    assert signature.outputs["echo"].name == "echo:0"
    assert all(
        info.dtype == 7 for info in [*signature.inputs.values(), *signature.outputs.values()]
    )


@pytest.fixture(scope="module")
def resnet() -> ModuleType:
    return _import(TENSORFLOW / "inference.py", "example_tensorflow_resnet50_inference")


def _context(content_type: str = "application/json", accept: str = "application/json") -> Any:
    return SimpleNamespace(request_content_type=content_type, accept_header=accept)


def test_tensorflow_input_handler_wraps_raw_images(resnet: ModuleType) -> None:
    sample = json.loads((TENSORFLOW / "input.json").read_bytes())
    png = base64.b64decode(sample["instances"][0]["b64"], validate=True)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    for content_type in ("image/png", "application/x-image", "IMAGE/JPEG; q=1"):
        request = resnet.input_handler(io.BytesIO(png), _context(content_type))
        assert json.loads(request) == sample


def test_tensorflow_input_handler_passes_json_through(resnet: ModuleType) -> None:
    body = (TENSORFLOW / "input.json").read_bytes()
    assert resnet.input_handler(io.BytesIO(body), _context()) == body.decode()


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        (b"", "image/png", "request body is empty"),
        (b"{oops", "application/json", "not valid JSON"),
        (b"[1, 2]", "application/json", "TensorFlow Serving request"),
        (b"1,2,3", "text/csv", "unsupported content type 'text/csv'"),
    ],
)
def test_tensorflow_input_handler_rejects_bad_requests(
    resnet: ModuleType, body: bytes, content_type: str, message: str
) -> None:
    with pytest.raises(ValueError) as caught:
        resnet.input_handler(io.BytesIO(body), _context(content_type))
    assert message in str(caught.value)


def _serving_answer(payload: object, status: int = 200) -> Any:
    return SimpleNamespace(status_code=status, content=json.dumps(payload).encode())


def test_tensorflow_output_handler_formats_top_classes(resnet: ModuleType) -> None:
    answer = {
        "predictions": [
            {"classes": ["tabby", "tiger cat"], "probabilities": [0.75, 0.25]},
            {"classes": ["goldfish", "axolotl"], "probabilities": [0.5, 0.125]},
        ]
    }
    body, content_type = resnet.output_handler(_serving_answer(answer), _context())
    assert content_type == "application/json"
    assert json.loads(body) == {
        "predictions": [
            [{"label": "tabby", "probability": 0.75}, {"label": "tiger cat", "probability": 0.25}],
            [{"label": "goldfish", "probability": 0.5}, {"label": "axolotl", "probability": 0.125}],
        ]
    }


@pytest.mark.parametrize(
    ("response", "accept", "message"),
    [
        (_serving_answer({"error": "boom"}, status=400), "application/json", "answered 400"),
        (_serving_answer({"predictions": [{"echo": "aGk="}]}), "application/json", "stand-in"),
        (_serving_answer({"predictions": [["aGk="]]}), "application/json", "export_model.py"),
        (
            _serving_answer({"predictions": [{"classes": ["a", "b"], "probabilities": [1.0]}]}),
            "application/json",
            "unequal numbers",
        ),
        (_serving_answer({"predictions": []}), "text/csv", "unsupported accept type 'text/csv'"),
    ],
)
def test_tensorflow_output_handler_rejects_unusable_answers(
    resnet: ModuleType, response: Any, accept: str, message: str
) -> None:
    with pytest.raises(ValueError) as caught:
        resnet.output_handler(response, _context(accept=accept))
    assert message in str(caught.value)


def test_export_model_without_tensorflow_explains_and_fails(tmp_path: Path) -> None:
    # As where TensorFlow is not installed, whether it is here or not (make test installs it).
    without_tf = (
        "import runpy, sys; sys.modules['tensorflow'] = None; sys.argv = sys.argv[1:]; "
        "runpy.run_path(sys.argv[0], run_name='__main__')"
    )
    out = tmp_path / "00002"
    script = str(TENSORFLOW / "export_model.py")
    result = subprocess.run(
        [sys.executable, "-c", without_tf, script, "--out", str(out)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    assert "export_model.py needs TensorFlow" in result.stderr
    assert "pip install tensorflow-cpu" in result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists()


# --- PyTorch ------------------------------------------------------------------------------


def test_pytorch_train_without_torch_explains_and_fails(tmp_path: Path) -> None:
    if _has_module("torch"):
        pytest.skip("torch is installed; test_pytorch_train_and_handlers covers this example")
    out = tmp_path / "model"
    result = _run(PYTORCH / "train.py", "--out", str(out), cwd=tmp_path)
    assert result.returncode == 1
    assert "train.py needs PyTorch" in result.stderr
    assert "pip install torch==2.13.0" in result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists()


def test_pytorch_train_and_handlers(tmp_path: Path) -> None:
    if not _has_module("torch"):
        pytest.skip("torch is not installed (pip install torch==2.13.0)")
    out = tmp_path / "model"
    result = _run(PYTORCH / "train.py", "--out", str(out), "--steps", "200", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["model.pth"]
    handlers = _import(PYTORCH / "inference.py", "example_pytorch_serverless_inference")
    model = handlers.model_fn(str(out))
    body = (PYTORCH / "input.json").read_bytes()
    prediction = handlers.predict_fn(handlers.input_fn(body, "application/json"), model)
    answer = json.loads(handlers.output_fn(prediction, "application/json"))
    assert [p["label"] for p in answer["predictions"]] == ["inside", "outside", "inside"]
    assert all(0.5 <= p["probability"] <= 1.0 for p in answer["predictions"])
    with pytest.raises(ValueError, match="instances\\[0\\] must be a list of 2"):
        handlers.input_fn(b'{"instances": [[1, 2, 3]]}', "application/json")


# --- all examples -------------------------------------------------------------------------


def _validate(*specs: Path, extra: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "deployspec", "validate", *extra, *map(str, specs)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_every_example_has_its_files() -> None:
    # ci/ holds CI workflows (tests/test_ecosystem.py checks them), not a deployment.
    folders = sorted(
        p for p in EXAMPLES.iterdir() if p.is_dir() and p.name not in ("__pycache__", "ci")
    )
    assert [p.name for p in folders] == [
        "components",
        "llm-tgi",
        "pytorch-serverless",
        "sklearn-ab",
        "sklearn-async",
        "sklearn-iris",
        "sklearn-multi-model",
        "sklearn-serverless-pc",
        "sklearn-shadow",
        "tei-embeddings",
        "tensorflow-resnet50",
    ]
    for folder in folders:
        for name in ("deployment.yaml", "README.md", "input.json"):
            assert (folder / name).is_file(), folder / name
        # An example showing an endpoint shape reuses another's model and handlers.
        text = (folder / "deployment.yaml").read_text()
        entry_point = re.search(r"entry_point: (\S+)", text)
        # LLM containers serve a model folder with no inference script.
        if not re.search(r"framework: (huggingface-(llm|vllm|sglang|tei)|djl-lmi)", text):
            assert entry_point is not None and (folder / entry_point.group(1)).is_file(), folder
        json.loads((folder / "input.json").read_text())
        first_line = (folder / "deployment.yaml").read_text().splitlines()[0]
        assert first_line == SCHEMA_COMMENT
        assert folder.name in (EXAMPLES / "README.md").read_text()


def test_tensorflow_example_validates_with_vars() -> None:
    spec = TENSORFLOW / "deployment.yaml"
    default = _validate(spec)
    assert default.returncode == 0, default.stderr
    assert "resnet50-dev" in default.stdout
    prod = _validate(spec, extra=("--var", "stage=prod"))
    assert prod.returncode == 0, prod.stderr
    assert "resnet50-prod" in prod.stdout


def test_no_model_binaries_besides_the_standin() -> None:
    found = []
    for path in EXAMPLES.rglob("*"):
        relative = path.relative_to(EXAMPLES)
        # model/ and weights/ folders are git-ignored outputs of train.py and make_model.py,
        # never committed.
        if not path.is_file() or {"model", "weights", "__pycache__"} & set(relative.parts):
            continue
        if path.suffix in MODEL_SUFFIXES or b"\0" in path.read_bytes():
            found.append(relative.as_posix())
    assert found == ["tensorflow-resnet50/00002/saved_model.pb"]
