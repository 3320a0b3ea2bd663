"""The one boundary to AWS: domain verbs over boto3, with errors translated.

Contract: `Gateway` is the only object in deployspec that talks to AWS. Its methods take and
return the plain types of `deployspec.resources` (never boto3 dicts; `describe_whole` alone
gives a description as plain JSON data, for what those types leave out), read methods return
None or False for resources that do not exist, and every other failure leaves as an `AwsError`
naming the AWS operation, the error code and message, and a hint where the user can act;
a planned weights transfer whose source (a local file, a copy source in S3) changed since the
plan leaves as a `PlanError` saying to plan again. Request parameters never appear in error
messages: environment values may be secrets. A component's write that SageMaker refuses for
want of room (accelerators, CPU cores, memory or copies the instances cannot hold) is explained:
what each copy and all copies ask for, and what the endpoint's instance type has
(`capacity_explanation`).
`invoke_endpoint_stream` returns once the answer starts; its chunks come while the model
generates, and a stream that breaks off raises `StreamFailure` from them.

Every API call made through a gateway, including each page of a listing and each part of a
multipart upload, is appended to `Gateway.calls` (read or mutating), so tests, benchmarks and
`--debug` can count them. Retries use botocore's adaptive mode; time between attempts is
botocore's, and each retry is told to `Gateway.on_retry` (a `Retry`) before botocore waits, so
a throttled apply shows progress. Clients are created lazily, one per service, under a lock
(creating clients from one boto3 session is not thread-safe; using them is), so one gateway
serves many threads: the plans of many specs share it, and with it botocore's adaptive rate
limit. `sibling()` is a gateway on the same session with its own listener, for parallel applies.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, cast

import boto3
from boto3.exceptions import S3UploadFailedError
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    CredentialRetrievalError,
    HTTPClientError,
    NoCredentialsError,
    NoRegionError,
    ParamValidationError,
    PartialCredentialsError,
    ProfileNotFound,
    TokenRetrievalError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError
from botocore.retries.standard import (
    RetryEventAdapter,
    StandardRetryConditions,
    ThrottlingErrorDetector,
)

from deployspec import __version__
from deployspec.errors import AwsError, PlanError, UnsupportedShapeError
from deployspec.limits import MAX_DEPLOY_TIMEOUT, MIN_DEPLOY_TIMEOUT
from deployspec.resources import (
    APPROVED,
    BACKLOG,
    CONCURRENT_REQUESTS_PER_COPY,
    COPY_COUNT_DIMENSION,
    DEFAULT_ROUTING_STRATEGY,
    INVOCATIONS,
    PROVISIONED_CONCURRENCY,
    VARIANT_NAME,
    AsyncInference,
    Capacity,
    ComputeRequirements,
    DataCapture,
    Deployment,
    Endpoint,
    EndpointConfig,
    InferenceComponent,
    LiveVariant,
    ManagedInstanceScaling,
    Model,
    PackageVersion,
    RollingUpdate,
    Scaling,
    ServerlessConfig,
    Variant,
    Vpc,
    component_scaling_policy,
    scaling_dimension,
)
from deployspec.secrets import SEALED, SENSITIVE
from deployspec.wire import (
    endpoint_config_request,
    inference_component_specification,
    model_request,
)

if TYPE_CHECKING:
    from botocore.client import BaseClient
    from mypy_boto3_application_autoscaling import ApplicationAutoScalingClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import LifecycleRuleTypeDef
    from mypy_boto3_sagemaker import SageMakerClient
    from mypy_boto3_sagemaker.type_defs import (
        DeploymentConfigTypeDef,
        TagTypeDef,
    )
    from mypy_boto3_sagemaker_runtime import SageMakerRuntimeClient
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_ssm import SSMClient
    from mypy_boto3_sts import STSClient

SCALING_NAMESPACE: Final = "sagemaker"
SCALING_DIMENSION: Final = "sagemaker:variant:DesiredInstanceCount"
# What a target with no policy deployspec reads scales, by its dimension.
_DIMENSION_METRICS: Final = {
    SCALING_DIMENSION: INVOCATIONS,
    COPY_COUNT_DIMENSION: CONCURRENT_REQUESTS_PER_COPY,
}
# The dimensions deployspec may have put a scale-from-zero step policy and alarm on.
_FROM_ZERO_DIMENSIONS: Final = frozenset({SCALING_DIMENSION, COPY_COUNT_DIMENSION})
DEFAULT_POLICY_NAME = "deployspec-invocations"
FROM_ZERO_POLICY_NAME = "deployspec-scale-from-zero"

# Metadata key of an uncompressed weights file's sha256 (x-amz-meta-sha256).
WEIGHTS_SHA256_METADATA = "sha256"
# S3 copies at most 5 GiB in one CopyObject; larger objects are copied in parts.
MAX_COPY_BYTES = 5 * 1024**3
COPY_PART_BYTES = 1024**3

# Model artifacts are often several GiB: parts this large keep a 5 GiB upload near 80 parts
# (S3 allows 10,000) while the default 10 threads hold at most 640 MiB in flight.
MULTIPART_CHUNK_BYTES = 64 * 1024 * 1024


_READ_PREFIXES = ("Describe", "List", "Get", "Head")
# Invoking runs the model but changes no resource: it must not count against "zero writes".
_READ_OPERATIONS = frozenset({"InvokeEndpoint", "InvokeEndpointWithResponseStream"})

_ACCESS_DENIED = frozenset(
    {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "403", "Forbidden"}
)
_BAD_CREDENTIALS = frozenset(
    {
        "ExpiredToken",
        "ExpiredTokenException",
        "RequestExpired",
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "InvalidSignatureException",
    }
)
_THROTTLED = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "RequestThrottledException",
        "SlowDown",
    }
)
_S3_MISSING = frozenset({"404", "NoSuchKey", "NoSuchBucket", "NotFound"})

# S3 operations whose IAM action is not named after them.
_S3_ACTIONS = {
    "HeadObject": "s3:GetObject",
    "HeadBucket": "s3:ListBucket",
    "PutBucketEncryption": "s3:PutEncryptionConfiguration",
    "PutPublicAccessBlock": "s3:PutBucketPublicAccessBlock",
    "CreateMultipartUpload": "s3:PutObject",
    "UploadPart": "s3:PutObject",
    "CompleteMultipartUpload": "s3:PutObject",
    "CopyObject": "s3:GetObject and s3:PutObject",
    "UploadPartCopy": "s3:GetObject and s3:PutObject",
    "DeleteObjects": "s3:DeleteObject",
    "ListMultipartUploads": "s3:ListBucketMultipartUploads",
    "GetBucketLifecycleConfiguration": "s3:GetLifecycleConfiguration",
    "PutBucketLifecycleConfiguration": "s3:PutLifecycleConfiguration",
}

# Given to the buckets deployspec creates: the parts of a multipart upload killed midway are
# billed until someone aborts it.
ABORT_INCOMPLETE_UPLOADS_RULE: Final[LifecycleRuleTypeDef] = {
    "ID": "deployspec-abort-incomplete-uploads",
    "Status": "Enabled",
    "Filter": {"Prefix": ""},
    "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
}
_IAM_PREFIX = {"sagemaker-runtime": "sagemaker"}
# The key of an archive deployspec uploads: `<prefix>/<sha256 of its content>/model.tar.gz`.
_ARCHIVE_KEY = re.compile(r"(?P<prefix>.+)/[0-9a-f]{64}/model\.tar\.gz")
# How old an unfinished upload of another archive must be before apply aborts it: no upload of
# a model archive takes a day, and the lifecycle rule above waits as long.
STALE_UPLOAD_SECONDS = 24 * 60 * 60

_CREDENTIALS_HINT = (
    "configure credentials with `aws configure` (or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
    "or `aws sso login`), pick a profile with --profile, or try deployspec locally with --sandbox"
)
_REGION_HINT = "pass --region, set region: in the spec, or export AWS_REGION"


@dataclass(frozen=True)
class Call:
    """One AWS API call made through a gateway."""

    service: str
    operation: str
    mutating: bool


@dataclass(frozen=True)
class Retry:
    """botocore is about to retry a call: it waits first (backoff, and in adaptive mode the
    client's own rate limit), silently, so `Gateway.on_retry` is told for the user to see."""

    service: str
    operation: str
    attempt: int  # the attempt about to be made: 2 or more
    max_attempts: int  # botocore's total, the first attempt included
    throttled: bool
    cause: str  # the error code, or the exception's type when no response came

    @property
    def message(self) -> str:
        what = (
            f"AWS is throttling {self.operation}"
            if self.throttled
            else f"AWS {self.operation} failed ({self.cause})"
        )
        return f"{what}; retrying (attempt {self.attempt} of {self.max_attempts})"


def is_mutating(operation: str) -> bool:
    return not (operation.startswith(_READ_PREFIXES) or operation in _READ_OPERATIONS)


def _placeholder_in(value: Any, depth: int = 0) -> str | None:
    """The first masked or sealed placeholder string inside request parameters, if any."""
    if isinstance(value, str):
        if value == SENSITIVE or value.startswith(SEALED):
            return value if len(value) <= 20 else value[:20] + "…"
        return None
    if depth > 32:
        return None
    if isinstance(value, Mapping):
        items: Iterable[Any] = value.values()
    elif isinstance(value, (list, tuple)):
        items = value
    else:
        return None
    for item in items:
        found = _placeholder_in(item, depth + 1)
        if found is not None:
            return found
    return None


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """`s3://bucket/key` -> (bucket, key)."""
    match = re.fullmatch(r"s3://([^/]+)/(.+)", uri)
    if match is None:
        raise AwsError(f"not an S3 object URI: {uri!r}", hint="expected s3://bucket/key")
    return match.group(1), match.group(2)


@dataclass(frozen=True)
class Invocation:
    """An endpoint's answer to InvokeEndpoint."""

    body: bytes
    content_type: str
    variant: str | None  # InvokedProductionVariant: which variant answered


@dataclass(frozen=True)
class StreamedAnswer:
    """An endpoint's answer to InvokeEndpointWithResponseStream: the bytes of its PayloadParts
    as they arrive. A stream that breaks off raises `StreamFailure` from `chunks`; leaving the
    iteration early closes the connection."""

    content_type: str
    variant: str | None  # InvokedProductionVariant: which variant answered
    chunks: Iterator[bytes]


class StreamFailure(AwsError):
    """A response stream broke off after it had started: the container's ModelStreamError or
    SageMaker's InternalStreamFailure event."""


class Gateway:
    """Domain verbs over one boto3 session; see the module docstring."""

    def __init__(
        self,
        session: boto3.Session,
        *,
        endpoint_url: str | None = None,
        max_attempts: int = 10,
        multipart_chunk_bytes: int = MULTIPART_CHUNK_BYTES,
    ) -> None:
        if not session.region_name:
            raise AwsError("no AWS region is set", hint=_REGION_HINT)
        self._session = session
        self._region: str = session.region_name
        self._endpoint_url = endpoint_url
        self._config = Config(
            retries={"mode": "adaptive", "max_attempts": max_attempts},
            user_agent_extra=f"deployspec/{__version__}",
        )
        self.multipart_chunk_bytes = multipart_chunk_bytes
        self._transfer = TransferConfig(
            multipart_threshold=multipart_chunk_bytes,
            multipart_chunksize=multipart_chunk_bytes,
            preferred_transfer_client="classic",
        )
        self._max_attempts = max_attempts
        self._clients: dict[str, BaseClient] = {}
        # boto3 clients are safe to share across threads; creating them from one session is
        # not: every client of this session (siblings' too) is created under this lock.
        self._lock = threading.Lock()
        self._account_lock = threading.RLock()
        self._account_id: str | None = None
        self.calls: list[Call] = []
        # Bytes of weights files sent in request bodies, and copied server-side (weights).
        self.sent_bytes = 0
        self.copied_bytes = 0
        self._bytes_lock = threading.Lock()
        # Told of every retry botocore is about to make (the CLI shows it as progress). Called
        # from whichever thread made the call, s3transfer's workers included.
        self.on_retry: Callable[[Retry], None] | None = None

    @classmethod
    def connect(
        cls, *, profile: str | None, region: str | None, endpoint_url: str | None = None
    ) -> Gateway:
        """A gateway on the standard credential chain (env, profile, SSO, instance role)."""
        try:
            session = boto3.Session(profile_name=profile, region_name=region)
        except ProfileNotFound as error:
            raise AwsError(
                f"AWS profile {profile!r} not found",
                hint="profiles live in ~/.aws/config and ~/.aws/credentials; "
                "list them with `aws configure list-profiles`",
            ) from error
        return cls(session, endpoint_url=endpoint_url)

    @classmethod
    def local(cls, *, endpoint_url: str, region: str, access_key: str, secret_key: str) -> Gateway:
        """A gateway to a local endpoint (the sandbox), with its own static credentials: the
        credential chain is never consulted, so nothing can reach AWS by accident."""
        session = boto3.Session(
            aws_access_key_id=access_key, aws_secret_access_key=secret_key, region_name=region
        )
        return cls(session, endpoint_url=endpoint_url)

    def sibling(self) -> Gateway:
        """A gateway on the same session with its own clients, `calls` and `on_retry`: for one
        of several applies running at once, whose retries must be told to its own listener."""
        twin = Gateway(
            self._session,
            endpoint_url=self._endpoint_url,
            max_attempts=self._max_attempts,
            multipart_chunk_bytes=self.multipart_chunk_bytes,
        )
        twin._lock = self._lock
        twin._account_id = self._account_id
        return twin

    @property
    def region(self) -> str:
        return self._region

    # --- clients ---------------------------------------------------------------------------

    def _client(self, service: str) -> BaseClient:
        with self._lock:
            client = self._clients.get(service)
            if client is None:
                try:
                    client = self._session.client(
                        service,  # type: ignore[call-overload]
                        region_name=self._region,
                        endpoint_url=self._endpoint_url,
                        config=self._config,
                    )
                except BotoCoreError as error:
                    raise _translate_botocore(error, service, "client setup", self) from error
                # before-parameter-build fires once per API call (not per retry), for stubbed
                # and paginated calls alike, and from s3transfer's worker threads.
                client.meta.events.register("before-parameter-build.*.*", self._record)
                # The generic event runs after botocore's own retry handler (registered for
                # the service), which has then marked a response it will not retry.
                client.meta.events.register("needs-retry", self._retrying)
                self._clients[service] = client
            return client

    def _retrying(
        self,
        attempts: int,
        operation: Any,
        request_dict: Mapping[str, Any],
        response: Any = None,
        caught_exception: Exception | None = None,
        **_: Any,
    ) -> None:
        """needs-retry: tell `on_retry` when botocore's standard conditions retry this attempt.
        Returns None, so that botocore's handler alone decides."""
        listener = self.on_retry
        if listener is None:
            return
        # botocore seeds the total with the first attempt.
        total = request_dict.get("context", {}).get("retries", {}).get("max")
        if not isinstance(total, int) or attempts >= total:
            return
        parsed = response[1] if response is not None else None
        metadata = parsed.get("ResponseMetadata", {}) if isinstance(parsed, dict) else {}
        if metadata.get("RetryQuotaReached") or metadata.get("MaxAttemptsReached"):
            return  # botocore gives up on this one: the error follows at once
        event = {
            "attempts": attempts,
            "operation": operation,
            "request_dict": request_dict,
            "response": response,
            "caught_exception": caught_exception,
        }
        adapter = RetryEventAdapter()
        context = adapter.create_retry_context(**event)
        if not StandardRetryConditions(max_attempts=total).is_retryable(context):
            return
        code = context.get_error_code()
        if caught_exception is not None:
            cause = type(caught_exception).__name__
        elif code is None or str(code).isdigit():
            # A response without a body (HEAD requests): botocore names it by its status.
            cause = f"HTTP {code or context.http_response.status_code}"
        else:
            cause = str(code)
        listener(
            Retry(
                service=str(operation.service_model.service_name),
                operation=str(operation.name),
                attempt=attempts + 1,
                max_attempts=total,
                throttled=ThrottlingErrorDetector(adapter).is_throttling_error(**event),
                cause=cause,
            )
        )

    def _record(self, model: Any, params: Any = None, **_: Any) -> None:
        operation = str(model.name)
        service = str(model.service_model.service_name)
        mutating = is_mutating(operation)
        self.calls.append(Call(service, operation, mutating))
        if mutating and params is not None:
            # The one place every write passes: a value masked for display or sealed in a
            # saved plan must never reach AWS, whatever code path built the request.
            placeholder = _placeholder_in(params)
            if placeholder is not None:
                raise AwsError(
                    f"refusing {service} {operation}: the request holds the placeholder "
                    f"{placeholder!r} instead of a real value",
                    hint="this is a bug in deployspec or an edited plan; nothing was sent",
                )

    def _sagemaker(self) -> SageMakerClient:
        return cast("SageMakerClient", self._client("sagemaker"))

    def _s3(self) -> S3Client:
        return cast("S3Client", self._client("s3"))

    def _autoscaling(self) -> ApplicationAutoScalingClient:
        return cast("ApplicationAutoScalingClient", self._client("application-autoscaling"))

    def _runtime(self) -> SageMakerRuntimeClient:
        return cast("SageMakerRuntimeClient", self._client("sagemaker-runtime"))

    def _sts(self) -> STSClient:
        return cast("STSClient", self._client("sts"))

    @contextmanager
    def _errors(
        self, service: str, operation: str, subject: str, secrets: Iterable[str] = ()
    ) -> Iterator[None]:
        try:
            yield
        except ClientError as error:
            raise _translate_client(error, service, subject, tuple(secrets)) from error
        except BotoCoreError as error:
            if isinstance(error, AssertionError):
                raise  # botocore's Stubber reports test failures as BotoCoreErrors
            raise _translate_botocore(error, service, operation, self, tuple(secrets)) from error

    # --- identity --------------------------------------------------------------------------

    def account_id(self) -> str:
        # Under a lock: specs planned at once on one gateway ask for it once, not each.
        with self._account_lock:
            if self._account_id is None:
                with self._errors("sts", "GetCallerIdentity", "caller"):
                    self._account_id = self._sts().get_caller_identity()["Account"]
            return self._account_id

    # --- SageMaker, read -------------------------------------------------------------------

    def describe_endpoint(self, name: str) -> Endpoint | None:
        with self._errors("sagemaker", "DescribeEndpoint", name):
            try:
                response = self._sagemaker().describe_endpoint(EndpointName=name)
            except ClientError as error:
                if _is_missing(error):
                    return None
                raise
        return _endpoint_from(cast("Mapping[str, Any]", response))

    def describe_endpoint_config(self, name: str) -> EndpointConfig | None:
        with self._errors("sagemaker", "DescribeEndpointConfig", name):
            try:
                response = self._sagemaker().describe_endpoint_config(EndpointConfigName=name)
            except ClientError as error:
                if _is_missing(error):
                    return None
                raise
        return _endpoint_config_from(cast("Mapping[str, Any]", response))

    def describe_model(self, name: str) -> Model | None:
        with self._errors("sagemaker", "DescribeModel", name):
            try:
                response = self._sagemaker().describe_model(ModelName=name)
            except ClientError as error:
                if _is_missing(error):
                    return None
                raise
        return _model_from(cast("Mapping[str, Any]", response))

    def describe_whole(self, kind: str, name: str) -> dict[str, Any] | None:
        """The whole description of an endpoint, endpoint config, model or model package
        version (`kind`: endpoint, endpoint_config, model, model_package), or of a
        variant's autoscaling (`scaling`: its scalable targets and every policy, `name` the
        resource id), as plain JSON data (times as ISO text); None when it does not exist.

        The one exception to the domain types: `import` and adoption in place must see what
        those types leave out (the attributes a spec cannot express) to refuse or name them."""
        client = self._sagemaker()
        calls: dict[str, tuple[str, Callable[[], Mapping[str, Any]]]] = {
            "endpoint": ("DescribeEndpoint", lambda: client.describe_endpoint(EndpointName=name)),
            "endpoint_config": (
                "DescribeEndpointConfig",
                lambda: client.describe_endpoint_config(EndpointConfigName=name),
            ),
            "model": ("DescribeModel", lambda: client.describe_model(ModelName=name)),
            "model_package": (
                "DescribeModelPackage",
                lambda: client.describe_model_package(ModelPackageName=name),
            ),
        }
        if kind == "scaling":
            scaling = self._autoscaling()
            scope: dict[str, Any] = {
                "ServiceNamespace": SCALING_NAMESPACE,
                "ScalableDimension": SCALING_DIMENSION,
            }
            with self._errors("application-autoscaling", "DescribeScalableTargets", name):
                targets = scaling.describe_scalable_targets(ResourceIds=[name], **scope)
                if not targets["ScalableTargets"]:
                    return None
                policies: list[Any] = []
                pages = scaling.get_paginator("describe_scaling_policies")
                for page in pages.paginate(ResourceId=name, **scope):
                    policies.extend(page["ScalingPolicies"])
            whole = {"ScalableTargets": targets["ScalableTargets"], "ScalingPolicies": policies}
            return cast("dict[str, Any]", _plain(whole))
        operation, call = calls[kind]
        with self._errors("sagemaker", operation, name):
            try:
                response = dict(call())
            except ClientError as error:
                if _is_missing(error):
                    return None
                raise
        response.pop("ResponseMetadata", None)
        return cast("dict[str, Any]", _plain(response))

    def list_tags(self, arn: str) -> dict[str, str]:
        tags: dict[str, str] = {}
        with self._errors("sagemaker", "ListTags", arn):
            for page in self._sagemaker().get_paginator("list_tags").paginate(ResourceArn=arn):
                for tag in page.get("Tags", []):
                    tags[tag["Key"]] = tag.get("Value", "")
        return tags

    def list_endpoint_configs(self, name_contains: str) -> list[tuple[str, str, str]]:
        """(name, creation time, ARN) of configs whose name contains the text, oldest first."""
        found: list[tuple[str, str, str]] = []
        with self._errors("sagemaker", "ListEndpointConfigs", name_contains):
            pages = self._sagemaker().get_paginator("list_endpoint_configs")
            for page in pages.paginate(NameContains=name_contains):
                for item in page.get("EndpointConfigs", []):
                    found.append(
                        (
                            item["EndpointConfigName"],
                            _iso(item["CreationTime"]),
                            item["EndpointConfigArn"],
                        )
                    )
        return _named_like(found, name_contains)

    def list_models(self, name_contains: str) -> list[tuple[str, str, str]]:
        """(name, creation time, ARN) of models whose name contains the text, oldest first."""
        found: list[tuple[str, str, str]] = []
        with self._errors("sagemaker", "ListModels", name_contains):
            pages = self._sagemaker().get_paginator("list_models")
            # "" lists every model: SageMaker refuses an empty NameContains.
            listing = (
                pages.paginate(NameContains=name_contains) if name_contains else pages.paginate()
            )
            for page in listing:
                for item in page.get("Models", []):
                    found.append((item["ModelName"], _iso(item["CreationTime"]), item["ModelArn"]))
        return _named_like(found, name_contains)

    # --- inference components, read -------------------------------------------------------

    def list_inference_components(self, endpoint_name: str) -> list[tuple[str, str, str]]:
        """(name, creation time, ARN) of the inference components on an endpoint, oldest
        first: ListInferenceComponents filtered by EndpointNameEquals, every page."""
        found: list[tuple[str, str, str]] = []
        with self._errors("sagemaker", "ListInferenceComponents", endpoint_name):
            pages = self._sagemaker().get_paginator("list_inference_components")
            for page in pages.paginate(EndpointNameEquals=endpoint_name):
                for item in page.get("InferenceComponents", []):
                    # Filtered again: a component of another endpoint is never ours to read.
                    if item.get("EndpointName", endpoint_name) != endpoint_name:
                        continue
                    found.append(
                        (
                            item["InferenceComponentName"],
                            _iso(item["CreationTime"]),
                            item["InferenceComponentArn"],
                        )
                    )
        return sorted(found, key=lambda item: (item[1], item[0]))

    def describe_inference_component(self, name: str) -> InferenceComponent | None:
        with self._errors("sagemaker", "DescribeInferenceComponent", name):
            try:
                response = self._sagemaker().describe_inference_component(
                    InferenceComponentName=name
                )
            except ClientError as error:
                if _is_missing(error):
                    return None
                raise
        return _inference_component_from(cast("Mapping[str, Any]", response))

    # --- SageMaker Model Registry, read ---------------------------------------------------

    def latest_approved_package(self, group: str) -> PackageVersion:
        """The newest Approved version of a model package group (its name or ARN).

        One page sorted by creation time, newest first, is enough: versions are numbered in
        the order they are created, so the highest number on it is the newest (timestamps
        may tie).
        Without one, a second listing (any status) and DescribeModelPackageGroup say why:
        no such group, no versions, or none approved yet."""
        client = self._sagemaker()
        with self._errors("sagemaker", "ListModelPackages", group):
            approved = client.list_model_packages(
                ModelPackageGroupName=group,
                ModelApprovalStatus=APPROVED,
                SortBy="CreationTime",
                SortOrder="Descending",
                MaxResults=100,
            )["ModelPackageSummaryList"]
        if approved:
            newest = max(approved, key=lambda s: s.get("ModelPackageVersion", 0))
            return _package_version(cast("Mapping[str, Any]", newest))
        with self._errors("sagemaker", "ListModelPackages", group):
            listed = client.list_model_packages(
                ModelPackageGroupName=group,
                SortBy="CreationTime",
                SortOrder="Descending",
                MaxResults=100,
            )["ModelPackageSummaryList"]
        if listed:
            versions = sorted(
                (_package_version(cast("Mapping[str, Any]", s)) for s in listed),
                key=lambda v: v.version or 0,
                reverse=True,
            )
            shown = ", ".join(f"{v.version} {v.approval}" for v in versions[:5])
            more = f" and {len(versions) - 5} more" if len(versions) > 5 else ""
            raise AwsError(
                f"model package group {group!r} has no Approved version (newest first: "
                f"{shown}{more})",
                hint="approve a version (`aws sagemaker update-model-package "
                f"--model-package-arn {versions[0].arn} --model-approval-status Approved`), "
                "or name a version's ARN in model.package",
            )
        with self._errors("sagemaker", "DescribeModelPackageGroup", group):
            try:
                client.describe_model_package_group(ModelPackageGroupName=group)
            except ClientError as error:
                if _is_missing(error) or _says_missing(error):
                    raise AwsError(
                        f"there is no model package group {group!r} in {self._region}",
                        hint="check the name (`aws sagemaker list-model-package-groups`); a "
                        "group is looked up in the deployment's region, and model.package may "
                        "also name a version's ARN",
                    ) from None
                raise
        raise AwsError(
            f"model package group {group!r} has no versions yet",
            hint="register a model version in it (CreateModelPackage) and approve it, or name "
            "a version's ARN in model.package",
        )

    def describe_model_package(self, arn: str) -> PackageVersion | None:
        """A model package version by its ARN; None when there is none."""
        with self._errors("sagemaker", "DescribeModelPackage", arn):
            try:
                response = self._sagemaker().describe_model_package(ModelPackageName=arn)
            except ClientError as error:
                if _is_missing(error) or _says_missing(error):
                    return None
                raise
        return _package_version(cast("Mapping[str, Any]", response))

    # --- S3 --------------------------------------------------------------------------------
    # Every call to a bucket carries ExpectedBucketOwner, the caller's account, whichever bucket
    # the spec names: bucket names are global, and the default one, sagemaker-<region>-<account>,
    # is predictable, so anyone could create it first to receive the model artifacts (or serve
    # others in their place). S3 answers 403 for a bucket of another account.

    def object_exists(self, s3_uri: str) -> bool:
        return self.object_etag(s3_uri) is not None

    def object_etag(self, s3_uri: str) -> str | None:
        """The object's ETag (quotes removed), or None when there is no object."""
        bucket, key = parse_s3_uri(s3_uri)
        owner = self.account_id()
        denied = (
            f"allow s3:GetObject and s3:ListBucket on bucket {bucket!r} for the identity you use "
            "(see --profile)"
        )
        with self._s3_errors("HeadObject", bucket, s3_uri, denied_hint=denied):
            try:
                found = self._s3().head_object(Bucket=bucket, Key=key, ExpectedBucketOwner=owner)
            except ClientError as error:
                if _code(error) in _S3_MISSING:
                    return None
                raise
        return str(found.get("ETag", "")).strip('"')

    def bucket_exists(self, bucket: str) -> bool:
        owner = self.account_id()
        denied = (
            f"allow s3:ListBucket on bucket {bucket!r} for the identity you use (see --profile)"
        )
        with self._s3_errors("HeadBucket", bucket, bucket, denied_hint=denied):
            try:
                self._s3().head_bucket(Bucket=bucket, ExpectedBucketOwner=owner)
            except ClientError as error:
                if _code(error) in _S3_MISSING:
                    return False
                raise
        return True

    def bucket_ownership(self, bucket: str) -> str:
        """Whose `bucket` is, as far as HeadBucket tells: "us" (the caller's account),
        "missing", "another account", or "unknown" (refused with and without our
        ExpectedBucketOwner: a missing s3:ListBucket, or another account's bucket we may not
        read). For buckets deployspec never calls itself but hands to SageMaker (a data
        capture destination, a spec's own s3:// model archive)."""
        owner = self.account_id()
        with self._errors("s3", "HeadBucket", bucket):
            try:
                self._s3().head_bucket(Bucket=bucket, ExpectedBucketOwner=owner)
            except ClientError as error:
                if _code(error) in _S3_MISSING:
                    return "missing"
                if _code(error) not in _ACCESS_DENIED:
                    raise
            else:
                return "us"
        return self._bucket_owner(bucket, denied_with_owner=True) or "unknown"

    def create_bucket(self, bucket: str) -> None:
        """A private bucket: encrypted by default (SSE-S3), all public access blocked, and
        incomplete multipart uploads aborted a day after they began (a killed upload's parts are
        billed until then)."""
        s3 = self._s3()
        owner = self.account_id()
        with self._s3_errors("CreateBucket", bucket, bucket):
            try:
                if self._region == "us-east-1":
                    # us-east-1 is the default location and rejects an explicit constraint.
                    s3.create_bucket(Bucket=bucket)
                else:
                    s3.create_bucket(
                        Bucket=bucket,
                        CreateBucketConfiguration={"LocationConstraint": self._region},  # type: ignore[typeddict-item]
                    )
            except ClientError as error:
                if _code(error) == "BucketAlreadyExists":
                    raise AwsError(
                        f"S3 bucket {bucket!r} already exists in another account",
                        hint="bucket names are global; choose another bucket in the spec",
                    ) from error
                # Owned already (an interrupted earlier run): make sure it is locked down.
                if _code(error) != "BucketAlreadyOwnedByYou":
                    raise
            s3.put_bucket_encryption(
                Bucket=bucket,
                ExpectedBucketOwner=owner,
                ServerSideEncryptionConfiguration={
                    "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
                },
            )
            s3.put_public_access_block(
                Bucket=bucket,
                ExpectedBucketOwner=owner,
                PublicAccessBlockConfiguration={
                    "BlockPublicAcls": True,
                    "IgnorePublicAcls": True,
                    "BlockPublicPolicy": True,
                    "RestrictPublicBuckets": True,
                },
            )
            try:
                s3.get_bucket_lifecycle_configuration(Bucket=bucket, ExpectedBucketOwner=owner)
            except ClientError as error:
                if _code(error) != "NoSuchLifecycleConfiguration":
                    raise
            else:
                # A bucket already owned, with rules someone chose: they are not ours to replace
                # (PutBucketLifecycleConfiguration replaces them all).
                return
            s3.put_bucket_lifecycle_configuration(
                Bucket=bucket,
                ExpectedBucketOwner=owner,
                LifecycleConfiguration={"Rules": [ABORT_INCOMPLETE_UPLOADS_RULE]},
            )

    def upload_file(
        self, path: Path, s3_uri: str, progress: Callable[[int], None] | None = None
    ) -> None:
        """Managed upload: multipart above the chunk size, parts in parallel.

        `progress` receives byte counts as they are sent, from worker threads; a part that is
        retried may report a negative count to undo what it had reported.
        """
        bucket, key = parse_s3_uri(s3_uri)
        owner = self.account_id()
        with self._s3_errors("PutObject", bucket, s3_uri):
            try:
                # s3transfer passes it on to CreateMultipartUpload, UploadPart and
                # CompleteMultipartUpload (not to the AbortMultipartUpload of its own cleanup,
                # which only follows a CreateMultipartUpload the owner check let through).
                self._s3().upload_file(
                    str(path),
                    bucket,
                    key,
                    ExtraArgs={"ExpectedBucketOwner": owner},
                    Callback=progress,
                    Config=self._transfer,
                )
            except S3UploadFailedError as error:
                # boto3 wraps the ClientError of the failing part; report that one.
                cause = error.__context__
                if isinstance(cause, ClientError):
                    raise cause from error
                raise AwsError(f"S3 upload to {s3_uri} failed: {error}") from error

    def abort_incomplete_uploads(self, s3_uri: str, *, now: datetime | None = None) -> int:
        """Abort the unfinished multipart uploads of deployspec's archives beside `s3_uri`;
        returns how many.

        `s3_uri` is the archive about to be uploaded, `s3://bucket/<prefix>/<sha256>/model.tar.gz`.
        Under that prefix every key of that form is content-addressed and written only by
        deployspec, and boto3 never resumes an upload: an unfinished one is what an interrupted
        apply left. Aborted are those of this very key, whatever their age (the other possibility,
        a concurrent apply of the same archive, then fails with NoSuchUpload and the next run finds
        the object uploaded), and those of the prefix's other archives begun more than
        STALE_UPLOAD_SECONDS before `now` (a killed upload of an earlier model; a younger one may
        be another apply at work, of a spec sharing the prefix). Any other key, and anything
        outside the prefix, is left alone: the bucket may be shared.
        """
        bucket, key = parse_s3_uri(s3_uri)
        archive = _ARCHIVE_KEY.fullmatch(key)
        prefix = f"{archive.group('prefix')}/" if archive else key
        cutoff = (now or datetime.now(UTC)).timestamp() - STALE_UPLOAD_SECONDS
        owner = self.account_id()
        s3 = self._s3()
        with self._s3_errors("ListMultipartUploads", bucket, s3_uri):
            pages = s3.get_paginator("list_multipart_uploads").paginate(
                Bucket=bucket, Prefix=prefix, ExpectedBucketOwner=owner
            )
            found: list[tuple[str, str]] = []
            for page in pages:
                for upload in page.get("Uploads", []):
                    found_key, upload_id = upload.get("Key", ""), upload.get("UploadId")
                    if upload_id is None:
                        continue
                    if found_key == key:
                        found.append((found_key, upload_id))
                        continue
                    # Only an archive of this very prefix: `<prefix>/<sha256>/model.tar.gz`,
                    # not a deeper key (another spec's prefix may lie below this one).
                    match = _ARCHIVE_KEY.fullmatch(found_key)
                    began = upload.get("Initiated")
                    if (
                        archive is not None
                        and match is not None
                        and match.group("prefix") == archive.group("prefix")
                        and isinstance(began, datetime)
                        and began.timestamp() < cutoff
                    ):
                        found.append((found_key, upload_id))
        aborted = 0
        for found_key, upload_id in found:
            with self._s3_errors("AbortMultipartUpload", bucket, s3_uri):
                try:
                    s3.abort_multipart_upload(
                        Bucket=bucket, Key=found_key, UploadId=upload_id, ExpectedBucketOwner=owner
                    )
                except ClientError as error:
                    if _code(error) == "NoSuchUpload":
                        continue  # completed or aborted since the listing
                    raise
            aborted += 1
        return aborted

    def put_object(self, s3_uri: str, body: bytes, content_type: str) -> None:
        """Write a small object (an asynchronous request's input), owner-checked."""
        bucket, key = parse_s3_uri(s3_uri)
        owner = self.account_id()
        with self._s3_errors("PutObject", bucket, s3_uri):
            self._s3().put_object(
                Bucket=bucket,
                Key=key,
                Body=body,
                ContentType=content_type,
                ExpectedBucketOwner=owner,
            )

    def get_object(self, s3_uri: str) -> tuple[bytes, str] | None:
        """An object's bytes and content type, or None when there is none (yet)."""
        bucket, key = parse_s3_uri(s3_uri)
        owner = self.account_id()
        with self._s3_errors("GetObject", bucket, s3_uri):
            try:
                found = self._s3().get_object(Bucket=bucket, Key=key, ExpectedBucketOwner=owner)
            except ClientError as error:
                if _code(error) in _S3_MISSING:
                    return None
                raise
            return found["Body"].read(), str(found.get("ContentType") or "")

    def list_objects(self, s3_prefix: str) -> dict[str, str]:
        """The objects under an s3:// prefix: their s3:// URIs and ETags (quotes removed)."""
        bucket, prefix = parse_s3_uri(s3_prefix)
        owner = self.account_id()
        found: dict[str, str] = {}
        denied = (
            f"allow s3:ListBucket on bucket {bucket!r} for the identity you use (see --profile)"
        )
        with self._s3_errors("ListObjectsV2", bucket, s3_prefix, denied_hint=denied):
            try:
                pages = (
                    self._s3()
                    .get_paginator("list_objects_v2")
                    .paginate(Bucket=bucket, Prefix=prefix, ExpectedBucketOwner=owner)
                )
                for page in pages:
                    for item in page.get("Contents", []):
                        found[f"s3://{bucket}/{item['Key']}"] = str(item.get("ETag", "")).strip('"')
            except ClientError as error:
                if _code(error) in _S3_MISSING:
                    return {}
                raise
        return found

    # --- uncompressed weights (weights.py) ------------------------------------------------
    # Each file carries its sha256 as metadata (x-amz-meta-sha256), so that a later plan can
    # trust a file an interrupted apply left at its key. Uploads count their bytes in
    # `sent_bytes`, server-side copies theirs in `copied_bytes` (benchmarks, tests).

    def list_shallow(self, s3_prefix: str) -> list[tuple[str, str]]:
        """The objects directly under an s3:// prefix (not in its sub-folders), with their
        LastModified (ISO): the manifests beside a spec's weights trees."""
        bucket, prefix = parse_s3_uri(s3_prefix)
        owner = self.account_id()
        found: list[tuple[str, str]] = []
        with self._s3_errors("ListObjectsV2", bucket, s3_prefix):
            try:
                pages = (
                    self._s3()
                    .get_paginator("list_objects_v2")
                    .paginate(
                        Bucket=bucket, Prefix=prefix, Delimiter="/", ExpectedBucketOwner=owner
                    )
                )
                for page in pages:
                    for item in page.get("Contents", []):
                        found.append((f"s3://{bucket}/{item['Key']}", _iso(item["LastModified"])))
            except ClientError as error:
                if _code(error) in _S3_MISSING:
                    return []
                raise
        return found

    def list_object_sizes(self, s3_prefix: str) -> dict[str, int]:
        """The objects under an s3:// prefix, all depths: their URIs and sizes."""
        bucket, prefix = parse_s3_uri(s3_prefix)
        owner = self.account_id()
        found: dict[str, int] = {}
        with self._s3_errors("ListObjectsV2", bucket, s3_prefix):
            try:
                pages = (
                    self._s3()
                    .get_paginator("list_objects_v2")
                    .paginate(Bucket=bucket, Prefix=prefix, ExpectedBucketOwner=owner)
                )
                for page in pages:
                    for item in page.get("Contents", []):
                        found[f"s3://{bucket}/{item['Key']}"] = int(item.get("Size", 0))
            except ClientError as error:
                if _code(error) in _S3_MISSING:
                    return {}
                raise
        return found

    def object_sha256(self, s3_uri: str) -> tuple[int, str | None] | None:
        """An object's size and the sha256 its metadata records (None: none recorded), or
        None when there is no object."""
        bucket, key = parse_s3_uri(s3_uri)
        owner = self.account_id()
        with self._s3_errors("HeadObject", bucket, s3_uri):
            try:
                found = self._s3().head_object(Bucket=bucket, Key=key, ExpectedBucketOwner=owner)
            except ClientError as error:
                if _code(error) in _S3_MISSING:
                    return None
                raise
        sha = (found.get("Metadata") or {}).get(WEIGHTS_SHA256_METADATA)
        return int(found.get("ContentLength", 0)), sha

    def upload_weights_file(
        self,
        path: Path,
        s3_uri: str,
        sha256: str,
        progress: Callable[[int], None] | None = None,
        *,
        part_bytes: int | None = None,
    ) -> None:
        """Upload one file with its sha256 as metadata, in parts above the part size, reading
        it once: the sha256 of what was sent is checked before the object is made (the
        CompleteMultipartUpload, or the PutObject of a small file), so an object at the key
        always holds the bytes its metadata names. A file that no longer has that digest
        raises AwsError and leaves nothing at the key."""
        bucket, key = parse_s3_uri(s3_uri)
        owner = self.account_id()
        chunk = part_bytes or self.multipart_chunk_bytes
        s3 = self._s3()
        digest = hashlib.sha256()
        changed = PlanError(
            f"{path} changed since the plan (its sha256 is no longer {sha256[:12]}): nothing "
            f"was written at {s3_uri}",
            hint="run plan again, then apply",
        )
        try:
            handle = open(path, "rb")  # noqa: SIM115 - closed below, after the parts
        except OSError as error:
            raise AwsError(
                f"cannot read {path}: {error.strerror}", hint="run plan again, then apply"
            ) from error
        with handle:
            first = handle.read(chunk)
            if len(first) < chunk:
                digest.update(first)
                if digest.hexdigest() != sha256:
                    raise changed
                with self._s3_errors("PutObject", bucket, s3_uri):
                    s3.put_object(
                        Bucket=bucket,
                        Key=key,
                        Body=first,
                        Metadata={WEIGHTS_SHA256_METADATA: sha256},
                        ExpectedBucketOwner=owner,
                    )
                self._count(len(first), progress, copied=False)
                return
            upload_id = self._start_weights_upload(bucket, key, sha256, owner, s3_uri)
            try:
                parts: list[dict[str, Any]] = []
                block = first
                while block:
                    digest.update(block)
                    number = len(parts) + 1
                    with self._s3_errors("UploadPart", bucket, s3_uri):
                        answer = s3.upload_part(
                            Bucket=bucket,
                            Key=key,
                            UploadId=upload_id,
                            PartNumber=number,
                            Body=block,
                            ExpectedBucketOwner=owner,
                        )
                    parts.append({"PartNumber": number, "ETag": answer["ETag"]})
                    self._count(len(block), progress, copied=False)
                    block = handle.read(chunk)
                if digest.hexdigest() != sha256:
                    raise changed
                self._complete(bucket, key, upload_id, parts, s3_uri)
            except BaseException:
                self._abort_quietly(bucket, key, upload_id)
                raise

    def copy_weights_file(
        self,
        source_uri: str,
        s3_uri: str,
        size: int,
        sha256: str,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        """Copy an object server-side (CopyObject; UploadPartCopy in parts above S3's 5 GiB
        limit of one copy), its sha256 metadata set. A source that is gone or is no longer
        the planned size and digest raises AwsError telling to plan again."""
        bucket, key = parse_s3_uri(s3_uri)
        source_bucket, source_key = parse_s3_uri(source_uri)
        found = self.object_sha256(source_uri)
        if found != (size, sha256):
            raise PlanError(
                f"the planned copy source {source_uri} is "
                + ("gone" if found is None else "no longer the planned file")
                + f" (S3 changed since the plan): {s3_uri} was not copied",
                hint="run plan again: it uploads what it can no longer copy",
            )
        owner = self.account_id()
        s3 = self._s3()
        source = {"Bucket": source_bucket, "Key": source_key}
        if size <= MAX_COPY_BYTES:
            with self._s3_errors("CopyObject", bucket, s3_uri):
                s3.copy_object(
                    Bucket=bucket,
                    Key=key,
                    CopySource=source,  # type: ignore[arg-type]
                    MetadataDirective="REPLACE",
                    Metadata={WEIGHTS_SHA256_METADATA: sha256},
                    ExpectedBucketOwner=owner,
                    ExpectedSourceBucketOwner=owner,
                )
            self._count(size, progress, copied=True)
            return
        upload_id = self._start_weights_upload(bucket, key, sha256, owner, s3_uri)
        try:
            parts: list[dict[str, Any]] = []
            for number, start in enumerate(range(0, size, COPY_PART_BYTES), start=1):
                end = min(start + COPY_PART_BYTES, size) - 1
                with self._s3_errors("UploadPartCopy", bucket, s3_uri):
                    answer = s3.upload_part_copy(
                        Bucket=bucket,
                        Key=key,
                        UploadId=upload_id,
                        PartNumber=number,
                        CopySource=source,  # type: ignore[arg-type]
                        CopySourceRange=f"bytes={start}-{end}",
                        ExpectedBucketOwner=owner,
                        ExpectedSourceBucketOwner=owner,
                    )
                parts.append({"PartNumber": number, "ETag": answer["CopyPartResult"]["ETag"]})
                self._count(end + 1 - start, progress, copied=True)
            self._complete(bucket, key, upload_id, parts, s3_uri)
        except BaseException:
            self._abort_quietly(bucket, key, upload_id)
            raise

    def _start_weights_upload(
        self, bucket: str, key: str, sha256: str, owner: str, s3_uri: str
    ) -> str:
        """CreateMultipartUpload of a weights file, carrying the sha256 that resume trusts."""
        with self._s3_errors("CreateMultipartUpload", bucket, s3_uri):
            return str(
                self._s3().create_multipart_upload(
                    Bucket=bucket,
                    Key=key,
                    Metadata={WEIGHTS_SHA256_METADATA: sha256},
                    ExpectedBucketOwner=owner,
                )["UploadId"]
            )

    def _complete(
        self, bucket: str, key: str, upload_id: str, parts: list[dict[str, Any]], s3_uri: str
    ) -> None:
        with self._s3_errors("CompleteMultipartUpload", bucket, s3_uri):
            self._s3().complete_multipart_upload(
                Bucket=bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},  # type: ignore[typeddict-item]
                ExpectedBucketOwner=self.account_id(),
            )

    def _abort_quietly(self, bucket: str, key: str, upload_id: str) -> None:
        """Best effort, on the way out of a failure or a Ctrl-C: the parts are billed until
        aborted (where deployspec made the bucket, its lifecycle rule aborts them a day later),
        and the error that led here is the one to report."""
        with suppress(ClientError, BotoCoreError):
            self._s3().abort_multipart_upload(
                Bucket=bucket, Key=key, UploadId=upload_id, ExpectedBucketOwner=self.account_id()
            )

    def delete_prefix(self, s3_prefix: str) -> int:
        """Delete every object under an s3:// prefix (DeleteObjects, 1000 at a time); returns
        how many."""
        bucket, _ = parse_s3_uri(s3_prefix)
        owner = self.account_id()
        keys = [parse_s3_uri(uri)[1] for uri in sorted(self.list_object_sizes(s3_prefix))]
        for start in range(0, len(keys), 1000):
            batch = keys[start : start + 1000]
            with self._s3_errors("DeleteObjects", bucket, s3_prefix):
                answer = self._s3().delete_objects(
                    Bucket=bucket,
                    Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True},
                    ExpectedBucketOwner=owner,
                )
            errors = answer.get("Errors") or []
            if errors:
                first = errors[0]
                raise AwsError(
                    f"S3 DeleteObjects under {s3_prefix} failed for {len(errors)} object(s): "
                    f"{first.get('Code')}: {first.get('Message')}",
                    hint="allow s3:DeleteObject on the bucket for the identity you use",
                )
        return len(keys)

    def _count(self, size: int, progress: Callable[[int], None] | None, *, copied: bool) -> None:
        with self._bytes_lock:
            if copied:
                self.copied_bytes += size
            else:
                self.sent_bytes += size
        if progress is not None:
            progress(size)

    def delete_object(self, s3_uri: str) -> None:
        """Delete one object; S3 answers the same whether or not it existed."""
        bucket, key = parse_s3_uri(s3_uri)
        owner = self.account_id()
        with self._s3_errors("DeleteObject", bucket, s3_uri):
            self._s3().delete_object(Bucket=bucket, Key=key, ExpectedBucketOwner=owner)

    @contextmanager
    def _s3_errors(
        self, operation: str, bucket: str, subject: str, *, denied_hint: str | None = None
    ) -> Iterator[None]:
        """`_errors` for a call to `bucket`, with S3's 403 explained: with ExpectedBucketOwner
        it means either that the identity may not do this or that another account owns the
        bucket, and a HeadBucket or two tell which where they can."""
        with self._errors("s3", operation, subject):
            try:
                yield
            except ClientError as error:
                if _code(error) not in _ACCESS_DENIED:
                    raise
                raise self._s3_denied(error, operation, bucket, subject, denied_hint) from error

    def _s3_denied(
        self,
        error: ClientError,
        operation: str,
        bucket: str,
        subject: str,
        denied_hint: str | None,
    ) -> AwsError:
        account = self.account_id()
        owner = self._bucket_owner(bucket, denied_with_owner=operation == "HeadBucket")
        if owner == "another account":
            return AwsError(
                f"S3 bucket {bucket!r} belongs to another AWS account, not to {account} (the "
                "one deploying): deployspec does not upload to or read from it",
                hint=f"bucket names are global, and anyone can create one named like the default "
                f"sagemaker-<region>-<account> first; set `bucket:` in the spec to a bucket of "
                f"account {account}",
            )
        if denied_hint is None:
            generic = _translate_client(error, "s3", subject, ())
            text, hint = str(generic), generic.hint or ""
        else:
            text, hint = f"S3 {operation} {subject} failed: access denied", denied_hint
        if owner is None:
            hint += (
                f"; or bucket {bucket!r} belongs to another account: then set `bucket:` in the "
                f"spec to a bucket of account {account}"
            )
        return AwsError(text, hint=hint)

    def _bucket_owner(self, bucket: str, *, denied_with_owner: bool) -> str | None:
        """Who owns the bucket, "us" or "another account", when HeadBucket can tell, else None.
        S3 refuses one with our ExpectedBucketOwner yet allows one without only when another
        account owns the bucket (and lets us read it); `denied_with_owner`: the first was just
        refused."""
        s3 = self._s3()
        try:
            if not denied_with_owner:
                try:
                    s3.head_bucket(Bucket=bucket, ExpectedBucketOwner=self.account_id())
                except ClientError as error:
                    if _code(error) not in _ACCESS_DENIED:
                        return None
                else:
                    return "us"
            s3.head_bucket(Bucket=bucket)
        except ClientError:
            return None
        except BotoCoreError as error:
            if isinstance(error, AssertionError):
                raise  # botocore's Stubber reports test failures as BotoCoreErrors
            return None
        return "another account"

    # --- SageMaker, write ------------------------------------------------------------------

    def create_model(self, model: Model, tags: Mapping[str, str]) -> str:
        request = {"ModelName": model.name, **model_request(model), "Tags": _tag_list(tags)}
        with self._errors("sagemaker", "CreateModel", model.name, model.environment.values()):
            return self._sagemaker().create_model(**request)["ModelArn"]

    def create_endpoint_config(self, config: EndpointConfig, tags: Mapping[str, str]) -> str:
        request = {
            "EndpointConfigName": config.name,
            **endpoint_config_request(config),
            "Tags": _tag_list(tags),
        }
        with self._errors("sagemaker", "CreateEndpointConfig", config.name):
            return self._sagemaker().create_endpoint_config(**request)["EndpointConfigArn"]

    def create_endpoint(self, name: str, config_name: str, tags: Mapping[str, str]) -> str:
        with self._errors("sagemaker", "CreateEndpoint", name):
            response = self._sagemaker().create_endpoint(
                EndpointName=name, EndpointConfigName=config_name, Tags=_tag_list(tags)
            )
        return response["EndpointArn"]

    def update_endpoint(
        self,
        name: str,
        config_name: str,
        deployment: Deployment | None,
        *,
        retain_instance_count: bool = False,
    ) -> None:
        """Move the endpoint to another config, rolled out as `deployment` says.

        Variant properties come from the new config, except the instance count when
        `retain_instance_count` is set: the count the autoscaler chose then survives the update.
        `deployment` None (or a serverless endpoint, which takes no DeploymentConfig) leaves the
        rollout to SageMaker's default.
        """
        request: dict[str, Any] = {
            "EndpointName": name,
            "EndpointConfigName": config_name,
            "RetainAllVariantProperties": retain_instance_count,
        }
        if retain_instance_count:
            # Retain all, then exclude everything but the instance count.
            request["ExcludeRetainedVariantProperties"] = [
                {"VariantPropertyType": "DesiredWeight"},
                {"VariantPropertyType": "DataCaptureConfig"},
            ]
        if deployment is not None:
            request["DeploymentConfig"] = deployment_config(deployment)
        with self._errors("sagemaker", "UpdateEndpoint", name):
            self._sagemaker().update_endpoint(**request)

    def update_capacities(self, name: str, capacities: Mapping[str, Capacity]) -> None:
        """Set live variants' instance counts and/or weights without a new config, in one call
        (UpdateEndpointWeightsAndCapacities), by variant name."""
        desired: list[dict[str, Any]] = []
        for variant, capacity in capacities.items():
            item: dict[str, Any] = {"VariantName": variant}
            if capacity.instance_count is not None:
                item["DesiredInstanceCount"] = capacity.instance_count
            if capacity.weight is not None:
                item["DesiredWeight"] = capacity.weight
            if len(item) > 1:
                desired.append(item)
        if not desired:
            return
        with self._errors("sagemaker", "UpdateEndpointWeightsAndCapacities", name):
            self._sagemaker().update_endpoint_weights_and_capacities(
                EndpointName=name, DesiredWeightsAndCapacities=cast(Any, desired)
            )

    def delete_endpoint(self, name: str) -> bool:
        with self._errors("sagemaker", "DeleteEndpoint", name):
            try:
                self._sagemaker().delete_endpoint(EndpointName=name)
            except ClientError as error:
                if _is_missing(error):
                    return False
                raise
        return True

    def delete_endpoint_config(self, name: str) -> bool:
        with self._errors("sagemaker", "DeleteEndpointConfig", name):
            try:
                self._sagemaker().delete_endpoint_config(EndpointConfigName=name)
            except ClientError as error:
                if _is_missing(error):
                    return False
                raise
        return True

    def delete_model(self, name: str) -> bool:
        with self._errors("sagemaker", "DeleteModel", name):
            try:
                self._sagemaker().delete_model(ModelName=name)
            except ClientError as error:
                if _is_missing(error):
                    return False
                raise
        return True

    # --- inference components, write -----------------------------------------------------
    # A component's name is stable (what clients invoke); what it serves changes in place.

    def create_inference_component(
        self, component: InferenceComponent, tags: Mapping[str, str]
    ) -> str:
        """CreateInferenceComponent with the ownership tags. An adapter (base_component) names
        neither a variant nor a copy count: it runs on its base's copies."""
        request: dict[str, Any] = {
            "InferenceComponentName": component.name,
            "EndpointName": component.endpoint_name,
            "Specification": inference_component_specification(component),
            "Tags": _tag_list(tags),
        }
        if component.base_component is None:
            request["VariantName"] = component.variant_name
        if component.copy_count is not None:
            request["RuntimeConfig"] = {"CopyCount": component.copy_count}
        with self._component_errors("CreateInferenceComponent", component, component.copy_count):
            response = self._sagemaker().create_inference_component(**request)
        return str(response["InferenceComponentArn"])

    def update_inference_component(
        self,
        component: InferenceComponent,
        rolling_update: RollingUpdate | None,
        *,
        copy_count: int | None = None,
    ) -> None:
        """UpdateInferenceComponent: the new specification, rolled out over the copies as
        `rolling_update` says (None: SageMaker's default), with a new copy count when given."""
        request: dict[str, Any] = {
            "InferenceComponentName": component.name,
            "Specification": inference_component_specification(component),
        }
        if copy_count is not None:
            request["RuntimeConfig"] = {"CopyCount": copy_count}
        if rolling_update is not None:
            request["DeploymentConfig"] = rolling_update_config(rolling_update)
        with self._component_errors("UpdateInferenceComponent", component, copy_count):
            self._sagemaker().update_inference_component(**request)

    def update_inference_component_copies(
        self, component: InferenceComponent, copy_count: int
    ) -> None:
        """UpdateInferenceComponentRuntimeConfig: the copy count alone, the specification
        untouched (one write)."""
        with self._component_errors("UpdateInferenceComponentRuntimeConfig", component, copy_count):
            self._sagemaker().update_inference_component_runtime_config(
                InferenceComponentName=component.name,
                DesiredRuntimeConfig={"CopyCount": copy_count},
            )

    def delete_inference_component(self, name: str) -> bool:
        with self._errors("sagemaker", "DeleteInferenceComponent", name):
            try:
                self._sagemaker().delete_inference_component(InferenceComponentName=name)
            except ClientError as error:
                if _is_missing(error):
                    return False
                raise
        return True

    @contextmanager
    def _component_errors(
        self, operation: str, component: InferenceComponent, copies: int | None
    ) -> Iterator[None]:
        """`_errors` for a component's writes, with SageMaker's refusal of what does not fit
        on the endpoint's instances explained: the component, what it asks for, and what the
        instance type has."""
        with self._errors("sagemaker", operation, component.name):
            try:
                yield
            except ClientError as error:
                if not _is_capacity_refusal(error):
                    raise
                raise self._capacity_error(error, operation, component, copies) from error

    def _capacity_error(
        self,
        error: ClientError,
        operation: str,
        component: InferenceComponent,
        copies: int | None,
    ) -> AwsError:
        # Read only on this failure path, best effort: the refusal is what matters.
        variant: Variant | None = None
        with suppress(AwsError, UnsupportedShapeError):
            endpoint = self.describe_endpoint(component.endpoint_name)
            config = (
                self.describe_endpoint_config(endpoint.config_name)
                if endpoint is not None
                else None
            )
            if config is not None:
                variant = config.variant_named(component.variant_name)
        return AwsError(
            f"AWS {operation} {component.name!r} failed: {_code(error)}: {_message(error)}\n"
            + capacity_explanation(component, copies, variant),
            hint="ask less of each copy (compute:), run fewer copies, let managed scaling add "
            "instances (realtime.managed_scaling.max), or choose an instance type with more "
            "accelerators, CPU cores and memory (realtime.instance_type)",
        )

    def add_tags(self, arn: str, tags: Mapping[str, str]) -> None:
        if not tags:
            return
        with self._errors("sagemaker", "AddTags", arn):
            self._sagemaker().add_tags(ResourceArn=arn, Tags=_tag_list(tags))

    def delete_tags(self, arn: str, keys: Iterable[str]) -> None:
        key_list = sorted(set(keys))
        if not key_list:
            return
        with self._errors("sagemaker", "DeleteTags", arn):
            self._sagemaker().delete_tags(ResourceArn=arn, TagKeys=key_list)

    # --- Application Auto Scaling ----------------------------------------------------------

    def describe_scaling(self, resource_id: str) -> Scaling | None:
        """The variant's scalable target and its invocations target-tracking policy."""
        found = self.describe_scalings([resource_id])
        return found[0] if found else None

    def describe_scalings(self, resource_ids: Sequence[str]) -> list[Scaling]:
        """The scalable targets of these variants and components that exist, each with its
        target-tracking policy: one DescribeScalableTargets for all of them (per 50), then the
        policies. Those of a variant's target are read per target (an adopted endpoint's may
        have any name); those of every component's copies at once, by their names, which are
        the component's own (`component_scaling_policy`, `from_zero_policy`): an unchanged
        spec autoscaling every component costs two reads, not one more per component."""
        if not resource_ids:
            return []
        client = self._autoscaling()
        targets: list[Mapping[str, Any]] = []
        for start in range(0, len(resource_ids), 50):  # the API's limit per call
            batch = list(resource_ids[start : start + 50])
            # Every dimension: a serverless variant scales its provisioned concurrency.
            with self._errors("application-autoscaling", "DescribeScalableTargets", batch[0]):
                targets.extend(
                    client.describe_scalable_targets(
                        ServiceNamespace=SCALING_NAMESPACE, ResourceIds=batch
                    )["ScalableTargets"]
                )
        by_id = {str(t["ResourceId"]): t for t in targets}
        of_components = self._component_policies(
            [r for r in resource_ids if r in by_id and _component_of(r) is not None]
        )
        out: list[Scaling] = []
        for resource_id in resource_ids:
            target = by_id.get(resource_id)
            if target is None:
                continue
            dimension = str(target.get("ScalableDimension", SCALING_DIMENSION))
            policies = of_components.get(resource_id)
            if policies is None:
                policies = []
                with self._errors(
                    "application-autoscaling", "DescribeScalingPolicies", resource_id
                ):
                    pages = client.get_paginator("describe_scaling_policies").paginate(
                        ServiceNamespace=SCALING_NAMESPACE,
                        ResourceId=resource_id,
                        ScalableDimension=cast(Any, dimension),
                    )
                    for page in pages:
                        policies.extend(cast("list[Mapping[str, Any]]", page["ScalingPolicies"]))
            policy = _tracking_policy(policies)
            tracking: Mapping[str, Any] = (
                policy.get("TargetTrackingScalingPolicyConfiguration", {}) if policy else {}
            )
            metric = _tracked_metric(tracking) if policy else None
            if metric is None:
                # No policy deployspec reads: the dimension says what the target scales.
                metric = _DIMENSION_METRICS.get(dimension, PROVISIONED_CONCURRENCY)
            out.append(
                Scaling(
                    resource_id=resource_id,
                    min_capacity=target["MinCapacity"],
                    max_capacity=target["MaxCapacity"],
                    target_value=tracking.get("TargetValue"),
                    scale_in_cooldown=tracking.get("ScaleInCooldown"),
                    scale_out_cooldown=tracking.get("ScaleOutCooldown"),
                    policy_name=policy["PolicyName"] if policy else None,
                    metric=metric,
                    scale_from_zero=any(
                        p.get("PolicyName") == from_zero_policy(resource_id) for p in policies
                    ),
                )
            )
        return out

    def _component_policies(
        self, resource_ids: Sequence[str]
    ) -> dict[str, list[Mapping[str, Any]]]:
        """The policies deployspec puts on these components' copies, by resource id (each id
        present, with none found: []): DescribeScalingPolicies by policy names alone, up to 50
        names (25 components) a call, paged. Only a policy of a component asked for, under the
        name deployspec gives it there, counts: the names filter is the whole namespace's."""
        names_of = {
            r: {component_scaling_policy(_component_of(r) or ""), from_zero_policy(r)}
            for r in resource_ids
        }
        found: dict[str, list[Mapping[str, Any]]] = {r: [] for r in resource_ids}
        ids = list(names_of)
        for start in range(0, len(ids), 25):
            batch = ids[start : start + 25]
            names = sorted(name for r in batch for name in names_of[r])
            with self._errors("application-autoscaling", "DescribeScalingPolicies", batch[0]):
                pages = (
                    self._autoscaling()
                    .get_paginator("describe_scaling_policies")
                    .paginate(ServiceNamespace=SCALING_NAMESPACE, PolicyNames=names)
                )
                for page in pages:
                    for policy in cast("list[Mapping[str, Any]]", page["ScalingPolicies"]):
                        owner = str(policy.get("ResourceId", ""))
                        if policy.get("PolicyName") in names_of.get(owner, ()):
                            found[owner].append(policy)
        return found

    def put_scaling(self, scaling: Scaling) -> None:
        """Register the target; with a target value, put the target-tracking policy too; for
        an asynchronous endpoint scaling from zero, the step policy and the CloudWatch alarm
        on HasBacklogWithoutCapacity that bring its first instance back, for an inference
        component scaling from zero copies, those on NoCapacityInvocationFailures that bring
        its first copy back (and else remove them, where an earlier apply put them)."""
        client = self._autoscaling()
        dimension = cast(Any, scaling.dimension)
        with self._errors("application-autoscaling", "RegisterScalableTarget", scaling.resource_id):
            client.register_scalable_target(
                ServiceNamespace=SCALING_NAMESPACE,
                ResourceId=scaling.resource_id,
                ScalableDimension=dimension,
                MinCapacity=scaling.min_capacity,
                MaxCapacity=scaling.max_capacity,
            )
            if scaling.target_value is None:
                return
            tracking: dict[str, Any] = {
                "TargetValue": scaling.target_value,
                **_metric_specification(scaling),
            }
            if scaling.scale_in_cooldown is not None:
                tracking["ScaleInCooldown"] = scaling.scale_in_cooldown
            if scaling.scale_out_cooldown is not None:
                tracking["ScaleOutCooldown"] = scaling.scale_out_cooldown
            client.put_scaling_policy(
                PolicyName=scaling.policy_name or DEFAULT_POLICY_NAME,
                ServiceNamespace=SCALING_NAMESPACE,
                ResourceId=scaling.resource_id,
                ScalableDimension=dimension,
                PolicyType="TargetTrackingScaling",
                TargetTrackingScalingPolicyConfiguration=cast(Any, tracking),
            )
        if scaling.scale_from_zero:
            self._put_scale_from_zero(scaling)
        else:
            self._delete_scale_from_zero(scaling.resource_id, scaling.dimension)

    def _cloudwatch(self) -> Any:
        # No type stubs are installed for CloudWatch, the one call site of each method.
        return self._client("cloudwatch")

    def _put_scale_from_zero(self, scaling: Scaling) -> None:
        alarm = from_zero_alarm_request(scaling.resource_id)
        with self._errors("application-autoscaling", "PutScalingPolicy", scaling.resource_id):
            arn = self._autoscaling().put_scaling_policy(
                PolicyName=from_zero_policy(scaling.resource_id),
                ServiceNamespace=SCALING_NAMESPACE,
                ResourceId=scaling.resource_id,
                ScalableDimension=cast(Any, scaling.dimension),
                PolicyType="StepScaling",
                StepScalingPolicyConfiguration={
                    "AdjustmentType": "ChangeInCapacity",
                    "MetricAggregationType": alarm["Statistic"],
                    "Cooldown": scaling.scale_out_cooldown or 300,
                    "StepAdjustments": [{"MetricIntervalLowerBound": 0, "ScalingAdjustment": 1}],
                },
            )["PolicyARN"]
        name = alarm["AlarmName"]
        with self._errors("cloudwatch", "PutMetricAlarm", name):
            self._cloudwatch().put_metric_alarm(**alarm, AlarmActions=[arn])

    def _delete_scale_from_zero(self, resource_id: str, dimension: str) -> None:
        """Remove the step policy and alarm of scaling from zero, where an earlier apply put
        them (looked for first: AWS answers a missing policy with an error)."""
        if dimension not in _FROM_ZERO_DIMENSIONS:
            return
        client = self._autoscaling()
        policy_name = from_zero_policy(resource_id)
        with self._errors("application-autoscaling", "DescribeScalingPolicies", resource_id):
            found = client.describe_scaling_policies(
                ServiceNamespace=SCALING_NAMESPACE,
                ResourceId=resource_id,
                ScalableDimension=cast(Any, dimension),
                PolicyNames=[policy_name],
            )["ScalingPolicies"]
        # (By name again: moto ignores PolicyNames.)
        if not any(p.get("PolicyName") == policy_name for p in found):
            return
        with self._errors("application-autoscaling", "DeleteScalingPolicy", resource_id):
            client.delete_scaling_policy(
                PolicyName=policy_name,
                ServiceNamespace=SCALING_NAMESPACE,
                ResourceId=resource_id,
                ScalableDimension=cast(Any, dimension),
            )
        name = from_zero_alarm(resource_id)
        with self._errors("cloudwatch", "DeleteAlarms", name):
            # DeleteAlarms ignores names that do not exist.
            self._cloudwatch().delete_alarms(AlarmNames=[name])

    def delete_scaling(self, resource_id: str, metric: str = INVOCATIONS) -> bool:
        """Deregister the target (AWS deletes its policies with it) and the scale-from-zero
        alarm deployspec may have put beside it; False if there was no target."""
        dimension = scaling_dimension(metric)
        with self._errors("application-autoscaling", "DeregisterScalableTarget", resource_id):
            try:
                self._autoscaling().deregister_scalable_target(
                    ServiceNamespace=SCALING_NAMESPACE,
                    ResourceId=resource_id,
                    ScalableDimension=cast(Any, dimension),
                )
            except ClientError as error:
                if _is_missing(error):
                    return False
                raise
        if dimension in _FROM_ZERO_DIMENSIONS:
            name = from_zero_alarm(resource_id)
            with self._errors("cloudwatch", "DeleteAlarms", name):
                self._cloudwatch().delete_alarms(AlarmNames=[name])
        return True

    # --- runtime ---------------------------------------------------------------------------

    def invoke_endpoint(
        self,
        name: str,
        body: bytes,
        content_type: str,
        accept: str,
        *,
        variant: str | None = None,
        target_model: str | None = None,
        component: str | None = None,
    ) -> Invocation:
        """The endpoint's answer, from the production variant `variant` when given
        (TargetVariant), else from the one SageMaker picks by weight; on a multi-model
        endpoint, from the archive `target_model` (its key under the prefix); on an endpoint
        of inference components, from the component `component` (InferenceComponentName)."""
        request: dict[str, Any] = {
            "EndpointName": name,
            "Body": body,
            "ContentType": content_type,
            "Accept": accept,
        }
        if variant is not None:
            request["TargetVariant"] = variant
        if target_model is not None:
            request["TargetModel"] = target_model
        if component is not None:
            request["InferenceComponentName"] = component
        with self._errors("sagemaker-runtime", "InvokeEndpoint", name):
            response = self._runtime().invoke_endpoint(**request)
            payload = response["Body"].read()
        return Invocation(
            payload, response.get("ContentType", accept), response.get("InvokedProductionVariant")
        )

    def invoke_endpoint_stream(
        self,
        name: str,
        body: bytes,
        content_type: str,
        accept: str,
        *,
        variant: str | None = None,
        component: str | None = None,
    ) -> StreamedAnswer:
        """The endpoint's answer as a stream (InvokeEndpointWithResponseStream), from the
        production variant `variant` when given, from the inference component `component` on
        an endpoint that has them. Only containers that stream can answer (SageMaker has no
        TargetModel here: multi-model endpoints do not stream)."""
        request: dict[str, Any] = {
            "EndpointName": name,
            "Body": body,
            "ContentType": content_type,
            "Accept": accept,
        }
        if variant is not None:
            request["TargetVariant"] = variant
        if component is not None:
            request["InferenceComponentName"] = component
        with self._stream_errors(name):
            response = self._runtime().invoke_endpoint_with_response_stream(**request)
        return StreamedAnswer(
            response.get("ContentType", accept),
            response.get("InvokedProductionVariant"),
            self._payload_parts(response["Body"], name),
        )

    def _payload_parts(self, events: Any, name: str) -> Iterator[bytes]:
        from botocore.eventstream import ParserError
        from urllib3.exceptions import HTTPError

        try:
            with self._stream_errors(name):
                # botocore raises an EventStreamError (a ClientError) for the exception events,
                # ModelStreamError and InternalStreamFailure; PayloadParts are the answer.
                for event in events:
                    part = event.get("PayloadPart")
                    if part is not None and part.get("Bytes"):
                        yield part["Bytes"]
        except (HTTPError, ParserError) as error:
            # botocore reads an event stream straight from urllib3 and wraps none of its
            # errors: a connection cut or timed out mid-answer, or a frame that fails its CRC.
            raise StreamFailure(
                f"the stream from endpoint {name!r} broke off: {error}",
                hint="the connection was lost while the model was answering: send the request "
                "again",
            ) from error
        finally:
            events.close()

    @contextmanager
    def _stream_errors(self, name: str) -> Iterator[None]:
        try:
            yield
        except ClientError as error:
            raise _translate_stream(error, name) from error
        except BotoCoreError as error:
            if isinstance(error, AssertionError):
                raise  # botocore's Stubber reports test failures as BotoCoreErrors
            raise _translate_botocore(
                error, "sagemaker-runtime", "InvokeEndpointWithResponseStream", self
            ) from error

    def invoke_endpoint_async(
        self, name: str, input_location: str, content_type: str, accept: str
    ) -> tuple[str, str | None]:
        """Queue a request whose input is at `input_location`: (where the answer will be,
        where a failure would be, when the endpoint has a failure path)."""
        with self._errors("sagemaker-runtime", "InvokeEndpointAsync", name):
            response = self._runtime().invoke_endpoint_async(
                EndpointName=name,
                InputLocation=input_location,
                ContentType=content_type,
                Accept=accept,
            )
        return response["OutputLocation"], response.get("FailureLocation")

    # --- Secrets Manager and SSM Parameter Store, read (model.env references) --------------
    # Values come back only in responses: requests carry names, and no error text holds a
    # value.

    def _regional_client(self, service: str, arn_or_name: str) -> BaseClient:
        """The service's client in the region an ARN names (a secret is read where it lives),
        else the gateway's own."""
        parts = arn_or_name.split(":")
        region = parts[3] if arn_or_name.startswith("arn:") and len(parts) > 5 else ""
        if not region or region == self._region:
            return self._client(service)
        key = f"{service}@{region}"
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                try:
                    client = self._session.client(
                        service,  # type: ignore[call-overload]
                        region_name=region,
                        endpoint_url=self._endpoint_url,
                        config=self._config,
                    )
                except BotoCoreError as error:
                    raise _translate_botocore(error, service, "client setup", self) from error
                client.meta.events.register("before-parameter-build.*.*", self._record)
                self._clients[key] = client
            return client

    def get_secret_value(self, arn_or_name: str) -> str:
        """The SecretString of a Secrets Manager secret's current version."""
        client = cast("SecretsManagerClient", self._regional_client("secretsmanager", arn_or_name))
        with self._errors("secretsmanager", "GetSecretValue", arn_or_name):
            try:
                response = client.get_secret_value(SecretId=arn_or_name)
            except ClientError as error:
                if _code(error) == "ResourceNotFoundException":
                    raise AwsError(
                        f"AWS Secrets Manager has no secret {arn_or_name!r}",
                        hint="check the ARN or name; a name is looked up in the deployment's "
                        f"region ({self._region}), an ARN in the region it names",
                    ) from None
                raise
        value = response.get("SecretString")
        if value is None:
            raise AwsError(
                f"secret {arn_or_name!r} holds binary data (SecretBinary), not text",
                hint="container environment values are text: store the secret as a string",
            )
        return value

    def get_parameter(self, name: str) -> str:
        """The value of an SSM parameter (name or ARN), SecureString decrypted."""
        client = cast("SSMClient", self._regional_client("ssm", name))
        with self._errors("ssm", "GetParameter", name):
            try:
                response = client.get_parameter(Name=name, WithDecryption=True)
            except ClientError as error:
                if _code(error) in ("ParameterNotFound", "ParameterVersionNotFound"):
                    raise AwsError(
                        f"AWS SSM Parameter Store has no parameter {name!r}",
                        hint="check the name (hierarchical names start with /) or ARN; a name "
                        f"is looked up in the deployment's region ({self._region})",
                    ) from None
                raise
        return response["Parameter"].get("Value", "")


