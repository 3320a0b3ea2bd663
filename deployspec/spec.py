"""deployment.yaml: the pydantic model and its loader.

Contract: `load_spec(path, cli_vars, var_files)` reads one spec file, renders its Jinja2
templates, parses the YAML safely, validates it against `Spec` and the SageMaker limits that
neither botocore nor moto enforce, checks framework versions against the SageMaker SDK's image
tables (and that they have the image for the instance type: catalog.image_problem), local
paths against the disk and the project root (they may not lead outside it unless the operator
allows a folder: DEPLOYSPEC_ALLOWED_ROOTS, --allow-path; an artifacts folder must hold files)
and the inference script against what its container needs (entrypoint.py), and returns a
`LoadedSpec`. It is the gate: what plan, apply or the container would refuse, it refuses first.
A value given (--var, a var file) for a variable the spec does not declare is an error. Every
problem found is reported at once as a `SpecError` whose diagnostics carry `file:line:col`, the
field path, what was given, what is allowed and, where one helps, a hint. It makes no AWS calls
and does not import boto3 or the SageMaker SDK.

An endpoint is given as one variant (`model:` with `serverless:` or `realtime:`) or as
`variants:` (1-10 production variants, each with its capacity and its own model or the shared
top-level one), either with an optional `shadow:`. `Spec.endpoint_variants` is both forms as
one list (`EndpointVariant`), `Spec.models` every model block served, by the key
`LoadedSpec.paths_of` takes. Every check of a model block runs for each one at its own path
(`variants[1].model.artifacts`), with the instance type of each variant serving it; the
rules AWS sets on combining variants, shadows, serverless, async and rolling updates are
refused where the offending key stands.

An endpoint of inference components (`components:`, instead of `model:` and `variants:`) is
one variant, AllTraffic, naming no model, on `realtime:`'s instances, whose count SageMaker may
manage (`realtime.managed_scaling`, down to zero); each component serves its own model block
(`components[<i>].model`, in `Spec.models` and checked as every model block is, on the
endpoint's instance type) with its compute, copies, copy autoscaling and rolling update, or
is an adapter on another component (`base:`, its `artifacts:` resolved by
`LoadedSpec.adapter_path`). `Spec.component_models` maps each component's name to it and its
model key.

A model block names one archive (`artifacts:`) or, with `mode: multi-model`, many
(`models:`, name -> local folder or file), resolved as artifacts are and returned by
`LoadedSpec.archives_of`; a multi-model endpoint is real-time on CPU instances (GPUs only
through an image of one's own), one production variant, no shadow, no async, served by a
container that supports it. A real-time variant scales on invocations per instance, or, under
`async:`, on its backlog per instance, down to zero; a serverless one scales its provisioned
concurrency.
"""

from __future__ import annotations

import difflib
import errno
import os
import re
import stat
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Strict,
    Tag,
    ValidationError,
    WithJsonSchema,
    field_validator,
)
from pydantic_core import PydanticCustomError

from . import catalog
from .entrypoint import check_script
from .errors import Diagnostic, SpecError
from .limits import MAX_DEPLOY_TIMEOUT, MIN_DEPLOY_TIMEOUT
from .secrets import (
    MIN_REDACTED,
    is_secret,
    looks_secret,
    preview,
    redact,
    secret_values,
)
from .templating import file_defaults, referenced_names, render, source_lines
from .yamlsource import Document, Marks, Path_, format_path, parse_yaml

MAX_SPEC_BYTES = 1024 * 1024

NAME_PATTERN = r"^[a-zA-Z0-9](-*[a-zA-Z0-9])*$"
# SageMaker's VariantName (botocore's shape), anchored.
VARIANT_NAME_PATTERN = r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$"
# The one production variant of a spec without `variants:`.
DEFAULT_VARIANT_NAME = "AllTraffic"
# ProductionVariants: 1-10 (botocore's CreateEndpointConfig shape).
MAX_VARIANTS = 10
ROLE_PATTERN = r"^arn:aws[a-z\-]*:iam::\d{12}:role/[A-Za-z0-9_+=,.@/-]+$"
REGION_PATTERN = r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}$"
BUCKET_PATTERN = r"^[a-z0-9][a-z0-9.-]+[a-z0-9]$"
S3_URI_PATTERN = r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?$"
IMAGE_PATTERN = (
    r"^[A-Za-z0-9_.-]+(:[0-9]+)?(/[A-Za-z0-9_.-]+)+(:[A-Za-z0-9_.-]+|@sha256:[0-9a-f]+)?$"
)
ENV_KEY_PATTERN = r"^[a-zA-Z_][a-zA-Z0-9_]*$"
TAG_PATTERN = r"^[\w\s.:/=+\-@]*$"
DURATION_PATTERN = r"^\s*(\d+\s*h)?\s*(\d+\s*m)?\s*(\d+\s*s)?\s*$"
# The one script name the TensorFlow Serving container loads (from code/ in model.tar.gz).
TENSORFLOW_ENTRY_POINT = "inference.py"
# Tag keys deployspec writes itself to record ownership.
RESERVED_TAG_PREFIX = "deployspec:"
# SageMaker allows 50 tags per resource; deployspec's ownership tags take some of them.
MAX_USER_TAGS = 45


class Framework(StrEnum):
    TENSORFLOW = "tensorflow"
    PYTORCH = "pytorch"
    SKLEARN = "sklearn"
    XGBOOST = "xgboost"
    HUGGINGFACE = "huggingface"
    # Large-model containers, each its own table in the SDK: Text Generation Inference, vLLM,
    # SGLang, Text Embeddings Inference and DJL's Large Model Inference.
    HUGGINGFACE_LLM = "huggingface-llm"
    HUGGINGFACE_VLLM = "huggingface-vllm"
    HUGGINGFACE_SGLANG = "huggingface-sglang"
    HUGGINGFACE_TEI = "huggingface-tei"
    DJL_LMI = "djl-lmi"
    CUSTOM = "custom"


# The containers that serve a model folder (Hub id or weights) with no inference script; their
# weights are deployed uncompressed unless the spec says otherwise.
LLM_FRAMEWORKS = frozenset(
    {
        Framework.HUGGINGFACE_LLM,
        Framework.HUGGINGFACE_VLLM,
        Framework.HUGGINGFACE_SGLANG,
        Framework.HUGGINGFACE_TEI,
        Framework.DJL_LMI,
    }
)


# The frameworks whose containers serve multi-model endpoints: AWS's list of containers that
# support them on CPU instances (sandbox/multi_model.py refuses the others as AWS does), and
# an image of the user's own, whose label AWS checks and deployspec cannot.
MULTI_MODEL_FRAMEWORKS = frozenset(
    {
        Framework.SKLEARN,
        Framework.XGBOOST,
        Framework.PYTORCH,
        Framework.TENSORFLOW,
        Framework.CUSTOM,
    }
)
SINGLE_MODEL = "single-model"
MULTI_MODEL = "multi-model"
# A multi-model archive's name becomes a part of its S3 key and the TargetModel that invokes
# it: letters, digits, dots, underscores and hyphens, at most 63.
MODEL_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$"
# deployspec's bound, not SageMaker's: each archive is packaged and compared on every plan.
MAX_MULTI_MODELS = 1000


class Strategy(StrEnum):
    ALL_AT_ONCE = "all_at_once"
    CANARY = "canary"
    LINEAR = "linear"
    ROLLING = "rolling"


def parse_duration(value: object) -> object:
    """'30m', '1h30m', '45s' or a number of seconds -> seconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 30s, 5m or 1h, got a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        match = re.fullmatch(DURATION_PATTERN, value)
        if match and value.strip():
            counts = [re.sub(r"\D", "", g) if g else "0" for g in match.groups()]
            if any(len(count) > _MAX_DURATION_DIGITS for count in counts):
                raise ValueError(f"{preview(value)} is longer than any duration takes")
            hours, minutes, seconds = (int(count) for count in counts)
            return hours * 3600 + minutes * 60 + seconds
        # Decimal seconds only: `010` is no duration (YAML 1.1 would read octal 8).
        if re.fullmatch(rf"\s*(0|[1-9]\d{{0,{_MAX_DURATION_DIGITS - 1}}})\s*", value):
            return int(value)
    raise ValueError(f"expected a duration such as 30s, 5m or 1h, got {preview(value)}")


_MAX_DURATION_DIGITS = 9


Duration = Annotated[
    int,
    BeforeValidator(parse_duration),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": DURATION_PATTERN},
                {"type": "integer", "minimum": 0},
            ],
            "description": "A duration: 30s, 5m, 1h30m, or a number of seconds.",
        }
    ),
]


# Numbers and booleans are taken only as YAML typed them. Pydantic's lax mode would read
# `true` as 1, "5" as 5 and 5.0 as 5, and so the text yamlsource leaves YAML 1.1's octal,
# hexadecimal, base-60 and yes/no forms as (`010`, `on`) would quietly become numbers again.
Integer = Annotated[int, Strict()]
Number = Annotated[float, Strict()]  # an integer is a number too
Boolean = Annotated[bool, Strict()]


def _integer_only(value: object) -> object:
    """For Literal fields of integers, which pydantic cannot make strict: refuse what is not
    an int before the choices are compared (2048.0 == 2048, True == 1)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise PydanticCustomError("int_type", "Input should be a valid integer")
    return value


# Models use `default=[]` / `default={}` rather than default_factory: pydantic copies such
# defaults per instance, and a builtin factory would make it parse `list`'s signature when the
# module loads, a measurable part of `validate`'s start-up.
class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Vpc(_Strict):
    """Subnets and security groups for the model's containers."""

    subnets: list[Annotated[str, Field(pattern=r"^[-0-9a-zA-Z]{1,32}$")]] = Field(
        min_length=1, max_length=16, description="Subnet IDs (1-16).", examples=[["subnet-0a1b"]]
    )
    security_groups: list[Annotated[str, Field(pattern=r"^[-0-9a-zA-Z]{1,32}$")]] = Field(
        min_length=1, max_length=5, description="Security group IDs (1-5).", examples=[["sg-0a1b"]]
    )


SECRETSMANAGER_PATTERN = (
    r"^(arn:aws[a-z\-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:)?[A-Za-z0-9/_+=.@!-]{1,512}$"
)
SSM_PATTERN = (
    r"^(arn:aws[a-z\-]*:ssm:[a-z0-9-]+:\d{12}:parameter/|/?)[A-Za-z0-9_./-]{1,2048}"
    r"(:[A-Za-z0-9_.-]{1,100})?$"
)


class SecretsManagerRef(_Strict):
    """An environment value read from AWS Secrets Manager when deployspec plans."""

    secretsmanager: str = Field(
        max_length=2048,
        pattern=SECRETSMANAGER_PATTERN,
        description="Secret ARN or name; its current version is read (GetSecretValue) in the "
        "region its ARN names, else the deployment's region.",
        examples=["arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/api-token-AbCdEf"],
    )
    json_key: str | None = Field(
        default=None,
        min_length=1,
        max_length=256,
        description="For a secret holding a JSON object: the field whose value to use.",
        examples=["password"],
    )


class SsmRef(_Strict):
    """An environment value read from an SSM Parameter Store parameter when deployspec plans."""

    ssm: str = Field(
        max_length=2048,
        pattern=SSM_PATTERN,
        description="Parameter name or ARN (optionally name:version or name:label); "
        "SecureString parameters are decrypted (GetParameter WithDecryption).",
        examples=["/prod/api-token"],
    )


SecretRef = SecretsManagerRef | SsmRef
# The environment key a hub.token is resolved under and set as (beside HF_TOKEN).
HUB_TOKEN_REFERENCE = "HUGGING_FACE_HUB_TOKEN"


def _env_value_kind(value: object) -> str:
    if isinstance(value, SsmRef) or (isinstance(value, dict) and "ssm" in value):
        return "ssm"
    if isinstance(value, SecretsManagerRef | dict):
        return "secretsmanager"
    return "text"


# Tagged so that errors name one form, not every member of the union (pydantic reports a
# failed plain union once per member); the tag is removed from error paths (_env_location).
EnvValue = Annotated[
    Annotated[Annotated[str, Field(max_length=1024)], Tag("text")]
    | Annotated[SecretsManagerRef, Tag("secretsmanager")]
    | Annotated[SsmRef, Tag("ssm")],
    Discriminator(_env_value_kind),
]
_ENV_FORMS: dict[str, type[BaseModel] | None] = {
    "text": None,
    "secretsmanager": SecretsManagerRef,
    "ssm": SsmRef,
}


def _local_archive(value: str) -> str:
    if "://" in value:
        raise ValueError(
            f"{preview(value)}: the archives of models: are local folders or files, each "
            "packaged by deployspec as its own model.tar.gz; a URI cannot be listed here"
        )
    return value


MultiModelName = Annotated[str, Field(pattern=MODEL_NAME_PATTERN)]
MultiModelPath = Annotated[
    str, Field(min_length=1, max_length=1024), AfterValidator(_local_archive)
]


class HubSpec(_Strict):
    """A model on the Hugging Face Hub, downloaded by the container: no artifact to upload."""

    id: str = Field(
        min_length=1,
        max_length=200,
        description="The Hub model id (HF_MODEL_ID), e.g. HuggingFaceTB/SmolLM2-135M-Instruct.",
        examples=["HuggingFaceTB/SmolLM2-135M-Instruct"],
    )
    revision: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="A branch, tag or commit of the model (HF_MODEL_REVISION); a commit pins it.",
        examples=["main"],
    )
    token_env: str | None = Field(
        default=None,
        pattern=ENV_KEY_PATTERN,
        description="For a gated model: the environment variable holding the Hub token, read "
        "when deployspec plans and applies; never written in the spec, never printed.",
        examples=["HF_TOKEN"],
    )
    token: SecretsManagerRef | None = Field(
        default=None,
        description="For a gated model: the Hub token in AWS Secrets Manager, instead of "
        "token_env.",
    )


class LlmSpec(_Strict):
    """Settings of a large-model container, set in its environment as that container names them."""

    max_input_tokens: Integer | None = Field(
        default=None, ge=1, description="Longest prompt, in tokens.", examples=[4096]
    )
    max_total_tokens: Integer | None = Field(
        default=None,
        ge=1,
        description="Longest prompt plus generated tokens.",
        examples=[8192],
    )
    quantize: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        pattern=r"^[a-z0-9][a-z0-9_-]*$",
        description="Quantisation the container applies, e.g. awq, gptq, fp8 (TGI's values "
        "are checked; vLLM, SGLang and LMI take their own).",
    )
    num_gpus: Integer | None = Field(
        default=None,
        ge=1,
        description="Tensor-parallel degree: GPUs the model is split over. Defaults to the "
        "instance type's GPU count.",
    )
    max_batch_tokens: Integer | None = Field(
        default=None,
        ge=1,
        description="huggingface-tei only: the tokens one batch may hold (MAX_BATCH_TOKENS).",
        examples=[16384],
    )


# Where a single-model block's model comes from: exactly one of these.
MODEL_SOURCES = ("artifacts", "hub", "package")

# model.package: a Model Registry version's ARN, deployed as it is, or a model package group
# (its name or ARN), whose latest Approved version is resolved when planning. A package ARN
# without a version (an unversioned package) names one package too. Names as botocore's
# EntityName; the ARNs as DescribeModelPackage and DescribeModelPackageGroup give them.
_PACKAGE_NAME = r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}"
_PACKAGE_ARN_HEAD = r"arn:aws[a-z\-]*:sagemaker:(?P<region>[a-z0-9\-]+):\d{12}"
PACKAGE_VERSION_ARN = rf"{_PACKAGE_ARN_HEAD}:model-package/{_PACKAGE_NAME}(/\d{{1,9}})?"
PACKAGE_GROUP_ARN = rf"{_PACKAGE_ARN_HEAD}:model-package-group/{_PACKAGE_NAME}"


def package_group(value: str) -> str | None:
    """The model package group a model.package names (its name or ARN, as given), or None
    when it names one version."""
    return None if re.fullmatch(PACKAGE_VERSION_ARN, value) else value


def package_region(value: str) -> str | None:
    """The region a model.package ARN names (None for a group's name)."""
    found = re.fullmatch(PACKAGE_VERSION_ARN, value) or re.fullmatch(PACKAGE_GROUP_ARN, value)
    return found.group("region") if found else None


