"""Saved plans and ownership, end to end against a private sandbox: what is applied is exactly
what deployspec plans, and nothing deployspec does not own is ever written."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from deployspec.aws import Gateway
from deployspec.errors import AwsError, NotManagedError
from deployspec.plan import Action, Change, Kind, Plan
from tests.test_e2e import (
    calls,
    cli,
    iris,
    iris_model,
    sandbox,
    sandbox_client,
    sandbox_gateway,
    sm,
)

__all__ = ["iris", "iris_model", "sandbox", "sm"]  # fixtures, used by name

ROLE = "arn:aws:iam::123456789012:role/SageMakerExecution"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/other:1"


def _with_env(spec: Path, env: dict[str, str]) -> None:
    lines = "".join(f"    {k}: {json.dumps(v)}\n" for k, v in env.items())
    text = spec.read_text().replace(
        "  entry_point: inference.py\n", f"  entry_point: inference.py\n  env:\n{lines}"
    )
    spec.write_text(text)


def _victim(sm: Any) -> None:
    """A model and config deployspec never created."""
    sm.create_model(
        ModelName="victim-model", PrimaryContainer={"Image": IMAGE}, ExecutionRoleArn=ROLE
    )
    sm.create_endpoint_config(
        EndpointConfigName="victim-cfg",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": "victim-model",
                "ServerlessConfig": {"MemorySizeInMB": 1024, "MaxConcurrency": 1},
            }
        ],
    )


def _names(sm: Any) -> tuple[list[str], list[str]]:
    configs = [c["EndpointConfigName"] for c in sm.list_endpoint_configs()["EndpointConfigs"]]
    models = [m["ModelName"] for m in sm.list_models()["Models"]]
    return sorted(configs), sorted(models)


def _writes(sandbox: dict[str, Any]) -> list[str]:
    return calls(sandbox)[1]


# ---- 1: only plans written by --out can be applied, and no mask reaches a request ------------


def test_a_plan_for_reading_cannot_be_applied(
    sandbox: dict[str, Any], sm: Any, iris: Path, tmp_path: Path
) -> None:
    _with_env(iris, {"API_TOKEN": "tok-0123456789abcdef"})
    shown = cli(sandbox, "plan", str(iris), "--format", "json")
    assert shown.returncode == 0, shown.stderr
    assert "tok-0123456789abcdef" not in shown.stdout
    view = tmp_path / "p.json"
    view.write_text(shown.stdout)
    sandbox["faults"].clear_calls()
    refused = cli(sandbox, "apply", str(view), "--auto-approve")
    assert refused.returncode == 1
    assert "plan for reading" in refused.stderr and "--out" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert _writes(sandbox) == []


def test_a_saved_plan_holds_no_environment_value_and_applies_the_real_one(
    sandbox: dict[str, Any], sm: Any, iris: Path, tmp_path: Path
) -> None:
    _with_env(iris, {"API_TOKEN": "tok-0123456789abcdef", "LOG_LEVEL": "info"})
    saved = tmp_path / "plan.json"
    assert cli(sandbox, "plan", str(iris), "--out", str(saved)).returncode == 0
    assert "tok-0123456789abcdef" not in saved.read_text()
    applied = cli(sandbox, "apply", str(saved))
    assert applied.returncode == 0, applied.stderr
    model = sm.list_models()["Models"][0]["ModelName"]
    env = sm.describe_model(ModelName=model)["PrimaryContainer"]["Environment"]
    assert env["API_TOKEN"] == "tok-0123456789abcdef"
    again = cli(sandbox, "plan", str(iris), "--detailed-exitcode")
    assert again.returncode == 0, again.stdout


def test_the_gateway_refuses_to_send_a_masked_value() -> None:
    from botocore.stub import Stubber

    from deployspec.resources import Model
    from deployspec.secrets import SENSITIVE

    session = boto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    gateway = Gateway(session)
    client = gateway._sagemaker()
    model = Model("m-0123456789", IMAGE, None, {"API_TOKEN": SENSITIVE}, ROLE)
    with Stubber(client) as stubber:
        stubber.add_response(
            "create_model", {"ModelArn": "arn:aws:sagemaker:us-east-1:123456789012:model/m"}
        )
        with pytest.raises(AwsError, match="placeholder") as caught:
            gateway.create_model(model, {})
        # The stubbed response was never taken: the request was refused before it was sent.
        with pytest.raises(AssertionError):
            stubber.assert_no_pending_responses()
    assert "refusing sagemaker CreateModel" in str(caught.value)


# ---- 2 and 3: edited or malformed saved plans are refused before anything is done ---------


@pytest.fixture
def saved_plan(sandbox: dict[str, Any], sm: Any, iris: Path, tmp_path: Path) -> Iterator[Path]:
    _victim(sm)
    out = tmp_path / "plan.json"
    made = cli(sandbox, "plan", str(iris), "--out", str(out))
    assert made.returncode == 0, made.stderr
    yield out


def _edit(path: Path, change: Any) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def _refused_without_writes(sandbox: dict[str, Any], sm: Any, path: Path, expected: str) -> None:
    sandbox["faults"].clear_calls()
    result = cli(sandbox, "apply", str(path))
    assert result.returncode == 1, result.stdout
    assert "Traceback" not in result.stderr
    assert re.search(expected, result.stderr), result.stderr
    assert _writes(sandbox) == []
    assert _names(sm) == (["victim-cfg"], ["victim-model"])


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            lambda d: d["plan"]["changes"].extend(
                [
                    {
                        "address": "endpoint_config.victim-cfg",
                        "kind": "endpoint_config",
                        "name": "victim-cfg",
                        "action": "delete",
                        "before": {"name": "victim-cfg"},
                        "after": None,
                        "reasons": [],
                        "forces_replacement": [],
                    }
                ]
            ),
            r"endpoint_config\.victim-cfg would not be planned now",
        ),
        (lambda d: d["plan"].update(endpoint_name="victim"), r"endpoint_name differs"),
        (
            lambda d: next(c for c in d["plan"]["changes"] if c["kind"] == "endpoint_config")[
                "after"
            ]["variants"][0]["serverless"].update(max_concurrency=50),
            r"endpoint_config\.iris-\w+ differs",
        ),
        (lambda d: d["plan"]["summary"].update(add=0), r"summary differs"),
    ],
    ids=["extra-delete", "other-endpoint", "edited-value", "edited-summary"],
)
def test_an_edited_saved_plan_is_refused(
    sandbox: dict[str, Any], sm: Any, saved_plan: Path, edit: Any, expected: str
) -> None:
    _edit(saved_plan, edit)
    _refused_without_writes(sandbox, sm, saved_plan, expected)


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda d: d["plan"].pop("changes"), r"plan\.changes: Field required"),
        (lambda d: d["plan"].pop("fingerprint"), r"plan\.fingerprint: Field required"),
        (lambda d: d["plan"]["changes"][0].update(kind="database"), r"plan\.changes\.0\.kind"),
        (lambda d: d["plan"]["changes"][0].update(action="explode"), r"plan\.changes\.0\.action"),
        (lambda d: d["plan"].update(timeout_seconds="soon"), r"plan\.timeout_seconds"),
        (lambda d: d.pop("inputs"), r"inputs: Field required"),
        (lambda d: d["plan"].update(format_version=1), r"format version 1"),
        (lambda d: d["inputs"].update(spec_sha256="0" * 64), r"changed since the plan was saved"),
    ],
    ids=[
        "no-changes",
        "no-fingerprint",
        "bad-kind",
        "bad-action",
        "bad-timeout",
        "no-inputs",
        "old-version",
        "other-spec",
    ],
)
def test_a_malformed_saved_plan_is_refused_before_any_call(
    sandbox: dict[str, Any], sm: Any, saved_plan: Path, edit: Any, expected: str
) -> None:
    _edit(saved_plan, edit)
    _refused_without_writes(sandbox, sm, saved_plan, expected)


def test_a_saved_plan_is_refused_when_its_spec_changed(
    sandbox: dict[str, Any], sm: Any, saved_plan: Path, iris: Path
) -> None:
    iris.write_text(iris.read_text().replace("max_concurrency: 5", "max_concurrency: 6"))
    _refused_without_writes(sandbox, sm, saved_plan, r"spec .* changed since the plan was saved")


def test_the_applier_never_writes_what_it_does_not_own(sandbox: dict[str, Any], sm: Any) -> None:
    """Whatever made the plan: the applier's own check refuses unowned targets."""
    _victim(sm)
    sm.create_endpoint(EndpointName="victim", EndpointConfigName="victim-cfg")
    from deployspec.applier import Applier

    gateway = sandbox_gateway(sandbox)

    def plan_of(*changes: Change, endpoint: str = "iris") -> Plan:
        return Plan("iris", endpoint, "us-east-1", "123456789012", changes, {})

    attempts = [
        plan_of(Change(Kind.ENDPOINT_CONFIG, "victim-cfg", Action.DELETE, {}, None)),
        plan_of(Change(Kind.MODEL, "victim-model", Action.DELETE, {}, None)),
        plan_of(
            Change(Kind.ENDPOINT, "victim", Action.UPDATE, {}, {"config_name": "x"}),
            endpoint="victim",
        ),
        plan_of(Change(Kind.ENDPOINT, "victim", Action.DELETE, {}, None), endpoint="victim"),
        plan_of(Change(Kind.ENDPOINT, "victim", Action.DELETE, {}, None)),
        plan_of(
            Change(
                Kind.SCALING,
                "endpoint/victim/variant/AllTraffic",
                Action.DELETE,
                {},
                None,
            )
        ),
        plan_of(Change(Kind.ARTIFACT, "s3://bucket/someone/else.tar.gz", Action.DELETE, {}, None)),
    ]
    for attempt in attempts:
        sandbox["faults"].clear_calls()
        with pytest.raises(NotManagedError):
            Applier(gateway).apply(attempt)
        assert _writes(sandbox) == [], attempt.changes[0].address
    assert _names(sm) == (["victim-cfg"], ["victim-model"])
    assert sm.describe_endpoint(EndpointName="victim")["EndpointConfigName"] == "victim-cfg"


