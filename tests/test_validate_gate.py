"""validate is the gate: whatever plan, apply or the container would refuse, it refuses first.

Each test here stands for a case that once validated and then failed later (issue 10, points
2-9): the artifacts plan cannot package, the image the SDK cannot or would not give, the script
TensorFlow Serving never runs, the variable nobody reads, YAML 1.1's numbers, and messages that
did not say what to do.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from deployspec import catalog, gpus, images
from deployspec.artifacts import ArtifactError, ArtifactSource, Layout, list_entries
from deployspec.desired import build_desired
from deployspec.errors import SpecError
from deployspec.spec import load_spec
from tests.conftest import VALID_SKLEARN

WriteSpec = Callable[..., Path]
ROLE = "arn:aws:iam::123456789012:role/SageMakerExecution"


def errors_of(path: Path, **kwargs: Any) -> list[str]:
    with pytest.raises(SpecError) as caught:
        load_spec(path, **kwargs)
    return [d.format() for d in caught.value.diagnostics]


def with_model(framework: str, version: str, extra: str = "") -> str:
    return VALID_SKLEARN.replace(
        'framework: sklearn\n  version: "1.2-1"',
        f'framework: {framework}\n  version: "{version}"{extra}',
    )


def realtime(text: str, instance_type: str) -> str:
    return text.split("serverless:")[0] + f"realtime:\n  instance_type: {instance_type}\n"


@pytest.fixture
def uncached(monkeypatch: pytest.MonkeyPatch) -> None:
    """Image lookups asked of the SDK each time: an answer cached by an older deployspec
    must not stand in for what the code does now."""
    from sagemaker.core import common_utils

    monkeypatch.setattr(images, "optional_cache_file", lambda *parts: None)
    # The SDK parses botocore's endpoint table on every lookup (a tenth of a second); the
    # table does not change while the tests run.
    monkeypatch.setattr(
        common_utils, "_botocore_resolver", functools.cache(common_utils._botocore_resolver)
    )


# ---- 2. artifacts plan cannot package -----------------------------------------------------


def _empty(folder: Path) -> None:
    folder.mkdir()


def _nested_empty(folder: Path) -> None:
    (folder / "a" / "b").mkdir(parents=True)


def _only_bytecode(folder: Path) -> None:
    # Packaging leaves __pycache__ out of code/ only; in the artifacts it is archived.
    (folder / "__pycache__").mkdir(parents=True)
    (folder / "__pycache__" / "m.cpython-311.pyc").write_bytes(b"\x00")


def _linked_file(folder: Path) -> None:
    (folder / "weights").mkdir(parents=True)
    (folder / "weights" / "model.bin").write_bytes(b"w")
    (folder / "model.bin").symlink_to("weights/model.bin")


def _one_file(folder: Path) -> None:
    folder.mkdir()
    (folder / "model.joblib").write_bytes(b"m")


@pytest.mark.parametrize(
    "make",
    [_empty, _nested_empty, _only_bytecode, _linked_file, _one_file],
    ids=lambda f: f.__name__,
)
def test_validate_accepts_an_artifacts_folder_exactly_when_packaging_does(
    write_spec: WriteSpec, project: Path, make: Callable[[Path], None]
) -> None:
    folder = project / "weights-folder"
    make(folder)
    path = write_spec(VALID_SKLEARN.replace("./model", "./weights-folder"))
    try:
        list_entries(ArtifactSource(Layout.FLAT, folder, project / "inference.py"))
        packages = True
    except ArtifactError:
        packages = False
    if packages:
        assert load_spec(path).paths.artifacts == folder.resolve()
        return
    [error] = errors_of(path)
    assert error.startswith(
        f"{path}:6:14: model.artifacts: the artifacts folder './weights-folder' holds no files"
    ), error
    assert "hint: put the model's files in it" in error


# ---- 3 and 4. Hugging Face base frameworks ------------------------------------------------


def _huggingface_versions() -> Iterator[tuple[str, dict[str, Any]]]:
    yield from catalog.framework_table("huggingface")["versions"].items()


@pytest.mark.usefixtures("uncached")
def test_a_single_base_framework_is_the_default_as_validate_promised() -> None:
    single = [(v, e) for v, e in _huggingface_versions() if len(catalog.base_frameworks(e)) == 1]
    assert single, "the SDK's table changed: no Hugging Face version with one base left"
    for version, entry in single:
        [base] = catalog.base_frameworks(entry)
        for instance_type in ("ml.g5.xlarge", "ml.m5.xlarge"):
            kwargs: dict[str, Any] = {"py_version": None, "instance_type": instance_type}
            named = images.image_uri(
                "huggingface", "us-east-1", version, **kwargs, base_framework_version=base
            )
            assert images.image_uri("huggingface", "us-east-1", version, **kwargs) == named


@pytest.mark.usefixtures("uncached")
def test_every_base_framework_alias_makes_the_published_tag() -> None:
    checked = 0
    for version, entry in _huggingface_versions():
        for alias, full in catalog.base_aliases(entry).items():
            for instance_type in ("ml.g5.xlarge", "ml.m5.xlarge"):
                uri = images.image_uri(
                    "huggingface",
                    "us-east-1",
                    version,
                    py_version=None,
                    instance_type=instance_type,
                    base_framework_version=alias,
                )
                assert uri == images.image_uri(
                    "huggingface",
                    "us-east-1",
                    version,
                    py_version=None,
                    instance_type=instance_type,
                    base_framework_version=full,
                )
                base_version = full.removeprefix("pytorch").removeprefix("tensorflow")
                assert f":{base_version}-transformers{version}-" in uri, (alias, uri)
                checked += 1
    assert checked > 20


@pytest.mark.usefixtures("uncached")
def test_the_issue_s_alias_plans_the_full_base(write_spec: WriteSpec, tmp_path: Path) -> None:
    text = realtime(
        with_model("huggingface", "4.49.0", "\n  base_framework_version: pytorch2.6"),
        "ml.g5.xlarge",
    )
    for spec in (text, text.replace("\n  base_framework_version: pytorch2.6", "")):
        desired = build_desired(
            load_spec(write_spec(spec)),
            region="us-east-1",
            role=ROLE,
            artifact_cache=tmp_path / "cache",
        )
        [model] = desired.models
        assert model.image.endswith(
            "/huggingface-pytorch-inference:2.6.0-transformers4.49.0-gpu-py312-cu124-ubuntu22.04"
        ), model.image


@pytest.mark.usefixtures("uncached")
def test_image_errors_never_show_the_table_s_own_keys() -> None:
    several = next(v for v, e in _huggingface_versions() if len(catalog.base_frameworks(e)) > 1)
    for base in (None, "pytorch9.9"):
        with pytest.raises(images.ImageError) as caught:
            images.image_uri(
                "huggingface",
                "us-east-1",
                several,
                py_version=None,
                instance_type="ml.g5.xlarge",
                base_framework_version=base,
            )
        assert "version_aliases" not in str(caught.value)
        assert "available: " in str(caught.value)


# ---- 5. the processors and architectures the SDK's tables have images for -----------------

# CPU, GPU (a current one and the deprecated P2), Graviton families the SDK knows and one it
# does not, and serverless (None). Every framework of catalog.FRAMEWORK_TABLES is compared,
# the large-model containers' tables included (TEI's CPU table for CPU types and serverless).
INSTANCE_TYPES = (
    None,
    "ml.m5.xlarge",
    "ml.g5.xlarge",
    "ml.p3.2xlarge",
    "ml.p2.xlarge",
    "ml.c6g.xlarge",
    "ml.r6gd.xlarge",
    "ml.c8g.xlarge",
)


def _cases() -> Iterator[tuple[str, str, str | None]]:
    """Every version and alias of every framework deployspec takes from the tables, with
    each base framework for Hugging Face."""
    for framework in catalog.FRAMEWORK_TABLES:
        versions, aliases = catalog.supported_versions(framework)
        for version in [*versions, *aliases]:
            if framework != "huggingface":
                yield framework, version, None
                continue
            entry = catalog.framework_table("huggingface")["versions"][
                catalog.resolve_version("huggingface", version) or version
            ]
            for base in catalog.base_frameworks(entry):
                yield framework, version, base


def _sdk_gives_what_was_asked(
    framework: str, version: str, base: str | None, instance_type: str | None
) -> bool:
    """Whether planning gets an image of this version for this instance type: the SDK
    gives one, and on Graviton one for arm64 (not the x86 image it gives families it does
    not know) of the version asked (not the one it swaps in)."""
    scope = catalog.image_scope(framework, instance_type)
    try:
        uri = images.image_uri(
            framework,
            "us-east-1",
            version,
            py_version=catalog.image_py_version(framework, version, None, base, scope),
            instance_type=instance_type,
            base_framework_version=base,
        )
    except images.ImageError:
        return False
    # The SDK gives the large-model tables' CUDA builds for serverless and, for DJL's table
    # that lists no processors, for CPU instance types too: images that cannot start there.
    cuda = re.search(r"-(gpu|cu\d+)(-|$)", uri.rsplit(":", 1)[1]) is not None
    if cuda and (instance_type is None or gpus.gpu_count(instance_type) == 0):
        return False
    if instance_type is None or not catalog.is_graviton(instance_type):
        return True
    repository, tag = uri.rsplit("/", 1)[1].split(":", 1)
    arm64 = any(word in repository or word in tag for word in ("graviton", "arm64"))
    return arm64 and tag.startswith(version)


@pytest.mark.usefixtures("uncached")
def test_validate_refuses_exactly_the_images_the_sdk_cannot_give() -> None:
    disagreements = []
    for framework, version, base in _cases():
        for instance_type in INSTANCE_TYPES:
            refused = catalog.image_problem(framework, version, instance_type) is not None
            if refused == _sdk_gives_what_was_asked(framework, version, base, instance_type):
                disagreements.append((framework, version, base, instance_type, refused))
    assert not disagreements


def test_graviton_is_told_by_name_and_the_sdk_s_own_list() -> None:
    from sagemaker.core.fw_utils import GRAVITON_ALLOWED_TARGET_INSTANCE_FAMILY

    assert catalog.graviton_families() == frozenset(GRAVITON_ALLOWED_TARGET_INSTANCE_FAMILY)
    assert all(catalog.is_graviton(f"ml.{family}.xlarge") for family in catalog.graviton_families())
    families = {t.split(".")[1] for t in catalog.instance_types()}
    assert not any(catalog.is_graviton(f"ml.{f}.x") for f in families if f[0] in "gp")


@pytest.mark.parametrize(
    ("framework", "version", "instance_type", "needle", "hint"),
    [
        (
            "sklearn",
            "1.2-1",
            "ml.g5.xlarge",
            "scikit-learn 1.2-1 images run on CPU only, and ml.g5.xlarge is a GPU instance type",
            "use a CPU instance type such as ml.m5.xlarge",
        ),
        (
            "sklearn",
            "1.2-1",
            "ml.c6g.xlarge",
            "scikit-learn 1.2-1 has no arm64 image for Graviton (ml.c6g.xlarge): the SageMaker "
            "SDK would silently deploy scikit-learn 1.0-1 (its only arm64 image) instead",
            'use version: "1.0-1"',
        ),
        (
            "xgboost",
            "1.0-1",
            "ml.g5.xlarge",
            "XGBoost 1.0-1 images run on CPU only",
            "ml.m5.xlarge",
        ),
        (
            "pytorch",
            "2.6.0",
            "ml.c8g.xlarge",
            "ml.c8g.xlarge is a Graviton (arm64) instance type, and the SageMaker SDK picks "
            "arm64 images only for the c6g",
            "set model.image to an arm64 image",
        ),
        (
            "huggingface",
            "4.49.0",
            "ml.c6g.xlarge",
            "ml.c6g.xlarge is a Graviton (arm64) instance type, and the SageMaker SDK's "
            "tables have no arm64 Hugging Face inference image",
            "an x86 instance type",
        ),
    ],
)
def test_an_instance_type_without_the_image_is_refused_where_it_is_set(
    write_spec: WriteSpec,
    framework: str,
    version: str,
    instance_type: str,
    needle: str,
    hint: str,
) -> None:
    path = write_spec(realtime(with_model(framework, version), instance_type))
    [error] = errors_of(path)
    assert error.startswith(f"{path}:9:18: realtime.instance_type: {needle}"), error
    assert hint in error.split("hint: ", 1)[1]


@pytest.mark.parametrize(
    ("framework", "version", "instance_type"),
    [
        ("sklearn", "1.0-1", "ml.c6g.xlarge"),  # the arm64 image itself
        ("xgboost", "1.7-1", "ml.g5.xlarge"),  # the table lists no processors: GPU builds too
        ("pytorch", "2.6.0", "ml.c7g.xlarge"),
    ],
)
def test_what_the_tables_have_validates(
    write_spec: WriteSpec, framework: str, version: str, instance_type: str
) -> None:
    loaded = load_spec(write_spec(realtime(with_model(framework, version), instance_type)))
    assert loaded.spec.realtime is not None


def test_py_version_is_checked_in_the_table_the_instance_type_reads(
    write_spec: WriteSpec,
) -> None:
    # TensorFlow's x86 images name no Python; its arm64 ones are py310 only.
    text = with_model("tensorflow", "2.12.1", "\n  py_version: py39")
    assert load_spec(write_spec(realtime(text, "ml.m5.xlarge"))).spec.models["model"].py_version
    path = write_spec(realtime(text, "ml.c6g.xlarge"))
    [error] = errors_of(path)
    assert error.startswith(
        f"{path}:6:15: model.py_version: tensorflow 2.12.1 images exist for py310, not 'py39'"
    ), error


def test_an_image_of_one_s_own_is_not_judged_by_the_tables(write_spec: WriteSpec) -> None:
    image = "\n  image: 123456789012.dkr.ecr.us-east-1.amazonaws.com/mine:1"
    text = realtime(with_model("sklearn", "1.2-1", image), "ml.g5.xlarge")
    assert load_spec(write_spec(text)).spec.models["model"].image


# ---- 6. TensorFlow Serving runs code/inference.py only -------------------------------------


def test_tensorflow_refuses_an_entry_point_it_would_never_run(
    write_spec: WriteSpec, project: Path
) -> None:
    (project / "handler.py").write_text("def input_handler(data, context):\n    return data\n")
    (project / "model" / "saved_model.pb").write_bytes(b"pb")
    text = with_model("tensorflow", "2.3.0").replace("inference.py", "handler.py")
    path = write_spec(text)
    [error] = errors_of(path)
    assert error.startswith(
        f"{path}:7:16: model.entry_point: the TensorFlow Serving container runs only "
        "code/inference.py: 'handler.py' would be packaged as code/handler.py and never run"
    ), error
    assert "rename the script to inference.py" in error
    assert load_spec(write_spec(with_model("tensorflow", "2.3.0"))).spec.models["model"].entry_point


# ---- 7. values for variables the spec never declares --------------------------------------


TEMPLATED = VALID_SKLEARN.replace("memory_mb: 2048", "memory_mb: {{ memory_mb }}")


def test_an_undeclared_var_is_an_error_naming_the_declared_ones(write_spec: WriteSpec) -> None:
    path = write_spec(TEMPLATED + "vars: {memory_mb: 2048}\n")
    [error] = errors_of(path, cli_vars={"memroy_mb": "3072"})
    assert error == (
        f"--var: 'memroy_mb' is not a variable of {path}\n"
        "    hint: did you mean 'memory_mb'? its variables (under vars: or used in its "
        "template): memory_mb"
    )
    # A variable the template reads is declared even without a default.
    assert load_spec(write_spec(TEMPLATED), cli_vars={"memory_mb": "3072"}).spec.serverless


def test_an_undeclared_name_in_a_var_file_is_located_there(
    write_spec: WriteSpec, project: Path
) -> None:
    path = write_spec(TEMPLATED + "vars: {memory_mb: 2048}\n")
    var_file = project / "prod.yaml"
    var_file.write_text("memory_mb: 3072\nmax_concurency: 9\n")
    [error] = errors_of(path, var_files=[var_file])
    assert error.startswith(f"{var_file}:2:1: 'max_concurency' is not a variable of {path}")
    assert "a file shared by specs needs it under vars: in each" in error


def test_names_read_anywhere_in_a_jinja_template_are_declared(write_spec: WriteSpec) -> None:
    text = "{% set size = 4096 if big else 2048 %}\n" + VALID_SKLEARN.replace(
        "name: iris", "name: iris-{{ stage | lower }}"
    ).replace("memory_mb: 2048", "memory_mb: {{ size }}")
    loaded = load_spec(write_spec(text), cli_vars={"big": "1", "stage": "PROD"})
    assert loaded.spec.name == "iris-prod"
    assert loaded.spec.serverless and loaded.spec.serverless.memory_mb == 4096
    # What the template sets itself is no variable to give.
    [error] = errors_of(write_spec(text), cli_vars={"big": "", "stage": "x", "size": "1"})
    assert error.startswith("--var: 'size' is not a variable of "), error


def test_a_template_that_does_not_parse_reports_that_first(write_spec: WriteSpec) -> None:
    path = write_spec(VALID_SKLEARN.replace("name: iris", "name: iris-{% if %}"))
    [error] = errors_of(path, cli_vars={"stage": "prod"})
    assert "template error" in error


# ---- 8. numbers are decimal integers, booleans are not numbers ----------------------------


@pytest.mark.parametrize(
    ("old", "new", "where", "needle"),
    [
        (
            "name: iris",
            "name: iris\nkeep: 010",
            "2:7: keep",
            "'010' is not a whole number: YAML 1.1 reads 010 as the number 8, octal",
        ),
        (
            "max_concurrency: 5",
            "max_concurrency: true",
            "10:20: serverless.max_concurrency",
            "true is a boolean, and max_concurrency must be a whole number",
        ),
        (
            "memory_mb: 2048",
            "memory_mb: 04000",
            "9:14: serverless.memory_mb",
            "'04000' is not a whole number: YAML 1.1 reads 04000 as the number 2048",
        ),
        ("name: iris", "name: iris\nkeep: 0x10", "2:7: keep", "as the number 16, hexadecimal"),
        ("name: iris", "name: iris\nkeep: 1_0", "2:7: keep", "as the number 10, ignoring"),
        ("name: iris", "name: iris\nkeep: 1:30", "2:7: keep", "as the number 90, base 60"),
        ("name: iris", "name: iris\nkeep: 2.0", "2:7: keep", "2.0 is not a whole number"),
        (
            "entry_point: inference.py",
            "entry_point: inference.py\n  network_isolation: yes",
            "8:22: model.network_isolation",
            "'yes' is text, and network_isolation is true or false (YAML 1.1 reads yes as the "
            "boolean true",
        ),
        (
            "max_concurrency: 5",
            "max_concurrency: 5\n  provisioned_concurrency: on",
            "11:28: serverless.provisioned_concurrency",
            "YAML 1.1 reads on as the boolean true",
        ),
        (
            "name: iris",
            "name: iris\nkeep: 1" + "0" * 5000,
            "2:7: keep",
            "a number of 5001 digits: longer than any setting takes",
        ),
    ],
)
def test_yaml_1_1_forms_and_lax_coercions_are_refused(
    write_spec: WriteSpec, old: str, new: str, where: str, needle: str
) -> None:
    path = write_spec(VALID_SKLEARN.replace(old, new))
    [error] = errors_of(path)
    assert error.startswith(f"{path}:{where}: "), error
    assert needle in error


def test_durations_take_decimal_seconds_only(write_spec: WriteSpec) -> None:
    text = realtime(VALID_SKLEARN, "ml.m5.xlarge")
    path = write_spec(
        text + "deployment:\n  strategy: canary\n  canary: {percent: 10, wait: 010}\n"
    )
    [error] = errors_of(path)
    assert error.startswith(f"{path}:12:31: deployment.canary.wait: expected a duration"), error
    assert "YAML 1.1 reads 010 as the number 8" in error
    ok = write_spec(text + "deployment:\n  strategy: canary\n  canary: {percent: 10, wait: 90}\n")
    spec = load_spec(ok).spec
    assert spec.deployment.canary is not None and spec.deployment.canary.wait == 90


def test_text_fields_keep_what_yaml_1_1_would_have_turned_into_numbers(
    write_spec: WriteSpec,
) -> None:
    text = VALID_SKLEARN.replace("name: iris", "name: iris\ntags: {build: 010, night: no}")
    spec = load_spec(write_spec(text)).spec
    assert spec.tags == {"build": "010", "night": "no"}
    # Numbers in exponent form are numbers (YAML 1.1 read 1e3 as text).
    auto = "  autoscaling: {min: 1, max: 2, target_invocations_per_instance: 1e3}\n"
    spec = load_spec(write_spec(realtime(VALID_SKLEARN, "ml.m5.xlarge") + auto)).spec
    assert spec.realtime and spec.realtime.autoscaling
    assert spec.realtime.autoscaling.target_invocations_per_instance == 1000.0


# ---- 9. messages that teach -----------------------------------------------------------------


def test_a_quoted_number_is_called_text(write_spec: WriteSpec) -> None:
    path = write_spec(VALID_SKLEARN.replace("memory_mb: 2048", 'memory_mb: "2048"'))
    [error] = errors_of(path)
    assert error == (
        f"{path}:9:14: serverless.memory_mb: '2048' is text (it is quoted), and memory_mb "
        "must be a whole number\n    hint: write 2048 without quotes"
    )


@pytest.mark.parametrize(
    ("text", "where", "message", "hint"),
    [
        (
            'name: iris\nmodel:\n  framework: sklearn\n  version: "1.2-1"\n artifacts: x\n',
            "5:2",
            "`artifacts:` is indented by 1 space, which lines up with no line above it "
            "(they are indented by 0 and 2)",
            "indent it by 2 spaces to put it under `model:`, or by 0 to make it a top-level key",
        ),
        (
            "name: iris\nmodel:\n  framework: sklearn\n    version: x\n",
            "4:5",
            "`version:` is indented more than `framework:` above it, so YAML reads it as the "
            "rest of that line's value",
            "indent it like `framework:` (2 spaces) to make it a key of its own",
        ),
        (
            'name: iris\nmodel:\n  framework: sklearn\n  version: "1"\n    artifacts: y\n',
            "5:5",
            "`artifacts:` is indented more than `version:` above it, which already has a "
            "value, so nothing can be nested under it",
            "indent it like `version:` (2 spaces) to make it a key of its own",
        ),
        (
            "name: iris\nmodel\n  framework: x\n",
            "2:1",
            "`model` is neither `key: value` nor a list item",
            "add ':' after the key",
        ),
        (
            "name: iris\ntags:\n  a: b\n  - c\n",
            "4:3",
            "`- c` is a list item ('- '), but the lines before it at this indentation are "
            "keys (`a:`)",
            "one block holds either",
        ),
        ('name: "iris\n', "1:7", "this quote is never closed", "close the quote"),
    ],
)
def test_broken_yaml_is_said_in_words_at_the_line_that_went_wrong(
    write_spec: WriteSpec, text: str, where: str, message: str, hint: str
) -> None:
    path = write_spec(text)
    [error] = errors_of(path)
    assert error.startswith(f"{path}:{where}: invalid YAML: {message}\n    hint: {hint}"), error
    assert "<block" not in error


def test_broken_yaml_never_shows_a_value(write_spec: WriteSpec) -> None:
    secret = "sk-" + "a1B2c3D4" * 5
    path = write_spec(f"name: iris\nmodel:\n  env:\n    TOKEN {secret}\n    X: 1\n")
    [error] = errors_of(path)
    assert secret not in error and "invalid YAML" in error


def test_did_you_mean_puts_the_candidate_that_contains_the_input_first(
    write_spec: WriteSpec,
) -> None:
    path = write_spec(realtime(VALID_SKLEARN, "m5.xlarge"))
    [error] = errors_of(path)
    assert "'m5.xlarge' is not a SageMaker real-time instance type; did you mean ml.m5.xlarge," in (
        error
    )


@pytest.mark.parametrize(
    ("old", "new", "cause", "consequence"),
    [
        ("  artifacts:", "  artifact:", "model.artifact: unknown key", "'artifacts' is missing"),
        ("  entry_point:", "  entry_pont:", "model.entry_pont: unknown", "needs model.entry_point"),
        ("  version:", "  verison:", "model.verison: unknown key", "model.version is required"),
        ("model:", "modle:", "modle: unknown key", "required key 'model' is missing"),
    ],
)
def test_a_misspelt_key_is_reported_before_what_it_causes(
    write_spec: WriteSpec, old: str, new: str, cause: str, consequence: str
) -> None:
    errors = errors_of(write_spec(VALID_SKLEARN.replace(old, new)))
    assert len(errors) == 2, errors
    assert cause in errors[0] and consequence in errors[1], errors
    typed = cause.split(":")[0].rsplit(".", 1)[-1]
    assert f"is {typed!r}, reported above, a misspelling of it?" in errors[1]


def test_the_checks_keep_validate_free_of_heavy_imports(write_spec: WriteSpec) -> None:
    # Graviton and processor checks read the SDK's files; they never import it.
    import subprocess
    import sys

    path = write_spec(realtime(VALID_SKLEARN, "ml.c6g.xlarge"))
    probe = (
        "import sys\nfrom deployspec.spec import load_spec\nfrom pathlib import Path\n"
        "try:\n    load_spec(Path(sys.argv[1]))\nexcept Exception:\n    pass\n"
        "print('HEAVY', [m for m in ('boto3', 'sagemaker.core', 'jinja2') if m in sys.modules])"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe, str(path)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ},
    )
    assert "HEAVY []" in result.stdout, result.stdout + result.stderr
