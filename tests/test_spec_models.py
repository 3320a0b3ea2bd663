"""Multi-model blocks (`mode: multi-model` with `models:`), autoscaling an asynchronous
endpoint on its backlog (down to zero) and autoscaling a serverless variant's provisioned
concurrency: what valid specs load as, and every rule of theirs refused at validate with the
field path, the line and what to do."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from deployspec.errors import Diagnostic, SpecError
from deployspec.schema import json_schema
from deployspec.spec import (
    Autoscaling,
    LoadedSpec,
    ModelSpec,
    ServerlessAutoscaling,
    load_spec,
)
from tests.conftest import VALID_SKLEARN

WriteSpec = Callable[..., Path]

HEAD = """\
name: mme
role: arn:aws:iam::123456789012:role/SageMakerExecution
"""
RT = "realtime: {instance_type: ml.m5.large}"
ASYNC = "async: {output: s3://bkt/out/}\n"


def multi_model(
    *,
    framework: str = "sklearn",
    version: str | None = '"1.2-1"',
    extra: str = "",
    models: str = "  models:\n    iris-a: ./models/a\n    iris-b: ./models/b\n",
    indent: str = "",
) -> str:
    """A multi-model block under `model:`, one key a line (a key's line found by its text);
    `indent` puts it inside a variant."""
    lines = [f"framework: {framework}"]
    if version is not None:
        lines.append(f"version: {version}")
    lines += ["entry_point: inference.py", "mode: multi-model"]
    block = "".join(f"{indent}  {line}\n" for line in lines) + "".join(
        f"{indent}{line}\n" for line in (extra + models).splitlines()
    )
    return f"{indent}model:\n{block}"


MME = HEAD + multi_model()
MME_RT = MME + RT + "\n"


def realtime(autoscaling: str, count: str = "") -> str:
    return f"realtime:\n  instance_type: ml.m5.large\n{count}  autoscaling: {autoscaling}\n"


SUGAR = VALID_SKLEARN.split("serverless:")[0]


def serverless(extra: str, indent: str = "") -> str:
    body = ["memory_mb: 2048", "max_concurrency: 20", *extra.splitlines()]
    return f"{indent}serverless:\n" + "".join(f"{indent}  {line}\n" for line in body)


PROVISIONED = "provisioned_concurrency: 2\nautoscaling: {min: 1, max: 10, target_utilization: 0.7}"


@pytest.fixture
def archives(project: Path) -> Path:
    """Beside the `project` fixture's model/ and inference.py: models/a and models/b (folders)
    and models/c.joblib (a file)."""
    for name in ("a", "b"):
        (project / "models" / name).mkdir(parents=True)
        (project / "models" / name / "model.joblib").write_bytes(f"model {name}".encode())
    (project / "models" / "c.joblib").write_bytes(b"model c")
    (project / "models" / "empty").mkdir()
    return project / "models"


def refused(path: Path) -> list[Diagnostic]:
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    return list(caught.value.diagnostics)


def line_of(text: str, needle: str, after: str | None = None) -> int:
    """The 1-based line of the first line holding `needle` (after the line holding `after`)."""
    lines = text.splitlines()
    start = 0 if after is None else next(i for i, t in enumerate(lines) if after in t) + 1
    return next(i for i, t in enumerate(lines) if i >= start and needle in t) + 1


# ---- multi-model: what valid specs load as ---------------------------------------------------


def test_a_multi_model_block_loads_with_its_archives(
    write_spec: WriteSpec, project: Path, archives: Path
) -> None:
    models = "  models:\n    iris-b: ./models/b\n    iris.a_1: models/a\n    c: ./models/c.joblib\n"
    loaded = load_spec(write_spec(HEAD + multi_model(models=models) + RT + "\n"))
    model = loaded.spec.model
    assert model is not None and model.is_multi_model() and model.mode == "multi-model"
    assert model.artifacts is None and not model.is_s3()
    assert model.models == {
        "iris-b": "./models/b",
        "iris.a_1": "models/a",
        "c": "./models/c.joblib",
    }
    # Resolved as artifacts are, in the order given.
    got = loaded.archives_of("model")
    assert list(got.items()) == [
        ("iris-b", (archives / "b").resolve()),
        ("iris.a_1", (archives / "a").resolve()),
        ("c", (archives / "c.joblib").resolve()),
    ]
    # A copy: the loaded spec's own stays as it is.
    got.clear()
    assert len(loaded.archives_of("model")) == 3
    paths = loaded.paths_of("model")
    assert paths.artifacts is None
    assert paths.entry_point == (project / "inference.py").resolve()
    [variant] = loaded.spec.endpoint_variants
    assert variant.realtime is not None and variant.model is model


def test_a_variants_multi_model_block_is_found_at_its_own_path(
    write_spec: WriteSpec, archives: Path
) -> None:
    text = HEAD + "variants:\n  - name: only\n" + multi_model(indent="    ") + f"    {RT}\n"
    loaded = load_spec(write_spec(text))
    assert list(loaded.spec.models) == ["variants[0].model"]
    assert loaded.archives_of("variants[0].model") == {
        "iris-a": (archives / "a").resolve(),
        "iris-b": (archives / "b").resolve(),
    }
    with pytest.raises(KeyError, match="no model block 'model'"):
        loaded.archives_of("model")


def test_single_model_blocks_have_no_archives(write_spec: WriteSpec) -> None:
    loaded = load_spec(write_spec(VALID_SKLEARN))
    model = loaded.spec.model
    assert model is not None and model.mode == "single-model" and not model.is_multi_model()
    assert model.models is None
    assert loaded.archives_of("model") == {}
    assert loaded.model_archives == {}
    # A LoadedSpec built without the new field answers as before, and for its one model.
    by_hand = LoadedSpec(loaded.spec, loaded.file, loaded.paths, {}, loaded.text)
    assert by_hand.archives_of("model") == {}
    with pytest.raises(KeyError):
        by_hand.archives_of("variants[0].model")


@pytest.mark.parametrize(
    ("framework", "version", "capacity"),
    [
        ("sklearn", '"1.2-1"', RT),
        ("xgboost", '"1.7-1"', RT),
        ("pytorch", '"2.5.1"', RT),
        ("tensorflow", '"2.19.0"', RT),
        # The user's own image: AWS checks its label; on GPUs it may be Triton.
        ("custom", None, RT),
        ("custom", None, "realtime: {instance_type: ml.g5.xlarge}"),
        # Invocations per instance are tracked on a multi-model endpoint as on any other.
        (
            "sklearn",
            '"1.2-1"',
            "realtime: {instance_type: ml.m5.large, autoscaling: {min: 1, max: 3, "
            "target_invocations_per_instance: 50}}",
        ),
    ],
)
def test_the_containers_that_serve_multi_model_endpoints(
    write_spec: WriteSpec, archives: Path, framework: str, version: str | None, capacity: str
) -> None:
    image = "  image: 123456789012.dkr.ecr.us-east-1.amazonaws.com/mme:1\n"
    extra = image if framework == "custom" else ""
    if framework == "tensorflow":
        # TensorFlow Serving wants a numbered SavedModel folder in each archive.
        for name in ("a", "b"):
            (archives / name / "1").mkdir()
            (archives / name / "1" / "saved_model.pb").write_bytes(b"pb")
    text = HEAD + multi_model(framework=framework, version=version, extra=extra) + capacity + "\n"
    spec = load_spec(write_spec(text)).spec
    assert spec.model is not None and spec.model.is_multi_model()
    assert spec.model.framework == framework


# ---- multi-model refusals: (text, field path, (line needle, after), phrase) ---------------------

GPU = "realtime: {instance_type: ml.g5.xlarge}"
NEURON_IMAGE = "  image: 123456789012.dkr.ecr.us-east-1.amazonaws.com/neuron:1\n"
TWO_VARIANTS = "variants:\n  - name: a\n    " + RT + "\n  - name: b\n    " + RT + "\n"
MME_REFUSED: dict[str, tuple[str, str, tuple[str, str | None], str]] = {
    "mode multi-model without models": (
        HEAD + multi_model(models="") + RT + "\n",
        "model",
        ("model:", None),
        "mode: multi-model needs model.models",
    ),
    "mode multi-model with null models": (
        HEAD + multi_model(models="  models:\n") + RT + "\n",
        "model.models",
        ("models:", None),
        "got nothing (null)",
    ),
    "mode multi-model with no models at all": (
        HEAD + multi_model(models="  models: {}\n") + RT + "\n",
        "model.models",
        ("models:", None),
        "0 models given; a multi-model block lists 1-1000",
    ),
    "mode multi-model with artifacts too": (
        HEAD + multi_model(extra="  artifacts: ./model\n") + RT + "\n",
        "model.artifacts",
        ("artifacts:", None),
        "a multi-model block takes its archives from models:, not artifacts:",
    ),
    "models without mode multi-model": (
        VALID_SKLEARN.replace("serverless:", "  models: {a: ./models/a}\nserverless:"),
        "model.models",
        ("models:", None),
        "model.mode is single-model (the default)",
    ),
    "models with mode single-model": (
        VALID_SKLEARN.replace(
            "serverless:", "  mode: single-model\n  models: {a: ./models/a}\nserverless:"
        ),
        "model.models",
        ("models:", None),
        "set mode: multi-model to serve them all from one container",
    ),
    "a single-model block without artifacts, in a variant": (
        HEAD + 'variants:\n  - name: a\n    model: {framework: sklearn, version: "1.2-1", '
        "entry_point: inference.py}\n    " + RT + "\n",
        "variants[0].model",
        ("model:", None),
        "required key 'artifacts' is missing under variants[0].model",
    ),
    "an unknown mode": (
        HEAD + multi_model().replace("mode: multi-model", "mode: multimodel") + RT + "\n",
        "model.mode",
        ("mode:", None),
        "'multimodel' is not allowed: expected one of 'single-model' or 'multi-model'",
    ),
    "a model name SageMaker's keys do not take": (
        HEAD + multi_model(models="  models:\n    iris a: ./models/a\n") + RT + "\n",
        "model.models.iris a",
        ("iris a:", None),
        "'iris a' is not a model name",
    ),
    "a model name starting with a dot": (
        HEAD + multi_model(models="  models:\n    .hidden: ./models/a\n") + RT + "\n",
        "model.models..hidden",
        (".hidden:", None),
        "starting with a letter or digit",
    ),
    "a model name of 64 characters": (
        HEAD + multi_model(models=f"  models:\n    {'m' * 64}: ./models/a\n") + RT + "\n",
        f"model.models.{'m' * 64}",
        ("m" * 64, None),
        "1-63 letters, digits, dots, underscores and hyphens",
    ),
    "a model name YAML reads as a number": (
        HEAD + multi_model(models="  models:\n    2024: ./models/a\n") + RT + "\n",
        "model.models",
        ("2024:", None),
        "keys must be strings, got '2024'",
    ),
    "an s3 URI in models": (
        HEAD + multi_model(models="  models:\n    a: s3://bkt/a/model.tar.gz\n") + RT + "\n",
        "model.models.a",
        ("s3://bkt", None),
        "a URI cannot be listed here",
    ),
    "a model folder that does not exist": (
        HEAD
        + multi_model(models="  models:\n    a: ./models/a\n    b: ./models/nope\n")
        + RT
        + "\n",
        "model.models.b",
        ("./models/nope", None),
        "file or folder not found",
    ),
    "a model folder outside the project": (
        HEAD + multi_model(models="  models:\n    a: ../elsewhere\n") + RT + "\n",
        "model.models.a",
        ("../elsewhere", None),
        "leads outside the project root",
    ),
    "an empty model folder": (
        HEAD + multi_model(models="  models:\n    a: ./models/empty\n") + RT + "\n",
        "model.models.a",
        ("./models/empty", None),
        "the model folder './models/empty' holds no files",
    ),
    "the huggingface container": (
        HEAD
        + multi_model(
            framework="huggingface",
            version='"4.10.2"',
            extra="  base_framework_version: pytorch1.8\n",
        )
        + RT
        + "\n",
        "model.mode",
        ("mode: multi-model", None),
        "the huggingface container does not serve multi-model endpoints",
    ),
    "a serverless endpoint, by default": (
        MME,
        "model.mode",
        ("mode: multi-model", None),
        "(without realtime:, an endpoint is serverless) AWS's serverless inference excludes "
        "multi-model endpoints: add realtime: {instance_type: ...}",
    ),
    "a serverless endpoint": (
        MME + "serverless: {memory_mb: 2048}\n",
        "serverless",
        ("serverless:", None),
        "AWS's serverless inference excludes multi-model endpoints",
    ),
    "a serverless variant": (
        HEAD + "variants:\n  - name: only\n" + multi_model(indent="    ") + "    serverless: {}\n",
        "variants[0].serverless",
        ("serverless:", None),
        "give variants[0] realtime: {instance_type: ...} instead of serverless:",
    ),
    "GPU instances for a framework container": (
        HEAD + multi_model(framework="pytorch", version='"2.5.1"') + GPU + "\n",
        "realtime.instance_type",
        ("ml.g5.xlarge", None),
        "SageMaker serves multi-model endpoints only through NVIDIA Triton",
    ),
    # sklearn has no GPU image at all: said once, by the multi-model rule.
    "GPU instances for a CPU-only container": (
        HEAD + multi_model() + GPU + "\n",
        "realtime.instance_type",
        ("ml.g5.xlarge", None),
        "the sklearn container serves multi-model endpoints on CPU instances only",
    ),
    "Inferentia instances": (
        HEAD
        + multi_model(framework="custom", version=None, extra=NEURON_IMAGE)
        + "realtime: {instance_type: ml.inf2.xlarge}\n",
        "realtime.instance_type",
        ("ml.inf2.xlarge", None),
        "multi-model endpoints do not run on Inferentia or Trainium instances",
    ),
    "Inferentia instances without a Neuron image": (
        HEAD + multi_model() + "realtime: {instance_type: ml.inf2.xlarge}\n",
        "realtime.instance_type",
        ("ml.inf2.xlarge", None),
        "multi-model endpoints do not run on Inferentia or Trainium instances",
    ),
    "a shadow": (
        MME_RT + 'shadow:\n  name: candidate\n  model: {framework: sklearn, version: "1.2-1", '
        "artifacts: ./model, entry_point: inference.py}\n  " + RT + "\n",
        "shadow",
        ("shadow:", None),
        "shadow variants do not work with multi-model endpoints",
    ),
    "a shadow serving a multi-model block": (
        SUGAR + RT + "\nshadow:\n  name: candidate\n" + multi_model(indent="  ") + f"  {RT}\n",
        "shadow",
        ("shadow:", None),
        "SageMaker's shadow tests exclude multi-model endpoints",
    ),
    "asynchronous inference": (
        MME_RT + ASYNC,
        "async",
        ("async:", None),
        "InvokeEndpointAsync takes no TargetModel",
    ),
    "a shared multi-model block of two variants": (
        MME + TWO_VARIANTS,
        "model.mode",
        ("mode: multi-model", None),
        "deployspec's choice, not a SageMaker limit",
    ),
    "a variant's multi-model block beside another variant": (
        HEAD + 'variants:\n  - name: a\n    model: {framework: sklearn, version: "1.2-1", '
        "artifacts: ./model, entry_point: inference.py}\n    "
        + RT
        + "\n  - name: b\n"
        + multi_model(indent="    ")
        + f"    {RT}\n",
        "variants[1].model.mode",
        ("mode: multi-model", None),
        "a multi-model endpoint has exactly one production variant; variants: has 2",
    ),
    # The per-model checks, for a multi-model block as for any.
    "a framework version without an image": (
        HEAD + multi_model(version='"1.2"') + RT + "\n",
        "model.version",
        ('"1.2"', None),
        "did you mean '1.2-1'?",
    ),
    "sklearn without entry_point": (
        HEAD + multi_model().replace("  entry_point: inference.py\n", "") + RT + "\n",
        "model",
        ("model:", None),
        "sklearn needs model.entry_point",
    ),
    "an entry point that does not exist": (
        HEAD + multi_model().replace("inference.py", "serve.py") + RT + "\n",
        "model.entry_point",
        ("serve.py", None),
        "file not found",
    ),
    "a custom framework without an image": (
        HEAD + multi_model(framework="custom", version=None) + RT + "\n",
        "model.framework",
        ("framework: custom", None),
        "framework 'custom' needs model.image",
    ),
    "a secret_env key missing from env": (
        HEAD + multi_model(extra="  secret_env: [TOKEN]\n") + RT + "\n",
        "model.secret_env[0]",
        ("secret_env", None),
        "'TOKEN' is not a key of model.env",
    ),
}


@pytest.mark.parametrize("case", list(MME_REFUSED))
def test_multi_model_refused(write_spec: WriteSpec, archives: Path, case: str) -> None:
    text, field, (needle, after), phrase = MME_REFUSED[case]
    check_refused(write_spec(text), text, field, line_of(text, needle, after), phrase)


def check_refused(path: Path, text: str, field: str, line: int, phrase: str) -> None:
    diagnostics = refused(path)
    # One mistake, one error: nothing that merely follows from it.
    assert len(diagnostics) == 1, [d.format() for d in diagnostics]
    [d] = diagnostics
    assert d.path == field, d.format()
    assert phrase in f"{d.message} {d.hint}", d.format()
    assert (d.file, d.line) == (str(path), line), (line, d.format())
    assert d.column is not None, d.format()


def test_a_misspelt_models_key_is_named_as_the_cause(write_spec: WriteSpec, archives: Path) -> None:
    text = HEAD + multi_model(models="  modles: {a: ./models/a}\n") + RT + "\n"
    errors = [d.format() for d in refused(write_spec(text))]
    assert len(errors) == 2, errors
    assert "model.modles: unknown key 'modles'" in errors[0] and "'models'?" in errors[0]
    assert "mode: multi-model needs model.models" in errors[1]
    assert "is 'modles', reported above, a misspelling of it?" in errors[1]


def test_a_symlink_out_of_a_model_folder_is_refused_without_saying_where_it_leads(
    write_spec: WriteSpec, archives: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    outside = tmp_path_factory.mktemp("outside") / "weights.bin"
    outside.write_bytes(b"secret weights")
    os.symlink(outside, archives / "a" / "weights.bin")
    text = HEAD + multi_model() + RT + "\n"
    [error] = refused(write_spec(text))
    assert error.path == "model.models.iris-a"
    assert error.line == line_of(text, "./models/a")
    assert "the symlink 'weights.bin' in './models/a' leads outside that folder" in error.message
    assert "the folders of models:" in (error.hint or "")
    assert str(outside) not in error.format()


# ---- autoscaling an asynchronous endpoint on its backlog ---------------------------------------


def test_an_asynchronous_endpoint_scales_on_its_backlog_down_to_zero(
    write_spec: WriteSpec,
) -> None:
    text = SUGAR + realtime("{min: 0, max: 4, target_backlog_per_instance: 5}") + ASYNC
    spec = load_spec(write_spec(text)).spec
    assert spec.realtime is not None and spec.realtime.autoscaling is not None
    auto = spec.realtime.autoscaling
    assert (auto.min, auto.max, auto.target_backlog_per_instance) == (0, 4, 5.0)
    assert auto.target_invocations_per_instance is None
    # The endpoint still starts with one instance: SageMaker creates none with 0.
    assert spec.realtime.instance_count == 1
    assert (auto.scale_in_cooldown, auto.scale_out_cooldown) == (300, 60)


def test_backlog_autoscaling_of_the_one_variant_in_variants(write_spec: WriteSpec) -> None:
    text = (
        HEAD + 'model: {framework: sklearn, version: "1.2-1", artifacts: ./model, '
        "entry_point: inference.py}\n"
        + "variants:\n  - name: queue\n    realtime: {instance_type: ml.m5.large, "
        "instance_count: 2, autoscaling: {min: 1, max: 3, target_backlog_per_instance: 0.5, "
        "scale_in_cooldown: 10m}}\n" + ASYNC
    )
    [variant] = load_spec(write_spec(text)).spec.endpoint_variants
    assert variant.realtime is not None and variant.realtime.autoscaling is not None
    assert variant.realtime.autoscaling.target_backlog_per_instance == 0.5
    assert variant.realtime.autoscaling.scale_in_cooldown == 600


def test_invocations_autoscaling_of_a_synchronous_endpoint_is_as_it_was(
    write_spec: WriteSpec,
) -> None:
    text = SUGAR + realtime("{min: 1, max: 4, target_invocations_per_instance: 100}")
    spec = load_spec(write_spec(text)).spec
    assert spec.realtime is not None and spec.realtime.autoscaling is not None
    assert spec.realtime.autoscaling.target_invocations_per_instance == 100
    assert spec.realtime.autoscaling.target_backlog_per_instance is None


SCALING_REFUSED: dict[str, tuple[str, str, tuple[str, str | None], str]] = {
    "no target at all": (
        SUGAR + realtime("{min: 1, max: 2}"),
        "realtime.autoscaling",
        ("autoscaling:", None),
        "autoscaling needs target_invocations_per_instance or target_backlog_per_instance",
    ),
    "both targets": (
        SUGAR
        + realtime(
            "\n    min: 1\n    max: 2\n    target_invocations_per_instance: 5\n"
            "    target_backlog_per_instance: 5"
        )
        + ASYNC,
        "realtime.autoscaling.target_backlog_per_instance",
        ("target_backlog_per_instance", None),
        "target_invocations_per_instance and target_backlog_per_instance are exclusive",
    ),
    "the backlog of a synchronous endpoint": (
        SUGAR + realtime("\n    min: 1\n    max: 2\n    target_backlog_per_instance: 5"),
        "realtime.autoscaling.target_backlog_per_instance",
        ("target_backlog_per_instance", None),
        "invocations per instance is the metric of synchronous endpoints",
    ),
    "invocations per instance of an asynchronous endpoint": (
        SUGAR + realtime("{min: 1, max: 2, target_invocations_per_instance: 5}") + ASYNC,
        "realtime.autoscaling",
        ("autoscaling:", None),
        "asynchronous endpoints publish no InvocationsPerInstance metric",
    ),
    "invocations per instance of an asynchronous endpoint, with min 0": (
        SUGAR + realtime("{min: 0, max: 2, target_invocations_per_instance: 5}") + ASYNC,
        "realtime.autoscaling",
        ("autoscaling:", None),
        "use target_backlog_per_instance",
    ),
    "scale to zero of a synchronous endpoint": (
        SUGAR + realtime("\n    min: 0\n    max: 2\n    target_invocations_per_instance: 5"),
        "realtime.autoscaling.min",
        ("min: 0", None),
        "autoscaling min 0 (scale to zero) needs an asynchronous endpoint",
    ),
    "an initial count of 0": (
        SUGAR
        + realtime("{min: 0, max: 2, target_backlog_per_instance: 5}", "  instance_count: 0\n")
        + ASYNC,
        "realtime.instance_count",
        ("instance_count: 0", None),
        "CreateEndpointConfig's InitialInstanceCount",
    ),
    "an initial count above max": (
        SUGAR
        + realtime("{min: 0, max: 2, target_backlog_per_instance: 5}", "  instance_count: 3\n")
        + ASYNC,
        "realtime.instance_count",
        ("instance_count: 3", None),
        "instance_count 3 is outside autoscaling 0-2",
    ),
    "min above max": (
        SUGAR + realtime("{min: 3, max: 2, target_backlog_per_instance: 5}") + ASYNC,
        "realtime.autoscaling.min",
        ("autoscaling:", None),
        "autoscaling min 3 is greater than max 2",
    ),
    "a backlog target of 0": (
        SUGAR + realtime("{min: 0, max: 2, target_backlog_per_instance: 0}") + ASYNC,
        "realtime.autoscaling.target_backlog_per_instance",
        ("autoscaling:", None),
        "greater than 0",
    ),
    "a backlog target above 1000": (
        SUGAR + realtime("{min: 0, max: 2, target_backlog_per_instance: 1001}") + ASYNC,
        "realtime.autoscaling.target_backlog_per_instance",
        ("autoscaling:", None),
        "less than or equal to 1000",
    ),
    "a negative min": (
        SUGAR + realtime("{min: -1, max: 2, target_backlog_per_instance: 5}") + ASYNC,
        "realtime.autoscaling.min",
        ("autoscaling:", None),
        "greater than or equal to 0",
    ),
    "the backlog of a synchronous variant": (
        HEAD + 'model: {framework: sklearn, version: "1.2-1", artifacts: ./model, '
        "entry_point: inference.py}\n"
        + "variants:\n  - name: a\n    realtime:\n      instance_type: ml.m5.large\n"
        "      autoscaling: {min: 1, max: 2, target_backlog_per_instance: 5}\n",
        "variants[0].realtime.autoscaling.target_backlog_per_instance",
        ("autoscaling:", None),
        "or add async: to queue the requests",
    ),
    "the backlog of a shadow": (
        SUGAR + RT + "\nshadow:\n  name: candidate\n  realtime:\n    instance_type: ml.m5.large\n"
        "    autoscaling: {min: 1, max: 2, target_backlog_per_instance: 5}\n",
        "shadow.realtime.autoscaling.target_backlog_per_instance",
        ("autoscaling:", "shadow:"),
        "this endpoint has no async block",
    ),
}


@pytest.mark.parametrize("case", list(SCALING_REFUSED))
def test_autoscaling_refused(write_spec: WriteSpec, case: str) -> None:
    text, field, (needle, after), phrase = SCALING_REFUSED[case]
    check_refused(write_spec(text), text, field, line_of(text, needle, after), phrase)


def test_a_misspelt_backlog_target_is_named_as_the_cause(write_spec: WriteSpec) -> None:
    text = SUGAR + realtime("\n    min: 0\n    max: 2\n    target_backlog_per_instanse: 5") + ASYNC
    errors = [d.format() for d in refused(write_spec(text))]
    assert len(errors) == 2, errors
    assert "did you mean 'target_backlog_per_instance'?" in errors[0]
    assert "autoscaling needs target_invocations_per_instance or" in errors[1]
    assert "is 'target_backlog_per_instanse', reported above, a misspelling of it?" in errors[1]


# ---- autoscaling a serverless variant's provisioned concurrency ---------------------------------


def test_serverless_provisioned_concurrency_autoscaling_loads(write_spec: WriteSpec) -> None:
    spec = load_spec(write_spec(SUGAR + serverless(PROVISIONED))).spec
    assert spec.serverless is not None
    auto = spec.serverless.autoscaling
    assert isinstance(auto, ServerlessAutoscaling)
    assert (auto.min, auto.max, auto.target_utilization) == (1, 10, 0.7)
    assert (auto.scale_in_cooldown, auto.scale_out_cooldown) == (300, 60)
    [variant] = spec.endpoint_variants
    assert variant.serverless is not None and variant.serverless.autoscaling == auto
    assert spec.effective_serverless is spec.serverless


def test_serverless_autoscaling_of_a_variant(write_spec: WriteSpec) -> None:
    text = (
        HEAD + 'model: {framework: sklearn, version: "1.2-1", artifacts: ./model, '
        "entry_point: inference.py}\n"
        + "variants:\n  - name: only\n"
        + serverless(
            "provisioned_concurrency: 20\nautoscaling: {min: 5, max: 20, target_utilization: 1,"
            " scale_out_cooldown: 2m}",
            indent="    ",
        )
    )
    [variant] = load_spec(write_spec(text)).spec.endpoint_variants
    assert variant.serverless is not None and variant.serverless.autoscaling is not None
    assert variant.serverless.autoscaling.target_utilization == 1.0
    assert variant.serverless.autoscaling.scale_out_cooldown == 120


SERVERLESS_REFUSED: dict[str, tuple[str, str, tuple[str, str | None], str]] = {
    "no provisioned concurrency": (
        SUGAR + serverless("autoscaling: {min: 1, max: 10, target_utilization: 0.7}"),
        "serverless.autoscaling",
        ("autoscaling:", None),
        "serverless autoscaling scales the provisioned concurrency, and this block has none",
    ),
    "provisioned concurrency below min": (
        SUGAR
        + serverless(
            "provisioned_concurrency: 2\nautoscaling: {min: 3, max: 10, target_utilization: 0.7}"
        ),
        "serverless.provisioned_concurrency",
        ("provisioned_concurrency", None),
        "provisioned_concurrency 2 is outside autoscaling 3-10",
    ),
    "provisioned concurrency above max": (
        SUGAR
        + serverless(
            "provisioned_concurrency: 12\nautoscaling: {min: 1, max: 10, target_utilization: 0.7}"
        ),
        "serverless.provisioned_concurrency",
        ("provisioned_concurrency", None),
        "provisioned_concurrency 12 is outside autoscaling 1-10",
    ),
    "max above max_concurrency": (
        SUGAR
        + serverless(
            "provisioned_concurrency: 2\nautoscaling:\n  min: 1\n  max: 21\n"
            "  target_utilization: 0.7"
        ),
        "serverless.autoscaling.max",
        ("max: 21", None),
        "autoscaling max 21 exceeds max_concurrency 20",
    ),
    "max above the default max_concurrency": (
        SUGAR + "serverless:\n  provisioned_concurrency: 2\n"
        "  autoscaling: {min: 1, max: 6, target_utilization: 0.7}\n",
        "serverless.autoscaling.max",
        ("autoscaling:", None),
        "autoscaling max 6 exceeds max_concurrency 5",
    ),
    "min above max": (
        SUGAR
        + serverless(
            "provisioned_concurrency: 2\nautoscaling: {min: 4, max: 3, target_utilization: 0.7}"
        ),
        "serverless.autoscaling.min",
        ("autoscaling:", None),
        "autoscaling min 4 is greater than max 3",
    ),
    "a min of 0": (
        SUGAR
        + serverless(
            "provisioned_concurrency: 2\nautoscaling: {min: 0, max: 3, target_utilization: 0.7}"
        ),
        "serverless.autoscaling.min",
        ("autoscaling:", None),
        "greater than or equal to 1",
    ),
    "a target utilization of 0": (
        SUGAR
        + serverless(
            "provisioned_concurrency: 2\nautoscaling: {min: 1, max: 3, target_utilization: 0}"
        ),
        "serverless.autoscaling.target_utilization",
        ("autoscaling:", None),
        "greater than 0",
    ),
    "a target utilization above 1": (
        SUGAR
        + serverless(
            "provisioned_concurrency: 2\nautoscaling: {min: 1, max: 3, target_utilization: 70}"
        ),
        "serverless.autoscaling.target_utilization",
        ("autoscaling:", None),
        "not a percentage: 0.7 for 70 %",
    ),
    "no target utilization": (
        SUGAR + serverless("provisioned_concurrency: 2\nautoscaling: {min: 1, max: 3}"),
        "serverless.autoscaling",
        ("autoscaling:", None),
        "required key 'target_utilization' is missing under serverless.autoscaling",
    ),
    "a real-time target": (
        SUGAR
        + serverless(
            "provisioned_concurrency: 2\nautoscaling: {min: 1, max: 3, target_utilization: 0.5,"
            " target_invocations_per_instance: 5}"
        ),
        "serverless.autoscaling.target_invocations_per_instance",
        ("autoscaling:", None),
        "unknown key 'target_invocations_per_instance'",
    ),
    "a variant without provisioned concurrency": (
        HEAD + 'model: {framework: sklearn, version: "1.2-1", artifacts: ./model, '
        "entry_point: inference.py}\n"
        + "variants:\n  - name: only\n"
        + serverless("autoscaling: {min: 1, max: 10, target_utilization: 0.7}", indent="    "),
        "variants[0].serverless.autoscaling",
        ("autoscaling:", None),
        "set variants[0].serverless.provisioned_concurrency",
    ),
}


@pytest.mark.parametrize("case", list(SERVERLESS_REFUSED))
def test_serverless_autoscaling_refused(write_spec: WriteSpec, case: str) -> None:
    text, field, (needle, after), phrase = SERVERLESS_REFUSED[case]
    check_refused(write_spec(text), text, field, line_of(text, needle, after), phrase)


# ---- the models and the schema ----------------------------------------------------------------


def test_the_models_refuse_what_the_spec_refuses_when_built_directly() -> None:
    base = {"framework": "sklearn", "mode": "multi-model", "models": {"a": "./a"}}
    assert ModelSpec.model_validate(base).is_multi_model()
    with pytest.raises(ValueError, match="a URI cannot be listed here"):
        ModelSpec.model_validate({**base, "models": {"a": "s3://bkt/a.tar.gz"}})
    with pytest.raises(ValueError, match="pattern"):
        ModelSpec.model_validate({**base, "models": {"-a": "./a"}})
    with pytest.raises(ValueError, match="at least 1"):
        ModelSpec.model_validate({**base, "models": {}})
    assert Autoscaling.model_validate({"min": 0, "max": 2, "target_backlog_per_instance": 3})
    with pytest.raises(ValueError):
        ServerlessAutoscaling.model_validate({"min": 1, "max": 2, "target_utilization": 1.01})


def test_the_schema_says_which_archives_a_block_needs_and_which_target_scaling_needs() -> None:
    defs = json_schema()["$defs"]
    model = defs["ModelSpec"]
    assert model["if"] == {"properties": {"mode": {"const": "multi-model"}}, "required": ["mode"]}
    # A single-model block has exactly one model source; a multi-model block none.
    sources = [{"required": ["artifacts"]}, {"required": ["hub"]}, {"required": ["package"]}]
    assert model["then"] == {"required": ["models"], "not": {"anyOf": sources}}
    assert model["else"] == {"oneOf": sources, "not": {"required": ["models"]}}
    assert "artifacts" not in model.get("required", [])
    models = model["properties"]["models"]
    assert models["propertyNames"] == {"pattern": r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$"}
    assert defs["Autoscaling"]["oneOf"] == [
        {"required": ["target_invocations_per_instance"]},
        {"required": ["target_backlog_per_instance"]},
    ]
    assert defs["Autoscaling"]["properties"]["min"]["minimum"] == 0
    assert "autoscaling" in defs["Serverless"]["properties"]
    utilization = defs["ServerlessAutoscaling"]["properties"]["target_utilization"]
    assert (utilization["exclusiveMinimum"], utilization["maximum"]) == (0, 1)
