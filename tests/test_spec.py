"""Spec loading: every class of bad input gets file:line:col, the field path and a hint."""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest

from deployspec.errors import SpecError
from deployspec.spec import Framework, load_spec, parse_var_assignments
from deployspec.templating import render, source_lines
from tests.conftest import VALID_SKLEARN

WriteSpec = Callable[..., Path]


def errors_of(path: Path, **kwargs: object) -> list[str]:
    with pytest.raises(SpecError) as caught:
        load_spec(path, **kwargs)  # type: ignore[arg-type]
    return [d.format() for d in caught.value.diagnostics]


def test_valid_spec_loads_with_defaults(write_spec: WriteSpec, project: Path) -> None:
    loaded = load_spec(write_spec(VALID_SKLEARN))
    spec = loaded.spec
    assert spec.name == "iris"
    assert spec.models["model"].framework is Framework.SKLEARN
    assert spec.keep == 2
    assert spec.effective_serverless is not None
    assert spec.effective_serverless.memory_mb == 2048
    assert loaded.paths.artifacts == (project / "model").resolve()
    assert loaded.paths.entry_point == (project / "inference.py").resolve()


def test_serverless_is_the_default(write_spec: WriteSpec) -> None:
    text = VALID_SKLEARN.split("serverless:")[0]
    spec = load_spec(write_spec(text)).spec
    assert spec.serverless is None and spec.realtime is None
    assert spec.effective_serverless is not None
    assert spec.effective_serverless.max_concurrency == 5


def test_unknown_key_points_at_the_key_with_a_suggestion(write_spec: WriteSpec) -> None:
    path = write_spec(VALID_SKLEARN + "tagz: {team: a}\n")
    [error] = errors_of(path)
    assert error.startswith(f"{path}:11:1: tagz: unknown key 'tagz'")
    assert "hint: did you mean 'tags'?" in error


def test_nested_unknown_key(write_spec: WriteSpec) -> None:
    path = write_spec(VALID_SKLEARN.replace("  max_concurrency: 5", "  max_concurency: 5"))
    [error] = errors_of(path)
    assert error.startswith(f"{path}:10:3: serverless.max_concurency: unknown key")
    assert "did you mean 'max_concurrency'?" in error


def test_all_errors_reported_at_once_in_file_order(write_spec: WriteSpec) -> None:
    path = write_spec(
        VALID_SKLEARN.replace("name: iris", "name: my_model")
        .replace("memory_mb: 2048", "memory_mb: 3000")
        .replace("max_concurrency: 5", "max_concurrency: 5\n  provisioned_concurrency: 9")
    )
    errors = errors_of(path)
    assert [e.split(" ", 1)[0] for e in errors] == [
        f"{path}:1:7:",
        f"{path}:9:14:",
        f"{path}:11:28:",
    ]
    assert "name: 'my_model' does not match" in errors[0]
    assert "serverless.memory_mb: 3000 is not allowed: expected one of 1024" in errors[1]
    assert "provisioned_concurrency 9 exceeds max_concurrency 5" in errors[2]


@pytest.mark.parametrize(
    ("old", "new", "where", "needle"),
    [
        ("memory_mb: 2048", "memory_mb: 7168", "9:14: serverless.memory_mb", "7168 is not allowed"),
        (
            "max_concurrency: 5",
            "max_concurrency: 201",
            "10:20: serverless.max_concurrency",
            "less than or equal to 200",
        ),
        (
            "max_concurrency: 5",
            "max_concurrency: 0",
            "10:20: serverless.max_concurrency",
            "greater than or equal to 1",
        ),
        (
            "role: arn:aws:iam::123456789012:role/SageMakerExecution",
            "role: admin",
            "2:7: role",
            "an IAM role ARN",
        ),
        (
            'version: "1.2-1"',
            'version: "0.1"',
            "5:12: model.version",
            "has no SageMaker inference image; supported:",
        ),
        ("name: iris", "name: " + "a" * 64, "1:7: name", "at most 63 characters"),
    ],
)
def test_limits(write_spec: WriteSpec, old: str, new: str, where: str, needle: str) -> None:
    path = write_spec(VALID_SKLEARN.replace(old, new))
    [error] = errors_of(path)
    assert error.startswith(f"{path}:{where}:"), error
    assert needle in error