# --- request building ----------------------------------------------------------------------


def deployment_config(deployment: Deployment) -> DeploymentConfigTypeDef:
    """UpdateEndpoint's DeploymentConfig for a strategy of the spec."""
    wait = deployment.step_wait_seconds or 0
    timeout = min(max(deployment.timeout_seconds, MIN_DEPLOY_TIMEOUT), MAX_DEPLOY_TIMEOUT)
    config: dict[str, Any]
    match deployment.strategy:
        case "all_at_once" | "canary" | "linear":
            routing: dict[str, Any] = {
                "Type": deployment.strategy.upper(),
                "WaitIntervalInSeconds": wait,
            }
            if deployment.strategy == "canary":
                routing["CanarySize"] = _capacity_percent(deployment)
            elif deployment.strategy == "linear":
                routing["LinearStepSize"] = _capacity_percent(deployment)
            config = {
                "BlueGreenUpdatePolicy": {
                    "TrafficRoutingConfiguration": routing,
                    # The old fleet goes once traffic has shifted and the bake time passed.
                    "TerminationWaitInSeconds": 0,
                    "MaximumExecutionTimeoutInSeconds": timeout,
                }
            }
        case "rolling":
            config = {
                "RollingUpdatePolicy": {
                    "MaximumBatchSize": _capacity_percent(deployment),
                    "WaitIntervalInSeconds": wait,
                    "MaximumExecutionTimeoutInSeconds": timeout,
                }
            }
        case other:
            raise ValueError(f"unknown deployment strategy {other!r}")
    if deployment.rollback_alarms:
        config["AutoRollbackConfiguration"] = {
            "Alarms": [{"AlarmName": alarm} for alarm in deployment.rollback_alarms]
        }
    return cast("DeploymentConfigTypeDef", config)


