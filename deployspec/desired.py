"""From a validated spec to the exact resources it asks for.

Contract: `build_desired(loaded, region, role)` returns `Desired`: the image URI (from the SDK's
tables, or the spec's override), the packaged artifact (deterministic model.tar.gz, its
digest: the sha256 of the uncompressed tar stream, which names the content whatever zlib
compressed it, and the S3 key that digest names), and the Model, EndpointConfig, endpoint,
scaling and deployment settings, models and configs named by the hash of the whole request
that creates them (wire.py). It makes no AWS calls: the account
for the default bucket is the execution role's (SageMaker can only be passed a role of the
caller's own account), and the values of Secrets Manager / SSM references in model.env arrive
already read (`resolved_env`, from operations.resolve_references). The Model records which of
its environment keys are secret (`sensitive_environment`, for display only).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from . import catalog, images
from .artifacts import ArtifactSource, Layout, PackagedArtifact, cached, package
from .cache import cache_dir
from .errors import DeployspecError, NotPackagedError
from .naming import content_name
from .plan import Kind
from .resources import (
    TAG_APPLIED,
    TAG_DIGEST,
    VARIANT_NAME,
    AppliedRecord,
    Artifact,
    AsyncInference,
    DataCapture,
    Deployment,
    EndpointConfig,
    Model,
    Scaling,
    ServerlessConfig,
    Variant,
    Vpc,
    ownership_tags,
    scaling_resource_id,
    spec_digest,
    user_tags,
)
from .secrets import is_secret_key, secret_env_keys
from .spec import Framework, LoadedSpec, Strategy
from .wire import endpoint_config_request, model_request

DEFAULT_SCALING_POLICY = "deployspec-invocations"
# Where the framework containers look for the user's code inside the unpacked model.tar.gz.
SUBMIT_DIRECTORY = "/opt/ml/model/code"


@dataclass(frozen=True)
class Desired:
    spec_name: str
    region: str
    account: str
    bucket: str
    artifact: Artifact | None  # None when the spec points at an existing s3:// archive
    model: Model
    config: EndpointConfig
    endpoint_name: str
    tags: dict[str, str]  # user tags plus ownership tags, on every resource
    spec_digest: str  # on the endpoint only: what the live endpoint was last applied from
    scaling: Scaling | None
    deployment: Deployment | None  # None for serverless: it updates all at once
    keep: int
    timeout_seconds: int

    @property
    def addresses(self) -> tuple[tuple[Kind, str], ...]:
        """(kind, identity) of every resource the spec asks for: `<kind>.<identity>` is its
        address (kinds.py says what each identity is)."""
        out = [
            (Kind.MODEL, self.model.name),
            (Kind.ENDPOINT_CONFIG, self.config.name),
            (Kind.ENDPOINT, self.endpoint_name),
        ]
        if self.artifact is not None:
            out.append((Kind.ARTIFACT, self.artifact.s3_uri))
        if self.scaling is not None:
            out.append((Kind.SCALING, self.scaling.resource_id))
        return tuple(out)

    @property
    def applied(self) -> AppliedRecord:
        """What apply records on the endpoint it applied, part by part (for `drift`)."""
        return AppliedRecord.of(
            self.config.name, user_tags(self.tags), self.scaling, self.deployment
        )

    @property
    def endpoint_tags(self) -> dict[str, str]:
        return {**self.tags, TAG_DIGEST: self.spec_digest, TAG_APPLIED: self.applied.value}


def resolve_role(loaded: LoadedSpec, cli_role: str | None) -> str:
    role = cli_role or loaded.spec.role or os.environ.get("DEPLOYSPEC_ROLE")
    if not role:
        raise DeployspecError(
            f"{loaded.file}: no execution role: SageMaker needs an IAM role to run the model",
            hint="set role: in the spec, pass --role ARN, or set DEPLOYSPEC_ROLE",
        )
    return role


def account_of_role(role: str) -> str:
    parts = role.split(":")
    if len(parts) < 6 or not parts[4].isdigit():
        raise DeployspecError(f"cannot read the account from role {role!r}")
    return parts[4]


def artifact_key(prefix: str, sha256: str) -> str:
    """The S3 key of a model.tar.gz: named by its content digest (artifacts.py), not its bytes."""
    return f"{prefix}/{sha256}/model.tar.gz"


def is_uploaded_artifact(uri: str, bucket: str, prefix: str) -> bool:
    """Whether `uri` is an archive deployspec uploaded for this bucket and prefix."""
    return (
        re.fullmatch(
            rf"s3://{re.escape(bucket)}/{re.escape(prefix)}/[0-9a-f]{{64}}/model\.tar\.gz", uri
        )
        is not None
    )


def package_artifact(
    loaded: LoadedSpec, cache: Path | None = None, *, build: bool = True
) -> PackagedArtifact | None:
    """The spec's model.tar.gz, packaged as its framework's container expects (None for s3://).

    `build=False` only looks in the cache and raises NotPackagedError on a miss: read-only
    commands must not spend minutes packing gigabytes."""
    model_spec = loaded.spec.model
    if model_spec.is_s3():
        return None
    if loaded.paths.artifacts is None:  # load_spec resolves every local artifacts path
        raise DeployspecError(f"{loaded.file}: model.artifacts was not resolved")
    layout = Layout.TENSORFLOW if model_spec.framework is Framework.TENSORFLOW else Layout.FLAT
    source = ArtifactSource(
        layout=layout,
        artifacts=loaded.paths.artifacts,
        entry_point=loaded.paths.entry_point,
        source_dir=loaded.paths.source_dir,
    )
    folder = cache or cache_dir("artifacts")
    if build:
        return package(source, folder)
    found = cached(source, folder)
    if found is None:
        raise NotPackagedError(
            f"the model files of {loaded.file} are not packaged on this machine yet "
            "(they changed since the last plan, or were never planned here)",
            hint=f"run `deployspec plan {loaded.file}` to package them",
        )
    return found


def container_environment(
    loaded: LoadedSpec, region: str, resolved: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The model's environment: the spec's values, with each Secrets Manager or SSM reference
    replaced by its value from `resolved` (operations.resolve_references reads them; this
    module makes no AWS calls). A reference without a value is left out."""
    model_spec = loaded.spec.model
    values = resolved or {}
    environment = {
        key: value if isinstance(value, str) else values[key]
        for key, value in model_spec.env.items()
        if isinstance(value, str) or key in values
    }
    if model_spec.entry_point and model_spec.framework is not Framework.TENSORFLOW:
        # The PyTorch, scikit-learn, XGBoost and Hugging Face toolkits find the user's
        # script through these two variables; TensorFlow Serving looks in code/ by itself.
        environment.setdefault("SAGEMAKER_PROGRAM", Path(model_spec.entry_point).name)
        environment.setdefault("SAGEMAKER_SUBMIT_DIRECTORY", SUBMIT_DIRECTORY)
    environment.setdefault("SAGEMAKER_REGION", region)
    return environment


def sensitive_environment(loaded: LoadedSpec, environment: Mapping[str, str]) -> tuple[str, ...]:
    """The environment keys whose values are secret: listed in secret_env, referenced, named or
    shaped like credentials, or holding the value of a variable named like one (`--var
    api_token=...` templated into a key of any name)."""
    model_spec = loaded.spec.model
    declared = {*model_spec.secret_env, *model_spec.references()}
    carried = [
        str(value)
        for name, value in loaded.variables.items()
        if is_secret_key(name) and isinstance(value, str) and len(value) >= 4
    ]
    secret = secret_env_keys(environment, declared)
    secret.update(k for k, v in environment.items() if any(c in v for c in carried))
    return tuple(sorted(secret))


def build_desired(
    loaded: LoadedSpec,
    *,
    region: str,
    role: str,
    artifact_cache: Path | None = None,
    resolved_env: Mapping[str, str] | None = None,
    build_artifact: bool = True,
) -> Desired:
    """`resolved_env`: the values of the spec's env references, by key (every one is needed)."""
    spec = loaded.spec
    model_spec = spec.model
    unresolved = sorted(set(model_spec.references()) - set(resolved_env or {}))
    if unresolved:
        raise DeployspecError(
            f"{loaded.file}: model.env {', '.join(unresolved)}: the referenced values were "
            "not read from AWS",
            hint="this is a bug in deployspec: please report it",
        )
    account = account_of_role(role)
    bucket = spec.bucket or f"sagemaker-{region}-{account}"
    realtime = spec.realtime
    framework, version = model_spec.framework.value, model_spec.version or ""
    instance_type = realtime.instance_type if realtime else None
    image = model_spec.image or images.image_uri(
        framework,
        region,
        version,
        # From the table the SDK reads for this instance type (arm64 images on Graviton).
        py_version=catalog.image_py_version(
            framework,
            version,
            model_spec.py_version,
            model_spec.base_framework_version,
            catalog.image_scope(framework, instance_type),
        ),
        instance_type=instance_type,
        base_framework_version=model_spec.base_framework_version,
    )

    artifact: Artifact | None = None
    packaged = package_artifact(loaded, artifact_cache, build=build_artifact)
    if packaged is None:
        model_data_url = model_spec.artifacts
    else:
        key = artifact_key(spec.artifact_prefix, packaged.sha256)
        model_data_url = f"s3://{bucket}/{key}"
        artifact = Artifact(
            sha256=packaged.sha256,
            size=packaged.size,
            local_path=str(packaged.path),
            s3_uri=model_data_url,
        )
    environment = container_environment(loaded, region, resolved_env)

    vpc = (
        Vpc(tuple(model_spec.vpc.subnets), tuple(model_spec.vpc.security_groups))
        if model_spec.vpc
        else None
    )
    # The name covers the whole request, secrets included, so that a changed secret is a new
    # model; a short hash of the whole content shows none of them.
    unnamed = Model(
        name="",
        image=image,
        model_data_url=model_data_url,
        environment=environment,
        execution_role_arn=role,
        network_isolation=model_spec.network_isolation,
        vpc=vpc,
        sensitive_environment=sensitive_environment(loaded, environment),
    )
    model = replace(unnamed, name=content_name(spec.name, model_request(unnamed)))

    serverless = spec.effective_serverless
    if realtime is not None:
        variant = Variant(
            model_name=model.name,
            variant_name=VARIANT_NAME,
            instance_type=realtime.instance_type,
            initial_instance_count=realtime.instance_count,
            volume_size_gb=realtime.volume_size_gb,
        )
    elif serverless is not None:
        variant = Variant(
            model_name=model.name,
            variant_name=VARIANT_NAME,
            serverless=ServerlessConfig(
                memory_mb=serverless.memory_mb,
                max_concurrency=serverless.max_concurrency,
                provisioned_concurrency=serverless.provisioned_concurrency,
            ),
        )
    else:  # the schema gives every spec without realtime: a serverless block
        raise DeployspecError(f"{loaded.file}: neither realtime nor serverless is set")
    capture = (
        DataCapture(spec.data_capture.destination, spec.data_capture.sampling_percent)
        if spec.data_capture
        else None
    )
    queued = spec.async_
    async_inference = (
        AsyncInference(
            output_path=queued.output,
            failure_path=queued.failure,
            success_topic=queued.success_topic,
            error_topic=queued.error_topic,
            max_concurrent_invocations_per_instance=queued.max_concurrent_invocations_per_instance,
        )
        if queued is not None
        else None
    )
    unnamed_config = EndpointConfig(
        name="", variant=variant, data_capture=capture, async_inference=async_inference
    )
    config = replace(
        unnamed_config, name=content_name(spec.name, endpoint_config_request(unnamed_config))
    )

    scaling = None
    if realtime is not None and realtime.autoscaling is not None:
        auto = realtime.autoscaling
        scaling = Scaling(
            resource_id=scaling_resource_id(spec.name),
            min_capacity=auto.min,
            max_capacity=auto.max,
            target_value=float(auto.target_invocations_per_instance),
            scale_in_cooldown=auto.scale_in_cooldown,
            scale_out_cooldown=auto.scale_out_cooldown,
            policy_name=DEFAULT_SCALING_POLICY,
        )

    deployment = None
    if realtime is not None:
        rollout = spec.deployment
        step = {
            Strategy.CANARY: rollout.canary,
            Strategy.LINEAR: rollout.linear,
            Strategy.ROLLING: rollout.rolling,
        }.get(rollout.strategy)
        default_percent = {Strategy.CANARY: 10, Strategy.LINEAR: 25, Strategy.ROLLING: 25}
        deployment = Deployment(
            strategy=rollout.strategy.value,
            step_percent=step.percent if step else default_percent.get(rollout.strategy),
            step_wait_seconds=(step.wait if step else 300)
            if rollout.strategy is not Strategy.ALL_AT_ONCE
            else None,
            rollback_alarms=tuple(rollout.rollback_alarms),
            timeout_seconds=rollout.timeout,
        )

    tags = {**spec.tags, **ownership_tags(spec.name)}
    return Desired(
        spec_name=spec.name,
        region=region,
        account=account,
        bucket=bucket,
        artifact=artifact,
        model=model,
        config=config,
        endpoint_name=spec.name,
        tags=tags,
        spec_digest=spec_digest(config.name, spec.tags, scaling, deployment),
        scaling=scaling,
        deployment=deployment,
        keep=spec.keep,
        timeout_seconds=spec.deployment.timeout,
    )