class ModelSpec(_Strict):
    """What to serve: the framework container, the artifacts and the inference code."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        str_strip_whitespace=True,
        json_schema_extra={
            # A single-model block has exactly one model source (artifacts:, hub: or
            # package:), a multi-model one lists its archives in models: and has none of them
            # (load_spec says which is missing, located).
            "if": {"properties": {"mode": {"const": MULTI_MODEL}}, "required": ["mode"]},
            "then": {
                "required": ["models"],
                "not": {"anyOf": [{"required": [key]} for key in MODEL_SOURCES]},
            },
            "else": {
                "oneOf": [{"required": [key]} for key in MODEL_SOURCES],
                "not": {"required": ["models"]},
            },
        },
    )

    framework: Framework = Field(
        description="Framework container to serve with; `custom` needs `image`.",
        examples=["tensorflow"],
    )
    version: str | None = Field(
        default=None,
        min_length=1,
        max_length=32,
        description="Framework version, checked against the SageMaker SDK's image tables "
        '(for huggingface: the transformers version). Quote it: "2.10", not 2.10.',
        examples=["2.3.0"],
    )
    py_version: str | None = Field(
        default=None,
        pattern=r"^py\d{1,3}$",
        description="Python version tag of the image, e.g. py310. Defaults to the newest "
        "the image table lists for the version.",
        examples=["py310"],
    )
    base_framework_version: str | None = Field(
        default=None,
        pattern=r"^(pytorch|tensorflow)\d+(\.\d+)*$",
        description="huggingface only: the base framework of the image, e.g. pytorch2.6.0 "
        "(or the SDK's short form, pytorch2.6). Defaults to the version's only one.",
    )
    image: str | None = Field(
        default=None,
        max_length=255,
        pattern=IMAGE_PATTERN,
        description="Container image URI. Required for `custom`; overrides the SDK's table "
        "otherwise.",
        examples=["123456789012.dkr.ecr.us-east-1.amazonaws.com/my-server:1.0"],
    )
    # Optional for pydantic so that load_spec can tell "missing" from "not with mode:
    # multi-model" (_archive_rules); every single-model block needs it.
    artifacts: str | None = Field(
        default=None,
        min_length=1,
        max_length=1024,
        description="Model artifacts: a local folder or file (relative to this spec), or "
        "s3://bucket/key/model.tar.gz used as it is. Required, except with mode: "
        "multi-model (which lists its archives in models:).",
        examples=["./model", "s3://my-bucket/models/model.tar.gz"],
    )
    compression: Literal["gzip", "none"] | None = Field(
        default=None,
        description="How local artifacts are uploaded: gzip (one model.tar.gz) or none (the "
        "folder's files under a content-addressed S3 prefix, only changed files uploaded). "
        "Defaults to none for LLM containers, gzip otherwise. An s3:// URI ending in / is an "
        "uncompressed prefix.",
        examples=["none"],
    )
    hub: HubSpec | None = Field(
        default=None,
        description="Serve a Hugging Face Hub model, downloaded by the container (no artifacts).",
    )
    package: str | None = Field(
        default=None,
        min_length=1,
        max_length=2048,
        description="A SageMaker Model Registry version (its ARN), or a model package group "
        "(name or ARN) whose latest Approved version is deployed, resolved at plan time. The "
        "image and the model data come from the package.",
        examples=["arn:aws:sagemaker:us-east-1:123456789012:model-package/churn/3"],
    )
    llm: LlmSpec | None = Field(
        default=None,
        description="Settings of an LLM container (huggingface-llm, -vllm, -sglang, -tei, "
        "djl-lmi), set in its environment.",
    )
    mode: Literal["single-model", "multi-model"] = Field(
        default="single-model",
        description="multi-model: one container serves every archive of models:, each "
        "loaded on its first invocation (invoke --target-model NAME). Real-time, CPU "
        "instances, one variant; sklearn, xgboost, pytorch, tensorflow or custom.",
        examples=["multi-model"],
    )
    models: dict[MultiModelName, MultiModelPath] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_MULTI_MODELS,
        description="With mode: multi-model, the archives served (1-1000): a name (letters, "
        "digits, dots, underscores and hyphens, at most 63; the TargetModel that invokes it) "
        "to a local folder or file relative to this spec, each packaged as its own "
        "model.tar.gz with the shared entry_point and source_dir in its code/. Adding or "
        "changing one uploads it and needs no endpoint update.",
        examples=[{"iris-a": "./models/a", "iris-b": "./models/b"}],
        # patternProperties (pydantic's form for the names) leaves other names allowed.
        json_schema_extra={"propertyNames": {"pattern": MODEL_NAME_PATTERN}},
    )
    entry_point: str | None = Field(
        default=None,
        min_length=1,
        max_length=256,
        description="Inference script (model_fn/input_fn/predict_fn/output_fn), relative to "
        "source_dir when given, else to this spec. Required for sklearn; for tensorflow it "
        "must be named inference.py, the only script TensorFlow Serving runs.",
        examples=["inference.py"],
    )
    source_dir: str | None = Field(
        default=None,
        min_length=1,
        max_length=1024,
        description="Folder shipped as code/ beside the entry point (modules, requirements.txt).",
        examples=["./code"],
    )
    env: dict[Annotated[str, Field(pattern=ENV_KEY_PATTERN)], EnvValue] = Field(
        default={},
        max_length=100,
        description="Environment of the container. A value is text, or a reference read when "
        "deployspec plans, so the secret need not be in the spec: {secretsmanager: ARN or "
        "name, json_key: field} or {ssm: parameter name or ARN}. Never printed: referenced "
        "values, keys listed in secret_env, keys that look secret (KEY, SECRET, TOKEN, "
        "PASSWORD, AUTH, CREDS, SAS, DATABASE_URL, CONNECTION_STRING, WEBHOOK, ...) and "
        "values shaped like credentials (user:password@ in a URL, hf_, sk-, AKIA, ghp_, JWTs, "
        "long random strings).",
        examples=[
            {
                "LOG_LEVEL": "info",
                "API_TOKEN": {"ssm": "/prod/api-token"},
                "DB_PASSWORD": {"secretsmanager": "prod/db", "json_key": "password"},
            }
        ],
    )
    secret_env: list[Annotated[str, Field(pattern=ENV_KEY_PATTERN)]] = Field(
        default=[],
        max_length=100,
        description="Keys of env whose values are secret though neither their name nor their "
        "value says so: shown as (sensitive) in every plan and never echoed in errors.",
        examples=[["MY_SERVICE_DSN"]],
    )
    network_isolation: Boolean = Field(
        default=False, description="Run the container with no network access."
    )
    vpc: Vpc | None = Field(default=None, description="Run the container inside a VPC.")

    def is_s3(self) -> bool:
        return self.artifacts is not None and self.artifacts.startswith("s3://")

    def is_s3_prefix(self) -> bool:
        """artifacts: an s3:// URI ending in "/": an uncompressed prefix, served as it is."""
        return self.is_s3() and str(self.artifacts).endswith("/")

    def uncompressed(self) -> bool:
        """Whether the model data is an uncompressed S3 prefix (ModelDataSource S3Prefix,
        CompressionType None) rather than a model.tar.gz: compression: none, an s3:// prefix,
        or by default for the large-model containers (LLM_FRAMEWORKS) with local artifacts."""
        if self.is_s3_prefix():
            return True
        if self.compression is not None:
            return self.compression == "none"
        # An s3:// object is used as it is: an archive named by its URI stays one.
        return self.framework in LLM_FRAMEWORKS and not self.is_s3()

    def is_multi_model(self) -> bool:
        return self.mode == MULTI_MODEL

    def references(self) -> dict[str, SecretRef]:
        """The env entries read from Secrets Manager or SSM when deployspec plans, and a gated
        Hub model's hub.token, read as the env reference HUB_TOKEN_REFERENCE would be."""
        found: dict[str, SecretRef] = {k: v for k, v in self.env.items() if not isinstance(v, str)}
        if self.hub is not None and self.hub.token is not None:
            found[HUB_TOKEN_REFERENCE] = self.hub.token
        return found

    @field_validator("package")
    @classmethod
    def _check_package(cls, value: str | None) -> str | None:
        if value is None or any(
            re.fullmatch(pattern, value)
            for pattern in (PACKAGE_VERSION_ARN, PACKAGE_GROUP_ARN, _PACKAGE_NAME)
        ):
            return value
        raise ValueError(
            f"{preview(value)} names no model package: expected a version's ARN "
            "(arn:aws:sagemaker:<region>:<account>:model-package/<group>/<version>), a model "
            "package group's ARN (...:model-package-group/<group>) or a group's name (1-63 "
            "letters, digits and hyphens)"
        )

    @field_validator("artifacts")
    @classmethod
    def _check_artifacts(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if value.startswith("s3://") and not re.fullmatch(S3_URI_PATTERN, value):
            raise ValueError(
                f"{preview(value)} is not a valid S3 URI: expected s3://<bucket>/<key> with a "
                "bucket name of 3-63 lowercase letters, digits, dots and hyphens"
            )
        if "://" in value and not value.startswith("s3://"):
            raise ValueError(f"{preview(value)}: artifacts are a local path or an s3:// URI")
        return value


class ServerlessAutoscaling(_Strict):
    """Target tracking of a serverless variant's provisioned concurrency."""

    min: Integer = Field(
        ge=1, le=200, description="Minimum provisioned concurrency (1-200).", examples=[1]
    )
    max: Integer = Field(
        ge=1,
        le=200,
        description="Maximum provisioned concurrency (1-200, at most max_concurrency).",
        examples=[10],
    )
    # SageMakerVariantProvisionedConcurrencyUtilization is the provisioned concurrency in use
    # over the provisioned concurrency: a ratio of 0 to 1 (AWS's examples target 0.5; CDK's
    # 0.9). botocore's TargetValue is an unbounded double and AWS documents no other bounds:
    # a target outside (0, 1] could never be reached.
    target_utilization: Number = Field(
        gt=0,
        le=1,
        description="SageMakerVariantProvisionedConcurrencyUtilization target: the share of "
        "the provisioned concurrency in use (above 0, at most 1).",
        examples=[0.7],
    )
    scale_in_cooldown: Duration = Field(default=300, ge=0, le=86400)
    scale_out_cooldown: Duration = Field(default=60, ge=0, le=86400)


class Serverless(_Strict):
    """Serverless inference: pay per request, scale to zero. The default."""

    memory_mb: Annotated[
        Literal[1024, 2048, 3072, 4096, 5120, 6144], BeforeValidator(_integer_only)
    ] = Field(
        default=2048,
        description="Memory in MB: 1024 to 6144 in steps of 1024.",
        examples=[2048],
    )
    max_concurrency: Integer = Field(
        default=5, ge=1, le=200, description="Concurrent invocations (1-200).", examples=[5]
    )
    provisioned_concurrency: Integer | None = Field(
        default=None,
        ge=1,
        le=200,
        description="Pre-warmed concurrency (1-200, at most max_concurrency).",
        examples=[1],
    )
    autoscaling: ServerlessAutoscaling | None = Field(
        default=None,
        description="Scale the provisioned concurrency on its utilization "
        "(sagemaker:variant:DesiredProvisionedConcurrency); needs provisioned_concurrency, "
        "within min-max.",
    )


class Autoscaling(_Strict):
    """Target tracking of the instance count: on invocations per instance (synchronous
    endpoints) or on the queue per instance (asynchronous ones, which may scale to zero)."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        str_strip_whitespace=True,
        json_schema_extra={
            "oneOf": [
                {"required": ["target_invocations_per_instance"]},
                {"required": ["target_backlog_per_instance"]},
            ]
        },
    )

    min: Integer = Field(
        ge=0,
        le=1000,
        description="Minimum instance count; 0 (scale to zero) only for an asynchronous "
        "endpoint scaling on target_backlog_per_instance.",
        examples=[1],
    )
    max: Integer = Field(ge=1, le=1000, description="Maximum instance count.", examples=[4])
    target_invocations_per_instance: Number | None = Field(
        default=None,
        gt=0,
        le=1_000_000,
        description="SageMakerVariantInvocationsPerInstance target (per minute), for "
        "synchronous endpoints. Exactly one of this and target_backlog_per_instance.",
        examples=[100],
    )
    target_backlog_per_instance: Number | None = Field(
        default=None,
        gt=0,
        le=1000,
        description="ApproximateBacklogSizePerInstance target (queued requests per "
        "instance), for asynchronous endpoints (async:), which publish no invocations per "
        "instance.",
        examples=[5],
    )
    scale_in_cooldown: Duration = Field(default=300, ge=0, le=86400)
    scale_out_cooldown: Duration = Field(default=60, ge=0, le=86400)


class ManagedScaling(_Strict):
    """SageMaker's managed instance scaling of an endpoint with inference components: it adds
    instances when the components' copies need room and removes idle ones."""

    min: Integer = Field(
        ge=0,
        le=1000,
        description="Fewest instances SageMaker keeps (MinInstanceCount); 0 lets the endpoint "
        "scale to zero instances once every component's copies have scaled to zero (a "
        "component's autoscaling min: 0).",
        examples=[0],
    )
    max: Integer = Field(
        ge=1,
        le=1000,
        description="Most instances SageMaker starts (MaxInstanceCount): the components' copies "
        "never take more than these instances hold.",
        examples=[2],
    )


class Realtime(_Strict):
    """Real-time inference on dedicated instances."""

    instance_type: str = Field(
        description="Instance type, checked against botocore's SageMaker service model.",
        examples=["ml.m5.xlarge"],
    )
    instance_count: Integer = Field(
        default=1,
        ge=1,
        le=1000,
        description="Initial instance count; with managed_scaling, within its range.",
        examples=[1],
    )
    volume_size_gb: Integer | None = Field(
        default=None, ge=1, le=512, description="ML storage volume (1-512 GB)."
    )
    autoscaling: Autoscaling | None = Field(default=None, description="Scale on load.")
    managed_scaling: ManagedScaling | None = Field(
        default=None,
        description="With components: only: SageMaker scales the instances between min and "
        "max as the components' copies need them (ManagedInstanceScaling); min 0 lets the "
        "endpoint go to zero instances. instance_count is the starting count, within the "
        "range (at least 1).",
        examples=[{"min": 0, "max": 2}],
    )
    # GPU readiness (ContainerStartupHealthCheckTimeoutInSeconds and the rest): large models
    # take minutes to download and load, past SageMaker's default health check.
    startup_health_check_timeout: Duration | None = Field(
        default=None,
        ge=60,
        le=3600,
        description="How long the container may take to pass its first health check (60s-1h). "
        "LLM containers default to 10m. With components:, set on each component instead.",
        examples=["10m"],
    )
    model_data_download_timeout: Duration | None = Field(
        default=None,
        ge=60,
        le=3600,
        description="How long downloading the model data may take (60s-1h). LLM containers "
        "default to 10m. With components:, set on each component instead.",
        examples=["10m"],
    )
    inference_ami_version: str | None = Field(
        default=None,
        description="The instances' AMI (InferenceAmiVersion), one of botocore's enum, e.g. "
        "al2-ami-sagemaker-inference-gpu-3-1 for newer NVIDIA drivers.",
    )
    routing_strategy: str | None = Field(
        default=None,
        description="How requests are spread over instances (RoutingConfig): "
        "least_outstanding_requests or random (and what botocore's enum adds).",
        examples=["least_outstanding_requests"],
    )

    @field_validator("inference_ami_version")
    @classmethod
    def _known_ami(cls, value: str | None) -> str | None:
        known = catalog.inference_ami_versions()
        if value is None or value in known:
            return value
        near = _near(value, known)
        extra = f"; did you mean {', '.join(near)}?" if near else ""
        raise ValueError(
            f"{preview(value)} is not a SageMaker inference AMI version{extra} (known: "
            f"{', '.join(sorted(known))}, from botocore's SageMaker model)"
        )

    @field_validator("routing_strategy")
    @classmethod
    def _known_routing(cls, value: str | None) -> str | None:
        known = sorted(v.lower() for v in catalog.routing_strategies())
        if value is None or value in known:
            return value
        raise ValueError(
            f"{preview(value)} is not a routing strategy: use one of {', '.join(known)}"
        )

    @field_validator("instance_type")
    @classmethod
    def _known_instance_type(cls, value: str) -> str:
        known = catalog.instance_types()
        if value not in known:
            near = _near(value, known)
            extra = f"; did you mean {', '.join(near)}?" if near else ""
            raise ValueError(
                f"{preview(value)} is not a SageMaker real-time instance type{extra} "
                "(the list comes from botocore's SageMaker model)"
            )
        return value


class Step(_Strict):
    """One traffic shift step."""

    percent: Integer = Field(ge=1, le=99, description="Share of capacity per step (1-99 %).")
    wait: Duration = Field(default=300, ge=0, le=3600, description="Wait between steps (0s-1h).")


class Deployment(_Strict):
    """How an update reaches a real-time endpoint."""

    strategy: Strategy = Field(
        default=Strategy.ALL_AT_ONCE,
        description="all_at_once (blue/green), canary, linear (traffic shifting) or rolling.",
    )
    canary: Step | None = Field(default=None, description="Canary size and bake time.")
    linear: Step | None = Field(default=None, description="Linear step size and wait.")
    rolling: Step | None = Field(default=None, description="Rolling batch size and wait.")
    rollback_alarms: list[Annotated[str, Field(min_length=1, max_length=255)]] = Field(
        default=[],
        max_length=10,
        description="CloudWatch alarms that roll an update back (at most 10).",
    )
    timeout: Duration = Field(
        default=1800,
        ge=MIN_DEPLOY_TIMEOUT,
        le=MAX_DEPLOY_TIMEOUT,
        description="How long an update may take (10m-8h).",
        examples=["30m"],
    )


class DataCapture(_Strict):
    """Capture requests and responses to S3 (real-time endpoints only)."""

    destination: str = Field(pattern=S3_URI_PATTERN, description="s3:// URI for captured data.")
    sampling_percent: Integer = Field(default=100, ge=0, le=100, description="0-100.")


SNS_TOPIC_PATTERN = r"^arn:aws[a-z\-]*:sns:[a-z0-9\-]*:[0-9]{12}:[a-zA-Z0-9_.-]{1,256}$"


class Async(_Strict):
    """Asynchronous inference: requests are queued, answers written to S3 (real-time only)."""

    output: str = Field(
        pattern=S3_URI_PATTERN,
        max_length=512,
        description="s3:// URI under which each answer is written (<output>/<id>.out).",
        examples=["s3://my-bucket/async/out/"],
    )
    failure: str | None = Field(
        default=None,
        pattern=S3_URI_PATTERN,
        max_length=512,
        description="s3:// URI under which each failure is written (<failure>/<id>-error.out).",
        examples=["s3://my-bucket/async/failed/"],
    )
    success_topic: str | None = Field(
        default=None,
        pattern=SNS_TOPIC_PATTERN,
        description="SNS topic ARN told of each answer.",
        examples=["arn:aws:sns:us-east-1:123456789012:done"],
    )
    error_topic: str | None = Field(
        default=None,
        pattern=SNS_TOPIC_PATTERN,
        description="SNS topic ARN told of each failure.",
        examples=["arn:aws:sns:us-east-1:123456789012:failed"],
    )
    max_concurrent_invocations_per_instance: Integer | None = Field(
        default=None,
        ge=1,
        le=1000,
        description="Requests each instance works on at once (1-1000; SageMaker chooses when "
        "unset).",
        examples=[4],
    )


VariantName = Annotated[
    str,
    Field(
        max_length=63,
        pattern=VARIANT_NAME_PATTERN,
        description="SageMaker variant name: letters, digits and hyphens, at most 63; "
        "invocations may pin it (invoke --variant).",
        examples=["current"],
    ),
]


class VariantSpec(_Strict):
    """One production variant: a share of the traffic, served by its model on its capacity."""

    name: VariantName
    weight: Number = Field(
        default=1.0,
        ge=0,
        description="Share of the traffic: this weight over the sum of all variants' weights "
        "(>= 0, not all 0).",
        examples=[90],
    )
    model: ModelSpec | None = Field(
        default=None,
        description="This variant's model; when left out, the top-level model: (shared by "
        "every variant without one of its own).",
    )
    serverless: Serverless | None = Field(
        default=None,
        description="Serverless capacity; only for an endpoint of this one variant.",
    )
    realtime: Realtime | None = Field(
        default=None,
        description="Real-time capacity (instances, autoscaling); exclusive with serverless.",
    )


class ShadowSpec(_Strict):
    """A shadow variant: receives a copy of every request the production variant gets; its
    answers are logged, never returned. Promote it by moving its model into the production
    variant."""

    name: VariantName
    model: ModelSpec | None = Field(
        default=None, description="The shadow's model; when left out, the top-level model:."
    )
    realtime: Realtime = Field(
        description="The shadow's instances (shadows are real-time only); autoscaling allowed."
    )


# An inference component's name in the spec: SageMaker's InferenceComponentName pattern; the
# component is named <spec name>-<name>, which must stay within 63 (_component_rules).
COMPONENT_NAME_PATTERN = VARIANT_NAME_PATTERN
# InferenceComponentRollingUpdatePolicy.MaximumBatchSize as a share of the copy count.
MIN_BATCH_PERCENT, MAX_BATCH_PERCENT = 5, 50
COPY_COUNT, CAPACITY_PERCENT = "COPY_COUNT", "CAPACITY_PERCENT"
_PERCENT = re.compile(r"\s*(\d{1,3})\s*%\s*")


def _batch_size(value: object) -> object:
    """A rolling update's batch: a number of copies (1 or more) or a share of the copy count,
    "N%" (5-50 %, SageMaker's bounds); the share is kept as "N%"."""
    if isinstance(value, bool):
        raise ValueError(
            "expected a number of copies such as 1 or a share such as 25%, got a boolean"
        )
    if isinstance(value, int):
        if value < 1:
            raise ValueError(f"a batch of {value} copies moves nothing: it is at least 1")
        return value
    if isinstance(value, str):
        found = _PERCENT.fullmatch(value)
        if found:
            percent = int(found.group(1))
            if MIN_BATCH_PERCENT <= percent <= MAX_BATCH_PERCENT:
                return f"{percent}%"
            raise ValueError(
                f"{preview(value)} is outside {MIN_BATCH_PERCENT}%-{MAX_BATCH_PERCENT}%: "
                "SageMaker takes a batch of 5 to 50 percent of the copy count (or give a "
                "number of copies, such as 1)"
            )
    raise ValueError(
        "expected a number of copies such as 1, or a share of the copy count such as 25%, "
        f"got {preview(value)}"
    )


def _batch_type_value(batch: int | str) -> tuple[str, int]:
    if isinstance(batch, int):
        return COPY_COUNT, batch
    return CAPACITY_PERCENT, int(batch.rstrip("%"))


BatchSize = Annotated[
    int | str,
    BeforeValidator(_batch_size),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 1},
                {"type": "string", "pattern": r"^\s*([5-9]|[1-4][0-9]|50)\s*%\s*$"},
            ],
            "description": "A number of copies (1 or more), or a share of the copy count: "
            '"5%" to "50%".',
        }
    ),
]