def test_adopt_cannot_take_another_specs_endpoint(
    sandbox: dict[str, Any], sm: Any, iris: Path
) -> None:
    assert cli(sandbox, "apply", str(iris), "--auto-approve").returncode == 0
    # The endpoint becomes another spec's, as if that spec had made it.
    arn = sm.describe_endpoint(EndpointName="iris")["EndpointArn"]
    sm.add_tags(ResourceArn=arn, Tags=[{"Key": "deployspec:spec", "Value": "someone-else"}])
    refused = cli(sandbox, "plan", str(iris), "--adopt")
    assert refused.returncode == 1
    assert "managed by deployspec for spec 'someone-else'" in refused.stderr


# ---- 4: a squatted content name is never used -----------------------------------------------


def test_a_squatted_model_name_is_refused(sandbox: dict[str, Any], sm: Any, iris: Path) -> None:
    shown = json.loads(cli(sandbox, "plan", str(iris), "--format", "json").stdout)
    model = next(c for c in shown["changes"] if c["kind"] == "model")
    after = model["after"]
    sm.create_model(
        ModelName=model["name"],
        PrimaryContainer={"Image": after["image"], "ModelDataUrl": after["model_data_url"]},
        ExecutionRoleArn="arn:aws:iam::999999999999:role/Squatter",
    )
    for command in (("plan",), ("apply", "--auto-approve"), ("status",)):
        sandbox["faults"].clear_calls()
        result = cli(sandbox, *command[:1], str(iris), *command[1:])
        assert result.returncode == 1, (command, result.stdout)
        assert f"model {model['name']} already exists" in result.stderr
        assert "ownership tags" in result.stderr and "execution_role_arn" in result.stderr
        assert _writes(sandbox) == []
    assert sm.list_endpoints()["Endpoints"] == []