def rolling_update_config(policy: RollingUpdate) -> dict[str, Any]:
    """UpdateInferenceComponent's DeploymentConfig: copies replaced in batches."""
    rolling: dict[str, Any] = {
        "MaximumBatchSize": {"Type": policy.batch_type, "Value": policy.batch_value},
        "WaitIntervalInSeconds": policy.wait_seconds,
    }
    if policy.timeout_seconds is not None:
        rolling["MaximumExecutionTimeoutInSeconds"] = policy.timeout_seconds
    if policy.rollback_batch_type is not None and policy.rollback_batch_value is not None:
        rolling["RollbackMaximumBatchSize"] = {
            "Type": policy.rollback_batch_type,
            "Value": policy.rollback_batch_value,
        }
    return {"RollingUpdatePolicy": rolling}


def compute_text(compute: ComputeRequirements, copies: int = 1) -> str:
    """What `copies` copies reserve, in words: "2 accelerators, 4 CPU cores, 16384 MB"."""
    parts: list[str] = []
    if compute.accelerators:
        parts.append(_counted(compute.accelerators * copies, "accelerator"))
    if compute.cpu_cores:
        parts.append(_counted(compute.cpu_cores * copies, "CPU core"))
    memory = f"{compute.min_memory_mb * copies} MB memory"
    if compute.max_memory_mb is not None:
        memory += f" (up to {compute.max_memory_mb * copies} MB)"
    parts.append(memory)
    return ", ".join(parts)


