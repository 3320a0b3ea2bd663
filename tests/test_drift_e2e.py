"""`deployspec drift` end to end: the CLI as a separate process against the local sandbox,
with changes made behind deployspec's back with plain boto3, as the console or an SDK would.

Uses test_e2e's module sandbox and fixtures (the `sm` fixture resets the sandbox per test).
"""

# The fixtures imported from test_e2e are named again by the tests that use them.
# ruff: noqa: F811

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from tests.conftest import run_cli
from tests.test_e2e import (  # noqa: F401 - pytest finds the fixtures by name
    _realtime,
    calls,
    cli,
    iris,
    iris_model,
    sandbox,
    sandbox_client,
    sm,
)

RESOURCE = "endpoint/iris/variant/AllTraffic"
DIMENSION = "sagemaker:variant:DesiredInstanceCount"
# What drift may read for an unchanged autoscaled spec, and nothing else.
STEADY_READS = {
    "DescribeEndpoint",
    "ListTags",
    "DescribeScalableTargets",
    "DescribeScalingPolicies",
}


def _settled(sm: Any, name: str = "iris") -> None:
    """Wait until the endpoint is InService again, or gone."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            status = sm.describe_endpoint(EndpointName=name)["EndpointStatus"]
        except ClientError:
            return
        if status == "InService":
            return
        time.sleep(0.05)
    raise AssertionError(f"endpoint {name} still {status} after 60 s")


def _drift(sandbox: dict[str, Any], *args: str, **env: str) -> tuple[int, str, dict[str, Any]]:
    """(exit code, text output, JSON document) of drift over `args`."""
    environment = {**sandbox["env"], **env}
    text = run_cli("drift", *args, "--sandbox", env=environment, timeout=180)
    doc = run_cli("drift", *args, "--sandbox", "--format", "json", env=environment, timeout=180)
    assert text.returncode == doc.returncode, (text.stdout, doc.stdout)
    assert text.returncode in (0, 2) or text.stdout, text.stderr
    return text.returncode, text.stdout, json.loads(doc.stdout)


def _findings(doc: dict[str, Any], index: int = 0) -> dict[str, dict[str, Any]]:
    return {f["attribute"]: f for f in doc["specs"][index]["findings"]}


def _apply(sandbox: dict[str, Any], spec: Path, *args: str) -> None:
    applied = cli(sandbox, "apply", str(spec), "--auto-approve", *args)
    assert applied.returncode == 0, applied.stderr


def test_capacity_scaling_and_tags_changed_with_boto3_are_drift_until_apply(
    sandbox: dict[str, Any], sm: Any, iris: Path
) -> None:
    _realtime(iris)  # ml.m5.large x1, autoscaling 1-3
    _apply(sandbox, iris)

    sandbox["faults"].clear_calls()
    code, text, _ = _drift(sandbox, str(iris))
    assert code == 0, text
    assert "==> " in text and "\nno drift\n" in text
    assert text.endswith("0 specs drifted, 1 in sync, 0 errors\n")
    reads, writes = calls(sandbox)
    assert writes == []  # read-only, twice over (text and JSON)
    assert set(reads) <= STEADY_READS and len(reads) == 2 * 4, reads

    # The same on a fresh CI runner, nothing packaged: the record names the serving config, so
    # no config is listed or described.
    sandbox["faults"].clear_calls()
    fresh = {"DEPLOYSPEC_CACHE_DIR": str(iris.parent.parent / "fresh-cache")}
    code, text, _ = _drift(sandbox, str(iris), **fresh)
    assert code == 0 and "\nno drift\n" in text, text
    reads, writes = calls(sandbox)
    assert writes == [] and set(reads) <= STEADY_READS and len(reads) == 2 * 4, reads

    # The autoscaler's business: a count within the registered range is not drift.
    sm.update_endpoint_weights_and_capacities(
        EndpointName="iris",
        DesiredWeightsAndCapacities=[{"VariantName": "AllTraffic", "DesiredInstanceCount": 2}],
    )
    _settled(sm)
    assert _drift(sandbox, str(iris))[0] == 0

    # Beyond it, by hand: drift.
    sm.update_endpoint_weights_and_capacities(
        EndpointName="iris",
        DesiredWeightsAndCapacities=[
            {"VariantName": "AllTraffic", "DesiredInstanceCount": 5, "DesiredWeight": 0.5}
        ],
    )
    _settled(sm)
    code, text, doc = _drift(sandbox, str(iris))
    assert code == 2
    assert "drifted: 2 changes outside deployspec" in text
    assert "    instance_count: 1 (applied) -> 5 (live)" in text
    assert "outside the registered autoscaling range 1-3" in text
    assert "    weight: 1.0 (applied) -> 0.5 (live)" in text
    assert f"to fix: `deployspec apply {iris}` restores what the spec says" in text
    assert text.endswith("1 spec drifted, 0 in sync, 0 errors\n")
    found = _findings(doc)
    assert found["instance_count"]["cause"] == "drift"
    assert (found["instance_count"]["applied"], found["instance_count"]["live"]) == (1, 5)
    assert doc["exit_code"] == 2 and doc["specs"][0]["state"] == "drifted"

    # The scalable target widened by hand: that is the drift now, and 5 is within it.
    scaling = sandbox_client(sandbox, "application-autoscaling")
    scaling.register_scalable_target(
        ServiceNamespace="sagemaker",
        ResourceId=RESOURCE,
        ScalableDimension=DIMENSION,
        MinCapacity=1,
        MaxCapacity=6,
    )
    arn = sm.describe_endpoint(EndpointName="iris")["EndpointArn"]
    sm.delete_tags(ResourceArn=arn, TagKeys=["project"])
    code, text, doc = _drift(sandbox, str(iris))
    assert code == 2
    found = _findings(doc)
    assert set(found) == {"weight", "autoscaling.max_capacity", "tags.project"}
    assert (
        found["autoscaling.max_capacity"]["applied"],
        found["autoscaling.max_capacity"]["live"],
    ) == (3, 6)
    assert found["tags.project"] == {
        "attribute": "tags.project",
        "cause": "drift",
        "applied": "deployspec-examples",
        "applied_known": True,
        "live": None,
        "spec": "deployspec-examples",
        "detail": "tag removed outside deployspec",
    }
    assert "    tags.project: deployspec-examples (applied) -> (none) (live)" in text

    # Deregistered: the autoscaling itself is gone.
    scaling.deregister_scalable_target(
        ServiceNamespace="sagemaker", ResourceId=RESOURCE, ScalableDimension=DIMENSION
    )
    code, _, doc = _drift(sandbox, str(iris))
    assert code == 2 and _findings(doc)["autoscaling"]["live"] is None

    _apply(sandbox, iris)
    code, text, _ = _drift(sandbox, str(iris))
    assert code == 0, text


def test_a_hand_made_config_is_drift_and_an_unapplied_spec_edit_is_pending(
    sandbox: dict[str, Any], sm: Any, iris: Path
) -> None:
    _apply(sandbox, iris)
    applied_config = sm.describe_endpoint(EndpointName="iris")["EndpointConfigName"]

    # Not drift: the spec edited and not applied yet.
    code, text, doc = _drift(sandbox, str(iris), "--var", "memory_mb=3072")
    assert code == 0, text
    assert "no drift" in text
    assert "pending (the spec changed since the last apply; not drift):" in text
    assert "serverless 2048 MB, up to 5 concurrent -> serverless 3072 MB" in text
    assert text.endswith("0 specs drifted, 1 in sync, 0 errors (1 with pending spec changes)\n")
    assert _findings(doc)["endpoint_config"]["cause"] == "pending"
    assert doc["summary"]["with_pending"] == 1

    # UpdateEndpoint to a config made by hand (a serverless config swapped).
    model = sm.describe_endpoint_config(EndpointConfigName=applied_config)["ProductionVariants"][0][
        "ModelName"
    ]
    sm.create_endpoint_config(
        EndpointConfigName="iris-by-hand",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": model,
                "ServerlessConfig": {"MemorySizeInMB": 4096, "MaxConcurrency": 5},
            }
        ],
    )
    sm.update_endpoint(EndpointName="iris", EndpointConfigName="iris-by-hand")
    _settled(sm)
    code, text, doc = _drift(sandbox, str(iris))
    assert code == 2
    assert f"    endpoint_config: {applied_config} (applied) -> iris-by-hand (live)" in text
    assert "which deployspec did not create for this spec" in text
    assert "serverless 4096 MB" in text
    config = _findings(doc)["endpoint_config"]
    assert (config["cause"], config["applied"], config["live"]) == (
        "drift",
        applied_config,
        "iris-by-hand",
    )
    # Edited in the spec as well: still drift, told against what was applied.
    code, text, doc = _drift(sandbox, str(iris), "--var", "memory_mb=3072")
    assert code == 2 and _findings(doc)["endpoint_config"]["applied"] == applied_config
    assert "the spec, changed since, asks for" in text

    _apply(sandbox, iris)
    assert _drift(sandbox, str(iris))[0] == 0


def test_many_specs_one_drifted_one_in_sync_one_broken_and_no_packaging(
    sandbox: dict[str, Any], sm: Any, iris: Path, tmp_path: Path
) -> None:
    root = iris.parent.parent
    second = root / "second"
    shutil.copytree(iris.parent, second)
    spec = second / "deployment.yaml"
    spec.write_text(spec.read_text().replace("name: iris", "name: iris-two"))
    (root / "broken").mkdir()
    (root / "broken" / "deployment.yaml").write_text("name: [\n")
    _apply(sandbox, iris)
    _apply(sandbox, spec)
    arn = sm.describe_endpoint(EndpointName="iris-two")["EndpointArn"]
    sm.add_tags(ResourceArn=arn, Tags=[{"Key": "owner", "Value": "someone"}])

    code, text, doc = _drift(sandbox, str(root))
    assert code == 1  # an error outranks drift
    headers = [line for line in text.splitlines() if line.startswith("==> ")]
    assert headers == [
        f"==> {root / 'broken' / 'deployment.yaml'} <==",
        f"==> {spec}: endpoint iris-two (us-east-1) <==",
        f"==> {iris}: endpoint iris (us-east-1) <==",
    ]
    assert "    tags.owner: (none) (applied) -> someone (live)" in text
    assert text.endswith("1 spec drifted, 1 in sync, 1 error\n")
    assert [s["state"] for s in doc["specs"]] == ["error", "drifted", "in_sync"]
    assert doc["specs"][0]["error"]["message"]
    assert doc["summary"] == {
        "specs": 3,
        "drifted": 1,
        "in_sync": 1,
        "unverified": 0,
        "errors": 1,
        "with_pending": 0,
    }
    # The same, once the broken spec is left out: drift alone is exit 2.
    assert _drift(sandbox, str(iris), str(spec))[0] == 2

    # On a machine that never packaged the model: nothing is packaged, the rest is checked.
    cache = tmp_path / "fresh-cache"
    sandbox["faults"].clear_calls()
    code, text, doc = _drift(sandbox, str(iris), str(spec), DEPLOYSPEC_CACHE_DIR=str(cache))
    assert code == 2, text
    assert "not checked: whether the spec's model changed since the last apply" in text
    assert set(_findings(doc, 0)) == {"tags.owner"}
    assert not list(cache.rglob("*.tar.gz"))
    assert calls(sandbox)[1] == []


def test_a_deleted_endpoint_is_drift_and_one_made_by_hand_is_not_checked(
    sandbox: dict[str, Any], sm: Any, iris: Path
) -> None:
    code, text, _ = _drift(sandbox, str(iris))
    assert code == 0 and "the spec was not applied here yet" in text

    _apply(sandbox, iris)
    config = sm.describe_endpoint(EndpointName="iris")["EndpointConfigName"]
    sm.delete_endpoint(EndpointName="iris")
    _settled(sm)
    code, text, doc = _drift(sandbox, str(iris))
    assert code == 2
    assert "    endpoint.status: InService (applied) -> (none) (live)" in text
    assert f"the configs deployspec made for it (the newest: {config}) are still there" in text
    assert _findings(doc)["endpoint.status"]["live"] is None

    # Someone creates the endpoint again by hand, on a config of their own.
    model = sm.describe_endpoint_config(EndpointConfigName=config)["ProductionVariants"][0][
        "ModelName"
    ]
    sm.create_endpoint_config(
        EndpointConfigName="hand-made",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": model,
                "ServerlessConfig": {"MemorySizeInMB": 2048, "MaxConcurrency": 5},
            }
        ],
    )
    sm.create_endpoint(EndpointName="iris", EndpointConfigName="hand-made")
    _settled(sm)
    code, text, doc = _drift(sandbox, str(iris))
    assert code == 1
    assert "deployspec does not manage it for spec 'iris'" in text
    assert "`deployspec plan --adopt`" in text
    assert doc["specs"][0]["state"] == "error"


def _team_spec(spec: Path, env: str, max_capacity: int) -> None:
    """The review's spec: real-time, autoscaled 1-`max_capacity`, tagged team ml and `env`."""
    _realtime(spec)
    text = re.sub(r"tags:\n(  .*\n)+", f"tags:\n  team: ml\n  env: {env}\n", spec.read_text())
    spec.write_text(text.replace("max: 3,", f"max: {max_capacity},"))