def test_realtime_instance_type_from_botocore(write_spec: WriteSpec) -> None:
    text = VALID_SKLEARN.split("serverless:")[0] + (
        "realtime:\n  instance_type: ml.m5.xlarg\n  instance_count: 1\n"
    )
    path = write_spec(text)
    [error] = errors_of(path)
    assert error.startswith(f"{path}:9:18: realtime.instance_type: 'ml.m5.xlarg' is not")
    assert "did you mean ml.m5.xlarge" in error
    ok = text.replace("xlarg\n", "xlarge\n")
    assert load_spec(write_spec(ok)).spec.realtime is not None


def test_autoscaling_min_above_max(write_spec: WriteSpec) -> None:
    text = VALID_SKLEARN.split("serverless:")[0] + (
        "realtime:\n  instance_type: ml.m5.xlarge\n"
        "  autoscaling: {min: 5, max: 2, target_invocations_per_instance: 100}\n"
    )
    path = write_spec(text)
    [error] = errors_of(path)
    assert error.startswith(f"{path}:10:22: realtime.autoscaling.min: autoscaling min 5")


def test_serverless_and_realtime_are_exclusive(write_spec: WriteSpec) -> None:
    path = write_spec(VALID_SKLEARN + "realtime:\n  instance_type: ml.m5.xlarge\n")
    [error] = errors_of(path)
    assert error.startswith(f"{path}:11:1: realtime: serverless and realtime are exclusive")


def test_version_number_keeps_its_text(write_spec: WriteSpec) -> None:
    text = VALID_SKLEARN.replace(
        'framework: sklearn\n  version: "1.2-1"', "framework: tensorflow\n  version: 2.10"
    )
    spec = load_spec(write_spec(text)).spec
    assert spec.models["model"].version == "2.10"


def test_py_version_checked_against_image_table(write_spec: WriteSpec) -> None:
    path = write_spec(
        VALID_SKLEARN.replace('version: "1.2-1"', 'version: "1.2-1"\n  py_version: py27')
    )
    [error] = errors_of(path)
    assert error.startswith(f"{path}:6:15: model.py_version: sklearn 1.2-1 images exist for py3")


def test_framework_typo(write_spec: WriteSpec) -> None:
    path = write_spec(VALID_SKLEARN.replace("framework: sklearn", "framework: sklarn"))
    errors = errors_of(path)
    assert errors[0].startswith(f"{path}:4:14: model.framework: 'sklarn' is not allowed")
    assert "did you mean 'sklearn'?" in errors[0]


def test_missing_paths_are_named(write_spec: WriteSpec, project: Path) -> None:
    path = write_spec(VALID_SKLEARN.replace("./model", "./nope").replace("inference.py", "inf.py"))
    errors = errors_of(path)
    assert errors[0].startswith(f"{path}:6:14: model.artifacts: file or folder not found: ")
    assert str(project / "nope") in errors[0]
    assert errors[1].startswith(f"{path}:7:16: model.entry_point: file not found: ")


def test_entry_point_is_relative_to_source_dir(write_spec: WriteSpec, project: Path) -> None:
    (project / "code").mkdir()
    (project / "code" / "serve.py").write_text("def model_fn(model_dir):\n    return None\n")
    text = VALID_SKLEARN.replace(
        "entry_point: inference.py", "entry_point: serve.py\n  source_dir: ./code"
    )
    loaded = load_spec(write_spec(text))
    assert loaded.paths.entry_point == (project / "code" / "serve.py").resolve()


def test_s3_artifacts_are_not_checked_locally(write_spec: WriteSpec) -> None:
    loaded = load_spec(
        write_spec(VALID_SKLEARN.replace("./model", "s3://my-bucket/m/model.tar.gz"))
    )
    assert loaded.paths.artifacts is None
    path = write_spec(VALID_SKLEARN.replace("./model", "s3://My_Bucket/x"))
    [error] = errors_of(path)
    assert error.startswith(
        f"{path}:6:14: model.artifacts: 's3://My_Bucket/x' is not a valid S3 URI"
    )