class ComponentCompute(_Strict):
    """What one copy of a component reserves on an instance
    (ComputeResourceRequirements): SageMaker places copies where these fit."""

    accelerators: Integer | None = Field(
        default=None,
        ge=1,
        description="GPUs (or Inferentia/Trainium devices) per copy "
        "(NumberOfAcceleratorDevicesRequired). Required on an accelerated instance type, at "
        "most the type's count; refused on a CPU type. An LLM container's tensor-parallel "
        "degree (llm.num_gpus) is at most this.",
        examples=[1],
    )
    cpu_cores: Number | None = Field(
        default=None,
        ge=0.25,
        description="CPU cores per copy (NumberOfCpuCoresRequired), at least 0.25.",
        examples=[1],
    )
    memory_mb: Integer = Field(
        ge=128,
        description="Memory reserved per copy, in MB (MinMemoryRequiredInMb), at least 128.",
        examples=[1024],
    )
    max_memory_mb: Integer | None = Field(
        default=None,
        ge=128,
        description="Most memory a copy may use, in MB (MaxMemoryRequiredInMb); at least "
        "memory_mb.",
        examples=[2048],
    )


class ComponentAutoscaling(_Strict):
    """Target tracking of a component's copy count on its concurrent requests per copy."""

    min: Integer = Field(
        ge=0,
        le=1000,
        description="Fewest copies; 0 (scale to zero) needs realtime.managed_scaling min 0. "
        "A request to a component at zero copies fails while the first copy is brought back "
        "(deployspec registers the alarm and step policy that do that).",
        examples=[1],
    )
    max: Integer = Field(ge=1, le=1000, description="Most copies.", examples=[4])
    target_concurrent_requests_per_copy: Number = Field(
        gt=0,
        le=1_000_000,
        description="The concurrent requests per copy the copy count is kept at "
        "(SageMakerInferenceComponentConcurrentRequestsPerCopyHighResolution).",
        examples=[4],
    )
    scale_in_cooldown: Duration = Field(
        default=300,
        ge=0,
        le=86400,
        description="Wait after removing copies before removing more (default 5m).",
    )
    scale_out_cooldown: Duration = Field(
        default=60,
        ge=0,
        le=86400,
        description="Wait after adding copies before adding more (default 1m).",
    )


class RollingUpdateSpec(_Strict):
    """How an update of a component's specification (its model, compute, startup) replaces
    its copies: batch by batch, rolled back by SageMaker when it fails."""

    batch: BatchSize = Field(
        default=1,
        description="Copies replaced per step (MaximumBatchSize): a number of copies, or a "
        "share of the copy count from 5% to 50%. Default 1.",
        examples=[1, "25%"],
    )
    wait: Duration = Field(
        default=0,
        ge=0,
        le=3600,
        description="Bake time after each batch (WaitIntervalInSeconds, 0s-1h). Default 0s.",
        examples=["0s"],
    )
    timeout: Duration | None = Field(
        default=None,
        ge=600,
        le=28800,
        description="Longest the whole update may take (MaximumExecutionTimeoutInSeconds, "
        "10m-8h); SageMaker's default when left out.",
        examples=["20m"],
    )
    rollback_batch: BatchSize | None = Field(
        default=None,
        description="Copies restored per step on a rollback (RollbackMaximumBatchSize), as "
        "batch; left out, the whole old capacity at once (SageMaker's default).",
        examples=[1],
    )

    def batch_type_value(self) -> tuple[str, int]:
        """("COPY_COUNT", copies) or ("CAPACITY_PERCENT", percent)."""
        return _batch_type_value(self.batch)

    def rollback_batch_type_value(self) -> tuple[str, int] | None:
        """As batch_type_value, for rollback_batch; None when left out."""
        return None if self.rollback_batch is None else _batch_type_value(self.rollback_batch)


def _adapter_artifacts(value: str | None) -> str | None:
    if value is None or "://" not in value:
        return value
    if not value.startswith("s3://") or not re.fullmatch(S3_URI_PATTERN, value):
        raise ValueError(
            f"{preview(value)}: an adapter's artifacts are a local folder or file, or an "
            "s3://<bucket>/<key>.tar.gz URI"
        )
    if not value.endswith(".tar.gz"):
        raise ValueError(
            f"{preview(value)}: SageMaker loads an adapter from one gzipped tar archive "
            "(Container.ArtifactUrl must end in .tar.gz)"
        )
    return value


class ComponentSpec(_Strict):
    """One inference component: a model with its compute and copies on the endpoint's shared
    instances, or (base:) an adapter loaded by another component's copies."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        str_strip_whitespace=True,
        json_schema_extra={
            # A component serves a model (model: with compute:) or is an adapter (base: with
            # artifacts:, nothing of its own to run); load_spec says which key is wrong, located.
            "oneOf": [{"required": ["model"]}, {"required": ["base"]}],
            "if": {"required": ["base"]},
            "then": {
                "required": ["artifacts"],
                "not": {
                    "anyOf": [
                        {"required": [key]}
                        for key in (
                            "compute",
                            "copies",
                            "autoscaling",
                            "rolling_update",
                            "startup_health_check_timeout",
                            "model_data_download_timeout",
                        )
                    ]
                },
            },
            "else": {"required": ["compute"], "not": {"required": ["artifacts"]}},
        },
    )

    name: str = Field(
        max_length=63,
        pattern=COMPONENT_NAME_PATTERN,
        description="The component's name: letters, digits and hyphens. Its inference "
        "component is named <spec name>-<name> (at most 63 characters); invoke --component "
        "NAME calls it.",
        examples=["chat"],
    )
    model: ModelSpec | None = Field(
        default=None,
        description="What this component serves: any model block (artifacts, uncompressed "
        "weights, a Hub id, a registry package), on the endpoint's realtime.instance_type. "
        "Exactly one of model and base.",
    )
    base: str | None = Field(
        default=None,
        max_length=63,
        pattern=COMPONENT_NAME_PATTERN,
        description="Makes this component an adapter (e.g. LoRA) loaded by the copies of the "
        "named component, which has a model: no model, compute, copies or autoscaling of its "
        "own. Exactly one of model and base.",
        examples=["chat"],
    )
    artifacts: Annotated[str, AfterValidator(_adapter_artifacts)] | None = Field(
        default=None,
        min_length=1,
        max_length=1024,
        description="An adapter's files: a local folder or file (relative to this spec), "
        "uploaded as one model.tar.gz, or an s3://.../*.tar.gz used as it is. Adapters only: "
        "a model's files go in model.artifacts.",
        examples=["./adapters/support"],
    )
    compute: ComponentCompute | None = Field(
        default=None,
        description="What each copy reserves on an instance; required for a component with a "
        "model.",
    )
    copies: Integer = Field(
        default=1,
        ge=1,
        le=1000,
        description="Copies of the model to run (CopyCount), at least 1; the starting count "
        "under autoscaling, within its range.",
        examples=[1],
    )
    autoscaling: ComponentAutoscaling | None = Field(
        default=None,
        description="Scale the copy count on concurrent requests per copy; min 0 scales the "
        "component to zero (with realtime.managed_scaling min 0).",
    )
    rolling_update: RollingUpdateSpec | None = Field(
        default=None,
        description="Replace the copies batch by batch when the component's specification "
        "changes; left out, SageMaker's default update.",
    )
    startup_health_check_timeout: Duration | None = Field(
        default=None,
        ge=60,
        le=3600,
        description="How long a copy's container may take to pass its first health check "
        "(StartupParameters, 60s-1h). LLM containers default to 10m.",
        examples=["10m"],
    )
    model_data_download_timeout: Duration | None = Field(
        default=None,
        ge=60,
        le=3600,
        description="How long downloading a copy's model data may take (StartupParameters, "
        "60s-1h). LLM containers default to 10m.",
        examples=["10m"],
    )

    def is_adapter(self) -> bool:
        return self.base is not None

    def is_s3(self) -> bool:
        """An adapter whose artifacts are an s3:// archive, used as it is."""
        return self.artifacts is not None and self.artifacts.startswith("s3://")


@dataclass(frozen=True)
class EndpointVariant:
    """One variant of the endpoint, whichever form the spec used: what one ProductionVariant
    (or ShadowProductionVariant) is built from."""

    name: str
    weight: float
    # Where its model block is, as format_path gives it: "model" (the top-level one, possibly
    # shared), "variants[1].model", "shadow.model"; "" for the variant of an endpoint with
    # components:, which names no model (its components do: Spec.component_models).
    model_key: str
    model: ModelSpec | None
    realtime: Realtime | None
    serverless: Serverless | None
    shadow: bool = False


TagValue = Annotated[str, Field(max_length=256, pattern=TAG_PATTERN)]
TagKey = Annotated[str, Field(min_length=1, max_length=128, pattern=TAG_PATTERN)]
VarValue = str | int | float | bool


class Spec(_Strict):
    """One SageMaker endpoint and everything it needs."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        title="deployspec deployment",
        json_schema_extra={
            "$id": "urn:deployspec:schema:deployment:v1",
            # model: is required unless variants: (whose entries may each carry one) or
            # components: (each with its own) is given.
            "anyOf": [
                {"required": ["model"]},
                {"required": ["variants"]},
                {"required": ["components"]},
            ],
            # An endpoint of inference components runs on instances whose count SageMaker
            # manages; its models are the components'.
            "if": {"required": ["components"]},
            "then": {
                "required": ["realtime"],
                "not": {
                    "anyOf": [
                        {"required": [key]}
                        for key in ("model", "variants", "shadow", "serverless", "async")
                    ]
                },
                "properties": {"realtime": {"not": {"required": ["autoscaling"]}}},
            },
        },
    )

    name: str = Field(
        max_length=63,
        pattern=NAME_PATTERN,
        description="Endpoint name, stable across updates: letters, digits and hyphens, "
        "at most 63.",
        examples=["resnet50"],
    )
    region: str | None = Field(
        default=None,
        pattern=REGION_PATTERN,
        description="AWS region; else --region or the AWS config chain.",
        examples=["us-east-1"],
    )
    role: str | None = Field(
        default=None,
        max_length=2048,
        pattern=ROLE_PATTERN,
        description="Execution role ARN; else --role or DEPLOYSPEC_ROLE.",
        examples=["arn:aws:iam::123456789012:role/SageMakerExecution"],
    )
    bucket: str | None = Field(
        default=None,
        min_length=3,
        max_length=63,
        pattern=BUCKET_PATTERN,
        description="Artifact bucket; default sagemaker-<region>-<account>.",
        examples=["my-model-artifacts"],
    )
    prefix: str | None = Field(
        default=None,
        max_length=512,
        pattern=r"^[^/\s][^\s]*$",
        description="S3 key prefix for uploaded artifacts (<prefix>/<sha256>/model.tar.gz); "
        "default deployspec/<name>, so specs never share, and destroy --purge-artifacts never "
        "removes another spec's archive.",
        examples=["deployspec/resnet50"],
    )
    tags: dict[TagKey, TagValue] = Field(
        default={},
        max_length=MAX_USER_TAGS,
        description="Tags on every resource.",
        examples=[{"team": "vision"}],
    )
    keep: Integer = Field(
        default=2,
        ge=0,
        le=20,
        description="Previous endpoint configs and models kept for rollback.",
    )
    model: ModelSpec | None = Field(
        default=None,
        description="What to serve. Required, except with variants: whose entries (and "
        "shadow:) all have a model of their own; with variants:, the model of each variant "
        "that has none.",
    )
    serverless: Serverless | None = Field(
        default=None,
        description="Serverless endpoint (the default when neither serverless nor realtime "
        "is given). Not with variants: (give each variant its own).",
    )
    realtime: Realtime | None = Field(
        default=None,
        description="Real-time endpoint; exclusive with serverless. Not with variants: (give "
        "each variant its own).",
    )
    variants: list[VariantSpec] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_VARIANTS,
        description="Several production variants sharing the traffic by weight (1-10), "
        "instead of model: + serverless:/realtime: (which is one variant, AllTraffic). Each "
        "needs realtime: or serverless:; a serverless variant must be the only one.",
    )
    shadow: ShadowSpec | None = Field(
        default=None,
        description="A shadow variant beside the one production variant: it gets a copy of "
        "the live traffic and its answers are discarded. Real-time only; not with serverless "
        "or async.",
    )
    components: list[ComponentSpec] | None = Field(
        default=None,
        min_length=1,
        description="Inference components: several models sharing the endpoint's instances "
        "(realtime:, required), each with its compute, copies and copy autoscaling, and "
        "adapters on them (base:). Instead of model: and variants:; not with shadow:, "
        "serverless:, async: or realtime.autoscaling (SageMaker scales the instances: "
        "realtime.managed_scaling). Each is the inference component <name>-<component name>.",
    )
    deployment: Deployment = Field(
        default_factory=Deployment,
        description="How an update rolls out. With components:, how the endpoint's instances "
        "are updated (a change of realtime:); each component's own updates roll as its "
        "rolling_update says.",
    )
    data_capture: DataCapture | None = Field(
        default=None, description="Request/response capture (real-time only)."
    )
    async_: Async | None = Field(
        default=None,
        alias="async",
        description="Asynchronous inference (real-time only). Adding or removing it replaces "
        "the endpoint: SageMaker cannot update one to or from it.",
    )
    vars: dict[Annotated[str, Field(pattern=r"^[A-Za-z_]\w*$")], VarValue] = Field(
        default={},
        description="Jinja2 template variables with defaults; --var k=v overrides.",
        examples=[{"stage": "dev"}],
    )

    @field_validator("bucket")
    @classmethod
    def _bucket_rules(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if ".." in value or re.fullmatch(r"\d+\.\d+\.\d+\.\d+", value):
            raise ValueError(f"{value!r} is not a valid S3 bucket name")
        if value.startswith("xn--") or value.endswith("-s3alias"):
            raise ValueError(f"{value!r} uses a prefix or suffix S3 reserves")
        return value

    @field_validator("tags")
    @classmethod
    def _tag_rules(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if key.lower().startswith("aws:"):
                raise ValueError(f"tag key {key!r}: the aws: prefix is reserved by AWS")
            if key.startswith(RESERVED_TAG_PREFIX):
                raise ValueError(f"tag key {key!r}: the {RESERVED_TAG_PREFIX} prefix is ours")
        return value

    @property
    def artifact_prefix(self) -> str:
        return (self.prefix or f"deployspec/{self.name}").strip("/")

    @property
    def effective_serverless(self) -> Serverless | None:
        """The one-variant form's serverless capacity (Serverless() when neither serverless
        nor realtime is given); None with variants:, whose entries carry their own."""
        if self.realtime is not None or self.variants is not None or self.components is not None:
            return None
        return self.serverless or Serverless()

    @property
    def endpoint_variants(self) -> tuple[EndpointVariant, ...]:
        """The production variants in the order given (AllTraffic for the one-variant form),
        then the shadow. A shadow carries the production variant's weight: SageMaker copies
        shadow traffic in proportion to the weights, and deployspec copies all of it. With
        components:, the one variant (AllTraffic) names no model: its components do."""
        if self.components is not None:
            return (
                EndpointVariant(
                    name=DEFAULT_VARIANT_NAME,
                    weight=1.0,
                    model_key="",
                    model=None,
                    realtime=self.realtime,
                    serverless=None,
                ),
            )
        if self.variants is None:
            production = [
                EndpointVariant(
                    name=DEFAULT_VARIANT_NAME,
                    weight=1.0,
                    model_key="model",
                    model=self._shared_model("model"),
                    realtime=self.realtime,
                    serverless=self.effective_serverless,
                )
            ]
        else:
            production = []
            for index, variant in enumerate(self.variants):
                key, model = self._model_of(variant.model, f"variants[{index}]")
                production.append(
                    EndpointVariant(
                        name=variant.name,
                        weight=float(variant.weight),
                        model_key=key,
                        model=model,
                        realtime=variant.realtime,
                        serverless=variant.serverless,
                    )
                )
        if self.shadow is None:
            return tuple(production)
        key, model = self._model_of(self.shadow.model, "shadow")
        shadow = EndpointVariant(
            name=self.shadow.name,
            weight=production[0].weight,
            model_key=key,
            model=model,
            realtime=self.shadow.realtime,
            serverless=None,
            shadow=True,
        )
        return (*production, shadow)

    @property
    def models(self) -> dict[str, ModelSpec]:
        """Every model block served, by model_key, in the order of first use: the variants',
        then the components' (components[<i>].model)."""
        found = {v.model_key: v.model for v in self.endpoint_variants if v.model is not None}
        for index, component in enumerate(self.components or ()):
            if component.model is not None:
                found[f"components[{index}].model"] = component.model
        return found

    @property
    def component_models(self) -> dict[str, tuple[ComponentSpec, str]]:
        """Each component by name, with the model_key of its model ("" for an adapter)."""
        return {
            component.name: (
                component,
                f"components[{index}].model" if component.model is not None else "",
            )
            for index, component in enumerate(self.components or ())
        }

    @property
    def realtime_variants(self) -> bool:
        """Whether every variant runs on instances (none is serverless)."""
        return all(v.realtime is not None for v in self.endpoint_variants)

    def _model_of(self, own: ModelSpec | None, variant: str) -> tuple[str, ModelSpec]:
        if own is not None:
            return f"{variant}.model", own
        return "model", self._shared_model(variant)

    def _shared_model(self, variant: str) -> ModelSpec:
        if self.model is None:
            # load_spec refuses such a spec, located (_variant_rules); only a Spec built by
            # other means gets here.
            raise ValueError(f"{variant} has no model and the spec has no top-level model")
        return self.model


@dataclass(frozen=True)
class LocalPaths:
    """Local inputs of the artifact, resolved against the spec's folder."""

    artifacts: Path | None
    entry_point: Path | None
    source_dir: Path | None


_NO_PATHS = LocalPaths(None, None, None)


@dataclass(frozen=True)
class LoadedSpec:
    spec: Spec
    file: Path
    # The top-level model's local paths (all None without a top-level model).
    paths: LocalPaths
    variables: dict[str, object]
    text: str
    # Every model block's local paths by model_key (EndpointVariant.model_key): each key of
    # Spec.models. Empty for a LoadedSpec built by hand from one model: then {"model": paths}.
    model_paths: dict[str, LocalPaths] = field(default_factory=dict)
    # Every multi-model block's archives by model_key, then by name (the keys of its models:),
    # resolved as artifacts are; single-model blocks have no entry.
    model_archives: dict[str, dict[str, Path]] = field(default_factory=dict)
    # Every adapter component's artifacts by component name, resolved as artifacts are; None
    # for an s3:// archive (ComponentSpec.artifacts, used as it is).
    adapter_paths: dict[str, Path | None] = field(default_factory=dict)

    def paths_of(self, model_key: str) -> LocalPaths:
        """The resolved local paths of the model block at `model_key`."""
        known = self.model_paths or {"model": self.paths}
        found = known.get(model_key)
        if found is None:
            raise KeyError(f"no model block {model_key!r}; known: {', '.join(known)}")
        return found

    def archives_of(self, model_key: str) -> dict[str, Path]:
        """The resolved local path of each entry of the models: of the model block at
        `model_key`, in the order given; empty for a single-model block."""
        self.paths_of(model_key)  # the same KeyError for a block the spec does not have
        return dict(self.model_archives.get(model_key, {}))

    def adapter_path(self, name: str) -> Path | None:
        """The resolved local artifacts of the adapter component `name`; None when they are
        an s3:// archive (ComponentSpec.artifacts)."""
        if name not in self.adapter_paths:
            known = ", ".join(self.adapter_paths) or "none"
            raise KeyError(f"no adapter component {name!r}; adapters: {known}")
        return self.adapter_paths[name]


# Fields of a model block that are strings even when YAML reads a number (`version: 2.10`
# must stay "2.10"), and maps of strings.
_STRING_FIELDS: tuple[Path_, ...] = (("version",), ("py_version",))
_STRING_MAPS: tuple[Path_, ...] = (("env",),)


