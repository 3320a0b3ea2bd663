"""Secrets: recognised by key and by value, declared in the spec, read from Secrets Manager or
SSM, and never shown: not in plans (text, JSON, markdown), not in reasons, not in errors."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from deployspec.aws import Gateway
from deployspec.desired import Desired, build_desired, container_environment
from deployspec.errors import AwsError, DeployspecError, SpecError
from deployspec.operations import resolve_references
from deployspec.plan import Action, Change, Kind, Plan
from deployspec.planner import make_plan
from deployspec.render import plan_document, render_json, render_markdown, render_text
from deployspec.resources import (
    Artifact,
    Endpoint,
    EndpointConfig,
    Model,
    ServerlessConfig,
    Variant,
    ownership_tags,
)
from deployspec.secrets import (
    SENSITIVE,
    is_secret_key,
    json_field,
    looks_secret,
    mask_pair,
    preview,
)
from deployspec.spec import load_spec, parse_var_assignments
from deployspec.state import Actual
from tests.conftest import VALID_SKLEARN

WriteSpec = Callable[..., Path]
ROLE = "arn:aws:iam::123456789012:role/SageMakerExecution"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"

# The values issue 9 found printed in clear, each under the key it was found under.
LEAKED = {
    "CONNECTION_STRING": "postgres://app:PASSWORD@db.internal/app",
    "HF_HUB_AUTH": "hf_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789",
    "DATABASE_URL": "mysql://root:toor@10.0.0.5:3306/app",
    "AUTHORIZATION": "Basic YWxhZGRpbjpvcGVuc2VzYW1l",
    "PASSPHRASE": "correct horse battery staple",
    "WEBHOOK_URL": "https://example.com/hook/123",
    "SAS": "sv=2022-11-02&ss=b&srt=sco&sp=r&se=2030",
    "CREDS": "admin:admin",
}


# --- recognition -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    [
        *LEAKED,
        "API_KEY",
        "OPENAI_API_KEY",
        "HF_TOKEN",
        "HUGGING_FACE_HUB_TOKEN",
        "AWS_SECRET_ACCESS_KEY",
        "DB_PASSWORD",
        "DB_PWD",
        "apiKey",
        "clientSecret",
        "APIKEY",
        "MYAPP_AUTHTOKEN",
        "OAUTH_CLIENT",
        "SENTRY_DSN",
        "DB_CONN_STR",
        "SLACK_WEBHOOK",
        "PRIVATE_KEY",
        # Found unrecognised in review (issue 9.12).
        "DB_PW",
        "ADMIN_PW",
        "PASSCODE",
        "DBPASS",
        "ENCRYPTIONKEYS",
        "BEARER",
        "HMAC",
        "SIGNING_SALT",
        "PIN",
        "SIM_PIN",
        "OTP_SEED",
        "adminPw",
    ],
)
def test_credential_keys_are_secret(key: str) -> None:
    assert is_secret_key(key)


@pytest.mark.parametrize(
    "key",
    [
        "SAGEMAKER_PROGRAM",
        "SAGEMAKER_REGION",
        "SAGEMAKER_SUBMIT_DIRECTORY",
        "HF_MODEL_ID",
        "HF_MODEL_REVISION",
        "HF_TASK",
        "MODEL_NAME",
        "TS_DEFAULT_WORKERS_PER_MODEL",
        "TOKENIZERS_PARALLELISM",
        "LOG_LEVEL",
        "MAX_INPUT_LENGTH",
        "PWD",
        # Words that hold a credential word's letters, and settings named alike.
        "PIPELINE",
        "SPINE",
        "SPIN_UP_SECONDS",
        "PIN_MEMORY",
        "DATALOADER_PIN_MEMORY",
        "CACHE_BYPASS",
        "COMPASS_HEADING",
        "RANDOM_SEED",
        "SEED",
        "PASSAGE_COUNT",
        "PIPELINE_PASSES",
    ],
)
def test_ordinary_keys_are_not_secret(key: str) -> None:
    assert not is_secret_key(key)


@pytest.mark.parametrize(
    "value",
    [
        "postgres://app:PASSWORD@host/db",
        "redis://:hunter2@cache:6379/0",
        "hf_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789",
        "sk-proj-abcdefghijklmnopqrstuvwx",
        "AKIAIOSFODNN7EXAMPLE",
        "ASIAIOSFODNN7EXAMPLE",
        "ghp_abcdefghijklmnopqrstuvwxyzABCDEFGHIJ",
        "github_pat_11ABCDEFG0123456789_abcdefghijkl",
        "xoxb-123456789012-abcdefghij",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0",
        "Bearer sk-ant-api03-abcdefghijklmnopqrstuv",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "https://acct.blob.core.windows.net/c/blob?sv=2022-11-02&sig=abc%2Fdef",
        "https://hooks.slack.com/services/T000/B000/XXXX",
        "Zx8pQ2mN7vR4tL9kW3sB6yH1cF5jD0gA",
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEow",
        # Found unrecognised in review (issue 9.12).
        "Basic dXNlcjpwYXNz",
        "Authorization: Basic dXNlcjpwYXNz",
        "Bearer abcdefghijklmnop",
        "ya29.a0AfH6SMBx3kz-LsT_Qw7e9pQ2mN7vR4tL9kW3",
        "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=abc123==;"
        "EndpointSuffix=core.windows.net",
        "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=Root;SharedAccessKey=k1",
        "BlobEndpoint=https://acct.blob.core.windows.net/;SharedAccessSignature=sv=2022&sig=x",
        "sig=abc%2Fdef&sv=2022-11-02",
        "Server=db;Database=app;User Id=app;Password=hunter2;",
    ],
)
def test_credential_shaped_values_are_secret(value: str) -> None:
    assert looks_secret(value)


@pytest.mark.parametrize(
    "value",
    [
        "inference.py",
        "/opt/ml/model/code",
        "us-east-1",
        "distilbert-base-uncased-finetuned-sst-2-english",
        "sentence-transformers/all-MiniLM-L6-v2",
        "mistralai/Mistral-7B-Instruct-v0.2",
        "3f2a9c1d3f2a9c1d3f2a9c1d3f2a9c1d3f2a9c1d",  # a commit id
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",  # a sha256
        "123e4567-e89b-12d3-a456-426614174000",
        "https://user@example.com/path",
        "postgres://db.internal/app",
        "s3://bucket/deployspec/iris/model.tar.gz",
        "SomeVeryLongCamelCaseIdentifierName",
        "application/json",
        "4096",
        "Basic configuration",
        "Basic",
        "bearer of the request",
        "AccountName=acct;EndpointSuffix=core.windows.net",
        "signature=unused",
    ],
)
def test_ordinary_values_are_not_secret(value: str) -> None:
    assert not looks_secret(value)


def test_preview_is_short_fast_and_never_a_token() -> None:
    started = time.perf_counter()
    shown = preview("A" * 300_000)
    assert len(shown) <= 60 and shown.startswith("'AAA")
    assert time.perf_counter() - started < 0.5
    assert "sk-live" not in preview("sk-live-0123456789abcdefghijkl")
    assert len(preview(list(range(100_000)))) <= 60


def test_json_field_errors_never_show_the_secret() -> None:
    assert json_field('{"password": "s3cr3t!", "port": 5432}', "password") == "s3cr3t!"
    assert json_field('{"port": 5432}', "port") == "5432"
    for text, field in (("s3cr3t!", "password"), ('{"user": "s3cr3t!"}', "password")):
        with pytest.raises(ValueError) as caught:
            json_field(text, field)
        assert "s3cr3t!" not in str(caught.value)


# --- plans: rendering and reasons --------------------------------------------------------------


ARCHIVE = "s3://bucket/deployspec/abc/model.tar.gz"


def make_desired(environment: dict[str, str], declared: tuple[str, ...] = ()) -> Desired:
    model = Model(
        name="iris-aaaaaaaaaa",
        image=IMAGE,
        model_data_url=ARCHIVE,
        environment=environment,
        execution_role_arn=ROLE,
        sensitive_environment=declared,
    )
    return Desired(
        spec_name="iris",
        region="us-east-1",
        account="123456789012",
        bucket="bucket",
        artifacts=(Artifact("abc", 10, "/tmp/abc.tar.gz", ARCHIVE),),
        models=(model,),
        config=EndpointConfig(
            name="iris-cccccccccc",
            variants=(Variant(model_name=model.name, serverless=ServerlessConfig(2048, 5)),),
        ),
        endpoint_name="iris",
        tags={**ownership_tags("iris")},
        spec_digest="d1",
        scalings=(),
        deployment=None,
        keep=2,
        timeout_seconds=1800,
    )


def changed_plan(old: dict[str, str], new: dict[str, str], declared: tuple[str, ...]) -> Plan:
    """A plan replacing the live model (environment `old`) by one with environment `new`."""
    wanted = make_desired(new, declared)
    live = replace(
        wanted.models[0], name="iris-0000000000", environment=old, sensitive_environment=()
    )
    actual = Actual(
        endpoint=Endpoint(name="iris", config_name="iris-bbbbbbbbbb", status="InService"),
        endpoint_tags=wanted.endpoint_tags,
        current_models=(live,),
        artifacts={ARCHIVE: "present"},
        owned=(),
    )
    return make_plan(wanted, actual)


def every_rendering(plan: Plan) -> str:
    return render_text(plan) + render_json(plan) + render_markdown(plan)


def test_values_recognised_by_key_or_shape_are_never_rendered() -> None:
    environment = {**LEAKED, "MODEL_NAME": "bert-base-uncased", "TOKEN_LIKE": "hf_" + "x1" * 20}
    plan = make_plan(make_desired(environment), Actual(artifacts={ARCHIVE: "present"}, owned=()))
    output = every_rendering(plan)
    for value in [*LEAKED.values(), environment["TOKEN_LIKE"]]:
        assert value not in output
        assert json.dumps(value)[1:-1] not in output
    assert "bert-base-uncased" in output  # ordinary values stay visible
    [row] = [line for line in render_text(plan).splitlines() if "HF_HUB_AUTH" in line]
    assert row.endswith(f"= {SENSITIVE}")
    # The plan itself keeps the real values: they are what apply sends.
    [model] = [c for c in plan.changes if c.kind is Kind.MODEL]
    assert model.after is not None and model.after["environment"] == environment


def test_declared_secrets_are_masked_even_in_a_plan_read_back() -> None:
    plan = make_plan(
        make_desired({"COLOR": "blue", "MODE": "fast"}, declared=("COLOR",)),
        Actual(artifacts={ARCHIVE: "present"}, owned=()),
    )
    again = Plan.from_json(json.loads(json.dumps(plan.to_json())))
    for rendered in (every_rendering(plan), every_rendering(again)):
        assert "blue" not in rendered and "fast" in rendered
    text = render_text(plan)
    assert "sensitive_environment" not in text  # how it is shown, not what it is
    document = plan_document(plan)
    [model] = [c for c in document["changes"] if c["kind"] == "model"]
    assert model["after"]["environment"] == {"COLOR": SENSITIVE, "MODE": "fast"}


def test_changed_secret_reasons_say_what_happened_never_the_values() -> None:
    old = {"API_TOKEN": "old-token-1", "COLOR": "blue", "GONE_TOKEN": "bye-bye-1", "LEVEL": "x1"}
    new = {"API_TOKEN": "new-token-2", "COLOR": "green", "NEW_TOKEN": "hello-3", "LEVEL": "x1"}
    plan = changed_plan(old, new, declared=("COLOR",))
    [model] = [c for c in plan.changes if c.kind is Kind.MODEL]
    assert model.reasons == (
        "environment.API_TOKEN: (sensitive) changed",
        "environment.COLOR: (sensitive) changed",
        "environment.GONE_TOKEN: (sensitive) removed",
        "environment.NEW_TOKEN: (sensitive) added",
    )
    output = every_rendering(plan)
    for value in ("old-token-1", "new-token-2", "blue", "green", "bye-bye-1", "hello-3"):
        assert value not in output
    assert "changed ((sensitive))" not in output


def test_a_key_secret_on_either_side_is_masked_on_both() -> None:
    # The live value is a token under an ordinary key; the spec now sets something else.
    plan = changed_plan({"UPSTREAM": "hf_" + "Ab1" * 12}, {"UPSTREAM": "plain"}, declared=())
    [model] = [c for c in plan.changes if c.kind is Kind.MODEL]
    assert model.reasons == ("environment.UPSTREAM: (sensitive) changed",)


def test_a_removed_environment_key_is_said_gone_without_its_old_value() -> None:
    # The live value may have been declared secret by the spec that no longer has the key.
    plan = changed_plan({"MODE": "fast", "OLD": "hunter2"}, {"MODE": "fast"}, declared=())
    [model] = [c for c in plan.changes if c.kind is Kind.MODEL]
    assert model.reasons == ("environment.OLD: removed",)
    assert "hunter2" not in every_rendering(plan)


def test_an_in_place_change_shows_a_changed_secret_as_changed() -> None:
    change = Change(
        Kind.MODEL,
        "m",
        Action.UPDATE,
        {"environment": {"API_TOKEN": "old-1", "MODE": "a"}},
        {"environment": {"API_TOKEN": "new-2", "MODE": "b"}},
    )
    plan = Plan("iris", "iris", "us-east-1", "123456789012", (change,), {})
    text = render_text(plan)
    assert "~ environment.API_TOKEN = (sensitive) changed" in text
    # The live value it replaces is withheld, secret-looking or not (see the test below).
    assert '~ environment.MODE      = (sensitive) -> "b"' in text
    assert "old-1" not in every_rendering(plan) and "new-2" not in every_rendering(plan)
    before, after = mask_pair(change.before, change.after)
    assert before["environment"]["API_TOKEN"] == after["environment"]["API_TOKEN"] == SENSITIVE
    assert (before["environment"]["MODE"], after["environment"]["MODE"]) == (SENSITIVE, "b")


def test_a_key_taken_out_of_secret_env_never_shows_its_live_value() -> None:
    # Issue 9 review: `secret_env: [MY_CFG]` dropped while the value changes. AWS keeps no
    # record of which keys were declared, so a live value the plan replaces is never shown;
    # the spec's new value is (it is not secret by any rule the spec now states).
    plan = changed_plan(
        {"MY_CFG": "PW10mycfg", "LEVEL": "info", "SAME": "kept-1"},
        {"MY_CFG": "PW10changed", "LEVEL": "debug", "SAME": "kept-1"},
        declared=(),
    )
    [model] = [c for c in plan.changes if c.kind is Kind.MODEL]
    assert model.reasons == (
        "environment.LEVEL: changed to debug",
        "environment.MY_CFG: changed to PW10changed",
    )
    output = every_rendering(plan)
    assert "PW10mycfg" not in output and "info" not in output
    assert "PW10changed" in output and "kept-1" in output
    # The same change shown as a before/after pair (JSON, an in-place diff).
    before, after = mask_pair(
        {"environment": {"MY_CFG": "PW10mycfg", "SAME": "kept-1", "GONE": "bye-bye"}},
        {"environment": {"MY_CFG": "PW10changed", "SAME": "kept-1"}},
    )
    assert before == {"environment": {"MY_CFG": SENSITIVE, "SAME": "kept-1", "GONE": SENSITIVE}}
    assert after == {"environment": {"MY_CFG": "PW10changed", "SAME": "kept-1"}}


# --- the spec: secret_env, references, and errors that show no secret ------------------------

ENV_SPEC = VALID_SKLEARN.replace(
    "  entry_point: inference.py\n",
    "  entry_point: inference.py\n  image: " + IMAGE + "\n  env:\n{env}",
)


def spec_with_env(env: str) -> str:
    return ENV_SPEC.replace("{env}", env)


def errors_of(path: Path, **kwargs: object) -> list[str]:
    with pytest.raises(SpecError) as caught:
        load_spec(path, **kwargs)  # type: ignore[arg-type]
    return [d.format() for d in caught.value.diagnostics]


def test_secret_env_marks_keys_and_names_only_keys_of_env(
    write_spec: WriteSpec, tmp_path: Path
) -> None:
    text = spec_with_env("    COLOR: blue\n    MODE: fast\n  secret_env: [COLOR]\n")
    loaded = load_spec(write_spec(text))
    desired = build_desired(loaded, region="us-east-1", role=ROLE, artifact_cache=tmp_path)
    assert desired.models[0].sensitive_environment == ("COLOR",)
    assert desired.models[0].environment["COLOR"] == "blue"

    path = write_spec(text.replace("[COLOR]", "[COLOR, COLOUR]"))
    [error] = errors_of(path)
    assert f"{path}:12:23: model.secret_env[1]: 'COLOUR' is not a key of model.env" in error
    assert "did you mean 'COLOR'?" in error


def test_references_load_and_their_values_name_the_model(
    write_spec: WriteSpec, tmp_path: Path
) -> None:
    env = (
        "    MODE: fast\n"
        "    API_TOKEN: {ssm: /prod/api-token}\n"
        "    DB_PASSWORD: {secretsmanager: prod/db, json_key: password}\n"
    )
    loaded = load_spec(write_spec(spec_with_env(env)))
    assert set(loaded.spec.models["model"].references()) == {"API_TOKEN", "DB_PASSWORD"}

    def model(token: str) -> Model:
        values = {"API_TOKEN": token, "DB_PASSWORD": "pw-1"}
        return build_desired(
            loaded, region="us-east-1", role=ROLE, artifact_cache=tmp_path, resolved_env=values
        ).models[0]

    first, second = model("token-one"), model("token-two")
    assert first.environment["API_TOKEN"] == "token-one"
    assert first.name != second.name  # a changed secret is a new model
    assert "token" not in first.name.removeprefix("iris-")
    assert first.sensitive_environment == ("API_TOKEN", "DB_PASSWORD")
    with pytest.raises(DeployspecError, match=r"model\.env\.API_TOKEN, model\.env\.DB_PASSWORD"):
        build_desired(loaded, region="us-east-1", role=ROLE, artifact_cache=tmp_path)
    # Without AWS (serve), an unresolved reference is left out rather than sent as a mapping.
    assert "API_TOKEN" not in container_environment(loaded, "us-east-1")


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        ("{ssm: /a, secretsmanager: b}", "API_TOKEN.secretsmanager: unknown key 'secretsmanag"),
        ("{json_key: password}", "required key 'secretsmanager' is missing under model.env"),
        ("{vault: x}", "unknown key 'vault'; allowed here: secretsmanager, json_key"),
        ("{ssm: 'not a name!'}", "model.env.API_TOKEN.ssm: a text of 11 characters does not"),
        ("[a, b]", "model.env.API_TOKEN: Input should be a valid string; got a list"),
    ],
)
def test_bad_references_are_located_without_pydantic_union_noise(
    write_spec: WriteSpec, value: str, needle: str
) -> None:
    errors = errors_of(write_spec(spec_with_env(f"    API_TOKEN: {value}\n")))
    assert any(needle in e for e in errors), errors
    assert not any(".text" in e or ".ssm.ssm" in e or "SsmRef" in e for e in errors), errors


def test_environment_values_are_never_echoed_in_errors(write_spec: WriteSpec) -> None:
    secret = "sk-live-" + "0123456789abcdef" * 80
    [error] = errors_of(write_spec(spec_with_env(f"    API_KEY: {secret}\n")))
    assert "model.env.API_KEY: String should have at most 1024 characters" in error
    assert f"got a text of {len(secret)} characters" in error
    assert "sk-live" not in error
    # A mapping where the environment belongs is described, not printed.
    errors = errors_of(write_spec(ENV_SPEC.replace("  env:\n{env}", "  env: API_KEY=hunter2\n")))
    assert errors and not any("hunter2" in e for e in errors)


def test_a_secret_variable_in_the_wrong_field_is_not_echoed(write_spec: WriteSpec) -> None:
    path = write_spec(
        VALID_SKLEARN.replace("name: iris", 'name: "{{ api_token }}"').replace(
            '"1.2-1"', '"{{ db_password }}"'
        )
    )
    errors = errors_of(
        path, cli_vars={"api_token": "hunter2_hunter2", "db_password": "pass-word-1"}
    )
    assert len(errors) == 2
    assert not any("hunter2" in e or "pass-word-1" in e for e in errors), errors
    # A value shaped like a credential is hidden whatever the variable is called.
    errors = errors_of(path, cli_vars={"api_token": "x", "db_password": "sk-" + "a" * 30})
    assert not any("sk-aaa" in e for e in errors), errors


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ('"1.2-1"', "{big}"),
        ("  entry_point: inference.py\n", "  entry_point: inference.py\n  py_version: {big}\n"),
        (
            "serverless:\n  memory_mb: 2048\n  max_concurrency: 5\n",
            "realtime:\n  instance_type: {big}\n",
        ),
        ("serverless:", "deployment:\n  strategy: {big}\nserverless:"),
        ("serverless:", "deployment:\n  timeout: {big}\nserverless:"),
        ("serverless:", "tags:\n  team: !!foo{big} x\nserverless:"),
        ("name: iris", "name: iris\nkeep: {big}"),
    ],
)
def test_huge_values_are_cut_short_in_errors(write_spec: WriteSpec, old: str, new: str) -> None:
    big = "A" * 300_000
    errors = errors_of(write_spec(VALID_SKLEARN.replace(old, new.replace("{big}", big))))
    assert errors
    assert all(len(e) < 1200 for e in errors), [len(e) for e in errors]


def test_a_wrong_var_file_is_not_printed(write_spec: WriteSpec, tmp_path: Path) -> None:
    passwd = tmp_path / "passwd"
    passwd.write_text("".join(f"user{i}:x:{i}:{i}::/home/user{i}:/bin/sh\n" for i in range(50)))
    dotenv = tmp_path / ".env"
    dotenv.write_text("DB_PASSWORD=hunter2\n")
    spec = write_spec(VALID_SKLEARN)
    for var_file in (passwd, dotenv):
        [error] = errors_of(spec, var_files=[var_file])
        assert "got a single value (" in error and "not shown" in error
        assert "user1:x" not in error and "hunter2" not in error


@pytest.mark.parametrize(
    ("item", "shown", "hidden"),
    [
        ("stage", "'stage' is not NAME=VALUE", None),
        ("sk-live-0123456789abcdefghij", "expected NAME=VALUE", "sk-live"),
        ("hunter2 with spaces", "expected NAME=VALUE", "hunter2"),
        ("bad key=hunter2", "'bad key' is not a variable name", "hunter2"),
    ],
)
def test_var_assignment_errors_never_show_values(item: str, shown: str, hidden: str | None) -> None:
    with pytest.raises(SpecError) as caught:
        parse_var_assignments([item])
    text = caught.value.format()
    assert shown in text
    assert hidden is None or hidden not in text


# --- reading references from AWS (moto) -------------------------------------------------------


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Gateway]:
    for key in list(os.environ):
        if key.startswith("AWS_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    with mock_aws():
        yield Gateway(boto3.Session(region_name="us-east-1"))


def test_gateway_reads_secrets_and_parameters(aws: Gateway) -> None:
    secrets = boto3.client("secretsmanager", region_name="us-east-1")
    arn = secrets.create_secret(Name="prod/api", SecretString="tok-123456")["ARN"]
    ssm = boto3.client("ssm", region_name="us-east-1")
    ssm.put_parameter(Name="/prod/db", Value="pw-654321", Type="SecureString")
    param_arn = ssm.get_parameter(Name="/prod/db")["Parameter"]["ARN"]

    assert aws.get_secret_value("prod/api") == aws.get_secret_value(arn) == "tok-123456"
    assert aws.get_parameter("/prod/db") == aws.get_parameter(param_arn) == "pw-654321"
    assert {(c.service, c.operation, c.mutating) for c in aws.calls} == {
        ("secretsmanager", "GetSecretValue", False),
        ("ssm", "GetParameter", False),
    }

    with pytest.raises(AwsError) as missing:
        aws.get_secret_value("prod/nope")
    assert "no secret 'prod/nope'" in str(missing.value) and missing.value.hint
    with pytest.raises(AwsError) as missing:
        aws.get_parameter("/prod/nope")
    assert "no parameter '/prod/nope'" in str(missing.value)

    secrets.create_secret(Name="prod/blob", SecretBinary=b"\x00\x01")
    with pytest.raises(AwsError, match="binary"):
        aws.get_secret_value("prod/blob")


def test_a_secret_is_read_in_the_region_its_arn_names(aws: Gateway) -> None:
    west = boto3.client("secretsmanager", region_name="us-west-2")
    arn = west.create_secret(Name="prod/api", SecretString="from-the-west")["ARN"]
    assert aws.region == "us-east-1"
    assert aws.get_secret_value(arn) == "from-the-west"
    with pytest.raises(AwsError):
        aws.get_secret_value("prod/api")  # a bare name is looked up in the gateway's region


def test_resolve_references_end_to_end_against_moto(
    aws: Gateway, write_spec: WriteSpec, tmp_path: Path
) -> None:
    secrets = boto3.client("secretsmanager", region_name="us-east-1")
    secrets.create_secret(Name="prod/db", SecretString=json.dumps({"password": "pw-1", "port": 1}))
    ssm = boto3.client("ssm", region_name="us-east-1")
    ssm.put_parameter(Name="/prod/token", Value="tok-1", Type="SecureString")
    env = (
        "    API_TOKEN: {ssm: /prod/token}\n"
        "    DB_PASSWORD: {secretsmanager: prod/db, json_key: password}\n"
        "    DB_PORT: {secretsmanager: prod/db, json_key: port}\n"
    )
    loaded = load_spec(write_spec(spec_with_env(env)))
    values = resolve_references(aws, loaded)
    assert values == {"API_TOKEN": "tok-1", "DB_PASSWORD": "pw-1", "DB_PORT": "1"}

    desired = build_desired(
        loaded, region="us-east-1", role=ROLE, artifact_cache=tmp_path, resolved_env=values
    )
    present = {a.s3_uri: "present" for a in desired.artifacts}
    plan = make_plan(desired, Actual(artifacts=present, owned=()))
    assert "tok-1" not in every_rendering(plan) and "pw-1" not in every_rendering(plan)
    before = desired.models[0].name

    ssm.put_parameter(Name="/prod/token", Value="tok-2", Type="SecureString", Overwrite=True)
    rotated = build_desired(
        loaded,
        region="us-east-1",
        role=ROLE,
        artifact_cache=tmp_path,
        resolved_env=resolve_references(aws, loaded),
    )
    assert rotated.models[0].environment["API_TOKEN"] == "tok-2"
    assert rotated.models[0].name != before

    secrets.put_secret_value(SecretId="prod/db", SecretString="not json: pw-1")
    with pytest.raises(DeployspecError) as caught:
        resolve_references(aws, loaded)
    assert "model.env.DB_PASSWORD" in str(caught.value) and "not a JSON object" in str(caught.value)
    assert "pw-1" not in caught.value.format()

    ssm.put_parameter(Name="/prod/token", Value="x" * 2000, Type="SecureString", Overwrite=True)
    secrets.put_secret_value(SecretId="prod/db", SecretString=json.dumps({"password": "p"}))
    with pytest.raises(DeployspecError, match="API_TOKEN: the value of parameter"):
        resolve_references(aws, loaded)


VARIANT_REFERENCES = f"""\
name: ab
role: {ROLE}
variants:
  - name: current
    weight: 90
    model:
      framework: sklearn
      version: "1.2-1"
      artifacts: ./model
      entry_point: inference.py
      image: {IMAGE}
      env:
        API_TOKEN: {{ssm: /prod/token-a}}
    realtime: {{instance_type: ml.m5.large}}
  - name: challenger
    weight: 10
    model:
      framework: sklearn
      version: "1.2-1"
      artifacts: ./model
      entry_point: inference.py
      image: {IMAGE}
      env:
        API_TOKEN: {{ssm: /prod/token-b}}
    realtime: {{instance_type: ml.m5.large}}