def _counted(value: float, unit: str) -> str:
    shown = f"{value:g}"
    return f"{shown} {unit}{'' if shown == '1' else 's'}"


def capacity_explanation(
    component: InferenceComponent, copies: int | None, variant: Variant | None
) -> str:
    """Why a component does not fit, for people: what each copy and all copies ask for, and
    what the endpoint's instance type (and count) offers."""
    from deployspec.gpus import UnknownGpuCount, accelerators

    lines: list[str] = []
    if component.compute is not None:
        lines.append(
            f"inference component {component.name} asks, per copy, for "
            f"{compute_text(component.compute)}"
        )
        if copies is not None and copies > 1:
            lines.append(f"its {copies} copies ask for {compute_text(component.compute, copies)}")
    elif component.base_component is not None:
        lines.append(
            f"inference component {component.name} is an adapter on {component.base_component}, "
            "running on its copies"
        )
    if variant is not None and variant.instance_type is not None:
        try:
            found = accelerators(variant.instance_type)
            has = (
                _counted(found.count, f"{found.kind} accelerator")
                if found.count
                else "no accelerators"
            )
        except UnknownGpuCount:
            has = "an accelerator count deployspec does not know"
        count = variant.initial_instance_count
        scaling = variant.managed_scaling
        instances = (
            f"between {scaling.min_instance_count} and {scaling.max_instance_count} instances "
            "(managed scaling)"
            if scaling is not None
            else f"{count} instance{'' if count == 1 else 's'}"
        )
        lines.append(
            f"endpoint {component.endpoint_name} runs {variant.instance_type} ({has} each), "
            f"{instances}"
        )
    return "; ".join(lines)