def _model_prefix(path: Path_) -> Path_ | None:
    """The model block `path` lies in: ("model",), ("variants", i, "model"), ("shadow",
    "model") or ("components", i, "model"); None outside every model block."""
    if path[:1] == ("model",):
        return path[:1]
    if path[:2] == ("shadow", "model"):
        return path[:2]
    if len(path) >= 3 and path[0] in ("variants", "components") and isinstance(path[1], int):
        return path[:3] if path[2] == "model" else None
    return None


def _restore_strings(doc: Document) -> None:
    for path, raw in doc.raw_scalars.items():
        container_path, key = path[:-1], path[-1]
        prefix = _model_prefix(path)
        inner = path[len(prefix) :] if prefix is not None else None
        in_model = inner is not None and (inner in _STRING_FIELDS or inner[:-1] in _STRING_MAPS)
        if in_model or container_path == ("tags",):
            container: Any = doc.data
            for part in container_path:
                container = container[part]
            container[key] = raw


def read_spec_text(path: Path) -> str:
    shown = str(path)

    def fail(message: str, hint: str | None = None) -> SpecError:
        return SpecError([Diagnostic(shown, None, None, "", message, hint)])

    try:
        if path.is_dir():
            raise fail(
                "is a directory, not a spec file", f"did you mean {path / 'deployment.yaml'}?"
            )
        # O_NONBLOCK: opening a FIFO would otherwise wait for a writer forever.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as handle:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                # A FIFO or a device would block or never end.
                raise fail("is not a regular file")
            data = handle.read(MAX_SPEC_BYTES + 1)
    except FileNotFoundError:
        raise fail("file not found") from None
    except OSError as exc:
        raise fail(f"cannot read: {exc.strerror or exc}") from None
    if len(data) > MAX_SPEC_BYTES:
        raise fail(
            f"file is too large ({info.st_size} bytes; a spec is at most {MAX_SPEC_BYTES})",
            "is this the right file? model artifacts belong under model.artifacts",
        )
    if b"\x00" in data:
        raise fail("not a text file (contains NUL bytes)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise SpecError(
            [
                Diagnostic(
                    shown,
                    line,
                    column,
                    "",
                    f"not valid UTF-8 text (byte 0x{data[exc.start]:02x})",
                    "save the file as UTF-8",
                )
            ]
        ) from None


def parse_var_assignments(items: Sequence[str]) -> dict[str, str]:
    """`--var k=v` values; a malformed one is a SpecError naming it."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z_]\w*", key.strip()):
            # A value is never shown: --var is how secrets reach a spec. A lone name (a value
            # forgotten) is worth showing; any other text without '=' may be a pasted value.
            if sep:
                message = (
                    f"{preview(key.strip())} is not a variable name (letters, digits and _, "
                    "not starting with a digit)"
                )
            elif re.fullmatch(r"[A-Za-z_]\w{0,63}", item) and not looks_secret(item):
                message = f"{item!r} is not NAME=VALUE"
            else:
                message = "expected NAME=VALUE, got text without '=' (not shown)"
            raise SpecError(
                [Diagnostic("--var", None, None, "", message, "for example --var stage=prod")]
            )
        out[key.strip()] = value
    return out


def load_var_file(path: Path) -> dict[str, object]:
    return _read_var_file(path)[0]


def _read_var_file(path: Path) -> tuple[dict[str, object], Document]:
    text = read_spec_text(path)
    doc = parse_yaml(text, str(path))
    bad = [
        _diag(
            str(path),
            doc.marks,
            (key,),
            f"a variable must be a string, number or boolean, got {type(value).__name__}",
        )
        for key, value in doc.data.items()
        if not isinstance(value, (str, int, float, bool))
    ]
    if bad:
        raise SpecError(bad)
    # As for the spec's own vars: `v: 2.10` stays "2.10".
    values = {
        k: doc.raw_scalars.get((k,), v) if isinstance(v, (int, float)) else v
        for k, v in doc.data.items()
    }
    return values, doc


def declared_variables(path: Path) -> frozenset[str] | None:
    """The variables a spec declares under vars: or its template reads; None when that cannot
    be told (the file unreadable, its vars: or template broken: loading it says why)."""
    try:
        text = read_spec_text(path)
        defaults = file_defaults(text, str(path))
    except SpecError:
        return None
    referenced = referenced_names(text)
    return None if referenced is None else frozenset({*defaults, *referenced})


def load_spec(
    path: Path,
    cli_vars: Mapping[str, str] | None = None,
    var_files: Sequence[Path] = (),
    *,
    only: Collection[str] | None = None,
) -> LoadedSpec:
    """`only` (many specs sharing --var and --var-file: `declared_variables`): the variables
    given outside it are left out instead of refused (multi.unknown_variables refuses those no
    spec takes)."""
    file = str(path)
    text = read_spec_text(path)
    defaults = file_defaults(text, file)
    variables: dict[str, object] = dict(defaults)
    files = [_read_var_file(var_file) for var_file in var_files]
    cli_vars = cli_vars or {}
    if only is not None:
        files = [({k: v for k, v in values.items() if k in only}, doc) for values, doc in files]
        cli_vars = {k: v for k, v in cli_vars.items() if k in only}
    for values, _ in files:
        variables.update(values)
    variables.update(cli_vars)
    if only is None:
        given = [(str(var_file), doc) for var_file, (_, doc) in zip(var_files, files, strict=True)]
        _check_declared(file, text, defaults, given, cli_vars)
    rendered = render(text, file, variables)
    try:
        return _validate(path, rendered, variables)
    except SpecError as exc:
        if rendered == text:
            raise
        raise SpecError(_in_source(exc.diagnostics, text, variables, rendered)) from None


def _check_declared(
    file: str,
    text: str,
    defaults: Mapping[str, object],
    var_files: Sequence[tuple[str, Document]],
    cli_vars: Mapping[str, str],
) -> None:
    """A value given for a variable the spec never declares is a mistake, as in Terraform:
    most likely a misspelt name, whose intended variable silently keeps its default.

    Declared are the spec's `vars:` and the names its template reads. Both --var and var
    files are refused (Terraform only warns for var files, which it may load implicitly and
    share between configurations: deployspec loads none it was not given). Nothing is said
    when the template does not parse: rendering reports that first."""
    referenced = referenced_names(text)
    if referenced is None:
        return
    declared = sorted({*defaults, *referenced})
    problems: list[Diagnostic] = []

    def hint(name: str, otherwise: str) -> str:
        near = _near(name, declared, n=1, cutoff=0.6)
        if not declared:
            known = "it declares no variables (none under vars:, none used in a template)"
        else:
            known = f"its variables (under vars: or used in its template): {', '.join(declared)}"
        return f"did you mean {near[0]!r}? {known}" if near else f"{known}; {otherwise}"

    for var_file, doc in var_files:
        for name in doc.data:
            if name not in declared:
                mark = doc.marks.key((name,))
                problems.append(
                    Diagnostic(
                        var_file,
                        mark.line if mark else None,
                        mark.column if mark else None,
                        "",
                        f"{preview(name)} is not a variable of {file}",
                        hint(name, "a file shared by specs needs it under vars: in each"),
                    )
                )
    for name in cli_vars:
        if name not in declared:
            problems.append(
                Diagnostic(
                    "--var",
                    None,
                    None,
                    "",
                    f"{preview(name)} is not a variable of {file}",
                    hint(name, "declare it under vars: for --var to set it"),
                )
            )
    if problems:
        raise SpecError(problems)


def _in_source(
    diagnostics: Sequence[Diagnostic], text: str, variables: dict[str, object], rendered: str
) -> list[Diagnostic]:
    """Diagnostics located in the rendered text, moved to the template lines they come from."""
    origin = source_lines(text, variables, rendered)
    if origin is None:
        if rendered.count("\n") == text.count("\n"):
            return list(diagnostics)
        note = "line numbers refer to the rendered template (its tags changed the line count)"
        return [replace(d, hint=f"{d.hint}; {note}" if d.hint else note) for d in diagnostics]
    return [
        replace(d, line=origin[min(d.line, len(origin)) - 1]) if d.line else d for d in diagnostics
    ]


def _validate(path: Path, rendered: str, variables: dict[str, object]) -> LoadedSpec:
    file = str(path)
    doc = parse_yaml(rendered, file)
    _restore_strings(doc)
    diagnostics: list[Diagnostic] = []
    spec: Spec | None = None
    try:
        spec = Spec.model_validate(doc.data)
    except ValidationError as exc:
        diagnostics.extend(_from_pydantic(exc, doc, file, _secret_values(doc.data, variables)))
    uses = _uses(doc.data)
    blocks = _model_blocks(doc.data, uses)
    adapters = _adapter_blocks(doc.data)
    roots: list[str] = []
    if adapters or any(isinstance(_get(doc.data, *block), dict) for block in blocks):
        roots, root_problems = allowed_roots(path.parent)
        diagnostics.extend(root_problems)
    model_paths: dict[str, LocalPaths] = {}
    model_archives: dict[str, dict[str, Path]] = {}
    for block in blocks:
        instance_types = [
            _instance_type(doc.data, u) for u in uses if u.model_at == block and u.known
        ]
        diagnostics.extend(_check_framework(doc, file, block, instance_types))
        paths, archives, path_problems = _check_paths(doc, file, path.parent, block, roots)
        model_paths[format_path(block)] = paths
        if archives:
            model_archives[format_path(block)] = archives
        diagnostics.extend(path_problems)
        diagnostics.extend(_check_entry_point(doc, file, paths.entry_point, block))
        diagnostics.extend(_check_secret_env(doc.data, doc.marks, file, block))
    adapter_paths: dict[str, Path | None] = {}
    for name, block in adapters.items():
        paths, _, path_problems = _check_paths(
            doc, file, path.parent, block, roots, artifacts_only=True
        )
        adapter_paths[name] = paths.artifacts
        diagnostics.extend(path_problems)
    for use in uses:
        diagnostics.extend(_check_instance_type(doc, file, use))
    diagnostics.extend(_cross_field(doc.data, doc.marks, file, uses, blocks))
    if diagnostics or spec is None:
        # The spec's own problems first, then those found in the inference script.
        diagnostics.sort(key=lambda d: (d.file != file, d.line or 0, d.column or 0))
        ordered = _causes_first(diagnostics)
        raise SpecError(_dedupe(_scrubbed(ordered, _secret_values(doc.data, variables))))
    top = model_paths.get("model", _NO_PATHS)
    # Only multi-model blocks have archives here: models: elsewhere is refused (_archive_rules).
    return LoadedSpec(
        spec, path, top, variables, rendered, model_paths, model_archives, adapter_paths
    )


# Marked Diagnostics, for ordering only (_causes_first turns them back into plain ones). Not
# dataclasses of their own: building one costs validate's start-up a millisecond.
class _Misspelt(Diagnostic):
    """An unknown key that looks like a misspelling of `meant` (a dotted field path)."""

    meant = ""


class _Missing(Diagnostic):
    """A key reported absent (`wanted`, a dotted field path): the consequence of a misspelt
    one, when there is one."""

    wanted = ""


def _marked(kind: type[_Misspelt | _Missing], d: Diagnostic, name: str, value: str) -> Diagnostic:
    marked = kind(d.file, d.line, d.column, d.path, d.message, d.hint)
    object.__setattr__(marked, name, value)  # the dataclass is frozen
    return marked


def _causes_first(items: list[Diagnostic]) -> list[Diagnostic]:
    """`items` as plain Diagnostics, each "X is missing" moved right after the misspelt key
    that is most likely X, so that the cause is read first (the missing key is reported at its
    parent, usually lines above the misspelling)."""
    misspelt = {d.meant: d for d in items if isinstance(d, _Misspelt) and d.meant}
    after: dict[int, list[Diagnostic]] = {}
    for d in items:
        cause = misspelt.get(d.wanted) if isinstance(d, _Missing) else None
        if cause is not None:
            typed = cause.path.rsplit(".", 1)[-1]
            note = f"is {typed!r}, reported above, a misspelling of it?"
            after.setdefault(id(cause), []).append(
                replace(d, hint=f"{d.hint}; {note}" if d.hint else note)
            )
    out: list[Diagnostic] = []
    for d in items:
        if isinstance(d, _Missing) and d.wanted in misspelt:
            continue
        out.append(d)
        out.extend(after.get(id(d), []))
    return [Diagnostic(d.file, d.line, d.column, d.path, d.message, d.hint) for d in out]


def _near(typed: str, candidates: Iterable[str], n: int = 3, cutoff: float = 0.75) -> list[str]:
    """What `typed` most likely stands for, best first: the candidates that contain it (the
    shortest first: m5.xlarge is ml.m5.xlarge, not ml.r5.xlarge), then difflib's closest."""
    typed = typed[:100]
    pool = sorted(candidates)
    folded = typed.lower()
    containing = sorted(
        (c for c in pool if len(folded) >= 3 and folded in c.lower() and c != typed),
        key=lambda c: (len(c), c),
    )
    close = difflib.get_close_matches(typed, pool, n=n, cutoff=cutoff)
    return list(dict.fromkeys([*containing[:n], *close]))[:n]


def _dedupe(items: list[Diagnostic]) -> list[Diagnostic]:
    seen: set[tuple[object, ...]] = set()
    out = []
    for d in items:
        key = (d.line, d.column, d.path, d.message)
        if key not in seen:
            seen.add(key)
            out.append(d)
    return out


def _diag(
    file: str, marks: Marks, path: Path_, message: str, hint: str | None = None, key: bool = False
) -> Diagnostic:
    mark = marks.key(path) if key else marks.value(path)
    return Diagnostic(
        file,
        mark.line if mark else None,
        mark.column if mark else None,
        format_path(path),
        message,
        hint,
    )


def _missing(
    file: str, marks: Marks, at: Path_, wanted: Path_, message: str, hint: str | None = None
) -> Diagnostic:
    """A required key absent under `at` (where it is reported)."""
    d = _diag(file, marks, at, message, hint, key=True)
    return _marked(_Missing, d, "wanted", format_path(wanted))


# ---- pydantic errors -> located diagnostics ------------------------------------------------


def _fields_of(path: Path_) -> list[str]:
    """The allowed keys of the model at `path`, for "did you mean" hints."""
    model: type[BaseModel] | None = Spec
    for part in path:
        if isinstance(part, int):
            continue  # an entry of a list: the model of its entries
        if model is None or part not in model.model_fields:
            return []
        annotation = model.model_fields[part].annotation
        model = _model_in(annotation)
    return list(model.model_fields) if model else []


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_in(arg)
        if found:
            return found
    return None


def _shown(value: object, secrets: Sequence[str] = ()) -> str:
    """A given value as an error shows it: short, never one that looks secret or holds one
    of `secrets` (a cut-off repr would defeat replacing them afterwards)."""
    if isinstance(value, str) and any(secret in value for secret in secrets):
        return "(a secret value)"
    return preview(value)


def _withheld(value: object) -> str:
    """What an error says about an environment value instead of showing it."""
    if isinstance(value, str):
        return f"a text of {len(value)} characters"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return "nothing (null)" if value is None else f"a value of type {type(value).__name__}"


_WITHHELD_HINT = "environment values are never shown: any of them may be a secret"
_REFERENCE_HINT = (
    "a reference is {secretsmanager: ARN or name} (with json_key: for a field of a JSON "
    "secret) or {ssm: parameter name or ARN}"
)


def _env_path(loc: Path_) -> int | None:
    """How long the part of `loc` up to a model block's env is (model.env: 2), when `loc`
    lies under one."""
    prefix = _model_prefix(loc)
    if prefix is None or loc[len(prefix) : len(prefix) + 1] != ("env",):
        return None
    return len(prefix) + 1


def _models_at(loc: Path_) -> Path_ | None:
    """The path of a model block's models: when `loc` lies at or under it."""
    prefix = _model_prefix(loc)
    if prefix is None or loc[len(prefix) : len(prefix) + 1] != ("models",):
        return None
    return (*prefix, "models")


def _env_location(loc: Path_) -> tuple[Path_, type[BaseModel] | None]:
    """An error path under a model's env without the tag of the value's form that pydantic
    puts in it (model.env.KEY.ssm.ssm -> model.env.KEY.ssm), and that form's model."""
    env = _env_path(loc)
    if env is not None and len(loc) > env + 1 and loc[env + 1] in _ENV_FORMS:
        return (*loc[: env + 1], *loc[env + 2 :]), _ENV_FORMS[str(loc[env + 1])]
    return loc, None


def _from_pydantic(
    exc: ValidationError, doc: Document, file: str, secrets: Sequence[str] = ()
) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for error in exc.errors(include_url=False):
        loc, form = _env_location(tuple(p for p in error["loc"] if isinstance(p, (str, int))))
        kind = error["type"]
        given = error.get("input")
        ctx = error.get("ctx") or {}
        hint: str | None = None
        # Environment values (and the references standing for them) are never echoed; the
        # error names the key instead.
        hidden = _env_path(loc) is not None
        show = _withheld if hidden else partial(_shown, secrets=secrets)
        if kind == "extra_forbidden":
            key = str(loc[-1])
            allowed = list(form.model_fields) if form is not None else _fields_of(loc[:-1])
            near = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
            message = f"unknown key {preview(key)}"
            if allowed:
                message += f"; allowed here: {', '.join(allowed)}"
            hint = f"did you mean {near[0]!r}?" if near else _REFERENCE_HINT if form else None
            d = _diag(file, doc.marks, loc, message, hint, key=True)
            meant = format_path((*loc[:-1], near[0])) if near else ""
            out.append(_marked(_Misspelt, d, "meant", meant))
            continue
        if loc == ("variants",) and kind in ("too_short", "too_long"):
            count = len(given) if isinstance(given, list) else 0
            message = f"{count} variants given; an endpoint has 1-{MAX_VARIANTS}"
            hint = (
                "list at least one, or remove variants: for the one-variant form (model: "
                "with serverless: or realtime:)"
                if kind == "too_short"
                else f"SageMaker takes at most {MAX_VARIANTS} production variants per endpoint"
            )
            out.append(_diag(file, doc.marks, loc, message, hint))
            continue
        if loc == ("components",) and kind == "too_short":
            message = "0 components given; an endpoint with components: has at least one"
            hint = (
                "list the components (components: [{name: ..., model: ..., compute: ...}]), "
                "or remove components: for the one-model form"
            )
            out.append(_diag(file, doc.marks, loc, message, hint))
            continue
        listing = _models_at(loc)
        if listing is not None and len(loc) == len(listing) and kind in ("too_short", "too_long"):
            count = len(given) if isinstance(given, dict) else 0
            message = f"{count} models given; a multi-model block lists 1-{MAX_MULTI_MODELS}"
            hint = (
                "name at least one archive: models: {name: ./folder}"
                if kind == "too_short"
                else f"deployspec packages at most {MAX_MULTI_MODELS} archives per endpoint"
            )
            out.append(_diag(file, doc.marks, loc, message, hint))
            continue
        if listing is not None and len(loc) == len(listing) + 2 and loc[-1] == "[key]":
            # Always text: yamlsource refuses keys of other types.
            message = f"{show(loc[-2])} is not a model name"
            hint = (
                "1-63 letters, digits, dots, underscores and hyphens, starting with a letter or "
                "digit: the name becomes part of the archive's S3 key and the TargetModel that "
                "invokes it"
            )
            out.append(_diag(file, doc.marks, loc[:-1], message, hint, key=True))
            continue
        if kind == "missing":
            parent = loc[:-1]
            where = f"under {format_path(parent)}" if parent else "at the top level"
            message = f"required key {loc[-1]!r} is missing {where}"
            hint = _REFERENCE_HINT if form is not None else None
            out.append(_missing(file, doc.marks, parent, loc, message, hint))
            continue
        yaml11 = doc.yaml11.get(loc)
        if kind == "string_pattern_mismatch":
            message = f"{show(given)} does not match the allowed form"
            hint = _PATTERN_HINTS.get(_field_key(loc) if form is None else f"ref.{loc[-1]}")
        elif kind in _WANTED and not hidden:
            message, hint = _wrong_type(kind, str(loc[-1]), given, yaml11, show)
        elif kind == "literal_error":
            message = f"{show(given)} is not allowed: expected one of {ctx.get('expected')}"
        elif kind == "enum":
            allowed_values = [str(v) for v in re.findall(r"'([^']+)'", str(ctx.get("expected")))]
            near = difflib.get_close_matches(str(given)[:100], allowed_values, n=1, cutoff=0.6)
            message = f"{show(given)} is not allowed: expected one of {ctx.get('expected')}"
            hint = f"did you mean {near[0]!r}?" if near else None
        elif kind == "value_error":
            message = str(ctx.get("error", error["msg"]))
        elif kind in ("dict_type", "model_type", "model_attributes_type"):
            message = f"expected a mapping, got {_type_name(given, secrets, hidden)}"
            hint = "indent the settings under this key as `key: value` lines"
        elif kind == "list_type":
            message = f"expected a list, got {_type_name(given, secrets, hidden)}"
            hint = "write a list as [a, b] or as lines starting with '- '"
        else:
            message = f"{error['msg']}; got {show(given)}"
            if kind == "less_than_equal" and _field_key(loc) == "autoscaling.target_utilization":
                hint = "a share of the provisioned concurrency, not a percentage: 0.7 for 70 %"
            if kind == "greater_than_equal" and _field_key(loc) == "realtime.instance_count":
                hint = (
                    "an endpoint starts with at least one instance (CreateEndpointConfig's "
                    "InitialInstanceCount); an asynchronous endpoint with autoscaling min: 0 "
                    "scales in to none when its queue is empty"
                )
        if hidden and hint is None:
            hint = _WITHHELD_HINT if form is None else _REFERENCE_HINT
        if yaml11 and kind not in _WANTED:
            hint = f"{yaml11}; {hint}" if hint else yaml11
        out.append(_diag(file, doc.marks, loc, message, hint))
    return out