def test_a_squatted_model_with_our_tags_but_other_content_is_refused(
    sandbox: dict[str, Any], sm: Any, iris: Path
) -> None:
    shown = json.loads(cli(sandbox, "plan", str(iris), "--format", "json").stdout)
    model = next(c for c in shown["changes"] if c["kind"] == "model")
    sm.create_model(
        ModelName=model["name"],
        PrimaryContainer={"Image": IMAGE},
        ExecutionRoleArn=ROLE,
        Tags=[
            {"Key": k, "Value": v}
            for k, v in model["after"]["tags"].items()
            if k.startswith("deployspec:")
        ],
    )
    result = cli(sandbox, "apply", str(iris), "--auto-approve")
    assert result.returncode == 1
    assert "its content differs from what its name promises (environment, image" in result.stderr


# ---- 5: spec names longer than a content name's base ---------------------------------------


def test_long_spec_names_find_their_own_resources(
    sandbox: dict[str, Any], sm: Any, iris: Path
) -> None:
    name = "iris-" + "x" * 55  # 60 characters: content names keep only 52 of them
    iris.write_text(
        iris.read_text().replace("name: iris", f"name: {name}").replace("keep: 2", "keep: 0")
    )
    for memory in ("1024", "2048", "3072"):
        applied = cli(sandbox, "apply", str(iris), "--var", f"memory_mb={memory}", "--auto-approve")
        assert applied.returncode == 0, applied.stderr
    configs, models = _names(sm)
    assert len(configs) == 1 and len(models) == 1, (configs, models)
    destroyed = cli(sandbox, "destroy", str(iris), "--var", "memory_mb=3072", "--auto-approve")
    assert destroyed.returncode == 0, destroyed.stderr
    assert _names(sm) == ([], [])


