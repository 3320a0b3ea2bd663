"""`variants:` and `shadow:`: what they load as, and every rule of theirs refused at validate
with the field path, the line and what to do."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from deployspec.errors import Diagnostic, SpecError
from deployspec.spec import (
    DEFAULT_VARIANT_NAME,
    LoadedSpec,
    LocalPaths,
    load_spec,
)
from tests.conftest import VALID_SKLEARN

WriteSpec = Callable[..., Path]

HEAD = """\
name: ab
role: arn:aws:iam::123456789012:role/SageMakerExecution
"""
MODEL_A = '{framework: sklearn, version: "1.2-1", artifacts: ./model, entry_point: inference.py}'
MODEL_B = '{framework: sklearn, version: "1.2-1", artifacts: ./model-b, entry_point: inference.py}'
SHARED = f"model: {MODEL_A}\n"
RT = "realtime: {instance_type: ml.m5.large}"
RT_C5 = "realtime: {instance_type: ml.c5.large}"
SERVERLESS = "serverless: {memory_mb: 2048}"
SUGAR_REALTIME = VALID_SKLEARN.split("serverless:")[0] + "realtime:\n  instance_type: ml.m5.large\n"


def variant(
    name: str, *, model: str | None = None, capacity: str | None = RT, weight: object = None
) -> str:
    """One entry of variants:, one key a line (so that a key's line can be found by its text)."""
    lines = [f"  - name: {name}"]
    if weight is not None:
        lines.append(f"    weight: {weight}")
    if model is not None:
        lines.append(f"    model: {model}")
    if capacity is not None:
        lines.append(f"    {capacity}")
    return "\n".join(lines) + "\n"


def variants(*entries: str) -> str:
    return "variants:\n" + "".join(entries)


def shadow(name: str = "candidate", *, model: str | None = MODEL_B, capacity: str = RT) -> str:
    text = f"shadow:\n  name: {name}\n"
    if model is not None:
        text += f"  model: {model}\n"
    return text + f"  {capacity}\n"


TWO = HEAD + variants(
    variant("current", model=MODEL_A, weight=90), variant("challenger", model=MODEL_B, weight=10)
)


@pytest.fixture
def model_b(project: Path) -> Path:
    """A second model folder beside the `project` fixture's model/ and inference.py."""
    (project / "model-b").mkdir()
    (project / "model-b" / "model.joblib").write_bytes(b"another model")
    return project / "model-b"


def refused(path: Path) -> list[Diagnostic]:
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    return list(caught.value.diagnostics)


def line_of(text: str, needle: str, after: str | None = None) -> int:
    """The 1-based line of the first line holding `needle` (after the line holding `after`)."""
    lines = text.splitlines()
    start = 0 if after is None else next(i for i, t in enumerate(lines) if after in t) + 1
    return next(i for i, t in enumerate(lines) if i >= start and needle in t) + 1


# ---- what valid specs load as ----------------------------------------------------------------

# (text, [(name, weight, model_key, instance type or "serverless", shadow)], models' keys,
#  {model_key: artifacts folder name})
VALID = {
    "two variants, each its own model": (
        HEAD
        + variants(
            variant(
                "current",
                model=MODEL_A,
                weight=90,
                capacity="realtime: {instance_type: ml.m5.large, instance_count: 2, autoscaling:"
                " {min: 1, max: 4, target_invocations_per_instance: 100}}",
            ),
            variant("challenger", model=MODEL_B, weight=10, capacity=RT_C5),
        ),
        [
            ("current", 90.0, "variants[0].model", "ml.m5.large", False),
            ("challenger", 10.0, "variants[1].model", "ml.c5.large", False),
        ],
        ["variants[0].model", "variants[1].model"],
        {"variants[0].model": "model", "variants[1].model": "model-b"},
    ),
    "a shared top-level model, and one variant with its own": (
        HEAD
        + SHARED
        + variants(
            variant("a", weight=2),
            variant("b", weight=0.5, capacity=RT_C5),
            variant("c", model=MODEL_B, weight=0),
        ),
        [
            ("a", 2.0, "model", "ml.m5.large", False),
            ("b", 0.5, "model", "ml.c5.large", False),
            ("c", 0.0, "variants[2].model", "ml.m5.large", False),
        ],
        ["model", "variants[2].model"],
        {"model": "model", "variants[2].model": "model-b"},
    ),
    "a shadow beside the one-variant form": (
        SUGAR_REALTIME + shadow(),
        [
            (DEFAULT_VARIANT_NAME, 1.0, "model", "ml.m5.large", False),
            ("candidate", 1.0, "shadow.model", "ml.m5.large", True),
        ],
        ["model", "shadow.model"],
        {"model": "model", "shadow.model": "model-b"},
    ),
    "a shadow beside one variant, the shadow serving the top-level model": (
        HEAD
        + SHARED
        + variants(variant("current", model=MODEL_B, weight=3))
        + shadow(
            model=None,
            capacity="realtime: {instance_type: ml.m5.large, autoscaling: {min: 1, max: 2, "
            "target_invocations_per_instance: 10}}",
        ),
        [
            ("current", 3.0, "variants[0].model", "ml.m5.large", False),
            # A shadow gets all the traffic the production variant gets: its weight.
            ("candidate", 3.0, "model", "ml.m5.large", True),
        ],
        ["variants[0].model", "model"],
        {"variants[0].model": "model-b", "model": "model"},
    ),
    "one serverless variant": (
        HEAD + SHARED + variants(variant("only", capacity=SERVERLESS)),
        [("only", 1.0, "model", "serverless", False)],
        ["model"],
        {"model": "model"},
    ),
}


@pytest.mark.parametrize("case", list(VALID))
def test_valid_shapes_load_as_their_variants(
    write_spec: WriteSpec, project: Path, model_b: Path, case: str
) -> None:
    text, expected, keys, folders = VALID[case]
    loaded = load_spec(write_spec(text))
    spec = loaded.spec
    got = [
        (
            v.name,
            v.weight,
            v.model_key,
            v.realtime.instance_type if v.realtime else "serverless",
            v.shadow,
        )
        for v in spec.endpoint_variants
    ]
    assert got == expected
    for v in spec.endpoint_variants:
        assert (v.realtime is None) != (v.serverless is None), v
        assert v.model is spec.models[v.model_key]
    assert list(spec.models) == keys
    assert set(loaded.model_paths) == set(keys)
    for key, folder in folders.items():
        paths = loaded.paths_of(key)
        assert paths == loaded.model_paths[key]
        assert paths.artifacts == (project / folder).resolve()
        assert paths.entry_point == (project / "inference.py").resolve()
    # LoadedSpec.paths stays the top-level model's, and nothing without one.
    if "model" in keys:
        assert loaded.paths == loaded.model_paths["model"]
    else:
        assert loaded.paths == LocalPaths(None, None, None)
    assert spec.realtime_variants == all(e[3] != "serverless" for e in expected)
    # With variants:, the top-level capacity of the one-variant form is nobody's.
    if spec.variants is not None:
        assert spec.effective_serverless is None


def test_the_one_variant_form_is_one_variant_named_alltraffic(write_spec: WriteSpec) -> None:
    loaded = load_spec(write_spec(VALID_SKLEARN))
    [only] = loaded.spec.endpoint_variants
    assert (only.name, only.weight, only.model_key, only.shadow) == (
        "AllTraffic",
        1.0,
        "model",
        False,
    )
    assert only.model is loaded.spec.model
    assert only.realtime is None
    assert only.serverless == loaded.spec.effective_serverless
    assert only.serverless is not None and only.serverless.max_concurrency == 5
    assert loaded.spec.models == {"model": loaded.spec.model}
    assert loaded.model_paths == {"model": loaded.paths}
    assert loaded.spec.realtime_variants is False
    realtime = load_spec(write_spec(SUGAR_REALTIME)).spec
    assert realtime.realtime_variants is True
    assert realtime.endpoint_variants[0].serverless is None


def test_a_loaded_spec_built_by_hand_answers_for_its_one_model(write_spec: WriteSpec) -> None:
    loaded = load_spec(write_spec(VALID_SKLEARN))
    by_hand = LoadedSpec(loaded.spec, loaded.file, loaded.paths, {}, loaded.text)
    assert by_hand.paths_of("model") == loaded.paths
    with pytest.raises(KeyError, match=r"variants\[0\]\.model"):
        by_hand.paths_of("variants[0].model")


def test_string_fields_of_every_model_block_keep_their_text(
    write_spec: WriteSpec, project: Path, model_b: Path
) -> None:
    tf = "{framework: tensorflow, version: 2.10, artifacts: ./model-b, env: {PORT: 8080}}"
    text = HEAD + variants(variant("a", model=MODEL_A)) + shadow(model=tf)
    spec = load_spec(write_spec(text)).spec
    assert spec.shadow is not None and spec.shadow.model is not None
    assert spec.shadow.model.version == "2.10"
    assert spec.shadow.model.env == {"PORT": "8080"}


# ---- refusals: (text, field path, (line needle, after), phrase) -------------------------------

GPU = "realtime: {instance_type: ml.g5.xlarge}"
REFUSED: dict[str, tuple[str, str, tuple[str, str | None], str]] = {
    "variants with a top-level realtime": (
        HEAD + SHARED + "realtime: {instance_type: ml.m5.large}\n" + variants(variant("a")),
        "realtime",
        ("realtime:", None),
        "a top-level realtime: and variants: are exclusive",
    ),
    "variants with a top-level serverless": (
        HEAD + SHARED + "serverless: {}\n" + variants(variant("a")),
        "serverless",
        ("serverless:", None),
        "a top-level serverless: and variants: are exclusive",
    ),
    "a variant without a model, and no top-level model": (
        HEAD + variants(variant("a", model=MODEL_A), variant("b")),
        "variants[1]",
        ("name: b", None),
        "this variant has no model, and there is no top-level model: to share",
    ),
    "a shadow without a model, and no top-level model": (
        HEAD + variants(variant("a", model=MODEL_A)) + shadow(model=None),
        "shadow",
        ("shadow:", None),
        "add model: {framework: ..., artifacts: ...} under shadow:",
    ),
    "a top-level model no variant serves": (
        HEAD + SHARED + variants(variant("a", model=MODEL_B)),
        "model",
        ("model:", None),
        "no variant uses the top-level model",
    ),
    "no variants": (
        HEAD + SHARED + "variants: []\n",
        "variants",
        ("variants:", None),
        "0 variants given; an endpoint has 1-10",
    ),
    "eleven variants": (
        HEAD + SHARED + variants(*(variant(f"v{i}") for i in range(11))),
        "variants",
        ("name: v0", None),
        "11 variants given; an endpoint has 1-10",
    ),
    "two variants of one name": (
        HEAD + SHARED + variants(variant("a"), variant("b"), variant("a")),
        "variants[2].name",
        ("name: a", "name: b"),
        "variant name 'a' is already used by variants[0]",
    ),
    "a variant name SageMaker refuses": (
        HEAD + SHARED + variants(variant("not_allowed")),
        "variants[0].name",
        ("name: not_allowed", None),
        "SageMaker's variant names",
    ),
    "a shadow named as the production variant": (
        HEAD + SHARED + variants(variant("same")) + shadow("same"),
        "shadow.name",
        ("name: same", "shadow:"),
        "the shadow's name 'same' is a production variant's",
    ),
    "a shadow named AllTraffic beside the one-variant form": (
        SUGAR_REALTIME + shadow("AllTraffic"),
        "shadow.name",
        ("name: AllTraffic", None),
        "the production variant of a spec without variants: is AllTraffic",
    ),
    "a negative weight": (
        HEAD + SHARED + variants(variant("a", weight=-1)),
        "variants[0].weight",
        ("weight: -1", None),
        "greater than or equal to 0",
    ),
    "every weight 0": (
        HEAD + SHARED + variants(variant("a", weight=0), variant("b", weight=0.0)),
        "variants",
        ("variants:", None),
        "every variant's weight is 0",
    ),
    "a variant with serverless and realtime": (
        HEAD + SHARED + variants(variant("a", capacity=f"{SERVERLESS}\n    {RT}")),
        "variants[0].realtime",
        ("realtime:", "name: a"),
        "serverless and realtime are exclusive",
    ),
    "a variant with neither serverless nor realtime": (
        HEAD + SHARED + variants(variant("a"), variant("b", capacity=None)),
        "variants[1]",
        ("name: b", None),
        "this variant needs realtime: or serverless:",
    ),
    "a serverless variant beside a real-time one": (
        HEAD + SHARED + variants(variant("a"), variant("b", capacity=SERVERLESS)),
        "variants[1].serverless",
        ("serverless:", None),
        "a serverless variant must be the endpoint's only production variant",
    ),
    "two serverless variants": (
        HEAD
        + SHARED
        + variants(variant("a", capacity=SERVERLESS), variant("b", capacity=SERVERLESS)),
        "variants[1].serverless",
        ("serverless:", "name: b"),
        "never beside other variants (serverless or real-time)",
    ),
    "a rolling update of two variants": (
        TWO + "deployment: {strategy: rolling, rolling: {percent: 50}}\n",
        "deployment.strategy",
        ("deployment:", None),
        "deployment guardrails exclude rolling updates of multi-variant endpoints",
    ),
    "a canary update of a serverless variant": (
        HEAD
        + SHARED
        + variants(variant("a", capacity=SERVERLESS))
        + "deployment: {strategy: canary, canary: {percent: 10}}\n",
        "deployment.strategy",
        ("deployment:", None),
        "strategy 'canary' needs a real-time endpoint",
    ),
    "rollback alarms on a serverless variant": (
        HEAD
        + SHARED
        + variants(variant("a", capacity=SERVERLESS))
        + "deployment: {rollback_alarms: [errors]}\n",
        "deployment.rollback_alarms",
        ("deployment:", None),
        "rollback alarms need a real-time endpoint",
    ),
    "data capture of a serverless variant": (
        HEAD
        + SHARED
        + variants(variant("a", capacity=SERVERLESS))
        + "data_capture: {destination: s3://bkt/capture}\n",
        "data_capture",
        ("data_capture:", None),
        "data capture needs a real-time endpoint",
    ),
    "a shadow beside two production variants": (
        TWO + shadow(),
        "shadow",
        ("shadow:", None),
        "a shadow variant needs exactly one production variant; variants: has 2",
    ),
    "a shadow beside a serverless one-variant form": (
        VALID_SKLEARN + shadow(),
        "shadow",
        ("shadow:", None),
        "shadow variants do not work with serverless endpoints",
    ),
    "a shadow beside a serverless variant": (
        HEAD + SHARED + variants(variant("a", capacity=SERVERLESS)) + shadow(),
        "shadow",
        ("shadow:", None),
        "shadow variants do not work with serverless endpoints",
    ),
    "a shadow of an asynchronous endpoint": (
        SUGAR_REALTIME + "async: {output: s3://bkt/out/}\n" + shadow(),
        "shadow",
        ("shadow:", None),
        "shadow variants do not work with asynchronous inference",
    ),
    "a shadow on Inf1 instances": (
        SUGAR_REALTIME
        + shadow(
            model="{framework: custom, image: 1.dkr.ecr.us-east-1.amazonaws.com/neuron:1, "
            "artifacts: ./model-b}",
            capacity="realtime: {instance_type: ml.inf1.xlarge}",
        ),
        "shadow.realtime.instance_type",
        ("ml.inf1.xlarge", None),
        "shadow tests do not work on Inf1 (Inferentia) instances",
    ),
    "a shadow without realtime": (
        SUGAR_REALTIME + "shadow:\n  name: candidate\n",
        "shadow",
        ("shadow:", None),
        "required key 'realtime' is missing under shadow",
    ),
    "a shadow with serverless": (
        SUGAR_REALTIME + shadow() + "  serverless: {}\n",
        "shadow.serverless",
        ("serverless:", "shadow:"),
        "unknown key 'serverless'",
    ),
    "asynchronous inference of two variants": (
        TWO + "async: {output: s3://bkt/out/}\n",
        "async",
        ("async:", None),
        "asynchronous inference serves exactly one production variant; variants: has 2",
    ),
    "asynchronous inference of a serverless variant": (
        HEAD
        + SHARED
        + variants(variant("a", capacity=SERVERLESS))
        + "async: {output: s3://bkt/out/}\n",
        "async",
        ("async:", None),
        "asynchronous inference needs a real-time endpoint",
    ),
    "asynchronous inference of an autoscaled variant": (
        HEAD
        + SHARED
        + variants(
            variant(
                "a",
                capacity="realtime: {instance_type: ml.m5.large, autoscaling: {min: 1, max: 2, "
                "target_invocations_per_instance: 5}}",
            )
        )
        + "async: {output: s3://bkt/out/}\n",
        "variants[0].realtime.autoscaling",
        ("realtime:", None),
        "autoscaling an asynchronous endpoint",
    ),
    "a variant's autoscaling min above its max": (
        HEAD
        + SHARED
        + variants(
            variant("a"),
            variant(
                "b",
                capacity="realtime: {instance_type: ml.m5.large, autoscaling: {min: 5, max: 2, "
                "target_invocations_per_instance: 5}}",
            ),
        ),
        "variants[1].realtime.autoscaling.min",
        ("autoscaling", None),
        "autoscaling min 5 is greater than max 2",
    ),
    "a variant's instance count outside its autoscaling range": (
        HEAD
        + SHARED
        + variants(
            variant(
                "a",
                capacity="realtime: {instance_type: ml.m5.large, instance_count: 9, autoscaling: "
                "{min: 1, max: 2, target_invocations_per_instance: 5}}",
            )
        ),
        "variants[0].realtime.instance_count",
        ("instance_count", None),
        "instance_count 9 is outside autoscaling 1-2",
    ),
    "the shadow's autoscaling min above its max": (
        SUGAR_REALTIME
        + shadow(
            capacity="realtime: {instance_type: ml.m5.large, autoscaling: {min: 3, max: 1, "
            "target_invocations_per_instance: 5}}"
        ),
        "shadow.realtime.autoscaling.min",
        ("autoscaling", None),
        "autoscaling min 3 is greater than max 1",
    ),
    "a serverless variant's provisioned concurrency above its maximum": (
        HEAD
        + SHARED
        + variants(
            variant("a", capacity="serverless: {max_concurrency: 2, provisioned_concurrency: 3}")
        ),
        "variants[0].serverless.provisioned_concurrency",
        ("provisioned_concurrency", None),
        "provisioned_concurrency 3 exceeds max_concurrency 2",
    ),
    "an unknown instance type in a variant": (
        HEAD
        + SHARED
        + variants(variant("a"), variant("b", capacity="realtime: {instance_type: ml.m5.larg}")),
        "variants[1].realtime.instance_type",
        ("ml.m5.larg}", None),
        "did you mean ml.m5.large",
    ),
    # The per-model checks, at each model block's own path.
    "a framework version without an image, in a variant": (
        HEAD
        + variants(
            variant("a", model=MODEL_A),
            variant("b", model=MODEL_B.replace('"1.2-1"', '"1.2"')),
        ),
        "variants[1].model.version",
        ('"1.2"', None),
        "did you mean '1.2-1'?",
    ),
    "a CPU-only image on the GPU instances of one variant": (
        HEAD + variants(variant("a", model=MODEL_A), variant("b", model=MODEL_B, capacity=GPU)),
        "variants[1].realtime.instance_type",
        ("ml.g5.xlarge", None),
        "set variants[1].model.image to an image built for it",
    ),
    "a shared CPU-only model on the GPU instances of one of its variants": (
        HEAD + SHARED + variants(variant("a"), variant("b", capacity=GPU)),
        "variants[1].realtime.instance_type",
        ("ml.g5.xlarge", None),
        "set model.image to an image built for it",
    ),
    "a py_version the variant's image does not have": (
        HEAD + variants(variant("a", model=MODEL_A.replace("}", ", py_version: py27}"))),
        "variants[0].model.py_version",
        ("py27", None),
        "images exist for",
    ),
    "a variant's artifacts that do not exist": (
        HEAD
        + variants(
            variant("a", model=MODEL_A), variant("b", model=MODEL_B.replace("./model-b", "./nope"))
        ),
        "variants[1].model.artifacts",
        ("./nope", None),
        "file or folder not found",
    ),
    "a variant's artifacts outside the project": (
        HEAD + variants(variant("a", model=MODEL_A.replace("./model", "../elsewhere"))),
        "variants[0].model.artifacts",
        ("../elsewhere", None),
        "leads outside the project root",
    ),
    "a shadow's sklearn model without entry_point": (
        SUGAR_REALTIME
        + shadow(model='{framework: sklearn, version: "1.2-1", artifacts: ./model-b}'),
        "shadow.model",
        ("model: {framework", "shadow:"),
        "sklearn needs shadow.model.entry_point",
    ),
    "a shadow's TensorFlow script not named inference.py": (
        SUGAR_REALTIME
        + shadow(
            model='{framework: tensorflow, version: "2.16", artifacts: ./model-b, '
            "entry_point: serve.py}"
        ),
        "shadow.model.entry_point",
        ("serve.py", None),
        "the TensorFlow Serving container runs only code/inference.py",
    ),
    "a variant on Inferentia without a Neuron image": (
        HEAD
        + variants(
            variant("a", model=MODEL_A, capacity="realtime: {instance_type: ml.inf2.xlarge}")
        ),
        "variants[0].realtime.instance_type",
        ("ml.inf2.xlarge", None),
        "set variants[0].model.image to a Neuron inference image",
    ),
    "a custom framework without an image, in the shadow": (
        SUGAR_REALTIME + shadow(model="{framework: custom, artifacts: ./model-b}"),
        "shadow.model.framework",
        ("framework: custom", None),
        "framework 'custom' needs shadow.model.image",
    ),
    "a secret_env key missing from the variant's env": (
        HEAD
        + variants(variant("a", model=MODEL_A.replace("}", ", env: {A: b}, secret_env: [B]}"))),
        "variants[0].model.secret_env[0]",
        ("secret_env", None),
        "'B' is not a key of variants[0].model.env",
    ),
    "an unknown key in a variant's model": (
        HEAD + variants(variant("a", model=MODEL_A.replace("}", ", entrypoint: x.py}"))),
        "variants[0].model.entrypoint",
        ("entrypoint", None),
        "did you mean 'entry_point'?",
    ),
}


# The cases whose spec has more than the one mistake named (each reported once).
SEVERAL = {
    "two serverless variants",  # each is refused where it stands
    "a shadow's TensorFlow script not named inference.py",  # nor does serve.py exist
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_refused(write_spec: WriteSpec, project: Path, model_b: Path, case: str) -> None:
    text, field, (needle, after), phrase = REFUSED[case]
    path = write_spec(text)
    diagnostics = refused(path)
    # One mistake, one error: nothing that merely follows from it.
    assert case in SEVERAL or len(diagnostics) == 1, [d.format() for d in diagnostics]
    found = [d for d in diagnostics if d.path == field]
    assert found, [d.format() for d in diagnostics]
    line = line_of(text, needle, after)
    matching = [d for d in found if phrase in f"{d.message} {d.hint}"]
    assert matching, [d.format() for d in found]
    assert all(d.file == str(path) and d.line == line for d in matching), (
        line,
        [d.format() for d in matching],
    )


def test_a_misspelt_variant_model_is_named_as_the_cause_of_the_missing_one(
    write_spec: WriteSpec, project: Path
) -> None:
    text = HEAD + variants(variant("a", capacity=f"{RT}\n    modle: {MODEL_A}"))
    errors = [d.format() for d in refused(write_spec(text))]
    assert "variants[0].modle: unknown key 'modle'" in errors[0]
    assert "did you mean 'model'?" in errors[0]
    assert "variants[0]: this variant has no model" in errors[1]
    assert "is 'modle', reported above, a misspelling of it?" in errors[1]


def test_a_script_problem_in_a_variants_model_is_located_in_the_script(
    write_spec: WriteSpec, project: Path, model_b: Path
) -> None:
    (project / "other.py").write_text("def predict_fn(data, model):\n    return model\n")
    text = HEAD + variants(
        variant("a", model=MODEL_A), variant("b", model=MODEL_B.replace("inference.py", "other.py"))
    )
    path = write_spec(text)
    [error] = refused(path)
    assert (error.path, error.line) == ("variants[1].model.entry_point", line_of(text, "other.py"))
    assert "other.py defines no model_fn" in error.message


def test_the_environment_values_of_every_model_block_are_never_shown(
    write_spec: WriteSpec, project: Path, model_b: Path
) -> None:
    token = "s3cr3t-t0ken-value-9f8e7d6c5b4a"
    secret_model = MODEL_B.replace("}", f", env: {{API_TOKEN: {token}}}}}")
    # The secret, pasted where it does not belong, is reported without being shown.
    text = (
        HEAD
        + variants(variant("a", model=MODEL_A, capacity=f"realtime: {{instance_type: {token}}}"))
        + shadow(model=secret_model)
    )
    errors = [d.format() for d in refused(write_spec(text))]
    assert any("variants[0].realtime.instance_type" in e for e in errors), errors
    assert not any(token in e for e in errors), errors
    hidden = HEAD + variants(variant("a", model=MODEL_A.replace("}", ", env: {K: [1]}}")))
    [error] = refused(write_spec(hidden))
    assert error.path == "variants[0].model.env.K"
    assert "environment values are never shown" in (error.hint or "")