# What a field of each strict type wants, by pydantic's error type.
_WANTED = {"int_type": "a whole number", "float_type": "a number", "bool_type": "true or false"}
_DECIMAL = re.compile(r"\s*[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?\s*")


def _wrong_type(
    kind: str, field: str, given: object, yaml11: str | None, show: Callable[[object], str]
) -> tuple[str, str | None]:
    """What a number or boolean field says of a value of another type: why it is not one,
    and how to write it."""
    wanted = _WANTED[kind]
    if kind == "bool_type":
        if isinstance(given, str):
            why = f" ({yaml11})" if yaml11 else ""
            return (
                f"{show(given)} is text, and {field} is true or false{why}",
                "write true or false, unquoted",
            )
        return f"{show(given)} is not true or false", "write true or false"
    if isinstance(given, bool):
        return (
            f"{str(given).lower()} is a boolean, and {field} must be {wanted}",
            f"write {wanted}, such as 1",
        )
    if isinstance(given, str):
        if yaml11:
            digits = given.strip().lstrip("+-").lstrip("0") or "0"
            plain = f", such as {digits}" if digits.isdigit() else ""
            return (
                f"{show(given)} is not {wanted}: {yaml11}",
                f"write {wanted} in decimal digits without a leading zero{plain}",
            )
        if _DECIMAL.fullmatch(given):
            return (
                f"{show(given)} is text (it is quoted), and {field} must be {wanted}",
                f"write {given.strip()} without quotes",
            )
        return f"{show(given)} is text, and {field} must be {wanted}", None
    if isinstance(given, float) and kind == "int_type":
        return f"{show(given)} is not {wanted}", f"write {wanted}, without a decimal point"
    return f"expected {wanted}, got {_type_name(given)}", None


def _type_name(value: object, secrets: Sequence[str] = (), hidden: bool = False) -> str:
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing (null)"
    if hidden:
        return _withheld(value)
    return f"{type(value).__name__} {_shown(value, secrets)}"


def _secret_values(data: dict[str, Any], variables: Mapping[str, object]) -> tuple[str, ...]:
    """Values no error may show: those of variables named like credentials (`--var
    api_token=...` used in the wrong field) or shaped like one, and of the secret environment
    entries of every model block. Template errors hide the same variables (templating.py)."""
    found = secret_values(variables)
    entries = [
        entry
        for key in ("variants", "components")
        if isinstance(data.get(key), list)
        for entry in data[key]
    ]
    models = [
        data.get("model"),
        _get(data, "shadow", "model"),
        *(_get(v, "model") for v in entries),
    ]
    for model in models:
        if not isinstance(model, dict):
            continue
        env, listed = model.get("env"), model.get("secret_env")
        declared = [k for k in listed if isinstance(k, str)] if isinstance(listed, list) else []
        if isinstance(env, dict):
            found.update(
                value
                for key, value in env.items()
                if isinstance(value, str) and is_secret(str(key), value, declared)
            )
    # Very short values would blank out ordinary words of the messages.
    return tuple(sorted((s for s in found if len(s) >= MIN_REDACTED), key=len, reverse=True))


# However they arose, no message or hint is longer than this (a 300 KB scalar once came back
# whole inside a message).
_MAX_MESSAGE = 1000


def _scrubbed(diagnostics: list[Diagnostic], secrets: Sequence[str]) -> list[Diagnostic]:
    """The diagnostics with every secret value replaced and every text bounded."""

    def clean(text: str) -> str:
        return redact(text, secrets, limit=_MAX_MESSAGE)

    return [
        replace(
            d,
            path=clean(d.path),
            message=clean(d.message),
            hint=clean(d.hint) if d.hint else d.hint,
        )
        for d in diagnostics
    ]


def _check_secret_env(data: dict[str, Any], marks: Marks, file: str, at: Path_) -> list[Diagnostic]:
    """A model block's secret_env names keys of its env: a key missing there is a typo."""
    model = _get(data, *at)
    if not isinstance(model, dict) or not isinstance(model.get("secret_env"), list):
        return []
    env = model.get("env")
    keys = set(env) if isinstance(env, dict) else set()
    out = []
    for index, key in enumerate(model["secret_env"]):
        if isinstance(key, str) and key not in keys:
            near = difflib.get_close_matches(key, sorted(keys), n=1, cutoff=0.6)
            out.append(
                _diag(
                    file,
                    marks,
                    (*at, "secret_env", index),
                    f"{preview(key)} is not a key of {format_path(at)}.env",
                    f"did you mean {near[0]!r}?"
                    if near
                    else f"list keys of {format_path(at)}.env whose values are secret",
                )
            )
    return out


def _field_key(loc: Path_) -> str:
    named = [p for p in loc if isinstance(p, str)]
    return ".".join(named[-2:]) if len(named) >= 2 else (named[-1] if named else "")


_PATTERN_HINTS = {
    "name": "1-63 letters, digits and hyphens, starting and ending with a letter or digit "
    "(no underscores or dots)",
    "role": "an IAM role ARN: arn:aws:iam::<12-digit account>:role/<name>",
    "region": "a region code such as us-east-1",
    "bucket": "3-63 lowercase letters, digits, dots and hyphens",
    "model.image": "a container image URI such as "
    "<account>.dkr.ecr.<region>.amazonaws.com/<repo>:<tag>",
    "model.py_version": "such as py310",
    "data_capture.destination": "s3://<bucket>/<prefix>",
    "async.output": "s3://<bucket>/<prefix>/",
    "async.failure": "s3://<bucket>/<prefix>/",
    "async.success_topic": "an SNS topic ARN: arn:aws:sns:<region>:<12-digit account>:<topic>",
    "async.error_topic": "an SNS topic ARN: arn:aws:sns:<region>:<12-digit account>:<topic>",
    "prefix": "an S3 key prefix without a leading slash or spaces",
    "variants.name": "1-63 letters, digits and hyphens, starting and ending with a letter or "
    "digit (SageMaker's variant names)",
    "shadow.name": "1-63 letters, digits and hyphens, starting and ending with a letter or "
    "digit (SageMaker's variant names)",
    "components.name": "letters, digits and hyphens, starting and ending with a letter or "
    "digit (SageMaker's inference component names, <spec name>-<component name>)",
    "components.base": "the name of another component of this spec",
    "vpc.subnets": "subnet IDs such as subnet-0a1b2c3d",
    "vpc.security_groups": "security group IDs such as sg-0a1b2c3d",
    "ref.secretsmanager": "a secret name such as prod/api-token (letters, digits and /_+=.@-), "
    "or the secret's ARN",
    "ref.ssm": "a parameter name such as /prod/api-token (letters, digits and _.-/), "
    "optionally :version or :label, or the parameter's ARN",
}


# ---- checks beyond one field -------------------------------------------------------------


@dataclass(frozen=True)
class _Use:
    """One variant as the raw data gives it, for the checks that judge a model block and the
    capacity it runs on together (which image the instance type takes)."""

    # The variant: () for the one-variant form, ("variants", i), ("shadow",); or the
    # component ("components", i), which runs on the endpoint's instances.
    at: Path_
    # Its model block: ("model",) when it has none of its own; None for the variant of an
    # endpoint with components: (the components name the models).
    model_at: Path_ | None
    # Its realtime block when it runs on instances; None when serverless.
    realtime_at: Path_ | None
    # False when its capacity is itself refused (variants: entries with both serverless and
    # realtime, or neither; components without realtime:): nothing that follows from the
    # capacity is judged then.
    known: bool = True
    shadow: bool = False
    component: bool = False


def _uses(data: Mapping[str, object]) -> list[_Use]:
    """The production variants, then the shadow, as far as the data shows them; with
    components:, the endpoint's one variant, then each component with a model."""
    uses: list[_Use] = []
    variants = data.get("variants")
    components = data.get("components")
    if components is not None:
        realtime_at: Path_ | None = ("realtime",) if data.get("realtime") is not None else None
        # Not judged as a variant: what does not go with components is refused as such.
        uses.append(_Use((), None, realtime_at, known=False))
        for index, component in enumerate(components if isinstance(components, list) else []):
            if isinstance(component, dict) and component.get("model") is not None:
                at: Path_ = ("components", index)
                uses.append(
                    _Use(
                        at,
                        (*at, "model"),
                        realtime_at,
                        known=realtime_at is not None,
                        component=True,
                    )
                )
        return uses
    if variants is None:
        realtime: Path_ | None = ("realtime",) if data.get("realtime") is not None else None
        uses.append(_Use((), ("model",), realtime))
    elif isinstance(variants, list):
        for index, variant in enumerate(variants):
            if not isinstance(variant, dict):
                continue  # pydantic reports it
            at = ("variants", index)
            own = variant.get("model") is not None
            given = variant.get("realtime") is not None
            uses.append(
                _Use(
                    at,
                    (*at, "model") if own else ("model",),
                    (*at, "realtime") if given else None,
                    known=given != (variant.get("serverless") is not None),
                )
            )
    shadow = data.get("shadow")
    if isinstance(shadow, dict):
        own = shadow.get("model") is not None
        uses.append(
            _Use(
                ("shadow",),
                ("shadow", "model") if own else ("model",),
                ("shadow", "realtime") if shadow.get("realtime") is not None else None,
                known=shadow.get("realtime") is not None,
                shadow=True,
            )
        )
    return uses


def _model_blocks(data: Mapping[str, object], uses: Sequence[_Use]) -> list[Path_]:
    """The model blocks to check, in order of first use. A top-level model no variant uses
    is refused for that alone (_variant_rules, _component_rules), unless variants: is itself
    unreadable."""
    blocks = list(dict.fromkeys(use.model_at for use in uses if use.model_at is not None))
    if (
        ("model",) not in blocks
        and data.get("model") is not None
        and not isinstance(data.get("variants"), list)
        and data.get("components") is None
    ):
        blocks.insert(0, ("model",))
    return blocks


def _adapter_blocks(data: Mapping[str, object]) -> dict[str, Path_]:
    """The adapter components whose artifacts are resolved, by name: those with base: and no
    model: (a component with both is refused, and its model's paths are resolved instead)."""
    components = data.get("components")
    found: dict[str, Path_] = {}
    for index, component in enumerate(components if isinstance(components, list) else []):
        if (
            isinstance(component, dict)
            and component.get("base") is not None
            and component.get("model") is None
            and isinstance(component.get("name"), str)
        ):
            found.setdefault(component["name"], ("components", index))
    return found


def _check_framework(
    doc: Document, file: str, at: Path_, instance_types: Sequence[str | None]
) -> list[Diagnostic]:
    """The model block at `at` against the SDK's image tables; its py_version against the
    images of each instance type it runs on (None: serverless)."""
    model = _get(doc.data, *at)
    if not isinstance(model, dict):
        return []
    shown = format_path(at)
    framework, version = model.get("framework"), model.get("version")
    if not isinstance(framework, str):
        return []  # pydantic reports the type error
    py_version, image = model.get("py_version"), model.get("image")
    marks = doc.marks
    if model.get("package") is not None:
        # The package's image serves it: nothing to look up (_package_rules refuses a version).
        return []
    if framework == "custom":
        if not image:
            return [
                _missing(
                    file,
                    marks,
                    (*at, "framework"),
                    (*at, "image"),
                    f"framework 'custom' needs {shown}.image",
                    f"set {shown}.image to your image URI",
                )
            ]
        return []
    if framework not in catalog.FRAMEWORK_TABLES:
        return []  # pydantic reports the enum error
    if version is None:
        if image:
            return []
        return [
            _missing(
                file,
                marks,
                at,
                (*at, "version"),
                f"{shown}.version is required for {framework}",
                f'e.g. version: "{catalog.newest_version(framework)}"',
            )
        ]
    if not isinstance(version, str):
        return []
    resolved = catalog.resolve_version(framework, version)
    if resolved is None:
        versions, aliases = catalog.supported_versions(framework)
        listing = ", ".join(versions)
        near = difflib.get_close_matches(version[:100], [*versions, *aliases], n=1, cutoff=0.6)
        return [
            _diag(
                file,
                marks,
                (*at, "version"),
                f"{framework} {_shown(version)} has no SageMaker inference image; "
                f"supported: {listing}",
                f"did you mean {near[0]!r}?" if near else "pick one of the supported versions",
            )
        ]
    if framework == "huggingface":
        entry = catalog.framework_table("huggingface")["versions"][resolved]
        bases = catalog.base_frameworks(entry)
        base = model.get("base_framework_version")
        if isinstance(base, str):
            base = catalog.base_aliases(entry).get(base, base)
        if base is None and len(bases) > 1:
            return [
                _diag(
                    file,
                    marks,
                    (*at, "version"),
                    f"huggingface {version} images exist for several base frameworks: "
                    f"{', '.join(bases)}",
                    f"set {shown}.base_framework_version to one of them",
                )
            ]
        if isinstance(base, str) and base not in bases:
            return [
                _diag(
                    file,
                    marks,
                    (*at, "base_framework_version"),
                    f"huggingface {version} has no {_shown(base)} image; "
                    f"available: {', '.join(bases)}",
                )
            ]
    if not isinstance(py_version, str):
        return []
    out: list[Diagnostic] = []
    for instance_type in dict.fromkeys(instance_types):
        scope = catalog.image_scope(framework, instance_type)
        scoped = catalog.resolve_version(framework, version, scope)
        if scoped is None:
            continue  # no image of this version for the instance type: reported there
        allowed = catalog.py_versions(framework, scoped, scope)
        if allowed and py_version not in allowed:
            out.append(
                _diag(
                    file,
                    marks,
                    (*at, "py_version"),
                    f"{framework} {version} images exist for {', '.join(allowed)}, "
                    f"not {_shown(py_version)}",
                    f"use py_version: {allowed[-1]}, or leave it out",
                )
            )
    return out


def _instance_type(data: Mapping[str, object], use: _Use) -> str | None:
    """The variant's real-time instance type, None for serverless or when it is not text."""
    found = _get(data, *use.realtime_at, "instance_type") if use.realtime_at else None
    return found if isinstance(found, str) else None


def _check_instance_type(doc: Document, file: str, use: _Use) -> list[Diagnostic]:
    """Whether the SDK's tables have the framework's image for the variant's instance type:
    no CPU-only container on a GPU type, no x86 image on Graviton, no other version swapped
    in."""
    model_at = use.model_at
    if model_at is None:
        return []
    model = _get(doc.data, *model_at)
    if not use.known or not isinstance(model, dict) or model.get("image"):
        return []  # an image of one's own is the user's to match to the hardware
    if model.get("package") is not None:
        return []  # so is a registry package's
    framework, version = model.get("framework"), model.get("version")
    if not isinstance(framework, str) or not isinstance(version, str):
        return []
    if framework not in catalog.FRAMEWORK_TABLES:
        return []
    instance_type = _instance_type(doc.data, use)
    if use.realtime_at is not None and instance_type not in catalog.instance_types():
        return []  # reported as unknown, or serverless and realtime both set
    if _is_multi_model(doc.data, model_at) and _is_gpu(instance_type):
        return []  # no framework image serves a multi-model endpoint on GPUs (_multi_model_rules)
    if instance_type is not None and instance_type.startswith(("ml.inf", "ml.trn")):
        return []  # these need a Neuron image (_cross_field)
    if catalog.resolve_version(framework, version) is None:
        return []  # reported by _check_framework
    problem = catalog.image_problem(framework, version, instance_type)
    if problem is None:
        return []
    message, hint = problem
    if model_at != ("model",) and hint:
        hint = hint.replace("model.image", f"{format_path(model_at)}.image")
    where = (
        (*use.realtime_at, "instance_type")
        if instance_type and use.realtime_at
        else (*model_at, "framework")
    )
    return [_diag(file, doc.marks, where, message, hint)]


def _check_entry_point(
    doc: Document, file: str, script: Path | None, at: Path_
) -> list[Diagnostic]:
    """What the container would trip over in the inference script, found without running it."""
    model = _get(doc.data, *at)
    framework = model.get("framework") if isinstance(model, dict) else None
    if script is None or not isinstance(model, dict) or not isinstance(framework, str):
        return []
    if framework not in catalog.FRAMEWORK_TABLES:
        return []  # a custom image may run anything
    version, given, base = (
        model.get(k) for k in ("version", "py_version", "base_framework_version")
    )
    py_version = catalog.image_py_version(
        framework,
        version if isinstance(version, str) else "",
        given if isinstance(given, str) else None,
        base if isinstance(base, str) else None,
    )
    # An image of the user's own may run any Python: only the table's images are known.
    known = py_version is not None and not model.get("image")
    python = catalog.python_of(py_version) if known and py_version else None
    shown = os.path.relpath(script) if script.is_relative_to(Path.cwd()) else str(script)
    field_path = format_path((*at, "entry_point"))
    return [
        Diagnostic(shown, p.line, p.column, field_path, p.message, p.hint)
        if p.line is not None
        else _diag(file, doc.marks, (*at, "entry_point"), p.message, p.hint)
        for p in check_script(
            script, framework, python, python2=bool(py_version and py_version.startswith("py2"))
        )
    ]


# Operator opt-in to local paths outside the project: the CLI's --allow-path adds to it. Not a
# spec field, so a change to a spec (a pull request run by CI) cannot widen its own reach.
ALLOWED_ROOTS_ENV = "DEPLOYSPEC_ALLOWED_ROOTS"
_ALLOW_HINT = (
    "local paths must lie inside the project (the git work tree holding the spec, else the "
    "spec's folder), symlinks followed, so that a spec cannot package other files of the "
    f"machine; to allow a folder, pass --allow-path DIR or set {ALLOWED_ROOTS_ENV}"
)


