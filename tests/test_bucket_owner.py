"""S3 buckets a spec hands to SageMaker, which deployspec never calls itself, must belong to
the deploying account (issue 9 review, like point 18): `data_capture.destination` (every
request and response is written there) and a spec's own `s3://` model archive (what is there
is served). A pull request pointing either at another account's bucket is refused at plan
time, unless whoever runs deployspec trusts that bucket (DEPLOYSPEC_TRUSTED_BUCKETS).

The gateway's verb is tested with botocore's Stubber (S3's 403 for a wrong ExpectedBucketOwner
is not something moto reproduces), the plan-time check with moto and a counting gateway, and
the CLI end to end against the sandbox.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from deployspec.aws import Gateway
from deployspec.errors import PlanError
from deployspec.resources import DataCapture
from deployspec.state import TRUSTED_BUCKETS_ENV, check_handed_buckets, read_actual
from tests.conftest import isolate_aws, run_cli
from tests.test_e2e import (  # noqa: F401 - pytest finds the fixtures by name
    _realtime,
    calls,
    cli,
    iris,
    iris_model,
    sandbox,
    sm,
)
from tests.test_planner import desired

# ruff: noqa: F811

ACCOUNT = "123456789012"
OWNER = {"ExpectedBucketOwner": ACCOUNT}


@pytest.fixture(autouse=True)
def isolated_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate_aws(monkeypatch, tmp_path, "us-east-1")
    monkeypatch.delenv(TRUSTED_BUCKETS_ENV, raising=False)


def stubbed() -> tuple[Gateway, Stubber]:
    gateway = Gateway(boto3.Session(region_name="us-east-1"))
    stubber = Stubber(gateway._client("s3"))
    sts = Stubber(gateway._client("sts"))
    identity = {"Account": ACCOUNT, "Arn": f"arn:aws:iam::{ACCOUNT}:user/ci", "UserId": "AIDA1"}
    sts.add_response("get_caller_identity", identity, {})
    sts.activate()
    stubber.activate()
    return gateway, stubber


# --- the gateway's verb ---------------------------------------------------------------------


def test_our_bucket_is_told_by_one_head_bucket_carrying_the_owner() -> None:
    gateway, stubber = stubbed()
    stubber.add_response("head_bucket", {}, {"Bucket": "capture", **OWNER})
    assert gateway.bucket_ownership("capture") == "us"
    stubber.assert_no_pending_responses()


def test_a_missing_bucket_is_told_apart() -> None:
    gateway, stubber = stubbed()
    stubber.add_client_error("head_bucket", "404", "Not Found", http_status_code=404)
    assert gateway.bucket_ownership("capture") == "missing"


def test_another_accounts_bucket_answers_only_without_the_owner() -> None:
    gateway, stubber = stubbed()
    # S3 answers 403 when ExpectedBucketOwner is not the owner; a readable bucket then
    # answers a HeadBucket without it.
    stubber.add_client_error("head_bucket", "403", "Forbidden", http_status_code=403)
    stubber.add_response("head_bucket", {}, {"Bucket": "theirs"})
    assert gateway.bucket_ownership("theirs") == "another account"
    stubber.assert_no_pending_responses()


def test_a_bucket_refused_both_ways_is_unknown() -> None:
    gateway, stubber = stubbed()
    stubber.add_client_error("head_bucket", "403", "Forbidden", http_status_code=403)
    stubber.add_client_error("head_bucket", "403", "Forbidden", http_status_code=403)
    assert gateway.bucket_ownership("locked") == "unknown"


# --- the plan-time check ----------------------------------------------------------------------


class Owners:
    """The two gateway verbs the check uses, answering from a table, counting the calls."""

    def __init__(self, owners: dict[str, str]) -> None:
        self.owners = owners
        self.asked: list[str] = []

    def bucket_ownership(self, bucket: str) -> str:
        self.asked.append(bucket)
        return self.owners.get(bucket, "missing")

    def account_id(self) -> str:
        return ACCOUNT


def with_capture(destination: str) -> Any:
    base = desired()
    config = replace(base.config, data_capture=DataCapture(destination, 20))
    return replace(base, config=config)


def with_archive(uri: str, base: Any = None) -> Any:
    """The spec's model served from its own s3:// archive: deployspec uploads none."""
    base = base if base is not None else desired()
    return replace(base, artifacts=(), models=(replace(base.models[0], model_data_url=uri),))


def refused(gateway: Owners, wanted: Any) -> PlanError:
    with pytest.raises(PlanError) as raised:
        check_handed_buckets(gateway, wanted)  # type: ignore[arg-type]
    return raised.value


def test_data_capture_into_another_accounts_bucket_is_refused() -> None:
    gateway = Owners({"exfil-bucket": "another account"})
    error = refused(gateway, with_capture("s3://exfil-bucket/capture/"))
    assert str(error) == (
        "data_capture.destination: S3 bucket 'exfil-bucket' belongs to another AWS account, "
        f"not to {ACCOUNT} (the one deploying): SageMaker would write the endpoint's requests "
        "and responses there"
    )
    assert error.hint is not None
    assert f"use a bucket of account {ACCOUNT}" in error.hint
    assert f"{TRUSTED_BUCKETS_ENV}=exfil-bucket" in error.hint


def test_an_s3_model_archive_in_another_accounts_bucket_is_refused() -> None:
    gateway = Owners({"their-models": "another account"})
    error = refused(gateway, with_archive("s3://their-models/iris/model.tar.gz"))
    assert str(error).startswith("model.artifacts: S3 bucket 'their-models' belongs to another")
    assert "SageMaker would serve whatever model that account puts there" in str(error)