def test_hand_changes_and_spec_edits_to_the_same_parts_are_told_apart(
    sandbox: dict[str, Any], sm: Any, iris: Path
) -> None:
    """The review's repro: a tag and the autoscaling maximum changed with boto3, another tag and
    the same maximum edited in the spec. One digest over everything made all of it
    "unverified", exit 0; each part's own hash tells drift from pending."""
    _team_spec(iris, env="prod", max_capacity=4)
    _apply(sandbox, iris)
    arn = sm.describe_endpoint(EndpointName="iris")["EndpointArn"]
    sm.add_tags(ResourceArn=arn, Tags=[{"Key": "team", "Value": "other"}])
    scaling = sandbox_client(sandbox, "application-autoscaling")
    scaling.register_scalable_target(
        ServiceNamespace="sagemaker",
        ResourceId=RESOURCE,
        ScalableDimension=DIMENSION,
        MinCapacity=1,
        MaxCapacity=8,
    )
    _team_spec(iris, env="staging", max_capacity=6)

    code, text, doc = _drift(sandbox, str(iris))
    assert code == 2, text
    assert "drifted: 2 changes outside deployspec" in text and "no drift" not in text
    found = _findings(doc)
    assert set(found) == {"tags.team", "autoscaling.max_capacity", "tags.env"}
    assert {k: f["cause"] for k, f in found.items()} == {
        "tags.team": "drift",
        "autoscaling.max_capacity": "drift",
        "tags.env": "pending",
    }
    assert (found["tags.team"]["applied"], found["tags.team"]["live"]) == ("ml", "other")
    assert "    tags.team: ml (applied) -> other (live)" in text
    # The maximum changed on both sides: drift, though what was applied is only hashed.
    maximum = found["autoscaling.max_capacity"]
    assert (maximum["live"], maximum["spec"], maximum["applied_known"]) == (8, 6, False)
    assert "    tags.env: prod (live) -> staging (spec)" in text

    _apply(sandbox, iris)
    assert _drift(sandbox, str(iris))[0] == 0

    # A scaling edit applied alone is recorded too: the next edit of it is pending, not drift.
    _team_spec(iris, env="staging", max_capacity=5)
    _apply(sandbox, iris)
    code, text, doc = _drift(sandbox, str(iris))
    assert code == 0 and doc["specs"][0]["findings"] == [], text
    _team_spec(iris, env="staging", max_capacity=7)
    code, text, doc = _drift(sandbox, str(iris))
    assert code == 0, text
    assert _findings(doc)["autoscaling.max_capacity"]["cause"] == "pending"