def project_root(spec_folder: Path) -> Path:
    """The git work tree holding the spec (nearest ancestor with a .git entry), else its folder."""
    folder = Path(os.path.realpath(spec_folder))
    for candidate in (folder, *folder.parents):
        # A file, in a submodule or a linked worktree; a folder otherwise.
        if os.path.lexists(candidate / ".git"):
            return candidate
    return folder


def allowed_roots(spec_folder: Path) -> tuple[list[str], list[Diagnostic]]:
    """The real paths local inputs may lie under: the project root, then the operator's roots."""
    roots = [str(project_root(spec_folder))]
    problems: list[Diagnostic] = []
    for entry in os.environ.get(ALLOWED_ROOTS_ENV, "").split(os.pathsep):
        if not entry:
            continue
        if not os.path.isabs(os.path.expanduser(entry)):
            problems.append(
                Diagnostic(
                    ALLOWED_ROOTS_ENV,
                    None,
                    None,
                    "",
                    f"{entry!r} is not an absolute path",
                    f"{ALLOWED_ROOTS_ENV} holds absolute folders separated by {os.pathsep!r}",
                )
            )
            continue
        roots.append(os.path.realpath(os.path.expanduser(entry)))
    return roots, problems


def _is_within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _scan_folder(folder: Path, *, skip_bytecode: bool) -> tuple[tuple[str, str] | None, bool]:
    """What packaging (artifacts.py) would refuse in `folder`, found with stat calls only so
    that `validate` reports it: (the first symlink whose target lies outside the folder, as
    (link, real target), or None; whether it holds any file at all, nested folders included,
    what packaging leaves out of code/ not counted). Links are not followed: what they point
    to inside the folder is listed under its own name.
    """
    real_root = os.path.realpath(folder)
    pending = [str(folder)]
    has_files = False
    while pending:
        current = pending.pop()
        try:
            with os.scandir(current) as listing:
                children = sorted(listing, key=lambda child: child.name)
        except OSError:
            continue  # packaging names the folder it cannot list
        for child in children:
            if skip_bytecode and (child.name == "__pycache__" or child.name.endswith(".pyc")):
                continue  # left out of code/ (artifacts.py)
            try:
                if child.is_symlink():
                    target = os.path.realpath(child.path)
                    if not _is_within(target, real_root):
                        return (child.path, target), has_files
                    has_files = has_files or os.path.isfile(target)
                elif child.is_dir(follow_symlinks=False):
                    pending.append(child.path)
                else:
                    has_files = has_files or child.is_file(follow_symlinks=False)
            except OSError:
                continue  # packaging names the file it cannot read
    return None, has_files


def _check_paths(
    doc: Document,
    file: str,
    base: Path,
    at: Path_,
    roots: list[str],
    *,
    artifacts_only: bool = False,
) -> tuple[LocalPaths, dict[str, Path], list[Diagnostic]]:
    """The local paths of the model block at `at`, resolved against the spec's folder `base`
    and kept within `roots` (allowed_roots): its artifacts, entry point and source dir, and
    each archive of its models: by name (all that resolved). `artifacts_only`: the block is
    an adapter component, which has artifacts and nothing else to resolve."""
    model = _get(doc.data, *at)
    if not isinstance(model, dict):
        return _NO_PATHS, {}, []
    marks = doc.marks
    problems: list[Diagnostic] = []

    def resolve(
        where: Path_,
        value: object,
        relative_to: Path,
        want_dir: bool | None,
        *,
        archive: bool = False,
        code: bool = False,
    ) -> Path | None:
        """`archive`: model files, so a folder must hold some; `code`: a source_dir, whose
        bytecode packaging leaves out."""
        if not isinstance(value, str) or value.startswith("s3://") or "://" in value:
            return None
        kind = "folder" if want_dir else "file" if want_dir is False else "file or folder"
        try:
            candidate = (relative_to / os.path.expanduser(value)).resolve()
            # Before looking at the target: a spec must not even learn what exists outside.
            if not any(_is_within(str(candidate), root) for root in roots):
                problems.append(_outside_roots(file, marks, where, value, roots))
                return None
            exists = candidate.exists()
        except (OSError, RuntimeError) as exc:  # too long a name, a symlink loop
            problems.append(
                _diag(file, marks, where, f"cannot use this path: {_path_problem(exc)}")
            )
            return None
        if not exists:
            problems.append(
                _diag(
                    file,
                    marks,
                    where,
                    f"{kind} not found: {candidate}",
                    f"paths are relative to {relative_to}",
                )
            )
            return None
        if want_dir is True and not candidate.is_dir():
            problems.append(_diag(file, marks, where, f"not a folder: {candidate}"))
            return None
        if want_dir is False and not candidate.is_file():
            problems.append(_diag(file, marks, where, f"not a file: {candidate}"))
            return None
        if candidate.is_dir():
            escaping, has_files = _scan_folder(candidate, skip_bytecode=code)
            if escaping is not None:
                # Named within the folder, and where it leads never said: the target is
                # outside, and a CI log would show a pull request's author the runner's files.
                link = os.path.relpath(escaping[0], candidate)
                inside = (
                    "the artifacts and source_dir folders"
                    if where[-1] in ("artifacts", "source_dir")
                    else "the folders of models:"
                )
                problems.append(
                    _diag(
                        file,
                        marks,
                        where,
                        f"the symlink {link!r} in {preview(value, 200)} leads outside that folder",
                        f"links inside {inside} must stay inside them (model.tar.gz holds "
                        "what they point to): copy the file into the folder instead",
                    )
                )
                return None
            if archive and not has_files:
                what = "artifacts folder" if where[-1] == "artifacts" else "model folder"
                problems.append(
                    _diag(
                        file,
                        marks,
                        where,
                        f"the {what} {preview(value, 200)} holds no files ({candidate})",
                        "put the model's files in it (weights, saved_model.pb, ...): "
                        "model.tar.gz is built from what it holds",
                    )
                )
                return None
        return candidate

    artifacts = resolve((*at, "artifacts"), model.get("artifacts"), base, None, archive=True)
    if artifacts_only:
        return LocalPaths(artifacts, None, None), {}, problems
    source_dir = resolve((*at, "source_dir"), model.get("source_dir"), base, True, code=True)
    archives: dict[str, Path] = {}
    listed = model.get("models")
    if isinstance(listed, dict):
        for name, value in listed.items():
            found = resolve((*at, "models", name), value, base, None, archive=True)
            if found is not None and isinstance(name, str):
                archives[name] = found
    # As in the SageMaker SDK, the entry point is relative to source_dir when one is given.
    entry_root = source_dir if source_dir is not None else base
    entry_point = None
    raw_entry = model.get("entry_point")
    if (
        source_dir is not None
        and isinstance(raw_entry, str)
        and len(Path(raw_entry.removeprefix("./")).parts) > 1
    ):
        # The containers run code/<SAGEMAKER_PROGRAM>: a script deeper in source_dir would be
        # packaged where they never look, and the endpoint would fail only after a long wait.
        problems.append(
            _diag(
                file,
                marks,
                (*at, "entry_point"),
                f"{raw_entry!r} is not at the top of source_dir",
                "move the script to the top of source_dir (it may import modules from "
                "subfolders), or point entry_point at a top-level file",
            )
        )
    elif model.get("source_dir") is None or source_dir is not None:
        entry_point = resolve((*at, "entry_point"), raw_entry, entry_root, False)
    return LocalPaths(artifacts, entry_point, source_dir), archives, problems


def _outside_roots(
    file: str, marks: Marks, path: Path_, value: str, roots: list[str]
) -> Diagnostic:
    """The path as given and the roots it must stay in; never where it resolved to: that is
    outside by definition (where a symlink points, where home is), and CI logs are read by
    whoever wrote the spec."""
    where = f"the project root {roots[0]}"
    if len(roots) > 1:
        where += f" and the allowed roots {', '.join(roots[1:])}"
    return _diag(
        file,
        marks,
        path,
        f"{preview(value, 200)} leads outside {where}",
        _ALLOW_HINT,
    )


def _path_problem(exc: OSError | RuntimeError) -> str:
    """Why a path cannot be resolved, without the path the system names: it may lie outside
    the project (a symlink loop is reported where it closes, wherever that is)."""
    if isinstance(exc, RuntimeError) or getattr(exc, "errno", None) == errno.ELOOP:
        return "it runs into a symlink loop"
    if exc.strerror:
        return exc.strerror[:1].lower() + exc.strerror[1:]
    return type(exc).__name__


def _get(data: object, *path: str | int) -> object:
    for part in path:
        if isinstance(part, int):
            if not isinstance(data, list) or not 0 <= part < len(data):
                return None
            data = data[part]
        elif isinstance(data, dict):
            data = data.get(part)
        else:
            return None
    return data


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


@dataclass
class _Findings:
    """Diagnostics of the rules across fields, located in one document."""

    file: str
    marks: Marks
    out: list[Diagnostic] = field(default_factory=list)

    def problem(
        self, path: Path_, message: str, hint: str | None = None, key: bool = False
    ) -> None:
        self.out.append(_diag(self.file, self.marks, path, message, hint, key=key))

    def missing(self, at: Path_, wanted: Path_, message: str, hint: str | None = None) -> None:
        self.out.append(_missing(self.file, self.marks, at, wanted, message, hint))


def _cross_field(
    data: dict[str, object],
    marks: Marks,
    file: str,
    uses: Sequence[_Use],
    blocks: Sequence[Path_],
) -> list[Diagnostic]:
    """Rules across fields, read from the raw data so they are reported beside field errors:
    for the variants `uses` and the model blocks `blocks` the data holds."""
    found = _Findings(file, marks)
    production = [use for use in uses if not use.shadow and not use.component]
    variants = data.get("variants")
    components = data.get("components")
    if components is not None:
        # What does not go with components (model:, variants:, shadow:, ...) is refused there
        # once; the rules of those forms are not run on it as well.
        _component_rules(found, data, components)
    elif variants is None:
        _capacity_rules(found, data, ())
        if "model" not in data:
            found.missing((), ("model",), "required key 'model' is missing at the top level")
        elif data["model"] is None:
            found.problem(
                ("model",),
                "expected a mapping, got nothing (null)",
                "indent the settings under this key as `key: value` lines",
            )
    elif isinstance(variants, list):
        _variant_rules(found, data, variants)
        for use in production:
            _capacity_rules(found, data, use.at)
    if components is None:
        _managed_scaling_elsewhere(found, data)
    if isinstance(data.get("shadow"), dict) and components is None:
        _capacity_rules(found, data, ("shadow",))
        _shadow_rules(found, data, uses)
    # A variant whose capacity is refused is left out: one mistake, one error.
    all_realtime = not any(use.known and use.realtime_at is None for use in production)
    if components is None:
        _async_rules(found, data, production, all_realtime)
    if not all_realtime and data.get("data_capture") is not None:
        found.problem(
            ("data_capture",),
            "data capture needs a real-time endpoint; serverless endpoints do not support it",
            key=True,
        )
    _deployment_rules(found, data, production, all_realtime)
    for block in blocks:
        _model_rules(found, data, block)
        _archive_rules(found, data, block)
        _llm_rules(found, data, block)
        _package_rules(found, data, block)
        _compression_rules(found, data, block)
    _multi_model_rules(found, data, uses)
    for use in uses:
        _neuron_rule(found, data, use)
        _gpu_count_rule(found, data, use)
    return found.out


# What a spec with components: leaves out, where it stands, why, and what to do instead.
_NOT_WITH_COMPONENTS: dict[Path_, tuple[str, str]] = {
    ("model",): (
        "a spec with components: serves each component's own model, and model: would serve none",
        "move the model into a component (components: [{name: ..., model: ..., compute: "
        "...}]), or remove components: for the one-model form",
    ),
    ("variants",): (
        "an endpoint with inference components has one production variant, whose instances "
        "its components share: variants: and components: are exclusive",
        "remove variants: (the components' models share realtime:'s instances), or deploy "
        "the components as an endpoint of their own",
    ),
    ("shadow",): (
        "shadow variants do not work with inference components",
        "remove shadow:; to try a model beside another, add it as a component and invoke it "
        "with invoke --component NAME",
    ),
    ("serverless",): (
        "inference components run on instances: serverless endpoints cannot host them",
        "use realtime: {instance_type: ...}; managed_scaling: {min: 0, ...} lets the "
        "instances scale to zero",
    ),
    ("async",): (
        "asynchronous inference does not work with inference components",
        "remove the async block, or deploy the model as an asynchronous endpoint of its own",
    ),
    ("realtime", "autoscaling"): (
        "with components:, SageMaker scales the instances (realtime.managed_scaling) and "
        "each component scales its copies: realtime.autoscaling would scale neither",
        "replace it with realtime.managed_scaling: {min: ..., max: ...}, and give the "
        "components that should scale autoscaling: {min: ..., max: ..., "
        "target_concurrent_requests_per_copy: ...}",
    ),
}
# A component's StartupParameters, set per component instead of on the endpoint's variant.
_STARTUP_KEYS = ("startup_health_check_timeout", "model_data_download_timeout")
# What an adapter does not have: it runs inside its base component's copies.
_NOT_IN_ADAPTER: dict[str, str] = {
    "compute": "it runs inside its base's copies, on the compute they reserve",
    "copies": "it is loaded by every copy of its base",
    "autoscaling": "it scales with its base's copies",
    "rolling_update": "it has no copies of its own to replace",
    "startup_health_check_timeout": "its base's container starts up, not the adapter",
    "model_data_download_timeout": "its base's StartupParameters apply",
}


def _component_rules(found: _Findings, data: Mapping[str, object], components: object) -> None:
    """An endpoint of inference components: what it leaves out, the instances it runs on and
    their managed scaling, and each component (names, model or base, compute, copies)."""
    for path, (why, hint) in _NOT_WITH_COMPONENTS.items():
        if _get(data, *path) is not None:
            found.problem(path, why, hint, key=True)
    realtime = data.get("realtime")
    if realtime is None:
        found.missing(
            (),
            ("realtime",),
            "components run on the endpoint's instances: a spec with components: needs realtime:",
            "add realtime: {instance_type: ..., managed_scaling: {min: ..., max: ...}}",
        )
    realtime = realtime if isinstance(realtime, dict) else {}
    for key in _STARTUP_KEYS:
        if realtime.get(key) is not None:
            found.problem(
                ("realtime", key),
                f"with components:, {key} is each component's (its StartupParameters): the "
                "endpoint's variant runs no model of its own",
                f"move it into the components that need it (components[].{key})",
                key=True,
            )
    managed_min = _managed_scaling_rules(found, realtime)
    if not isinstance(components, list):
        return  # pydantic reports the type
    entries = [(index, c) for index, c in enumerate(components) if isinstance(c, dict)]
    names = {
        str(c["name"]): index for index, c in reversed(entries) if isinstance(c.get("name"), str)
    }
    # Each adapter's base, by the adapter's name (one with a model too is refused as such).
    adapters = {
        name: str(base)
        for name, index in names.items()
        if (base := _get(components, index, "base")) is not None
        and _get(components, index, "model") is None
    }
    spec_name = data.get("name")
    instance_type = realtime.get("instance_type")
    if not isinstance(instance_type, str) or instance_type not in catalog.instance_types():
        instance_type = None  # reported as unknown (or missing)
    for index, component in entries:
        at: Path_ = ("components", index)
        name = component.get("name")
        if isinstance(name, str):
            first = names[name]
            if first != index:
                found.problem(
                    (*at, "name"),
                    f"component name {_shown(name)} is already used by components[{first}]",
                    "give each component a name of its own",
                )
            # A name itself longer than 63 is refused as such (max_length).
            if isinstance(spec_name, str) and len(spec_name) + 1 + len(name) > 63 >= len(name):
                found.problem(
                    (*at, "name"),
                    f"the inference component's name {_shown(f'{spec_name}-{name}')} is "
                    f"{len(spec_name) + 1 + len(name)} characters; SageMaker takes at most 63",
                    f"shorten the component's name to {max(63 - len(spec_name) - 1, 0)} "
                    "characters or fewer, or the spec's name (components are named "
                    "<spec name>-<component name>)",
                )
        has_model, base = component.get("model") is not None, component.get("base")
        if has_model and base is not None:
            found.problem(
                (*at, "base"),
                "a component serves its own model or is an adapter on a base component, not both",
                "remove base: to serve the model, or remove model: (and give artifacts:) for "
                "an adapter loaded by the base",
                key=True,
            )
        elif not has_model and base is None:
            found.missing(
                at,
                (*at, "model"),
                "this component has no model: and no base:",
                "add model: {framework: ..., ...} with compute: {memory_mb: ...}, or base: "
                "<component name> with artifacts: for an adapter",
            )
        if has_model:
            _served_component_rules(found, data, at, component, instance_type, managed_min)
        elif base is not None:
            _adapter_rules(found, at, component, names, adapters)


def _managed_scaling_rules(found: _Findings, realtime: Mapping[str, object]) -> int | None:
    """realtime.managed_scaling's range, and the starting instance count within it; its min
    when it is given and valid (None otherwise)."""
    managed = realtime.get("managed_scaling")
    if not isinstance(managed, dict):
        return None
    at: Path_ = ("realtime", "managed_scaling")
    low, high = _int(managed.get("min")), _int(managed.get("max"))
    if low is None or high is None or high < 1:
        return low  # pydantic reports the missing, mistyped or out-of-range one
    if low > high:
        found.problem((*at, "min"), f"managed_scaling min {low} is greater than max {high}")
        return low
    given = "instance_count" in realtime
    count = _int(realtime.get("instance_count")) if given else 1
    floor = max(low, 1)
    if count is not None and not floor <= count <= high:
        shown = f"instance_count {count}" + ("" if given else " (the default)")
        hint = "start within the range SageMaker keeps"
        if low == 0:
            hint = (
                "an endpoint starts with at least one instance (InitialInstanceCount); "
                "managed scaling with min 0 scales it in to none once no copies are left"
            )
        found.problem(
            ("realtime", "instance_count") if given else (*at,),
            f"{shown} is outside managed_scaling {floor}-{high}",
            hint if given else f"{hint}: set realtime.instance_count",
            key=not given,
        )
    return low


def _managed_scaling_elsewhere(found: _Findings, data: Mapping[str, object]) -> None:
    """managed_scaling: outside a spec with components (AWS accepts it only there)."""
    variants = data.get("variants")
    blocks: list[Path_] = [("realtime",), ("shadow", "realtime")]
    if isinstance(variants, list):
        blocks.extend(("variants", index, "realtime") for index in range(len(variants)))
    for block in blocks:
        if _get(data, *block, "managed_scaling") is not None:
            found.problem(
                (*block, "managed_scaling"),
                "managed instance scaling is for endpoints of inference components "
                "(components:): SageMaker accepts it nowhere else",
                "scale the instances with autoscaling: (on invocations per instance), or "
                "serve the models as components:",
                key=True,
            )


def _served_component_rules(
    found: _Findings,
    data: Mapping[str, object],
    at: Path_,
    component: Mapping[str, object],
    instance_type: str | None,
    managed_min: int | None,
) -> None:
    """A component with a model: its compute on the instance type, its copies and their
    autoscaling."""
    if component.get("artifacts") is not None:
        found.problem(
            (*at, "artifacts"),
            "artifacts: is an adapter's archive, and this component serves a model of its own",
            f"put the model's files in {format_path(at)}.model.artifacts, or make the "
            "component an adapter (base: <component>, no model:)",
            key=True,
        )
    if _mode_of(component.get("model")) == MULTI_MODEL:
        found.problem(
            (*at, "model", "mode"),
            "an inference component serves one model: mode: multi-model is for endpoints "
            "without components",
            "give each model a component of its own (each with its copies), or remove mode: "
            "multi-model",
        )
    compute = component.get("compute")
    if "compute" not in component:
        found.missing(
            at,
            (*at, "compute"),
            "a component with a model needs compute: what each of its copies reserves",
            "add compute: {memory_mb: ..., cpu_cores: ...} (and accelerators: on a GPU "
            "instance type)",
        )
    if isinstance(compute, dict):
        _compute_rules(found, data, at, compute, instance_type)
    _copies_rules(found, at, component, managed_min)