# ---- 6: --purge-artifacts keeps archives another model serves ---------------------------


def test_purge_keeps_an_archive_another_spec_serves(
    sandbox: dict[str, Any], sm: Any, iris: Path
) -> None:
    shared = iris.read_text().replace("keep: 2", "keep: 2\nprefix: shared/models")
    iris.write_text(shared)
    other = iris.parent / "other.yaml"
    other.write_text(shared.replace("name: iris", "name: iris-two"))
    for spec in (iris, other):
        assert cli(sandbox, "apply", str(spec), "--auto-approve").returncode == 0
    s3 = sandbox_client(sandbox, "s3")

    def archives() -> list[str]:
        listed = s3.list_objects_v2(Bucket="sagemaker-us-east-1-123456789012")
        return [o["Key"] for o in listed.get("Contents", [])]

    assert len(archives()) == 1
    first = cli(sandbox, "destroy", str(iris), "--purge-artifacts", "--auto-approve")
    assert first.returncode == 0, first.stderr
    assert "kept: model iris-two-" in first.stdout
    assert len(archives()) == 1
    answer = cli(sandbox, "invoke", str(other), "--body", f"@{iris.parent / 'input.json'}")
    assert answer.returncode == 0, answer.stderr
    second = cli(sandbox, "destroy", str(other), "--purge-artifacts", "--auto-approve")
    assert second.returncode == 0, second.stderr
    assert archives() == []


# ---- 7: --out never overwrites an input ----------------------------------------------------


def test_plan_out_never_overwrites_an_input(
    sandbox: dict[str, Any], sm: Any, iris: Path, tmp_path: Path
) -> None:
    original = iris.read_text()
    notes = tmp_path / "notes.txt"
    notes.write_text("mine")
    for out, expected in (
        (iris, "would overwrite"),
        (iris.parent / "inference.py", "would overwrite"),
        (iris.parent / "model" / "plan.json", "packaged into the model"),
        (notes, "exists and is not a saved plan"),
    ):
        result = cli(sandbox, "plan", str(iris), "--out", str(out))
        assert result.returncode == 1, out
        assert expected in result.stderr, result.stderr
    assert iris.read_text() == original and notes.read_text() == "mine"
    assert not (iris.parent / "model" / "plan.json").exists()
    saved = tmp_path / "plan.json"
    for _ in range(2):  # a saved plan may be replaced by a newer one
        assert cli(sandbox, "plan", str(iris), "--out", str(saved)).returncode == 0


def test_a_saved_plan_needs_no_flags_again(
    sandbox: dict[str, Any], sm: Any, iris: Path, tmp_path: Path
) -> None:
    saved = tmp_path / "plan.json"
    made = cli(sandbox, "plan", str(iris), "--var", "memory_mb=3072", "--out", str(saved))
    assert made.returncode == 0
    extra = cli(sandbox, "apply", str(saved), "--var", "memory_mb=1024")
    assert extra.returncode == 1 and "records this variable" in extra.stderr
    applied = cli(sandbox, "apply", str(saved))
    assert applied.returncode == 0, applied.stderr
    config = sm.describe_endpoint_config(
        EndpointConfigName=sm.describe_endpoint(EndpointName="iris")["EndpointConfigName"]
    )
    assert config["ProductionVariants"][0]["ServerlessConfig"]["MemorySizeInMB"] == 3072
    shutil.rmtree(tmp_path / "sklearn-iris" / "model")  # the inputs are gone: refused
    gone = cli(sandbox, "apply", str(saved))
    assert gone.returncode == 1 and "Traceback" not in gone.stderr