def test_an_endpoint_an_older_deployspec_applied_plans_no_change_and_drift_falls_back(
    sandbox: dict[str, Any], sm: Any, iris: Path
) -> None:
    """Without the deployspec:applied record (only the old spec-digest tag): plan shows no
    change for that alone, and drift judges by the old digest."""
    _apply(sandbox, iris)
    arn = sm.describe_endpoint(EndpointName="iris")["EndpointArn"]
    sm.delete_tags(ResourceArn=arn, TagKeys=["deployspec:applied"])
    assert cli(sandbox, "plan", str(iris), "--detailed-exitcode").returncode == 0
    code, text, _ = _drift(sandbox, str(iris))
    assert code == 0 and "\nno drift\n" in text, text

    sm.add_tags(ResourceArn=arn, Tags=[{"Key": "project", "Value": "by-hand"}])
    code, _, doc = _drift(sandbox, str(iris))
    assert code == 2 and _findings(doc)["tags.project"]["applied"] == "deployspec-examples"

    # Changed by hand and in the spec: the old digest cannot tell; not headed "no drift".
    code, text, doc = _drift(sandbox, str(iris), "--var", "memory_mb=3072")
    assert code == 0, text
    assert doc["specs"][0]["state"] == "unverified"
    assert "\nunverified: " in text and "no drift" not in text
    assert "apply once with this deployspec to enable drift checks" in text