_ACCELERATOR_NOUNS = {
    "inferentia": "Inferentia devices",
    "trainium": "Trainium devices",
    "gaudi": "Gaudi cards",
}


def _accelerator_noun(instance_type: str) -> str:
    """What the accelerators of `instance_type` are called ("GPUs" for NVIDIA's and the
    families whose counts are unknown, all of them GPU families)."""
    from . import gpus

    try:
        kind = gpus.accelerators(instance_type).kind
    except gpus.UnknownGpuCount:
        return "GPUs"
    return _ACCELERATOR_NOUNS.get(kind, "GPUs")


def _compute_rules(
    found: _Findings,
    data: Mapping[str, object],
    at: Path_,
    compute: Mapping[str, object],
    instance_type: str | None,
) -> None:
    """compute: against itself and the endpoint's instance type (gpus.py): accelerators on
    accelerated types, none on CPU types, no more than the type has; an LLM container's
    tensor-parallel degree within them."""
    from . import gpus

    where: Path_ = (*at, "compute")
    low, high = _int(compute.get("memory_mb")), _int(compute.get("max_memory_mb"))
    if low is not None and high is not None and high < low:
        found.problem(
            (*where, "max_memory_mb"),
            f"max_memory_mb {high} is below memory_mb {low}",
            "max_memory_mb is the most a copy may use: at least memory_mb, the memory it reserves",
        )
    wanted = _int(compute.get("accelerators"))
    if instance_type is not None:
        try:
            count: int | None = gpus.accelerator_count(instance_type)
        except gpus.UnknownGpuCount:
            count = None  # accelerated, its count unknown: accelerators says what a copy takes
        noun = _accelerator_noun(instance_type)
        if count == 0 and compute.get("accelerators") is not None:
            found.problem(
                (*where, "accelerators"),
                f"{instance_type} has no accelerators: a component on it reserves cpu_cores "
                "and memory_mb only",
                "remove accelerators:, or use a GPU instance type (such as ml.g5.xlarge) in "
                "realtime.instance_type",
                key=True,
            )
        elif count != 0 and "accelerators" not in compute:
            has = f"has {count} {noun}" if count else f"has {noun}"
            found.missing(
                where,
                (*where, "accelerators"),
                f"{instance_type} {has}: a component on it needs compute.accelerators, the "
                f"{noun} each copy takes",
                "add accelerators: 1 (or more, up to the instance type's count)",
            )
        elif count and wanted is not None and wanted > count:
            found.problem(
                (*where, "accelerators"),
                f"accelerators {wanted} is more than {instance_type} has ({count} {noun}): "
                "no instance could place a copy",
                f"set accelerators to at most {count}, or use a larger instance type",
            )
    num_gpus = _int(_get(data, *at, "model", "llm", "num_gpus"))
    if num_gpus is not None and wanted is not None and num_gpus > wanted:
        found.problem(
            (*at, "model", "llm", "num_gpus"),
            f"llm.num_gpus is {num_gpus}, and each copy of this component gets {wanted} "
            "(compute.accelerators): the model cannot be split over more",
            f"set num_gpus to at most {wanted}, or raise compute.accelerators",
        )


def _copies_rules(
    found: _Findings, at: Path_, component: Mapping[str, object], managed_min: int | None
) -> None:
    """A component's copies and their autoscaling range; scale to zero needs instances that
    may scale to zero."""
    auto = component.get("autoscaling")
    if not isinstance(auto, dict):
        return
    where: Path_ = (*at, "autoscaling")
    low, high = _int(auto.get("min")), _int(auto.get("max"))
    if low == 0 and managed_min != 0:
        found.problem(
            (*where, "min"),
            "autoscaling min 0 (scale the component to zero copies) needs "
            "realtime.managed_scaling with min 0",
            (
                "add realtime.managed_scaling: {min: 0, max: ...}"
                if managed_min is None
                else f"set realtime.managed_scaling min to 0 (it is {managed_min})"
            )
            + " so that SageMaker may release the instances too, or set min: 1",
        )
    if low is None or high is None:
        return
    if low > high:
        found.problem((*where, "min"), f"autoscaling min {low} is greater than max {high}")
        return
    given = "copies" in component
    copies = _int(component.get("copies")) if given else 1
    floor = max(low, 1)
    if copies is not None and not floor <= copies <= high:
        shown = f"copies {copies}" + ("" if given else " (the default)")
        hint = "start within the range the autoscaler keeps"
        if low == 0:
            hint = (
                "a component is created with at least one copy (SageMaker refuses CopyCount "
                "0); autoscaling min 0 scales it in to none when it is idle"
            )
        found.problem(
            (*at, "copies") if given else where,
            f"{shown} is outside autoscaling {floor}-{high}",
            hint if given else f"{hint}: set {format_path(at)}.copies",
            key=not given,
        )


def _adapter_rules(
    found: _Findings,
    at: Path_,
    component: Mapping[str, object],
    names: Mapping[str, int],
    adapters: Mapping[str, str],
) -> None:
    """An adapter: its archive, its base (another component, with a model), and nothing that
    only a component with copies of its own has."""
    base = component.get("base")
    if "artifacts" not in component:
        found.missing(
            at,
            (*at, "artifacts"),
            "an adapter needs artifacts: the files its base component loads",
            "add artifacts: a local folder or file (uploaded as a model.tar.gz), or an s3:// "
            "URI of a .tar.gz",
        )
    for key, why in _NOT_IN_ADAPTER.items():
        if component.get(key) is not None:
            found.problem(
                (*at, key),
                f"an adapter has no {key}: {why}",
                f"remove it, or set it on the base component ({_shown(base)})"
                if isinstance(base, str)
                else "remove it",
                key=True,
            )
    if not isinstance(base, str):
        return  # pydantic reports the type
    if base == component.get("name"):
        found.problem(
            (*at, "base"),
            f"component {_shown(base)} cannot be its own base",
            "name the component with the model this adapter runs on",
        )
    elif base not in names:
        near = _near(base, names, n=1, cutoff=0.6)
        known = ", ".join(n for n in names if n not in adapters) or "none"
        found.problem(
            (*at, "base"),
            f"no component is named {_shown(base)}",
            f"did you mean {near[0]!r}?"
            if near
            else f"base names a component of this spec with a model (here: {known})",
        )
    elif base in adapters:
        found.problem(
            (*at, "base"),
            f"component {_shown(base)} is itself an adapter: an adapter's base is a component "
            "with a model",
            f"set base: {adapters[base]} (the base of {base}), or give {base} a model",
        )


_LLM_NAMES = ", ".join(sorted(LLM_FRAMEWORKS))


def _compression_rules(found: _Findings, data: Mapping[str, object], at: Path_) -> None:
    """compression: against what artifacts: names. An s3:// prefix (ending in /) is
    uncompressed, an s3:// .tar.gz is one archive, and a multi-model endpoint loads archives."""
    model = _get(data, *at)
    if not isinstance(model, dict):
        return
    compression, artifacts = model.get("compression"), model.get("artifacts")
    if compression is not None and "artifacts" not in model and model.get("mode") != MULTI_MODEL:
        found.problem(
            (*at, "compression"),
            "compression: says how artifacts: are uploaded, and this model has none (hub: and "
            "package: models bring their own data)",
            "remove compression:",
            key=True,
        )
    if not isinstance(artifacts, str) or not artifacts.startswith("s3://"):
        artifacts = None
    if model.get("mode") == MULTI_MODEL and compression == "none":
        found.problem(
            (*at, "compression"),
            "compression: none cannot serve a multi-model endpoint: SageMaker loads each of "
            "its models from a model.tar.gz",
            "remove compression: (multi-model archives are gzipped), or serve one model with "
            "mode: single-model",
        )
    if artifacts is None:
        return
    if artifacts.endswith("/") and compression == "gzip":
        found.problem(
            (*at, "compression"),
            f"compression: gzip names one model.tar.gz, and artifacts {_shown(artifacts)} is "
            "an S3 prefix (it ends in /), served uncompressed",
            "remove compression: to serve the prefix's files as they are, or point artifacts: "
            "at the model.tar.gz itself (no trailing /)",
        )
    elif not artifacts.endswith("/") and compression == "none":
        archive = artifacts.endswith((".tar.gz", ".tgz"))
        found.problem(
            (*at, "compression"),
            f"compression: none serves an uncompressed S3 prefix, and artifacts "
            f"{_shown(artifacts)} is "
            + ("a compressed archive" if archive else "one object, not a prefix"),
            "end artifacts: with / to serve the files under that prefix uncompressed, or "
            "remove compression: to serve the model.tar.gz",
        )


def _llm_rules(found: _Findings, data: Mapping[str, object], at: Path_) -> None:
    """What a model block of a large-model container may say (llm:, hub:, no script), and
    what no other framework may."""
    from . import llm as containers  # it imports this module

    model = _get(data, *at)
    framework = model.get("framework") if isinstance(model, dict) else None
    if not isinstance(model, dict) or not isinstance(framework, str):
        return
    shown = format_path(at)
    kind = containers.settings(Framework(framework)) if framework in set(Framework) else None
    if kind is None:
        if model.get("llm") is not None:
            found.problem(
                (*at, "llm"),
                f"llm: holds the settings of a large-model container, and {framework} is not one",
                f"use one of {_LLM_NAMES}, or remove llm:",
                key=True,
            )
        if model.get("hub") is not None:
            found.problem(
                (*at, "hub"),
                f"hub: models are served by the large-model containers, and {framework} is not one",
                f"use one of {_LLM_NAMES}; for framework: huggingface set env HF_MODEL_ID "
                "and HF_TASK instead",
                key=True,
            )
        return
    for key in ("entry_point", "source_dir"):
        if model.get(key) is not None:
            found.problem(
                (*at, key),
                f"the {framework} container runs no inference script: {key} would never run",
                "remove it: these containers serve the model themselves (no inference "
                "script); their settings go in llm: or env:",
                key=True,
            )
    hub = model.get("hub")
    if isinstance(hub, dict) and hub.get("token_env") is not None and hub.get("token") is not None:
        found.problem(
            (*at, "hub", "token"),
            "hub.token_env and hub.token both name the Hub token",
            "keep one: token_env (an environment variable read when planning) or token "
            "(AWS Secrets Manager)",
            key=True,
        )
    settings = _get(model, "llm")
    given = settings if isinstance(settings, dict) else {}
    for name in containers.LLM_FIELDS:
        if given.get(name) is None or getattr(kind, name) is not None:
            continue
        hint = "remove it"
        if name == "max_input_tokens" and kind.max_total_tokens:
            hint = (
                f"the {framework} container limits prompt plus output only: set "
                "max_total_tokens instead"
            )
        found.problem(
            (*at, "llm", name),
            f"the {framework} container has no {name.replace('_', ' ')} setting",
            hint,
            key=True,
        )
    quantize = given.get("quantize")
    values = kind.quantize_values if kind.quantize else None
    if isinstance(quantize, str) and values is not None and quantize not in values:
        near = difflib.get_close_matches(quantize, sorted(values), n=1, cutoff=0.6)
        found.problem(
            (*at, "llm", "quantize"),
            f"the {framework} container has no quantization {_shown(quantize)}; it takes "
            f"{', '.join(sorted(values))}",
            f"did you mean {near[0]}?" if near else "pick one of them, or leave it out",
        )
    low, high = _int(given.get("max_input_tokens")), _int(given.get("max_total_tokens"))
    if low is not None and high is not None and low >= high:
        found.problem(
            (*at, "llm", "max_input_tokens"),
            f"max_input_tokens ({low}) must be below max_total_tokens ({high}): the total "
            "holds the prompt and the tokens generated after it",
            "lower max_input_tokens or raise max_total_tokens",
        )
    env = model.get("env")
    if not isinstance(env, dict):
        return
    clashes = {"hub.id": kind.model, "hub.revision": kind.revision}
    clashes.update({f"llm.{name}": getattr(kind, name) for name in containers.LLM_FIELDS})
    for setting, variable in clashes.items():
        section, name = setting.split(".")
        if variable is None or _get(model, section, name) is None or variable not in env:
            continue
        found.problem(
            (*at, "env", variable),
            f"env.{variable} and {shown}.{setting} set the same container setting",
            f"keep {shown}.{setting} and remove env.{variable}",
            key=True,
        )


# What a model block deployed from the Model Registry may not say, and why: the package's
# InferenceSpecification holds its image and model data.
_NOT_WITH_PACKAGE = {
    "version": "the image is the package's: a version would choose another",
    "image": "the image is the package's",
    "py_version": "the image is the package's: a py_version would choose another",
    "base_framework_version": "the image is the package's: a base framework would choose another",
    "entry_point": "the package's model data holds its code: a script would never be shipped",
    "source_dir": "the package's model data holds its code: a source dir would never be shipped",
    "compression": "the model data is the package's: nothing is uploaded",
    "llm": "the package's container brings its own settings, and llm: would be dropped",
}


def _package_rules(found: _Findings, data: Mapping[str, object], at: Path_) -> None:
    """What a model block with package: leaves to the package. Its framework stays: it says
    which container kind the package holds (what `invoke --prompt` builds, the GPU rules)."""
    model = _get(data, *at)
    if not isinstance(model, dict) or model.get("package") is None:
        return
    large = model.get("framework") in LLM_FRAMEWORKS
    for key, why in _NOT_WITH_PACKAGE.items():
        if model.get(key) is None or (large and key in ("entry_point", "source_dir")):
            continue  # an LLM container's script is refused as such (_llm_rules)
        hint = "remove it: the image and the model data come from the package"
        if key == "llm":
            hint = "set the container's variables in env: instead (they override the package's)"
        found.problem(
            (*at, key),
            f"{format_path(at)}.package deploys a Model Registry version: {why}",
            hint,
            key=True,
        )
    if _mode_of(model) == MULTI_MODEL:
        found.problem(
            (*at, "package"),
            "a multi-model block takes its archives from models:, not from a model package",
            "remove package:, or mode: multi-model to deploy the package as one model",
            key=True,
        )


def _gpu_count_rule(found: _Findings, data: Mapping[str, object], use: _Use) -> None:
    """A GPU container's tensor-parallel degree against the GPUs of the variant's instance
    type (gpus.py), which must be known unless llm.num_gpus says it."""
    from . import gpus
    from . import llm as containers

    model_at = use.model_at
    if model_at is None or use.component:
        return  # a component's GPUs are its compute.accelerators (_compute_rules)
    framework = _get(data, *model_at, "framework")
    if not use.known or use.realtime_at is None or framework not in set(Framework):
        return
    kind = containers.settings(Framework(str(framework)))
    instance_type = _instance_type(data, use)
    if kind is None or not kind.gpu or instance_type not in catalog.instance_types():
        return
    if instance_type is None or instance_type.startswith(("ml.inf", "ml.trn")):
        return  # a Neuron image is needed (_neuron_rule)
    wanted = _int(_get(data, *model_at, "llm", "num_gpus"))
    try:
        count = gpus.gpu_count(instance_type)
    except gpus.UnknownGpuCount as unknown:
        if wanted is None:
            found.problem((*use.realtime_at, "instance_type"), str(unknown), unknown.hint)
        return
    if wanted is not None and 0 < count < wanted:
        found.problem(
            (*model_at, "llm", "num_gpus"),
            f"llm.num_gpus is {wanted}, and {instance_type} has {count} GPU"
            + ("s" if count > 1 else ""),
            f"set num_gpus to at most {count}, or use an instance type with {wanted} GPUs or "
            "more (ml.g5.12xlarge has 4, ml.g5.48xlarge and ml.p4d.24xlarge 8)",
        )


def _capacity_rules(found: _Findings, data: Mapping[str, object], at: Path_) -> None:
    """One variant's serverless and realtime blocks (the top-level ones for at=())."""
    serverless, realtime = _get(data, *at, "serverless"), _get(data, *at, "realtime")
    if at == ("shadow",):
        serverless = None  # a shadow takes no serverless: key at all (pydantic says so)
    if serverless is not None and realtime is not None:
        found.problem(
            (*at, "realtime"),
            "serverless and realtime are exclusive",
            "keep one: serverless (pay per request) or realtime (dedicated instances)",
            key=True,
        )
    elif at[:1] == ("variants",) and serverless is None and realtime is None:
        found.missing(
            at,
            (*at, "realtime"),
            "this variant needs realtime: or serverless:",
            "add realtime: {instance_type: ...} (dedicated instances) or serverless: {} (pay "
            "per request); in variants: each entry says which it runs on",
        )
    provisioned = _int(_get(serverless, "provisioned_concurrency"))
    max_concurrency = _int(_get(serverless, "max_concurrency"))
    if max_concurrency is None and isinstance(serverless, dict):
        max_concurrency = Serverless.model_fields["max_concurrency"].default
    if provisioned is not None and max_concurrency is not None and provisioned > max_concurrency:
        found.problem(
            (*at, "serverless", "provisioned_concurrency"),
            f"provisioned_concurrency {provisioned} exceeds max_concurrency {max_concurrency}",
            "provisioned concurrency must be at most max_concurrency",
        )
    if isinstance(serverless, dict) and isinstance(serverless.get("autoscaling"), dict):
        _serverless_autoscaling_rules(found, (*at, "serverless"), serverless, max_concurrency)
    if isinstance(realtime, dict) and isinstance(realtime.get("autoscaling"), dict):
        # The shadow's endpoint is never asynchronous: shadow: with async: is refused itself.
        asynchronous = data.get("async") is not None and at != ("shadow",)
        _autoscaling_rules(found, (*at, "realtime"), realtime, asynchronous)


def _autoscaling_rules(
    found: _Findings, at: Path_, realtime: Mapping[str, object], asynchronous: bool
) -> None:
    """A real-time variant's autoscaling (at `at`, its realtime block): which metric it
    tracks for the kind of endpoint, whether it may scale to zero, and its range."""
    auto = realtime["autoscaling"]
    if not isinstance(auto, dict):
        return  # pydantic reports the type error
    where: Path_ = (*at, "autoscaling")
    invocations = auto.get("target_invocations_per_instance") is not None
    backlog = auto.get("target_backlog_per_instance") is not None
    if not invocations and not backlog:
        wanted = (
            "target_backlog_per_instance" if asynchronous else "target_invocations_per_instance"
        )
        found.missing(
            where,
            (*where, wanted),
            "autoscaling needs target_invocations_per_instance or target_backlog_per_instance",
            "target_invocations_per_instance (requests per instance per minute) for a "
            "synchronous endpoint, target_backlog_per_instance (queued requests per instance) "
            "for an asynchronous one",
        )
    elif invocations and backlog:
        found.problem(
            (*where, "target_backlog_per_instance"),
            "target_invocations_per_instance and target_backlog_per_instance are exclusive",
            "keep one: invocations per instance for a synchronous endpoint, the backlog per "
            "instance for an asynchronous one",
            key=True,
        )
    elif invocations and asynchronous:
        # Kept at the autoscaling key, as it was when autoscaling an asynchronous endpoint
        # was refused altogether.
        found.problem(
            where,
            "autoscaling an asynchronous endpoint on target_invocations_per_instance does not "
            "work: asynchronous endpoints publish no InvocationsPerInstance metric",
            "use target_backlog_per_instance (queued requests per instance), which may also "
            "scale to zero with min: 0",
            key=True,
        )
    elif backlog and not asynchronous:
        found.problem(
            (*where, "target_backlog_per_instance"),
            "target_backlog_per_instance tracks the queue of an asynchronous endpoint, and "
            "this endpoint has no async block",
            "use target_invocations_per_instance: invocations per instance is the metric of "
            "synchronous endpoints (or add async: to queue the requests)",
            key=True,
        )
    low, high = _int(auto.get("min")), _int(auto.get("max"))
    count = _int(realtime.get("instance_count"))
    # Under async:, or with the backlog metric, what is wrong is the metric or the missing
    # async block, refused above.
    if low == 0 and not asynchronous and not backlog:
        found.problem(
            (*where, "min"),
            "autoscaling min 0 (scale to zero) needs an asynchronous endpoint scaling on "
            "target_backlog_per_instance",
            "a synchronous endpoint keeps at least one instance to answer: set min: 1 (or add "
            "async: and scale on target_backlog_per_instance)",
        )
    if low is not None and high is not None:
        if low > high:
            found.problem((*where, "min"), f"autoscaling min {low} is greater than max {high}")
        elif count is not None and not low <= count <= high:
            found.problem(
                (*at, "instance_count"),
                f"instance_count {count} is outside autoscaling {low}-{high}",
                "start within the range the autoscaler keeps",
            )