def test_missing_required_key(write_spec: WriteSpec) -> None:
    path = write_spec(VALID_SKLEARN.replace("  artifacts: ./model\n", ""))
    [error] = errors_of(path)
    assert error.startswith(f"{path}:3:1: model: required key 'artifacts' is missing under model")


def test_list_where_mapping_belongs(write_spec: WriteSpec) -> None:
    path = write_spec(
        VALID_SKLEARN.replace(
            "serverless:\n  memory_mb: 2048\n  max_concurrency: 5\n", "serverless:\n  - 2048\n"
        )
    )
    [error] = errors_of(path)
    assert error.startswith(f"{path}:9:3: serverless: expected a mapping, got a list")


# ---- YAML-level problems ---------------------------------------------------------------


def test_broken_yaml(write_spec: WriteSpec) -> None:
    path = write_spec("name: iris\nmodel: [unclosed\n")
    [error] = errors_of(path)
    # At the bracket that is never closed, not at the end of the file where YAML noticed.
    assert error.startswith(f"{path}:2:8: invalid YAML: this list ([ ... ]) is never closed")


def test_tab_indentation(write_spec: WriteSpec) -> None:
    path = write_spec("name: iris\nmodel:\n\tframework: sklearn\n")
    [error] = errors_of(path)
    assert error.startswith(f"{path}:3:1: invalid YAML: a tab character where YAML expects spaces")
    assert "never tabs" in error


def test_empty_file(write_spec: WriteSpec) -> None:
    path = write_spec("# only a comment\n")
    [error] = errors_of(path)
    assert error.startswith(f"{path}:1:1: the file is empty")


def test_top_level_list(write_spec: WriteSpec) -> None:
    path = write_spec("- name: iris\n")
    [error] = errors_of(path)
    assert error.startswith(f"{path}:1:1: expected a mapping of settings")


def test_duplicate_key(write_spec: WriteSpec) -> None:
    path = write_spec(VALID_SKLEARN + "name: other\n")
    [error] = errors_of(path)
    assert error.startswith(f"{path}:11:1: name: duplicate key 'name' (first given at line 1)")


def test_python_tags_are_refused(write_spec: WriteSpec) -> None:
    path = write_spec(VALID_SKLEARN + "keep: !!python/object/apply:os.system ['echo hi']\n")
    errors = errors_of(path)
    assert errors[0].startswith(f"{path}:11:7: keep: the tag")
    assert "is not allowed" in errors[0]


def test_billion_laughs_fails_fast(write_spec: WriteSpec) -> None:
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    for i in range(1, 9):
        prev, cur = chr(ord("a") + i - 1), chr(ord("a") + i)
        lines.append(f"{cur}: &{cur} [{','.join(['*' + prev] * 9)}]")
    path = write_spec("\n".join(lines) + "\n")
    [error] = errors_of(path)
    assert "expands to more than" in error
    assert error.startswith(f"{path}:1:1:")


def test_binary_junk(project: Path) -> None:
    path = project / "junk.yaml"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    [error] = errors_of(path)
    assert error == f"{path}: not a text file (contains NUL bytes)"


def test_invalid_utf8(project: Path) -> None:
    path = project / "latin1.yaml"
    path.write_bytes(b"name: caf\xe9\n")
    [error] = errors_of(path)
    assert error.startswith(f"{path}:1:10: not valid UTF-8 text")


def test_missing_file(project: Path) -> None:
    [error] = errors_of(project / "absent.yaml")
    assert error == f"{project / 'absent.yaml'}: file not found"


def test_directory_given(project: Path) -> None:
    [error] = errors_of(project)
    assert error.startswith(f"{project}: is a directory, not a spec file")


def test_very_large_file(project: Path) -> None:
    path = project / "huge.yaml"
    path.write_text("# padding\n" * 200_000)
    [error] = errors_of(path)
    assert error.startswith(f"{path}: file is too large")


# ---- templating ------------------------------------------------------------------------