# ---- found in review ---------------------------------------------------------------------


def _s3(sandbox: dict[str, Any]) -> Any:
    return sandbox_client(sandbox, "s3")


def test_a_secret_var_is_sealed_in_the_saved_plan_and_given_again(
    sandbox: dict[str, Any], sm: Any, iris: Path, tmp_path: Path
) -> None:
    _with_env(iris, {"DB_PASSWORD": "{{ db_password }}"})
    iris.write_text(iris.read_text() + "  db_password: unset\n")
    saved = tmp_path / "plan.out"  # any name: a saved plan is known by its content
    made = cli(
        sandbox, "plan", str(iris), "--var", "db_password=PW12varsecret", "--out", str(saved)
    )
    assert made.returncode == 0, made.stderr
    assert "PW12varsecret" not in saved.read_text()
    assert f"apply it with `deployspec apply {saved} --var db_password=...`" in made.stderr
    missing = cli(sandbox, "apply", str(saved))
    assert missing.returncode == 1 and "give it again" in missing.stderr
    wrong = cli(sandbox, "apply", str(saved), "--var", "db_password=guess")
    assert wrong.returncode == 1 and "not the value the plan was made with" in wrong.stderr
    assert "guess" not in wrong.stderr
    applied = cli(sandbox, "apply", str(saved), "--var", "db_password=PW12varsecret")
    assert applied.returncode == 0, applied.stderr
    model = sm.list_models()["Models"][0]["ModelName"]
    env = sm.describe_model(ModelName=model)["PrimaryContainer"]["Environment"]
    assert env["DB_PASSWORD"] == "PW12varsecret"


def test_our_model_with_a_secret_is_reused_after_a_rolled_back_update(
    sandbox: dict[str, Any], sm: Any, iris: Path
) -> None:
    _with_env(iris, {"API_TOKEN": "tok-0123456789abcdef"})
    assert cli(sandbox, "apply", str(iris), "--auto-approve").returncode == 0
    changed = ("--var", "memory_mb=3072")
    sandbox["faults"].fail_next_update("iris", "the canary's alarm fired")
    failed = cli(sandbox, "apply", str(iris), *changed, "--auto-approve")
    assert failed.returncode == 1 and "rolled back" in failed.stderr
    again = cli(sandbox, "apply", str(iris), *changed, "--auto-approve")
    assert again.returncode == 0, again.stderr


def test_an_object_squatting_the_artifact_address_is_replaced(
    sandbox: dict[str, Any], sm: Any, iris: Path
) -> None:
    shown = json.loads(cli(sandbox, "plan", str(iris), "--format", "json").stdout)
    artifact = next(c for c in shown["changes"] if c["kind"] == "artifact")
    bucket, key = artifact["name"].removeprefix("s3://").split("/", 1)
    s3 = _s3(sandbox)
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key=key, Body=b"the squatter's model")
    planned = cli(sandbox, "plan", str(iris))
    assert "is not model.tar.gz sha256" in planned.stdout, planned.stdout
    assert cli(sandbox, "apply", str(iris), "--auto-approve").returncode == 0
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    assert body != b"the squatter's model" and body[:2] == b"\x1f\x8b"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('{"deployspec_saved_plan": 1, "x": ' + "[" * 100000 + "]" * 100000 + "}", "nested"),
        ('{"deployspec_saved_plan": true}', "not a version number"),
    ],
    ids=["deep", "bool-marker"],
)
def test_odd_plan_files_are_refused_cleanly(
    sandbox: dict[str, Any], sm: Any, tmp_path: Path, content: str, expected: str
) -> None:
    path = tmp_path / "odd.json"
    path.write_text(content)
    result = cli(sandbox, "apply", str(path))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert expected in result.stderr, result.stderr