def _serverless_autoscaling_rules(
    found: _Findings, at: Path_, serverless: Mapping[str, object], max_concurrency: int | None
) -> None:
    """A serverless variant's autoscaling (at `at`, its serverless block): it scales the
    provisioned concurrency, which must lie in its range, and never beyond max_concurrency."""
    auto = serverless["autoscaling"]
    if not isinstance(auto, dict):
        return  # pydantic reports the type error
    where: Path_ = (*at, "autoscaling")
    provisioned = _int(serverless.get("provisioned_concurrency"))
    low, high = _int(auto.get("min")), _int(auto.get("max"))
    if serverless.get("provisioned_concurrency") is None:
        found.problem(
            where,
            "serverless autoscaling scales the provisioned concurrency, and this block has none",
            f"set {format_path(at)}.provisioned_concurrency (the starting point, within "
            "autoscaling min-max), or remove autoscaling: on-demand serverless capacity "
            "scales by itself",
            key=True,
        )
    if low is not None and high is not None and low > high:
        found.problem((*where, "min"), f"autoscaling min {low} is greater than max {high}")
    elif (
        low is not None
        and high is not None
        and provisioned is not None
        and not low <= provisioned <= high
    ):
        found.problem(
            (*at, "provisioned_concurrency"),
            f"provisioned_concurrency {provisioned} is outside autoscaling {low}-{high}",
            "start within the range the autoscaler keeps",
        )
    if high is not None and max_concurrency is not None and high > max_concurrency:
        found.problem(
            (*where, "max"),
            f"autoscaling max {high} exceeds max_concurrency {max_concurrency}",
            "provisioned concurrency cannot exceed max_concurrency: lower autoscaling max, or "
            "raise max_concurrency",
        )


def _variant_rules(found: _Findings, data: Mapping[str, object], variants: list[object]) -> None:
    """`variants:` as a whole: the form, names, weights, models and the serverless rule."""
    for key in ("serverless", "realtime"):
        if data.get(key) is not None:
            found.problem(
                (key,),
                f"a top-level {key}: and variants: are exclusive: with variants:, each "
                "variant has its own capacity",
                f"move it into each variant (variants[0].{key}: ...), or remove variants: "
                "for the one-variant form",
                key=True,
            )
    entries = [(index, v) for index, v in enumerate(variants) if isinstance(v, dict)]
    shared = data.get("model") is not None
    seen: dict[str, int] = {}
    for index, variant in entries:
        at: Path_ = ("variants", index)
        name = variant.get("name")
        if isinstance(name, str):
            first = seen.setdefault(name, index)
            if first != index:
                found.problem(
                    (*at, "name"),
                    f"variant name {_shown(name)} is already used by variants[{first}]",
                    "give each variant a name of its own",
                )
        if variant.get("model") is None and not shared:
            found.missing(
                at,
                (*at, "model"),
                "this variant has no model, and there is no top-level model: to share",
                "add model: {framework: ..., artifacts: ...} to this variant, or a top-level "
                "model: that the variants without one serve",
            )
        if variant.get("serverless") is not None and len(variants) > 1:
            found.problem(
                (*at, "serverless"),
                f"a serverless variant must be the endpoint's only production variant; "
                f"variants: has {len(variants)}",
                "SageMaker serves a serverless variant alone, never beside other variants "
                "(serverless or real-time): give every variant realtime: {instance_type: ...}, "
                "or deploy this one as an endpoint of its own",
                key=True,
            )
    shadow = data.get("shadow")
    shadow_own = not isinstance(shadow, dict) or shadow.get("model") is not None
    if (
        shared
        and entries
        and len(entries) == len(variants)
        and shadow_own
        and all(v.get("model") is not None for _, v in entries)
    ):
        found.problem(
            ("model",),
            "no variant uses the top-level model: every entry of variants: "
            + ("and the shadow have" if isinstance(shadow, dict) else "has")
            + " a model of its own",
            "remove the top-level model:, or leave model: out of the variants that should serve it",
            key=True,
        )
    weights = [_number(v.get("weight", 1.0)) for _, v in entries]
    if entries and all(w == 0 for w in weights):
        found.problem(
            ("variants",),
            "every variant's weight is 0: no variant would get any traffic",
            "give at least one variant a weight above 0 (a variant's share of the traffic is "
            "its weight over the sum of all weights)",
            key=True,
        )


def _shadow_rules(found: _Findings, data: Mapping[str, object], uses: Sequence[_Use]) -> None:
    """What SageMaker requires of an endpoint with a shadow variant (its shadow test
    exclusions, and botocore's ShadowProductionVariants: one production variant, one shadow)."""
    variants = data.get("variants")
    if isinstance(variants, list) and len(variants) > 1:
        found.problem(
            ("shadow",),
            f"a shadow variant needs exactly one production variant; variants: has {len(variants)}",
            "SageMaker pairs one production variant with one shadow: keep one entry in "
            "variants:, or remove shadow:",
            key=True,
        )
    production = [use for use in uses if not use.shadow]
    if any(use.known and use.realtime_at is None for use in production):
        found.problem(
            ("shadow",),
            "shadow variants do not work with serverless endpoints",
            "give the production variant realtime: {instance_type: ...}, or remove shadow:",
            key=True,
        )
    if data.get("async") is not None:
        found.problem(
            ("shadow",),
            "shadow variants do not work with asynchronous inference",
            "remove shadow: or the async block",
            key=True,
        )
    if _get(data, "shadow", "model") is None and data.get("model") is None:
        found.missing(
            ("shadow",),
            ("shadow", "model"),
            "the shadow has no model, and there is no top-level model: to use",
            "add model: {framework: ..., artifacts: ...} under shadow:",
        )
    name = _get(data, "shadow", "name")
    names = (
        [_get(v, "name") for v in variants]
        if isinstance(variants, list)
        else [DEFAULT_VARIANT_NAME]
        if variants is None
        else []
    )
    if isinstance(name, str) and name in names:
        found.problem(
            ("shadow", "name"),
            f"the shadow's name {_shown(name)} is a production variant's",
            "give the shadow a name of its own"
            + (
                f" (the production variant of a spec without variants: is {DEFAULT_VARIANT_NAME})"
                if variants is None
                else ""
            ),
        )
    for use in uses:
        instance_type = _instance_type(data, use)
        if use.realtime_at is not None and (instance_type or "").startswith("ml.inf1."):
            found.problem(
                (*use.realtime_at, "instance_type"),
                "shadow tests do not work on Inf1 (Inferentia) instances",
                "use another instance type for both the production variant and the shadow, "
                "or remove shadow:",
            )


def _async_rules(
    found: _Findings, data: Mapping[str, object], production: Sequence[_Use], all_realtime: bool
) -> None:
    if data.get("async") is None:
        return
    variants = data.get("variants")
    if isinstance(variants, list) and len(variants) > 1:
        found.problem(
            ("async",),
            f"asynchronous inference serves exactly one production variant; variants: has "
            f"{len(variants)}",
            "SageMaker's asynchronous endpoints take a single instance-based variant: keep "
            "one entry in variants:, or remove the async block",
            key=True,
        )
    if not all_realtime:
        found.problem(
            ("async",),
            "asynchronous inference needs a real-time endpoint; serverless endpoints "
            "cannot queue requests",
            "add realtime: {instance_type: ...} (and remove serverless:)",
            key=True,
        )


def _deployment_rules(
    found: _Findings, data: Mapping[str, object], production: Sequence[_Use], all_realtime: bool
) -> None:
    strategy = _get(data, "deployment", "strategy")
    if not all_realtime and isinstance(strategy, str) and strategy != Strategy.ALL_AT_ONCE:
        found.problem(
            ("deployment", "strategy"),
            f"strategy {_shown(strategy)} needs a real-time endpoint",
            "serverless endpoints update all at once",
        )
    elif strategy == Strategy.ROLLING and len(production) > 1:
        found.problem(
            ("deployment", "strategy"),
            f"strategy 'rolling' does not work with several production variants; "
            f"variants: has {len(production)}",
            "SageMaker's deployment guardrails exclude rolling updates of multi-variant "
            "endpoints: use canary or linear (traffic shifting), or all_at_once",
        )
    shown_strategy = strategy if isinstance(strategy, str) else Strategy.ALL_AT_ONCE.value
    for step in ("canary", "linear", "rolling"):
        if _get(data, "deployment", step) is not None and shown_strategy != step:
            found.problem(
                ("deployment", step),
                f"deployment.{step} is set but strategy is {_shown(shown_strategy)}",
                f"set strategy: {step}, or remove the {step} block",
                key=True,
            )
    if not all_realtime and _get(data, "deployment", "rollback_alarms"):
        found.problem(
            ("deployment", "rollback_alarms"),
            "rollback alarms need a real-time endpoint",
            key=True,
        )


def _model_rules(found: _Findings, data: Mapping[str, object], at: Path_) -> None:
    """What the model block at `at` needs of its own fields together."""
    shown = format_path(at)
    framework = _get(data, *at, "framework")
    entry_point = _get(data, *at, "entry_point")
    artifacts, env = _get(data, *at, "artifacts"), _get(data, *at, "env")
    # An s3:// archive is served as it is: the script may be in it (or in an s3:// source
    # dir), named by SAGEMAKER_PROGRAM as the SDK's models and `deployspec import` name it.
    program_in_env = (
        isinstance(artifacts, str)
        and artifacts.startswith("s3://")
        and isinstance(env, dict)
        and "SAGEMAKER_PROGRAM" in env
    )
    # A registry package's model data holds its script (named in the package's environment).
    from_package = _get(data, *at, "package") is not None
    if (
        framework == Framework.SKLEARN
        and entry_point is None
        and not program_in_env
        and not from_package
    ):
        found.missing(
            at,
            (*at, "entry_point"),
            f"sklearn needs {shown}.entry_point: its container has no default model_fn",
            "add entry_point: inference.py defining model_fn(model_dir)",
        )
    if (
        framework == Framework.TENSORFLOW
        and isinstance(entry_point, str)
        and Path(entry_point).name != TENSORFLOW_ENTRY_POINT
    ):
        # Refused rather than renamed: a file deployed under a name other than its own would
        # surprise whoever reads the archive, and its imports and tests would not match.
        found.problem(
            (*at, "entry_point"),
            f"the TensorFlow Serving container runs only code/{TENSORFLOW_ENTRY_POINT}: "
            f"{_shown(entry_point)} would be packaged as code/{Path(entry_point).name} and "
            "never run",
            f"rename the script to {TENSORFLOW_ENTRY_POINT} and set entry_point: "
            f"{TENSORFLOW_ENTRY_POINT} (it may import modules shipped beside it in source_dir)",
        )


def _neuron_rule(found: _Findings, data: Mapping[str, object], use: _Use) -> None:
    instance_type = _instance_type(data, use)
    model_at = use.model_at
    if model_at is None or _is_multi_model(data, model_at):
        return  # no multi-model endpoint runs on these at all (_multi_model_rules)
    if (
        use.realtime_at is not None
        and isinstance(instance_type, str)
        and instance_type.startswith(("ml.inf", "ml.trn"))
        and _get(data, *model_at, "image") is None
    ):
        found.problem(
            (*use.realtime_at, "instance_type"),
            "Inferentia and Trainium instances need a Neuron image",
            f"set {format_path(model_at)}.image to a Neuron inference image",
        )


def _mode_of(model: object) -> str | None:
    """A model block's mode as given, single-model when left out; None when the block is no
    mapping or its mode neither of the two (pydantic reports it)."""
    if not isinstance(model, dict):
        return None
    mode = model.get("mode", SINGLE_MODEL)
    return mode if mode in (SINGLE_MODEL, MULTI_MODEL) else None


def _is_multi_model(data: Mapping[str, object], at: Path_) -> bool:
    return _mode_of(_get(data, *at)) == MULTI_MODEL


def _is_gpu(instance_type: str | None) -> bool:
    return (
        instance_type is not None and catalog.processor_of(instance_type, ["cpu", "gpu"]) == "gpu"
    )


_ONE_MODEL = "serve one model (mode: single-model, the default, with artifacts:)"


def _archive_rules(found: _Findings, data: Mapping[str, object], at: Path_) -> None:
    """Where the model block at `at` takes its archives from: artifacts: for one model,
    models: for a multi-model block, and only there; which containers serve several."""
    model = _get(data, *at)
    mode = _mode_of(model)
    if mode is None or not isinstance(model, dict):
        return
    shown = format_path(at)
    if mode == SINGLE_MODEL:
        if model.get("models") is not None:
            given = "single-model" if "mode" in model else "single-model (the default)"
            found.problem(
                (*at, "models"),
                f"models: lists the archives of a multi-model endpoint, and {shown}.mode is "
                f"{given}",
                "set mode: multi-model to serve them all from one container (invoke "
                "--target-model NAME picks one), or remove models: and give the one model in "
                "artifacts:",
                key=True,
            )
        elif not any(key in model for key in MODEL_SOURCES):
            found.missing(
                at,
                (*at, "artifacts"),
                f"required key 'artifacts' is missing under {shown}: it names no model source "
                "(artifacts:, hub: or package:)",
                "artifacts: a local folder or file, or an s3:// model.tar.gz; hub: {id: ...} "
                "for a Hugging Face Hub model (LLM containers); package: a model registry "
                "version; or mode: multi-model with models: to serve several from one container",
            )
        elif len(sources := [key for key in MODEL_SOURCES if key in model]) > 1:
            for extra in sources[1:]:
                found.problem(
                    (*at, extra),
                    f"{shown} has {len(sources)} model sources ({', '.join(sources)}); a model "
                    "comes from exactly one",
                    f"keep {sources[0]}: or {extra}:, not both",
                    key=True,
                )
        elif "artifacts" in model and model["artifacts"] is None:
            found.problem(
                (*at, "artifacts"),
                "expected a local path or an s3:// URI, got nothing (null)",
                "artifacts: a local folder or file, or an s3:// model.tar.gz",
            )
        return
    if "models" not in model:
        found.missing(
            at,
            (*at, "models"),
            f"mode: multi-model needs {shown}.models: the archives the endpoint serves",
            "add models: {name: ./folder, ...}: each folder or file becomes a model.tar.gz "
            "of its own, invoked by its name (invoke --target-model NAME)",
        )
    elif model["models"] is None:
        found.problem(
            (*at, "models"),
            "expected a mapping of names to local folders or files, got nothing (null)",
            "list the archives as models: {name: ./folder, ...}",
        )
    if model.get("artifacts") is not None:
        found.problem(
            (*at, "artifacts"),
            "a multi-model block takes its archives from models:, not artifacts:",
            "list the folder in models: under a name (models: {name: ./folder}), or remove "
            "mode: multi-model",
            key=True,
        )
    framework = model.get("framework")
    if framework in set(Framework) - MULTI_MODEL_FRAMEWORKS:
        found.problem(
            (*at, "mode"),
            f"the {framework} container does not serve multi-model endpoints",
            "AWS's containers for multi-model endpoints: sklearn, xgboost, pytorch (TorchServe) "
            "and tensorflow (TensorFlow Serving), on CPU instances; or framework: custom with "
            "an image of your own carrying the com.amazonaws.sagemaker.capabilities."
            "multi-models=true label; or " + _ONE_MODEL,
        )


def _multi_model_rules(found: _Findings, data: Mapping[str, object], uses: Sequence[_Use]) -> None:
    """What an endpoint serving a multi-model block must be: real-time on CPU instances (GPUs
    only through a Triton image of one's own), one production variant, no shadow, no async.
    A component's multi-model block is refused as such (_component_rules)."""
    multi = [
        (use, use.model_at)
        for use in uses
        if use.model_at is not None and not use.component and _is_multi_model(data, use.model_at)
    ]
    if not multi:
        return
    variants = data.get("variants")
    if isinstance(variants, list) and len(variants) > 1:
        for block in dict.fromkeys(model_at for use, model_at in multi if not use.shadow):
            found.problem(
                (*block, "mode"),
                f"a multi-model endpoint has exactly one production variant; variants: has "
                f"{len(variants)}",
                "deployspec's choice, not a SageMaker limit: one variant keeps each "
                "--target-model name to one set of archives and one capacity; keep one entry "
                "in variants:, or deploy the others as endpoints of their own",
            )
    if isinstance(data.get("shadow"), dict):
        found.problem(
            ("shadow",),
            "shadow variants do not work with multi-model endpoints",
            f"SageMaker's shadow tests exclude multi-model endpoints: remove shadow:, or "
            f"{_ONE_MODEL}",
            key=True,
        )
    if data.get("async") is not None:
        found.problem(
            ("async",),
            "asynchronous inference does not work with multi-model endpoints",
            f"InvokeEndpointAsync takes no TargetModel: remove the async block, or {_ONE_MODEL}",
            key=True,
        )
    for use, model_at in multi:
        if not use.known:
            continue  # its capacity is refused itself
        if use.realtime_at is None:
            given = _get(data, *use.at, "serverless") is not None
            to = f"give {format_path(use.at)}" if use.at else "add"
            found.problem(
                (*use.at, "serverless") if given else (*model_at, "mode"),
                "multi-model endpoints cannot be serverless"
                + ("" if given else " (without realtime:, an endpoint is serverless)"),
                f"AWS's serverless inference excludes multi-model endpoints: {to} "
                "realtime: {instance_type: ...}" + (" instead of serverless:" if given else ""),
                key=given,
            )
            continue
        instance_type = _instance_type(data, use)
        if instance_type is None or instance_type not in catalog.instance_types():
            continue  # reported as unknown
        framework = _get(data, *model_at, "framework")
        if instance_type.startswith(("ml.inf", "ml.trn")):
            found.problem(
                (*use.realtime_at, "instance_type"),
                "multi-model endpoints do not run on Inferentia or Trainium instances",
                f"use a CPU instance type such as ml.m5.xlarge, or {_ONE_MODEL}",
            )
        # A container that serves no multi-model endpoint at all is refused at its mode:.
        elif framework in MULTI_MODEL_FRAMEWORKS - {Framework.CUSTOM} and _is_gpu(instance_type):
            found.problem(
                (*use.realtime_at, "instance_type"),
                f"the {framework} container serves multi-model endpoints on CPU instances "
                f"only, and {instance_type} is a GPU instance type",
                "use a CPU instance type such as ml.m5.xlarge; on GPUs SageMaker serves "
                "multi-model endpoints only through NVIDIA Triton (framework: custom with a "
                "Triton image)",
            )