TEMPLATED = VALID_SKLEARN.replace("name: iris", "name: iris-{{ stage }}") + "vars: {stage: dev}\n"


def test_vars_defaults_and_overrides(write_spec: WriteSpec, project: Path) -> None:
    path = write_spec(TEMPLATED)
    assert load_spec(path).spec.name == "iris-dev"
    assert load_spec(path, cli_vars={"stage": "prod"}).spec.name == "iris-prod"
    var_file = project / "prod.yaml"
    var_file.write_text("stage: staging\n")
    assert load_spec(path, var_files=[var_file]).spec.name == "iris-staging"
    assert load_spec(path, cli_vars={"stage": "x"}, var_files=[var_file]).spec.name == "iris-x"


def test_undefined_variable_is_located(write_spec: WriteSpec) -> None:
    path = write_spec(VALID_SKLEARN.replace("name: iris", "name: iris-{{ stag }}"))
    [error] = errors_of(path)
    assert error.startswith(f"{path}:1:12: undefined template variable: 'stag' is undefined")
    assert "--var stag=VALUE" in error


def test_template_sandbox(write_spec: WriteSpec) -> None:
    path = write_spec(VALID_SKLEARN.replace("name: iris", "name: {{ ''.__class__ }}"))
    [error] = errors_of(path)
    assert "template not allowed" in error


def test_var_assignment_syntax() -> None:
    assert parse_var_assignments(["a=1", "b=x=y"]) == {"a": "1", "b": "x=y"}
    with pytest.raises(SpecError):
        parse_var_assignments(["novalue"])


def test_entry_point_must_be_at_the_top_of_source_dir(write_spec: WriteSpec, project: Path) -> None:
    (project / "src" / "pkg").mkdir(parents=True)
    (project / "src" / "pkg" / "serve.py").write_text("")
    text = VALID_SKLEARN.replace(
        "entry_point: inference.py", "entry_point: pkg/serve.py\n  source_dir: ./src"
    )
    path = write_spec(text)
    [error] = errors_of(path)
    assert error.startswith(f"{path}:7:16: model.entry_point: 'pkg/serve.py' is not at the top")


def test_control_characters_are_located(project: Path) -> None:
    path = project / "bell.yaml"
    path.write_text("name: x\x07\n")
    [error] = errors_of(path)
    assert error.startswith(f"{path}:1:8: a character YAML does not allow (#x0007)")


def test_deep_nesting_fails_fast(project: Path) -> None:
    path = project / "deep.yaml"
    path.write_text("a: " + "[" * 5000 + "]" * 5000 + "\n")
    [error] = errors_of(path)
    assert "nested more than 64 deep" in error


def test_huge_flow_list_stops_while_composing(project: Path) -> None:
    path = project / "big.yaml"
    path.write_text("a: [" + ",".join(["1"] * 100_000) + "]\n")
    [error] = errors_of(path)
    assert "more than 20000 values" in error


@pytest.mark.parametrize(
    ("expression", "needle"),
    [
        ("{{ 1/0 }}", "ZeroDivisionError"),
        ("{{ 'a' + 1 }}", "TypeError"),
        ("{% include 'other.yaml' %}", "no loader"),
        ("{{ 'a' * 20000000 }}", "result too large"),
    ],
)
def test_template_runtime_errors_are_located(
    write_spec: WriteSpec, expression: str, needle: str
) -> None:
    path = write_spec(VALID_SKLEARN.replace("name: iris", f'name: "{expression}"'))
    [error] = errors_of(path)
    assert error.startswith(f"{path}:1:")
    assert "template failed" in error and needle in error


def test_template_loops_are_bounded(write_spec: WriteSpec) -> None:
    loop = "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}"
    path = write_spec(VALID_SKLEARN.replace("name: iris", f'name: "{loop}"'))
    [error] = errors_of(path)
    assert "rendered template is larger than" in error