"""


def test_each_variants_references_are_read_for_its_own_model(
    aws: Gateway, write_spec: WriteSpec, tmp_path: Path
) -> None:
    """Two variants' models may name the same env key with different references: each value
    goes to its own model, named by where the reference is (desired.reference_key)."""
    ssm = boto3.client("ssm", region_name="us-east-1")
    ssm.put_parameter(Name="/prod/token-a", Value="tok-a", Type="SecureString")
    ssm.put_parameter(Name="/prod/token-b", Value="tok-b", Type="SecureString")
    loaded = load_spec(write_spec(VARIANT_REFERENCES))

    values = resolve_references(aws, loaded)

    assert values == {
        "variants[0].model.env.API_TOKEN": "tok-a",
        "variants[1].model.env.API_TOKEN": "tok-b",
    }
    desired = build_desired(
        loaded, region="us-east-1", role=ROLE, artifact_cache=tmp_path, resolved_env=values
    )
    current, challenger = desired.models
    assert current.environment["API_TOKEN"] == "tok-a"
    assert challenger.environment["API_TOKEN"] == "tok-b"
    assert current.sensitive_environment == challenger.sensitive_environment == ("API_TOKEN",)
    present = {a.s3_uri: "present" for a in desired.artifacts}
    plan = make_plan(desired, Actual(artifacts=present, owned=()))
    assert "tok-a" not in every_rendering(plan) and "tok-b" not in every_rendering(plan)

    ssm.delete_parameter(Name="/prod/token-b")
    with pytest.raises(DeployspecError) as caught:
        resolve_references(aws, loaded)
    assert "variants[1].model.env.API_TOKEN" in str(caught.value)