def _two_variants(spec: Path, blue: float = 90, green: float = 10) -> None:
    """The example as two real-time variants sharing its model: blue autoscaled 1-3, green not."""
    head = spec.read_text().split("serverless:")[0].split("variants:")[0]
    spec.write_text(
        head
        + "variants:\n"
        + f"  - name: blue\n    weight: {blue}\n"
        + "    realtime:\n      instance_type: ml.m5.large\n"
        + "      autoscaling: {min: 1, max: 3, target_invocations_per_instance: 50}\n"
        + f"  - name: green\n    weight: {green}\n"
        + "    realtime: {instance_type: ml.m5.large}\n"
        + "vars:\n  memory_mb: 2048\n"
    )


def test_two_variants_are_judged_variant_by_variant_and_weights_set_in_place_are_in_sync(
    sandbox: dict[str, Any], sm: Any, iris: Path
) -> None:
    _two_variants(iris)
    _apply(sandbox, iris)

    sandbox["faults"].clear_calls()
    code, text, _ = _drift(sandbox, str(iris))
    assert code == 0 and "\nno drift\n" in text, text
    reads, writes = calls(sandbox)
    # Per run: DescribeEndpoint, ListTags, one DescribeScalableTargets for both variants, and
    # the policies of the one target found.
    assert writes == [] and set(reads) <= STEADY_READS and len(reads) == 2 * 4, reads

    # By hand: green's weight, and blue's count beyond its own range.
    sm.update_endpoint_weights_and_capacities(
        EndpointName="iris",
        DesiredWeightsAndCapacities=[
            {"VariantName": "green", "DesiredWeight": 30.0},
            {"VariantName": "blue", "DesiredInstanceCount": 5},
        ],
    )
    _settled(sm)
    code, text, doc = _drift(sandbox, str(iris))
    assert code == 2, text
    found = _findings(doc)
    assert set(found) == {"variants.blue.instance_count", "variants.green.weight"}, found
    assert (found["variants.green.weight"]["applied"], found["variants.green.weight"]["live"]) == (
        10.0,
        30.0,
    )
    assert "    variants.blue.instance_count: 1 (applied) -> 5 (live)" in text
    assert "outside the registered autoscaling range 1-3" in text
    _apply(sandbox, iris)
    assert _drift(sandbox, str(iris))[0] == 0

    # The spec's weights changed: apply sets them in place on the config the endpoint serves,
    # which then stands for the spec's (deployspec:serves-for): in sync, at the same reads.
    served = sm.describe_endpoint(EndpointName="iris")["EndpointConfigName"]
    _two_variants(iris, blue=50, green=50)
    _apply(sandbox, iris)
    assert sm.describe_endpoint(EndpointName="iris")["EndpointConfigName"] == served
    arn = sm.describe_endpoint(EndpointName="iris")["EndpointArn"]
    tags = {t["Key"]: t["Value"] for t in sm.list_tags(ResourceArn=arn)["Tags"]}
    assert tags["deployspec:serves-for"].startswith(f"{served} ")
    sandbox["faults"].clear_calls()
    code, text, _ = _drift(sandbox, str(iris))
    assert code == 0 and "\nno drift\n" in text, text
    reads, _ = calls(sandbox)
    assert set(reads) <= STEADY_READS and len(reads) == 2 * 4, reads

    # Then by hand: judged against the spec's weights, not those of the config served.
    sm.update_endpoint_weights_and_capacities(
        EndpointName="iris",
        DesiredWeightsAndCapacities=[{"VariantName": "green", "DesiredWeight": 20.0}],
    )
    _settled(sm)
    # And autoscaling registered on green by hand.
    sandbox_client(sandbox, "application-autoscaling").register_scalable_target(
        ServiceNamespace="sagemaker",
        ResourceId="endpoint/iris/variant/green",
        ScalableDimension=DIMENSION,
        MinCapacity=1,
        MaxCapacity=2,
    )
    code, text, doc = _drift(sandbox, str(iris))
    assert code == 2, text
    found = _findings(doc)
    assert set(found) == {"variants.green.weight", "autoscaling.green"}, found
    assert (found["variants.green.weight"]["applied"], found["variants.green.weight"]["live"]) == (
        50.0,
        20.0,
    )
    assert found["autoscaling.green"]["detail"] == "registered outside deployspec"
    _apply(sandbox, iris)
    assert _drift(sandbox, str(iris))[0] == 0