def test_every_variants_model_archive_is_checked_not_only_the_first() -> None:
    gateway = Owners({"ours": "us", "their-models": "another account"})
    wanted = with_archive("s3://ours/m")
    second = replace(
        wanted.models[0], name="iris-bbbbbbbbbb", model_data_url="s3://their-models/b.tar.gz"
    )
    error = refused(gateway, replace(wanted, models=(*wanted.models, second)))
    assert "S3 bucket 'their-models' belongs to another AWS account" in str(error)
    assert gateway.asked == ["ours", "their-models"]


def test_a_missing_or_unreadable_bucket_is_refused_with_what_to_do() -> None:
    error = refused(Owners({}), with_capture("s3://not-yet/capture"))
    assert str(error) == "data_capture.destination: S3 bucket 'not-yet' does not exist"
    assert error.hint is not None and f"create it in account {ACCOUNT} first" in error.hint
    error = refused(Owners({"locked": "unknown"}), with_capture("s3://locked/c"))
    assert "cannot tell whether S3 bucket 'locked' belongs to account" in str(error)
    assert error.hint is not None
    assert "s3:ListBucket" in error.hint and f"{TRUSTED_BUCKETS_ENV}=locked" in error.hint


def test_our_buckets_pass_and_each_is_asked_once() -> None:
    gateway = Owners({"ours": "us"})
    wanted = with_archive("s3://ours/m", with_capture("s3://ours/capture"))
    # A second variant's model, its own archive in the same bucket.
    second = replace(wanted.models[0], name="iris-bbbbbbbbbb", model_data_url="s3://ours/m2")
    wanted = replace(wanted, models=(*wanted.models, second))
    check_handed_buckets(gateway, wanted)  # type: ignore[arg-type]
    assert gateway.asked == ["ours"]


def test_a_spec_without_these_fields_costs_no_call() -> None:
    # An archive deployspec uploads is checked by deployspec's own S3 calls.
    gateway = Owners({})
    check_handed_buckets(gateway, desired())  # type: ignore[arg-type]
    assert gateway.asked == []


def test_trusted_buckets_are_named_by_the_operator_not_the_spec(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(TRUSTED_BUCKETS_ENV, "central-capture, shared-models other")
    gateway = Owners({"central-capture": "another account", "shared-models": "another account"})
    wanted = with_archive(
        "s3://shared-models/m", with_capture("s3://central-capture/endpoints/iris")
    )
    check_handed_buckets(gateway, wanted)  # type: ignore[arg-type]
    assert gateway.asked == []  # trusted: not even looked at
    # Trust is by exact name.
    refused(gateway, with_capture("s3://central-capture-2/x"))


@pytest.fixture
def moto_gateway() -> Iterator[Gateway]:
    with mock_aws():
        yield Gateway(boto3.Session(region_name="us-east-1"))


def test_read_actual_checks_before_anything_else(moto_gateway: Gateway) -> None:
    wanted = with_capture("s3://capture-bucket/iris")
    with pytest.raises(PlanError, match="'capture-bucket' does not exist"):
        read_actual(moto_gateway, wanted)
    assert [c.operation for c in moto_gateway.calls] == ["GetCallerIdentity", "HeadBucket"]

    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="capture-bucket")
    moto_gateway.calls.clear()
    actual = read_actual(moto_gateway, wanted)
    assert actual.endpoint is None
    # The capture bucket first; the later HeadBucket is of deployspec's own bucket.
    assert [c.operation for c in moto_gateway.calls][:2] == ["HeadBucket", "DescribeEndpoint"]


# --- end to end against the sandbox ----------------------------------------------------------


def _capture(spec: Path, destination: str) -> None:
    _realtime(spec)
    spec.write_text(
        spec.read_text().replace(
            "vars:\n",
            f"data_capture:\n  destination: {destination}\n  sampling_percent: 20\nvars:\n",
        )
    )


def _plan(sandbox: dict[str, Any], spec: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return run_cli("plan", str(spec), "--sandbox", env={**sandbox["env"], **env}, timeout=180)


def test_e2e_plan_refuses_a_missing_capture_bucket_and_passes_ours(
    sandbox: dict[str, Any], sm: Any, iris: Path
) -> None:
    _capture(iris, "s3://iris-capture/endpoints/iris")
    missing = cli(sandbox, "plan", str(iris))
    assert missing.returncode == 1
    assert (
        "error: data_capture.destination: S3 bucket 'iris-capture' does not exist" in missing.stderr
    )
    assert "Traceback" not in missing.stderr

    s3 = boto3.client(
        "s3",
        endpoint_url=sandbox["info"].endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    s3.create_bucket(Bucket="iris-capture")
    sandbox["faults"].clear_calls()
    ours = cli(sandbox, "plan", str(iris))
    assert ours.returncode == 0, ours.stderr
    assert "will be created" in ours.stdout
    reads, writes = calls(sandbox)
    assert writes == []
    # Checked before anything else is read.
    heads = [
        (index, c["path"])
        for index, c in enumerate(sandbox["faults"].calls())
        if c["operation"] == "HeadBucket"
    ]
    assert heads and heads[0][1] == "/iris-capture", heads
    assert reads.index("HeadBucket") < reads.index("DescribeEndpoint")


def test_e2e_a_trusted_bucket_is_not_looked_at(
    sandbox: dict[str, Any], sm: Any, iris: Path
) -> None:
    _capture(iris, "s3://central-capture/iris")
    sandbox["faults"].clear_calls()
    planned = _plan(sandbox, iris, **{TRUSTED_BUCKETS_ENV: "central-capture"})
    assert planned.returncode == 0, planned.stderr
    heads = [c["path"] for c in sandbox["faults"].calls() if c["operation"] == "HeadBucket"]
    assert "/central-capture" not in heads, heads