def _is_capacity_refusal(error: ClientError) -> bool:
    """SageMaker's refusal of a component that does not fit on the endpoint's instances (too
    many accelerators, CPU cores or too much memory per copy, or more copies than fit): a
    ValidationException or ResourceLimitExceeded naming what is short. Judged by its words,
    as SageMaker gives no code of its own for it."""
    if _code(error) not in ("ValidationException", "ResourceLimitExceeded"):
        return False
    message = _message(error).lower()
    short = any(
        word in message
        for word in ("capacity", "insufficient", "not enough", "exceed", "more than", "fit")
    )
    resource = any(
        word in message for word in ("accelerator", "gpu", "cpu", "core", "memory", "copies")
    )
    return short and resource


def _capacity_percent(deployment: Deployment) -> dict[str, Any]:
    if deployment.step_percent is None:
        raise ValueError(f"strategy {deployment.strategy!r} needs step_percent")
    return {"Type": "CAPACITY_PERCENT", "Value": deployment.step_percent}


def _tag_list(tags: Mapping[str, str]) -> list[TagTypeDef]:
    return [{"Key": key, "Value": value} for key, value in sorted(tags.items())]


# --- response reading ----------------------------------------------------------------------


def _iso(value: object) -> str:
    # botocore gives local-time datetimes: normalise to UTC so timestamps compare and sort the
    # same on every machine (a plan made in CI is applied from a laptop elsewhere).
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat() if value.tzinfo else value.isoformat()
    return str(value)