def test_errors_after_templates_that_remove_lines_point_into_the_source(
    write_spec: WriteSpec,
) -> None:
    text = "{# a comment\nspanning\nlines #}\n" + VALID_SKLEARN.replace(
        "memory_mb: 2048", "memory_mb: 3000"
    )
    path = write_spec(text)
    [error] = errors_of(path)
    assert error.startswith(f"{path}:12:14: serverless.memory_mb: 3000 is not allowed")
    assert "rendered template" not in error


def test_errors_in_and_after_blocks_and_loops_point_into_the_source(
    write_spec: WriteSpec,
) -> None:
    text = (
        "name: iris\n"  # 1
        "role: arn:aws:iam::123456789012:role/SageMakerExecution\n"
        "{% if with_tags %}\n"
        "tags:\n"
        "  team: a\n"  # 5
        "{% endif %}\n"
        "model:\n"
        "  framework: sklearn\n"
        '  version: "1.2-1"\n'
        "  artifacts: ./model\n"  # 10
        "  entry_point: inference.py\n"
        "{%- for key in ['a', 'b'] %}\n"
        "  extra_{{ key }}: 1\n"
        "{%- endfor %}\n"
        "serverless:\n"  # 15
        "  memory_mb: {{ memory }}\n"
        "vars: {with_tags: false, memory: 3000}\n"
    )
    path = write_spec(text)
    errors = errors_of(path)
    assert [e.split(" ", 1)[0] for e in errors] == [
        f"{path}:13:3:",
        f"{path}:13:3:",
        f"{path}:16:14:",
    ]
    assert "model.extra_a" in errors[0] and "model.extra_b" in errors[1]
    # Two lines removed and two added: the count is the same, the lines are not.
    same_count = text.replace("['a', 'b']", "['a', 'b', 'c', 'd']").replace("3000", "2048")
    [*_, last] = errors_of(write_spec(same_count))
    assert last.startswith(f"{path}:13:3: model.extra_d")


def test_source_lines_follow_loops_and_values_spanning_lines() -> None:
    text = "a: 1\n{% for i in [1, 2] %}\nb{{ i }}: {{ v }}\n{% endfor %}\nc: 3\n"
    variables = {"v": "x\ny"}
    rendered = render(text, "f", variables)
    assert rendered == "a: 1\n\nb1: x\ny\n\nb2: x\ny\n\nc: 3\n"
    assert source_lines(text, variables, rendered) == [1, 1, 3, 3, 3, 3, 3, 3, 5, 5]


def test_source_lines_of_a_line_that_is_only_a_value() -> None:
    text = "{% if true %}\n{% endif %}\na: 1\n{{ extra }}\nc: 3\n"
    variables = {"extra": "zzz: 1"}
    rendered = render(text, "f", variables)
    assert source_lines(text, variables, rendered) == [1, 1, 3, 4, 5, 5]


def test_source_lines_are_not_guessed_around_raw_blocks() -> None:
    # `{{` inside raw is literal text; the line tagger does not follow Jinja that far.
    text = '{% raw %}x: "{{"{% endraw %}\na: 1\nb: 2\nc: }}\n'
    assert source_lines(text, {}, render(text, "f", {})) is None


PLAIN = {"stage": "dev", "n": 3, "flag": True, "v": "2.10", "self": "x", "true": "t", "not": "n"}


@pytest.mark.parametrize(
    "template",
    [
        "name: app-{{ stage }}\n",
        "a: {{stage}}\nb: {{  n  }}-{{ flag }}\n",
        "version: '{{ v }}'\nc: {{ stage }}}\n",
        "tail without newline: {{ n }}",
        "{{ stage }}{{ n }}\n",
    ],
)
def test_plain_references_render_as_jinja_renders_them(template: str) -> None:
    from deployspec.templating import _environment, _substitute_plain

    fast = _substitute_plain(template, PLAIN)
    assert fast is not None
    assert fast == _environment().from_string(template).render(PLAIN)