def test_out_never_follows_a_symlink_nor_overwrites_other_json(
    sandbox: dict[str, Any], sm: Any, iris: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other.json"
    other.write_text('{"changes": 1, "important": "data"}')
    link = tmp_path / "link.json"
    link.symlink_to(tmp_path / "elsewhere.txt")
    for out, expected in ((other, "is not a saved plan"), (link, "symbolic link")):
        result = cli(sandbox, "plan", str(iris), "--out", str(out))
        assert result.returncode == 1 and expected in result.stderr, result.stderr
    assert other.read_text() == '{"changes": 1, "important": "data"}'
    assert not (tmp_path / "elsewhere.txt").exists()
    nowhere = cli(sandbox, "plan", str(iris), "--out", str(tmp_path / "no" / "plan.json"))
    assert nowhere.returncode == 1 and "does not exist" in nowhere.stderr
    assert "Plan:" not in nowhere.stdout  # refused before the plan is shown


def test_specs_alike_in_their_first_52_characters_get_their_own_names(
    sandbox: dict[str, Any], sm: Any, iris: Path
) -> None:
    stem = "collide-" + "a" * 44  # 52 characters: what content names keep
    text = iris.read_text().replace("keep: 2", "keep: 2\nprefix: shared/models")
    specs = []
    for suffix in ("-x-1", "-x-2"):
        spec = iris.parent / f"spec{suffix}.yaml"
        spec.write_text(text.replace("name: iris", f"name: {stem}{suffix}"))
        specs.append(spec)
    for spec in specs:
        applied = cli(sandbox, "apply", str(spec), "--auto-approve")
        assert applied.returncode == 0, applied.stderr
    configs, models = _names(sm)
    assert len(configs) == 2 and len(models) == 2


def test_the_guard_checks_every_name_a_change_writes(sandbox: dict[str, Any], sm: Any) -> None:
    """Crafted plans whose change names pass but whose contents point elsewhere."""
    from deployspec.applier import Applier

    _victim(sm)
    sm.create_endpoint(EndpointName="victim", EndpointConfigName="victim-cfg")
    s3 = _s3(sandbox)
    s3.create_bucket(Bucket="other-team-bucket")
    kept = f"team/{'a' * 64}/model.tar.gz"
    s3.put_object(Bucket="other-team-bucket", Key=kept, Body=b"theirs")
    sm.create_model(
        ModelName="theirs",
        PrimaryContainer={"Image": IMAGE, "ModelDataUrl": f"s3://other-team-bucket/{kept}"},
        ExecutionRoleArn=ROLE,
    )
    gateway = sandbox_gateway(sandbox)
    scaling = {
        "resource_id": "endpoint/victim/variant/AllTraffic",
        "min_capacity": 1,
        "max_capacity": 2,
        "target_value": 10.0,
        "scale_in_cooldown": None,
        "scale_out_cooldown": None,
        "policy_name": "p",
    }
    attempts = [
        Change(Kind.SCALING, "endpoint/iris/variant/AllTraffic", Action.CREATE, None, scaling),
        Change(
            Kind.ENDPOINT,
            "iris",
            Action.CREATE,
            None,
            {"name": "iris", "config_name": "victim-cfg"},
        ),
        Change(
            Kind.ARTIFACT,
            f"s3://other-team-bucket/{kept}",
            Action.DELETE,
            {"s3_uri": f"s3://other-team-bucket/{kept}"},
            None,
        ),
        Change(
            Kind.ARTIFACT,
            f"s3://other-team-bucket/team/{'b' * 64}/model.tar.gz",
            Action.CREATE,
            None,
            {"s3_uri": "s3://other-team-bucket/important.txt", "sha256": "b" * 64},
        ),
        Change(
            Kind.MODEL,
            "iris-0000000000",
            Action.CREATE,
            None,
            {"name": "victim-model", "image": IMAGE, "execution_role_arn": ROLE},
        ),
    ]
    for change in attempts:
        sandbox["faults"].clear_calls()
        plan = Plan("iris", "iris", "us-east-1", "123456789012", (change,), {})
        with pytest.raises(NotManagedError):
            Applier(gateway).apply(plan)
        assert _writes(sandbox) == [], change.address
    assert s3.get_object(Bucket="other-team-bucket", Key=kept)["Body"].read() == b"theirs"