def _plain(value: Any) -> Any:
    """A response as JSON data: times as ISO text (describe_whole)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, datetime):
        return _iso(value)
    return value


def _named_like(found: list[tuple[str, str, str]], text: str) -> list[tuple[str, str, str]]:
    # moto ignores NameContains for models; filtering again costs nothing against AWS.
    lowered = text.lower()
    matching = (item for item in found if lowered in item[0].lower())
    return sorted(matching, key=lambda item: (item[1], item[0]))


def _model_from(data: Mapping[str, Any]) -> Model:
    containers = data.get("Containers") or [{}]
    container: Mapping[str, Any] = data.get("PrimaryContainer") or containers[0]
    data_url = container.get("ModelDataUrl")
    data_source: str | None = None
    s3_source: Mapping[str, Any] = (container.get("ModelDataSource") or {}).get(
        "S3DataSource"
    ) or {}
    if data_url is None and s3_source:
        if s3_source.get("S3DataType") == "S3Prefix" and s3_source.get("CompressionType") == "None":
            data_source = s3_source.get("S3Uri")  # uncompressed: read as deployspec sends it
        else:
            data_url = s3_source.get("S3Uri")
    vpc_data: Mapping[str, Any] = data.get("VpcConfig") or {}
    vpc = (
        Vpc(
            subnets=tuple(vpc_data.get("Subnets", ())),
            security_groups=tuple(vpc_data.get("SecurityGroupIds", ())),
        )
        if vpc_data.get("Subnets") or vpc_data.get("SecurityGroupIds")
        else None
    )
    return Model(
        name=data["ModelName"],
        image=container.get("Image", ""),
        model_data_url=data_url,
        environment=dict(container.get("Environment", {})),
        execution_role_arn=data.get("ExecutionRoleArn", ""),
        network_isolation=bool(data.get("EnableNetworkIsolation", False)),
        vpc=vpc,
        arn=data.get("ModelArn"),
        multi_model=container.get("Mode") == "MultiModel",
        model_package_name=container.get("ModelPackageName"),
        model_data_source=data_source,
    )


def _package_version(data: Mapping[str, Any]) -> PackageVersion:
    """A ModelPackageSummary or DescribeModelPackage answer."""
    version = data.get("ModelPackageVersion")
    return PackageVersion(
        arn=str(data.get("ModelPackageArn", "")),
        group=data.get("ModelPackageGroupName"),
        version=int(version) if version is not None else None,
        approval=str(data.get("ModelApprovalStatus", "")),
    )


def _endpoint_config_from(data: Mapping[str, Any]) -> EndpointConfig:
    name = data.get("EndpointConfigName", "?")
    variants: list[Mapping[str, Any]] = list(data.get("ProductionVariants") or [])
    shadows: list[Mapping[str, Any]] = list(data.get("ShadowProductionVariants") or [])
    # Production variants without a model are an inference-component endpoint's (its models
    # are its components'), read as such; a shadow without one, or such variants beside
    # variants of a model, are shapes deployspec does not manage: reported, never misread.
    modelless = [str(v.get("VariantName")) for v in variants if "ModelName" not in v]
    shadow_modelless = [str(v.get("VariantName")) for v in shadows if "ModelName" not in v]
    mixed = bool(modelless) and (len(modelless) != len(variants) or bool(shadows))
    if not variants or shadow_modelless or mixed:
        if not variants:
            what = "no production variant"
        elif shadow_modelless:
            what = (
                f"a variant without a model ({', '.join(shadow_modelless)}: a shadow of "
                "inference components)"
            )
        else:
            what = (
                f"a variant without a model ({', '.join(modelless)}: an inference-component "
                "endpoint's) beside " + ("a shadow" if shadows else "variants of a model")
            )
        raise UnsupportedShapeError(
            f"endpoint config {name} has {what}; deployspec does not manage such endpoints yet",
            hint="manage this endpoint with the tool that created it, or give the spec "
            "another name",
        )
    capture_data: Mapping[str, Any] | None = data.get("DataCaptureConfig")
    capture = (
        DataCapture(
            destination=capture_data["DestinationS3Uri"],
            sampling_percent=capture_data["InitialSamplingPercentage"],
        )
        if capture_data and capture_data.get("EnableCapture", True)
        else None
    )
    return EndpointConfig(
        name=data["EndpointConfigName"],
        variants=tuple(_variant_from(v) for v in variants),
        data_capture=capture,
        arn=data.get("EndpointConfigArn"),
        async_inference=_async_inference_from(data.get("AsyncInferenceConfig")),
        shadow_variants=tuple(_variant_from(v) for v in shadows),
        execution_role_arn=data.get("ExecutionRoleArn"),
    )


def _variant_from(variant: Mapping[str, Any]) -> Variant:
    serverless_data: Mapping[str, Any] | None = variant.get("ServerlessConfig")
    serverless = (
        ServerlessConfig(
            memory_mb=serverless_data["MemorySizeInMB"],
            max_concurrency=serverless_data["MaxConcurrency"],
            provisioned_concurrency=serverless_data.get("ProvisionedConcurrency"),
        )
        if serverless_data
        else None
    )
    managed: Mapping[str, Any] = variant.get("ManagedInstanceScaling") or {}
    return Variant(
        model_name=variant.get("ModelName"),
        variant_name=variant["VariantName"],
        serverless=serverless,
        instance_type=variant.get("InstanceType"),
        initial_instance_count=variant.get("InitialInstanceCount"),
        volume_size_gb=variant.get("VolumeSizeInGB"),
        initial_weight=float(variant.get("InitialVariantWeight", 1.0)),
        startup_health_check_timeout=variant.get("ContainerStartupHealthCheckTimeoutInSeconds"),
        model_data_download_timeout=variant.get("ModelDataDownloadTimeoutInSeconds"),
        inference_ami_version=variant.get("InferenceAmiVersion"),
        routing_strategy=_routing_strategy(variant.get("RoutingConfig")),
        # DISABLED (or absent) is no managed scaling: the count is the initial one.
        managed_scaling=ManagedInstanceScaling(
            min_instance_count=int(managed.get("MinInstanceCount", 0)),
            max_instance_count=int(managed.get("MaxInstanceCount", 0)),
        )
        if managed.get("Status") == "ENABLED"
        else None,
    )


def _inference_component_from(data: Mapping[str, Any]) -> InferenceComponent:
    spec: Mapping[str, Any] = data.get("Specification") or {}
    container: Mapping[str, Any] = spec.get("Container") or {}
    startup: Mapping[str, Any] = spec.get("StartupParameters") or {}
    runtime: Mapping[str, Any] = data.get("RuntimeConfig") or {}
    required: Mapping[str, Any] | None = spec.get("ComputeResourceRequirements")
    compute = (
        ComputeRequirements(
            min_memory_mb=int(required.get("MinMemoryRequiredInMb", 0)),
            cpu_cores=_float(required.get("NumberOfCpuCoresRequired")),
            accelerators=_float(required.get("NumberOfAcceleratorDevicesRequired")),
            max_memory_mb=required.get("MaxMemoryRequiredInMb"),
        )
        if required
        else None
    )
    base = spec.get("BaseInferenceComponentName")
    desired, current = runtime.get("DesiredCopyCount"), runtime.get("CurrentCopyCount")
    return InferenceComponent(
        name=data["InferenceComponentName"],
        endpoint_name=str(data.get("EndpointName", "")),
        variant_name=str(data.get("VariantName") or VARIANT_NAME),
        model_name=spec.get("ModelName"),
        base_component=base,
        artifact_url=container.get("ArtifactUrl"),
        compute=compute,
        startup_health_check_timeout=startup.get("ContainerStartupHealthCheckTimeoutInSeconds"),
        model_data_download_timeout=startup.get("ModelDataDownloadTimeoutInSeconds"),
        # An adapter runs on its base's copies: it has no count of its own to compare.
        copy_count=int(desired) if desired is not None and base is None else None,
        status=data.get("InferenceComponentStatus"),
        failure_reason=data.get("FailureReason"),
        arn=data.get("InferenceComponentArn"),
        current_copy_count=int(current) if current is not None else None,
    )


def _float(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def _routing_strategy(config: Mapping[str, Any] | None) -> str | None:
    # AWS describes a variant created without RoutingConfig as RANDOM, its default; desired
    # never sends RANDOM either (desired._variant), so both read as "not set".
    strategy = (config or {}).get("RoutingStrategy")
    return None if strategy in (None, DEFAULT_ROUTING_STRATEGY) else str(strategy)


def _async_inference_from(data: Mapping[str, Any] | None) -> AsyncInference | None:
    if not data:
        return None
    output: Mapping[str, Any] = data.get("OutputConfig") or {}
    topics: Mapping[str, Any] = output.get("NotificationConfig") or {}
    client: Mapping[str, Any] = data.get("ClientConfig") or {}
    return AsyncInference(
        output_path=output.get("S3OutputPath", ""),
        failure_path=output.get("S3FailurePath"),
        success_topic=topics.get("SuccessTopic"),
        error_topic=topics.get("ErrorTopic"),
        max_concurrent_invocations_per_instance=client.get("MaxConcurrentInvocationsPerInstance"),
    )


def _endpoint_from(data: Mapping[str, Any]) -> Endpoint:
    last_modified = data.get("LastModifiedTime")
    return Endpoint(
        name=data["EndpointName"],
        config_name=data["EndpointConfigName"],
        status=data.get("EndpointStatus"),
        failure_reason=data.get("FailureReason"),
        arn=data.get("EndpointArn"),
        variants=tuple(_live_variant(v) for v in data.get("ProductionVariants", [])),
        last_modified=_iso(last_modified) if last_modified is not None else None,
        shadow_variants=tuple(_live_variant(v) for v in data.get("ShadowProductionVariants", [])),
    )


def _live_variant(data: Mapping[str, Any]) -> LiveVariant:
    return LiveVariant(
        variant_name=data["VariantName"],
        current_weight=data.get("CurrentWeight"),
        desired_weight=data.get("DesiredWeight"),
        current_instance_count=data.get("CurrentInstanceCount"),
        desired_instance_count=data.get("DesiredInstanceCount"),
    )


def _tracking_policy(policies: list[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The target-tracking policy on a metric deployspec tracks, ours first if several."""
    matching = [
        p
        for p in policies
        if p.get("PolicyType") == "TargetTrackingScaling"
        and _tracked_metric(p.get("TargetTrackingScalingPolicyConfiguration", {})) is not None
    ]
    matching.sort(key=lambda p: p.get("PolicyName") != DEFAULT_POLICY_NAME)
    return matching[0] if matching else None