@pytest.mark.parametrize(
    "template",
    [
        "a: {{ missing }}\n",  # undefined: Jinja reports it
        "a: {{ true }}\n",  # a Jinja constant, even when a variable has its name
        "a: {{ self }}\n",  # Jinja's own object
        "a: {{ not }}\n",  # a Jinja keyword: a syntax error there
        "a: {{{ stage }}\n",  # Jinja reads `{{` + `{ stage }}`
        "a: {{- stage }}\n",  # whitespace control
        "a: {{ stage | upper }}\n",
        "{% if flag %}a: 1{% endif %}\n{{ stage }}\n",
        "{# note #}a: {{ stage }}\n",
        "a: {{ stage }}\r\nb: 1\r\n",  # Jinja turns newlines into \n
    ],
)
def test_anything_beyond_plain_references_is_left_to_jinja(template: str) -> None:
    from deployspec.templating import _substitute_plain

    assert _substitute_plain(template, PLAIN) is None


def test_line_numbers_stay_flagged_when_the_source_lines_cannot_be_told(
    write_spec: WriteSpec,
) -> None:
    # A block assignment measured by a filter: tagging its literal text would change the
    # output, so the mapping is refused rather than guessed.
    text = (
        "{# a comment\nspanning\nlines #}\n{% set size %}2048{% endset %}\n"
        + VALID_SKLEARN.replace("memory_mb: 2048", "memory_mb: {{ size | length * 750 }}")
    )
    path = write_spec(text)
    [error] = errors_of(path)
    assert "3000 is not allowed" in error
    assert "line numbers refer to the rendered template" in error


def test_numeric_var_defaults_keep_their_text(write_spec: WriteSpec, project: Path) -> None:
    text = (
        VALID_SKLEARN.replace(
            'framework: sklearn\n  version: "1.2-1"', 'framework: pytorch\n  version: "{{ v }}"'
        )
        + "vars: {v: 2.10}\n"
    )
    path = write_spec(text)
    [error] = errors_of(path)  # PyTorch 2.10 has no image; it must not become 2.1
    assert "pytorch '2.10' has no SageMaker inference image" in error
    var_file = project / "v.yaml"
    var_file.write_text("v: 2.10\n")
    [error] = errors_of(path, var_files=[var_file])
    assert "pytorch '2.10'" in error


def test_non_scalar_framework_is_a_clean_error(write_spec: WriteSpec) -> None:
    path = write_spec(VALID_SKLEARN.replace("framework: sklearn", "framework: [1]"))
    errors = errors_of(path)
    assert any("model.framework" in e for e in errors)


def test_unusable_paths_are_clean_errors(write_spec: WriteSpec, project: Path) -> None:
    path = write_spec(VALID_SKLEARN.replace("./model", "./" + "x" * 300))
    [error] = errors_of(path)
    assert error.startswith(f"{path}:6:14: model.artifacts: cannot use this path")
    fifo = project / "pipe.yaml"
    os.mkfifo(fifo)
    [error] = errors_of(fifo)
    assert error == f"{fifo}: is not a regular file"


# --- the inference script, read without running it ---------------------------------------------


PYTORCH_38 = VALID_SKLEARN.replace(
    'framework: sklearn\n  version: "1.2-1"', 'framework: pytorch\n  version: "1.12.1"'
)  # its image table lists py38 alone


def test_a_syntax_error_in_the_inference_script_is_located_in_the_script(
    write_spec: WriteSpec, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project)
    (project / "inference.py").write_text("def model_fn(model_dir):\n    return (model_dir\n")
    [error] = errors_of(write_spec(PYTORCH_38))
    assert error.startswith(
        "inference.py:2:12: model.entry_point: '(' was never closed (as Python 3.8 reads it)"
    )
    assert "health check" in error


def test_syntax_newer_than_the_container_python_is_an_error_where_it_stands(
    write_spec: WriteSpec, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project)
    (project / "inference.py").write_text(
        "import threading\n"
        "lock = threading.Lock()\n"
        "def input_fn(body, content_type):\n"
        "    with (lock):\n"  # a parenthesized expression: fine before 3.9 too
        "        pass\n"
        "    match content_type:\n"
        "        case _:\n"
        "            return body\n"
        "x = 1\n"
    )
    [error] = errors_of(write_spec(PYTORCH_38))
    assert error.startswith(
        "inference.py:6:5: model.entry_point: a match statement needs Python 3.10, and the "
        "container runs Python 3.8"
    )