def _tracked_metric(tracking: Mapping[str, Any]) -> str | None:
    predefined = tracking.get("PredefinedMetricSpecification", {}).get("PredefinedMetricType")
    if predefined in (INVOCATIONS, PROVISIONED_CONCURRENCY, CONCURRENT_REQUESTS_PER_COPY):
        return str(predefined)
    custom: Mapping[str, Any] = tracking.get("CustomizedMetricSpecification", {})
    if custom.get("MetricName") == BACKLOG:
        return BACKLOG
    return None


def _metric_specification(scaling: Scaling) -> dict[str, Any]:
    if scaling.metric != BACKLOG:
        return {"PredefinedMetricSpecification": {"PredefinedMetricType": scaling.metric}}
    endpoint, _ = _endpoint_and_variant(scaling.resource_id)
    return {
        "CustomizedMetricSpecification": {
            "MetricName": BACKLOG,
            "Namespace": "AWS/SageMaker",
            "Dimensions": [{"Name": "EndpointName", "Value": endpoint}],
            "Statistic": "Average",
        }
    }


def _endpoint_and_variant(resource_id: str) -> tuple[str, str]:
    """`endpoint/<name>/variant/<variant>` -> (name, variant)."""
    parts = resource_id.split("/")
    return parts[1], parts[-1]


def from_zero_policy(resource_id: str) -> str:
    """The step-scaling policy that brings an asynchronous variant's first instance back
    (deployspec's one name for it), or an inference component's first copy (the component's
    own, read with its other policies by name: `Gateway.describe_scalings`)."""
    component = _component_of(resource_id)
    if component is not None:
        return f"deployspec-{component}-copies-from-zero"
    return FROM_ZERO_POLICY_NAME


def from_zero_alarm(resource_id: str) -> str:
    """The CloudWatch alarm that brings an asynchronous variant's first instance back, or an
    inference component's first copy. (Their endings differ, so that no component's alarm can
    be named like a variant's: `<spec>-<component>` may read as `<endpoint>-<variant>`.)"""
    component = _component_of(resource_id)
    if component is not None:
        return f"deployspec-{component}-copies-from-zero"
    endpoint, variant = _endpoint_and_variant(resource_id)
    return f"deployspec-{endpoint}-{variant}-scale-from-zero"


def from_zero_alarm_request(resource_id: str) -> dict[str, Any]:
    """PutMetricAlarm's request (without its action) for scaling from zero: for an
    asynchronous variant, requests waiting with no instance (HasBacklogWithoutCapacity); for an
    inference component, requests refused for want of a copy (NoCapacityInvocationFailures, as
    AWS's guide to scaling a component to zero sets it up)."""
    name = from_zero_alarm(resource_id)
    component = _component_of(resource_id)
    if component is not None:
        return {
            "AlarmName": name,
            "AlarmDescription": f"deployspec: the first copy of inference component {component} "
            "when requests find none",
            "Namespace": "AWS/SageMaker",
            "MetricName": "NoCapacityInvocationFailures",
            "Dimensions": [{"Name": "InferenceComponentName", "Value": component}],
            "Statistic": "Maximum",
            "Period": 30,
            "EvaluationPeriods": 1,
            "DatapointsToAlarm": 1,
            "Threshold": 1,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "TreatMissingData": "missing",
        }
    endpoint, variant = _endpoint_and_variant(resource_id)
    return {
        "AlarmName": name,
        "AlarmDescription": f"deployspec: the first instance of {endpoint}/{variant} when "
        "requests wait and no instance runs",
        "Namespace": "AWS/SageMaker",
        "MetricName": "HasBacklogWithoutCapacity",
        "Dimensions": [{"Name": "EndpointName", "Value": endpoint}],
        "Statistic": "Average",
        "Period": 60,
        "EvaluationPeriods": 2,
        "Threshold": 1,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "TreatMissingData": "missing",
    }


def _component_of(resource_id: str) -> str | None:
    """`inference-component/<name>` -> <name>; None for a variant's resource id."""
    kind, _, name = resource_id.partition("/")
    return name if kind == "inference-component" and name else None


# --- errors --------------------------------------------------------------------------------


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _message(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Message", ""))


def _is_missing(error: ClientError) -> bool:
    """Whether the error only says that the resource asked for does not exist.

    SageMaker has no NotFound code for models, endpoint configs and endpoints: Describe* and
    Delete* answer with a generic ValidationException whose message starts "Could not find"
    (`Could not find endpoint "arn:aws:sagemaker:...:endpoint/iris".`); every other
    ValidationException is a real error. Newer SageMaker APIs use ResourceNotFound.
    Application Auto Scaling answers ObjectNotFoundException for a target that is not
    registered, where moto answers ValidationException "No scalable target found ...".
    """
    code = _code(error)
    if code in {"ResourceNotFound", "ResourceNotFoundException", "ObjectNotFoundException"}:
        return True
    message = _message(error)
    return code == "ValidationException" and (
        message.startswith("Could not find") or message.startswith("No scalable target")
    )


def _says_missing(error: ClientError) -> bool:
    """The Model Registry's answers for a group or version that does not exist: a
    ValidationException saying "does not exist" (groups) or "not found" (versions), not
    SageMaker's usual "Could not find" (`_is_missing`)."""
    message = _message(error)
    return _code(error) == "ValidationException" and (
        "does not exist" in message or "not found" in message
    )


def _scrub(text: str, secrets: tuple[str, ...]) -> str:
    # AWS echoes rejected values ("Value '{K=v}' at 'primaryContainer.environment' failed ...")
    # and botocore's client-side validation quotes them too: environment values may be secrets.
    text = re.sub(
        r"Value '.*?' at '([^']*environment[^']*)'",
        r"Value (redacted) at '\1'",
        text,
        flags=re.IGNORECASE | re.DOTALL,
    )
    text = re.sub(
        r"(parameter [\w.]*Environment[\w.]*, value: )[^,]*",
        r"\1(redacted)",
        text,
        flags=re.IGNORECASE,
    )
    # Short values would mangle ordinary words; the patterns above cover the shapes AWS uses.
    candidates = {str(secret) for secret in secrets}
    for secret in sorted((s for s in candidates if len(s) >= 8), key=len, reverse=True):
        text = text.replace(secret, "(redacted)")
    return text


def _iam_action(service: str, operation: str) -> str:
    if service == "s3":
        return _S3_ACTIONS.get(operation, f"s3:{operation}")
    return f"{_IAM_PREFIX.get(service, service)}:{operation}"


def _translate_client(
    error: ClientError, service: str, subject: str, secrets: tuple[str, ...]
) -> AwsError:
    code = _code(error) or "Unknown"
    operation = error.operation_name
    message = _scrub(_message(error), secrets) or "(no message)"
    text = f"AWS {operation} {subject!r} failed: {code}: {message}"
    hint: str | None = None
    if code in _ACCESS_DENIED:
        named = re.search(r"perform: ([\w-]+:\w+)", message)
        action = named.group(1) if named else _iam_action(service, operation)
        hint = f"the identity in use (see --profile) needs permission for {action}"
        if operation.startswith("Create") and service == "sagemaker" and not named:
            hint += " (creating with tags also needs sagemaker:AddTags)"
        if operation == "CreateModel" and not named:
            hint += "; CreateModel also needs iam:PassRole on the execution role"
    elif code in _BAD_CREDENTIALS:
        hint = (
            "the AWS credentials are expired or invalid: refresh them (`aws sso login`, a new "
            "session token, or `aws configure`) or choose another --profile"
        )
    elif code in _THROTTLED:
        retries = error.response.get("ResponseMetadata", {}).get("RetryAttempts", 0)
        text += f" (still throttled after {retries} retries)"
        hint = "AWS is rate-limiting this account; wait a minute and run again"
    elif code == "ResourceLimitExceeded":
        hint = (
            "an account quota is reached: delete unused resources or request an increase "
            "in the Service Quotas console (service: Amazon SageMaker)"
        )
    elif code == "ValidationException" and "in-progress" in message:
        hint = "wait until the endpoint is InService again (`deployspec status`), then retry"
    elif code == "ModelError":
        log_stream = error.response.get("LogStreamArn")
        original = error.response.get("OriginalMessage")
        if original:
            text += f"\n{original}"
        hint = f"the model container failed; its logs: {log_stream}" if log_stream else None
    elif operation == "InvokeEndpoint" and (code == "413" or "oversize body" in message):
        hint = (
            "a request body may be at most 6 MB (4 MB for serverless endpoints): send less, "
            "or send an S3 URI that the inference script reads"
        )
    elif code == "NoSuchUpload":
        hint = (
            "the multipart upload was aborted while it ran (an apply of the same artifact aborts "
            "unfinished uploads before its own); run apply again"
        )
    elif code in {"NoSuchBucket"}:
        hint = "the bucket does not exist; deployspec creates its default bucket, others must exist"
    return AwsError(text, hint=hint)


_NO_STREAMING_HINT = (
    "if the endpoint's container does not stream (the LLM containers TGI, vLLM, SGLang and "
    "LMI do), drop --stream"
)


def _translate_stream(error: ClientError, name: str) -> AwsError:
    """InvokeEndpointWithResponseStream's errors: those of its event stream, and those of the
    call, where a container that cannot stream answers ValidationError or ModelError."""
    code = _code(error) or "Unknown"
    message = _message(error) or "(no message)"
    if code == "ModelStreamError":
        # (The event's ErrorCode field is lost: botocore keeps only Code and Message.)
        return StreamFailure(
            f"the model container's stream from endpoint {name!r} broke off: ModelStreamError: "
            f"{message}",
            hint="the container failed while it was answering; its log is in CloudWatch, log "
            f"group /aws/sagemaker/Endpoints/{name}",
        )
    if code == "InternalStreamFailure":
        return StreamFailure(
            f"SageMaker's stream from endpoint {name!r} broke off: InternalStreamFailure: "
            f"{message}",
            hint="a failure inside SageMaker, not in the model: send the request again",
        )
    translated = _translate_client(error, "sagemaker-runtime", name, ())
    lowered = message.lower()
    if code in {"ValidationError", "ValidationException"}:
        if "not found" in lowered or lowered.startswith("could not find"):
            return AwsError(
                str(translated),
                hint="the endpoint is not deployed there: `deployspec apply` it, or check "
                "--region and --profile",
            )
        if "inservice" in lowered or "in service" in lowered or "in-progress" in lowered:
            return AwsError(
                str(translated),
                hint="wait until the endpoint is InService (`deployspec status`), then retry",
            )
        if translated.hint is not None:
            return translated
        return AwsError(str(translated), hint=_NO_STREAMING_HINT)
    if code == "ModelError":
        hint = _NO_STREAMING_HINT + (f"; else {translated.hint}" if translated.hint else "")
        return AwsError(str(translated), hint=hint)
    return translated


def _translate_botocore(
    error: BotoCoreError,
    service: str,
    operation: str,
    gateway: Gateway,
    secrets: tuple[str, ...] = (),
) -> AwsError:
    text = f"AWS {service} {operation} failed: {_scrub(str(error), secrets)}"
    hint: str | None = None
    if isinstance(error, NoCredentialsError | PartialCredentialsError):
        hint = _CREDENTIALS_HINT
    elif isinstance(error, TokenRetrievalError | CredentialRetrievalError):
        hint = "the credential source failed: for SSO run `aws sso login` (with --profile)"
    elif isinstance(error, NoRegionError):
        hint = _REGION_HINT
    elif isinstance(error, BotoConnectionError | HTTPClientError):
        where = error.kwargs.get("endpoint_url") or gateway._endpoint_url or "AWS"
        hint = (
            f"could not reach {where} in region {gateway.region}: check --region, the network, "
            "and AWS_ENDPOINT_URL (set for a sandbox that is not running?)"
        )
    elif isinstance(error, ParamValidationError):
        hint = "a value the spec checks let through was rejected by botocore; please report it"
    return AwsError(text, hint=hint)