@pytest.mark.parametrize(
    ("spec", "script"),
    [
        # py3 names no minor version: the container may read newer syntax than this Python.
        (VALID_SKLEARN, 'def model_fn(d):\n    return f"{d["a"]}"\n'),
        # An image of one's own may run any Python.
        (
            PYTORCH_38.replace(
                "entry_point: inference.py",
                "entry_point: inference.py\n  image: 123456789012.dkr.ecr.us-east-1"
                ".amazonaws.com/mine:1",
            ),
            "match 1:\n    case _:\n        pass\n",
        ),
        # Warnings are the container's to print: `is` with a literal still compiles.
        (PYTORCH_38, "def predict_fn(d, m):\n    return d is 1\n"),
        # Deeper than this parser goes: not judged, and no traceback.
        (PYTORCH_38, "x = " + "-" * 200_000 + "1\n"),
        (PYTORCH_38, "x = " + "+".join(["1"] * 200_000) + "\n"),
    ],
)
def test_what_cannot_be_judged_for_certain_is_not_reported(
    write_spec: WriteSpec, project: Path, spec: str, script: str
) -> None:
    (project / "inference.py").write_text(script)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_spec(write_spec(spec)).spec.name == "iris"


def test_an_undecodable_script_is_reported_at_the_spec(
    write_spec: WriteSpec, project: Path
) -> None:
    (project / "inference.py").write_text("# coding: nope\nx = 1\n")
    path = write_spec(PYTORCH_38)
    [error] = errors_of(path)
    assert error.startswith(f"{path}:7:16: model.entry_point: unknown encoding")


def test_a_container_python_newer_than_this_one_is_not_judged(
    write_spec: WriteSpec, project: Path
) -> None:
    # pytorch 2.6.0 runs Python 3.12: its syntax cannot be judged by an older parser.
    (project / "inference.py").write_text("type Batch = list[float]\n")
    spec = VALID_SKLEARN.replace(
        'framework: sklearn\n  version: "1.2-1"', 'framework: pytorch\n  version: "2.6.0"'
    )
    if sys.version_info >= (3, 12):
        pytest.skip("this Python reads 3.12 syntax itself")
    assert load_spec(write_spec(spec)).spec.models["model"].framework is Framework.PYTORCH


@pytest.mark.parametrize(
    ("framework", "version"),
    [("sklearn", "1.9-0"), ("pytorch", "2.6.0"), ("sklearn", "1.2-1")],
    ids=["py3-tag", "newer-than-this-python", "py3"],
)
def test_what_no_python_3_reads_is_an_error_for_every_container(
    write_spec: WriteSpec, project: Path, framework: str, version: str
) -> None:
    """`init`'s versions: a `py3` image, and a Python newer than this one."""
    (project / "inference.py").write_text("def model_fn(model_dir)\n    return None\n")
    spec = VALID_SKLEARN.replace(
        'framework: sklearn\n  version: "1.2-1"', f'framework: {framework}\n  version: "{version}"'
    )
    [error] = errors_of(write_spec(spec))
    assert error.startswith(
        f"{project / 'inference.py'}:1:24: model.entry_point: expected ':' (no Python 3 reads it)"
    ), error


def test_an_sklearn_script_without_model_fn_is_an_error(
    write_spec: WriteSpec, project: Path
) -> None:
    (project / "inference.py").write_text("def predict_fn(data, model):\n    return model\n")
    path = write_spec(VALID_SKLEARN)
    [error] = errors_of(path)
    assert error.startswith(
        f"{path}:7:16: model.entry_point: inference.py defines no model_fn, and the SageMaker "
        "scikit-learn container has no default one"
    )


@pytest.mark.parametrize(
    "script",
    [
        "from helpers import model_fn\n",
        "try:\n    from fast import model_fn\nexcept ImportError:\n    model_fn = None\n",
        "if True:\n    def model_fn(model_dir):\n        return 1\n",
        "from helpers import *\n",
        "model_fn = lambda model_dir: 1\n",
    ],
)
def test_model_fn_bound_any_way_counts(write_spec: WriteSpec, project: Path, script: str) -> None:
    (project / "inference.py").write_text(script)
    assert load_spec(write_spec(VALID_SKLEARN)).spec.name == "iris"


def test_frameworks_needing_model_fn_match_the_local_runtime() -> None:
    from deployspec.entrypoint import NEEDS_MODEL_FN
    from deployspec.runtime.handlers import DEFAULTS

    assert {name for name, d in DEFAULTS.items() if d.model_fn is None} == set(NEEDS_MODEL_FN)


def test_py_version_defaults_to_the_newest_the_table_lists() -> None:
    from deployspec import catalog

    # The SDK refuses no py_version when a version lists several; deployspec picks the newest.
    assert catalog.image_py_version("pytorch", "1.8.1", None) == "py36"
    assert catalog.image_py_version("pytorch", "1.8.1", "py3") == "py3"  # the spec's own wins
    assert catalog.image_py_version("pytorch", "1.2.0", None) == "py3"  # not py2
    assert catalog.image_py_version("tensorflow", "2.3.0", None) is None
    assert catalog.python_of("py312") == (3, 12) and catalog.python_of("py3") is None


def test_huggingface_base_frameworks_accept_the_sdks_aliases(write_spec: WriteSpec) -> None:
    from deployspec import catalog

    hf = VALID_SKLEARN.replace(
        'framework: sklearn\n  version: "1.2-1"',
        'framework: huggingface\n  version: "4.10.2"\n  base_framework_version: BASE',
    )
    loaded = load_spec(write_spec(hf.replace("BASE", "pytorch1.8")))
    assert loaded.spec.models["model"].base_framework_version == "pytorch1.8"
    assert catalog.image_py_version("huggingface", "4.10.2", None, "pytorch1.8") == "py36"
    [error] = errors_of(write_spec(hf.replace("BASE", "pytorch9.9")))
    assert error.endswith(
        "huggingface 4.10.2 has no 'pytorch9.9' image; available: pytorch1.8.1, pytorch1.9.0, "
        "tensorflow2.4.1, tensorflow2.5.1"
    )


REALTIME = "realtime:\n  instance_type: ml.m5.xlarge\n"


@pytest.mark.parametrize(
    ("capacity", "block", "needle"),
    [
        ("", "async: {output: s3://bkt/out/}\n", "async: asynchronous inference needs a real-time"),
        (
            REALTIME + "  autoscaling: {min: 1, max: 2, target_invocations_per_instance: 5}\n",
            "async: {output: s3://bkt/out/}\n",
            "realtime.autoscaling: autoscaling an asynchronous endpoint",
        ),
        (REALTIME, "async: {output: bkt/out}\n", "async.output: 'bkt/out' does not match"),
        (REALTIME, "async: {failure: s3://bkt/f/}\n", "required key 'output'"),
        (
            REALTIME,
            "async: {output: s3://bkt/o/, error_topic: 'arn:aws:sns:x'}\n",
            "async.error_topic: 'arn:aws:sns:x' does not match",
        ),
        (
            REALTIME,
            "async: {output: s3://bkt/o/, max_concurrent_invocations_per_instance: 0}\n",
            "async.max_concurrent_invocations_per_instance: ",
        ),
    ],
)
def test_async_rules(write_spec: WriteSpec, capacity: str, block: str, needle: str) -> None:
    text = VALID_SKLEARN.split("serverless:")[0] + capacity + block
    errors = errors_of(write_spec(text))
    assert any(needle in e for e in errors), errors


def test_async_spec_loads(write_spec: WriteSpec) -> None:
    text = (
        VALID_SKLEARN.split("serverless:")[0]
        + REALTIME
        + (
            "async:\n  output: s3://bkt/out/\n"
            "  success_topic: arn:aws:sns:us-east-1:123456789012:ok\n"
        )
    )
    spec = load_spec(write_spec(text)).spec
    assert spec.async_ is not None
    assert spec.async_.output == "s3://bkt/out/"
    assert spec.async_.success_topic == "arn:aws:sns:us-east-1:123456789012:ok"
