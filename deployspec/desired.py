"""From a validated spec to the exact resources it asks for.

Contract: `build_desired(loaded, region, role)` returns `Desired`: for each variant (production
and shadow, `Spec.endpoint_variants`; a one-model spec is one variant named AllTraffic) its
model's image URI (from the SDK's tables for that variant's instance type, or the spec's
override) and packaged archive (deterministic model.tar.gz, its digest: the sha256 of the
uncompressed tar stream, which names the content whatever zlib compressed it, and the S3 key
that digest names), each distinct model and archive once; the EndpointConfig holding every
variant; the endpoint, each variant's autoscaling and the rollout settings. Models and configs
are named by the hash of the whole request that creates them (wire.py). It makes no AWS calls:
the account for the default bucket is the execution role's (SageMaker can only be passed a
role of the caller's own account), and the values of Secrets Manager / SSM references in the
models' env arrive already read (`resolved_env`, from operations.resolve_references, named by
`reference_key`). Each Model records which of its environment keys are secret
(`sensitive_environment`, for display only). A large-model container (spec.LLM_FRAMEWORKS)
gets its own settings in its environment (llm.py: the Hub id, or /opt/ml/model for weights,
the GPU count of the variant's instance type), a Hub model no model data, a gated model's
token from hub.token (a reference like the env ones) or hub.token_env (read from the
`process_env` mapping the caller passes, never from os.environ here), always sensitive; its
real-time variants default both readiness timeouts to 10 minutes (`LLM_READINESS_SECONDS`).
A model block with `package:` is a Model Registry version: its container names the version's
ARN (`Model.model_package_name`; no image, no model data: the package's), which arrives already
resolved too (`resolved_packages`, model key -> version ARN, from
operations.resolve_packages: a group's latest Approved version is read there) and is listed in
`Desired.packages` for the plan to show and a saved plan to record.
A model block whose data is uncompressed (`ModelSpec.uncompressed()`: compression: none, the
default for LLM containers, or an s3:// prefix ending in /) gets `Model.model_data_source`
instead of a model_data_url: the spec's own prefix, or for a local folder the content-addressed
prefix of its hashed files (`Desired.weights`, weights.py), uploaded by the plan.
A spec with `components:` is an inference-component endpoint: its config's one variant names
no model and carries the managed instance scaling, the config the execution role; each
component is an `InferenceComponent` named `<spec>-<component>` (bases before adapters), its
model built as a variant's is (its LLM container's GPU count is the component's
accelerators, not the instance type's), an adapter's local files packaged as one FLAT
model.tar.gz (an ARTIFACT like any archive), its copy autoscaling a `Scaling` on
`inference-component/<name>` and its rolling update policy in `Desired.rolling_updates`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from . import catalog, images, llm
from .artifacts import ArtifactSource, Layout, PackagedArtifact, cached, package
from .cache import cache_dir
from .errors import DeployspecError, NotPackagedError
from .naming import content_name
from .plan import Kind
from .resources import (
    BACKLOG,
    CONCURRENT_REQUESTS_PER_COPY,
    DEFAULT_ROUTING_STRATEGY,
    INVOCATIONS,
    PROVISIONED_CONCURRENCY,
    TAG_APPLIED,
    TAG_DIGEST,
    AppliedRecord,
    Artifact,
    AsyncInference,
    ComputeRequirements,
    DataCapture,
    Deployment,
    EndpointConfig,
    InferenceComponent,
    ManagedInstanceScaling,
    Model,
    RollingUpdate,
    Scaling,
    ServerlessConfig,
    Variant,
    Vpc,
    Weights,
    component_name,
    component_resource_id,
    component_scaling_policy,
    ownership_tags,
    prune_mark,
    scaling_resource_id,
    spec_digest,
    user_tags,
)
from .secrets import is_secret_key, secret_env_keys
from .spec import (
    HUB_TOKEN_REFERENCE,
    LLM_FRAMEWORKS,
    ComponentSpec,
    EndpointVariant,
    Framework,
    LoadedSpec,
    ModelSpec,
    Strategy,
)
from .weights import WeightsTree, manifest_uri_of, prefix_of, tree_of
from .wire import endpoint_config_request, model_request

DEFAULT_SCALING_POLICY = "deployspec-invocations"
# Where the framework containers look for the user's code inside the unpacked model.tar.gz.
SUBMIT_DIRECTORY = "/opt/ml/model/code"
# Large-model containers' start-up health check and model download timeouts, unless the spec
# says otherwise: 10 minutes, as AWS's LLM examples use.
LLM_READINESS_SECONDS = 600


@dataclass(frozen=True)
class ResolvedPackage:
    """A model block's `package:` and the Model Registry version it deploys."""

    model_key: str
    given: str  # as the spec says it: a version ARN, or a group's name or ARN
    arn: str  # the version's ARN: the given one, or the group's latest Approved version

    @property
    def is_group(self) -> bool:
        return self.given != self.arn


@dataclass(frozen=True)
class Desired:
    spec_name: str
    region: str
    account: str
    bucket: str
    # The archives deployspec packages and uploads, each once (a model given as an s3://
    # archive has none).
    artifacts: tuple[Artifact, ...]
    models: tuple[Model, ...]  # each once, in the order the variants first name them
    config: EndpointConfig
    endpoint_name: str
    tags: dict[str, str]  # user tags plus ownership tags, on every resource
    spec_digest: str  # on the endpoint only: what the live endpoint was last applied from
    scalings: tuple[Scaling, ...]  # one per autoscaled variant
    deployment: Deployment | None  # None for serverless: it updates all at once
    keep: int
    timeout_seconds: int
    # The model blocks deployed from the Model Registry, in the order of `models`.
    packages: tuple[ResolvedPackage, ...] = ()
    # Uncompressed weights trees deployspec uploads (compression: none), each once.
    weights: tuple[Weights, ...] = ()
    # An inference-component endpoint's components (`components:`), in the spec's order
    # (a base before its adapters). Their scalings are in `scalings` (resource id
    # inference-component/<name>); their rolling update policies in `rolling_updates`.
    components: tuple[InferenceComponent, ...] = ()
    # Component name -> how UpdateInferenceComponent replaces its copies (absent: AWS's
    # default, all at once).
    rolling_updates: Mapping[str, RollingUpdate] = field(default_factory=dict)

    @property
    def addresses(self) -> tuple[tuple[Kind, str], ...]:
        """(kind, identity) of every resource the spec asks for: `<kind>.<identity>` is its
        address (kinds.py says what each identity is)."""
        return (
            *((Kind.MODEL, m.name) for m in self.models),
            (Kind.ENDPOINT_CONFIG, self.config.name),
            (Kind.ENDPOINT, self.endpoint_name),
            *((Kind.ARTIFACT, a.s3_uri) for a in self.artifacts),
            *((Kind.SCALING, s.resource_id) for s in self.scalings),
            *((Kind.WEIGHTS, w.s3_uri) for w in self.weights),
            *((Kind.INFERENCE_COMPONENT, c.name) for c in self.components),
        )

    @property
    def applied(self) -> AppliedRecord:
        """What apply records on the endpoint it applied, part by part (for `drift`)."""
        return AppliedRecord.of(
            self.config.name, user_tags(self.tags), self.scalings, self.deployment
        )

    @property
    def endpoint_tags(self) -> dict[str, str]:
        return {**self.tags, TAG_DIGEST: self.spec_digest, TAG_APPLIED: self.applied.value}

    def model_named(self, name: str) -> Model | None:
        return next((m for m in self.models if m.name == name), None)

    def artifact_of(self, model: Model) -> Artifact | None:
        """The archive deployspec uploads for `model` (None: the spec's own s3:// archive)."""
        return next((a for a in self.artifacts if a.s3_uri == model.model_data_url), None)

    def weights_of(self, model: Model) -> Weights | None:
        """The weights tree deployspec uploads for `model` (None: none, or the spec's own
        s3:// prefix)."""
        return next((w for w in self.weights if w.s3_uri == model.model_data_source), None)

    def archives_of(self, model: Model) -> tuple[Artifact, ...]:
        """A multi-model model's archives (under its prefix); () for any other model."""
        if not model.multi_model or model.model_data_url is None:
            return ()
        prefix = model.model_data_url
        return tuple(a for a in self.artifacts if a.s3_uri.startswith(prefix) and a.target_model)

    def scaling_of(self, variant_name: str) -> Scaling | None:
        wanted = scaling_resource_id(self.endpoint_name, variant_name)
        return next((s for s in self.scalings if s.resource_id == wanted), None)

    @property
    def prune_mark(self) -> str:
        """TAG_PRUNED's value once older resources are pruned for this spec: its config and
        keep policy, and the models its components serve (a component's model changes with no
        new config, and its old model is pruned then)."""
        return prune_mark(
            self.config.name,
            self.keep,
            tuple(c.model_name for c in self.components if c.model_name is not None),
        )

    def component_named(self, name: str) -> InferenceComponent | None:
        return next((c for c in self.components if c.name == name), None)

    def component_scaling(self, name: str) -> Scaling | None:
        """The autoscaling of the component named `name` (its IC name), if it has one."""
        wanted = component_resource_id(name)
        return next((s for s in self.scalings if s.resource_id == wanted), None)


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


def reference_key(model_key: str, key: str) -> str:
    """How `resolved_env` names the value of a model's env reference: its env key for the
    spec's top-level model, `<model_key>.env.<key>` for a variant's own model."""
    return key if model_key == TOP_MODEL else f"{model_key}.env.{key}"


TOP_MODEL = "model"


def _model_spec(loaded: LoadedSpec, model_key: str) -> ModelSpec:
    found = loaded.spec.models.get(model_key)
    if found is None:  # the spec's validation names every model block a variant uses
        raise DeployspecError(f"{loaded.file}: no model block at {model_key}")
    return found


def package_artifact(
    loaded: LoadedSpec,
    cache: Path | None = None,
    *,
    build: bool = True,
    model_key: str = TOP_MODEL,
) -> PackagedArtifact | None:
    """The model.tar.gz of the model block at `model_key`, packaged as its framework's container
    expects (None for s3://).

    `build=False` only looks in the cache and raises NotPackagedError on a miss: read-only
    commands must not spend minutes packing gigabytes."""
    model_spec = _model_spec(loaded, model_key)
    if model_spec.is_s3():
        return None
    paths = loaded.paths_of(model_key)
    if paths.artifacts is None:  # load_spec resolves every local artifacts path
        raise DeployspecError(f"{loaded.file}: {model_key}.artifacts was not resolved")
    layout = Layout.TENSORFLOW if model_spec.framework is Framework.TENSORFLOW else Layout.FLAT
    source = ArtifactSource(
        layout=layout,
        artifacts=paths.artifacts,
        entry_point=paths.entry_point,
        source_dir=paths.source_dir,
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
    loaded: LoadedSpec,
    region: str,
    resolved: Mapping[str, str] | None = None,
    model_key: str = TOP_MODEL,
    *,
    instance_type: str | None = None,
    process_env: Mapping[str, str] | None = None,
    accelerators: int | None = None,
) -> dict[str, str]:
    """The model's environment: the spec's values, with each Secrets Manager or SSM reference
    replaced by its value from `resolved` (operations.resolve_references reads them, named by
    `reference_key`; this module makes no AWS calls). A reference without a value is left
    out. A large-model container's settings (llm.py: Hub id or /opt/ml/model, revision, GPUs
    of `instance_type`, llm:, the gated model's token) are added under the spec's own env,
    which wins; a hub.token_env is read from `process_env` (the caller's environment,
    injected). `accelerators`: the GPUs an inference component's copy reserves, which its
    container shards over instead of the whole instance's (unless llm.num_gpus says)."""
    model_spec = _model_spec(loaded, model_key)
    values = resolved or {}
    environment = {
        key: value if isinstance(value, str) else values[reference_key(model_key, key)]
        for key, value in model_spec.env.items()
        if isinstance(value, str) or reference_key(model_key, key) in values
    }
    token = values.get(reference_key(model_key, HUB_TOKEN_REFERENCE)) if model_spec.hub else None
    if model_spec.hub is not None and model_spec.hub.token is None:
        token = llm.hub_token(model_spec, process_env or {}, f"{loaded.file}: {model_key}")
    container = llm.environment(model_spec, instance_type, token)
    found = llm.settings(model_spec.framework)
    if (
        accelerators is not None
        and found is not None
        and found.num_gpus is not None
        and found.num_gpus in container
        and (model_spec.llm is None or model_spec.llm.num_gpus is None)
    ):
        container[found.num_gpus] = str(accelerators)
    for key, value in container.items():
        environment.setdefault(key, value)
    if (
        model_spec.entry_point
        and model_spec.framework is not Framework.TENSORFLOW
        and model_spec.framework not in LLM_FRAMEWORKS  # no script: validate refuses one
    ):
        # The PyTorch, scikit-learn, XGBoost and Hugging Face toolkits find the user's
        # script through these two variables; TensorFlow Serving looks in code/ by itself.
        environment.setdefault("SAGEMAKER_PROGRAM", Path(model_spec.entry_point).name)
        environment.setdefault("SAGEMAKER_SUBMIT_DIRECTORY", SUBMIT_DIRECTORY)
    environment.setdefault("SAGEMAKER_REGION", region)
    return environment


def sensitive_environment(
    loaded: LoadedSpec, environment: Mapping[str, str], model_key: str = TOP_MODEL
) -> tuple[str, ...]:
    """The environment keys whose values are secret: listed in secret_env, referenced, named or
    shaped like credentials, or holding the value of a variable named like one (`--var
    api_token=...` templated into a key of any name)."""
    model_spec = _model_spec(loaded, model_key)
    declared = {*model_spec.secret_env, *model_spec.references()}
    if model_spec.hub is not None and (model_spec.hub.token or model_spec.hub.token_env):
        declared.update(llm.TOKEN_KEYS)
    carried = [
        str(value)
        for name, value in loaded.variables.items()
        if is_secret_key(name) and isinstance(value, str) and len(value) >= 4
    ]
    secret = secret_env_keys(environment, declared)
    secret.update(k for k, v in environment.items() if any(c in v for c in carried))
    return tuple(sorted(secret))


def unresolved_references(loaded: LoadedSpec, resolved: Mapping[str, str]) -> list[str]:
    """The env references of every model block whose values `resolved` lacks."""
    return [
        f"{model_key}.env.{key}"
        for model_key, model_spec in loaded.spec.models.items()
        for key in model_spec.references()
        if reference_key(model_key, key) not in resolved
    ]


class _Builder:
    """Builds each variant's model (and archive) once per distinct model block and image."""

    def __init__(
        self,
        loaded: LoadedSpec,
        region: str,
        role: str,
        bucket: str,
        artifact_cache: Path | None,
        resolved_env: Mapping[str, str],
        build_artifact: bool,
        process_env: Mapping[str, str] | None = None,
        resolved_packages: Mapping[str, str] | None = None,
    ) -> None:
        self.loaded = loaded
        self.region = region
        self.role = role
        self.bucket = bucket
        self.cache = artifact_cache
        self.resolved = resolved_env
        self.build = build_artifact
        self.process_env = process_env or {}
        self.resolved_packages = resolved_packages or {}
        self.packages: dict[str, ResolvedPackage] = {}
        self.models: dict[str, Model] = {}
        self.artifacts: dict[str, Artifact] = {}
        self.weights: dict[str, Weights] = {}
        self._data_urls: dict[str, str | None] = {}
        self._data_sources: dict[str, str | None] = {}

    def model(
        self, model_key: str, instance_type: str | None, accelerators: int | None = None
    ) -> Model:
        spec = self.loaded.spec
        model_spec = _model_spec(self.loaded, model_key)
        framework, version = model_spec.framework.value, model_spec.version or ""
        package = self._package(model_key)
        # TEI's CPU images are a table of their own (catalog.sdk_framework).
        table = catalog.sdk_framework(framework, instance_type)
        image = model_spec.image or ""
        # A registry version's image is the package's own: none is looked up.
        if package is None and not image:
            image = images.image_uri(
                framework,
                self.region,
                version,
                # From the table the SDK reads for this instance type (arm64 images on Graviton).
                py_version=catalog.image_py_version(
                    table,
                    version,
                    model_spec.py_version,
                    model_spec.base_framework_version,
                    catalog.image_scope(framework, instance_type),
                ),
                instance_type=instance_type,
                base_framework_version=model_spec.base_framework_version,
            )
        environment = container_environment(
            self.loaded,
            self.region,
            self.resolved,
            model_key,
            instance_type=instance_type,
            process_env=self.process_env,
            accelerators=accelerators,
        )
        vpc = (
            Vpc(tuple(model_spec.vpc.subnets), tuple(model_spec.vpc.security_groups))
            if model_spec.vpc
            else None
        )
        # The name covers the whole request, secrets included, so that a changed secret is a
        # new model; a short hash of the whole content shows none of them.
        unnamed = Model(
            name="",
            image=image,
            # A Hub model is downloaded by the container, a registry version brings its own:
            # no model data.
            model_data_url=None
            if model_spec.hub is not None or package is not None
            else self._data_url(model_key),
            model_data_source=None if model_spec.hub is not None else self._data_source(model_key),
            environment=environment,
            execution_role_arn=self.role,
            network_isolation=model_spec.network_isolation,
            vpc=vpc,
            sensitive_environment=sensitive_environment(self.loaded, environment, model_key),
            multi_model=model_spec.is_multi_model(),
            model_package_name=package,
        )
        model = replace(unnamed, name=content_name(spec.name, model_request(unnamed)))
        return self.models.setdefault(model.name, model)

    def _package(self, model_key: str) -> str | None:
        """The version ARN the model block's package: names (None without one)."""
        given = _model_spec(self.loaded, model_key).package
        if given is None:
            return None
        arn = self.resolved_packages.get(model_key)
        if arn is None:  # operations.resolve_packages resolves every package: block
            raise DeployspecError(
                f"{self.loaded.file}: {model_key}.package {given} was not resolved",
                hint="this is a bug in deployspec: please report it",
            )
        self.packages.setdefault(model_key, ResolvedPackage(model_key, given, arn))
        return arn

    def _data_url(self, model_key: str) -> str | None:
        """The model block's archive: packaged (once) and addressed by its digest, or its own
        s3:// URI; for a multi-model block, the prefix its archives are uploaded under."""
        if model_key in self._data_urls:
            return self._data_urls[model_key]
        url: str | None
        if _model_spec(self.loaded, model_key).uncompressed():
            self._data_urls[model_key] = None  # model_data_source instead
            return None
        if _model_spec(self.loaded, model_key).is_multi_model():
            url = _multi_model_archives(self, model_key)
            self._data_urls[model_key] = url
            return url
        packaged = package_artifact(self.loaded, self.cache, build=self.build, model_key=model_key)
        if packaged is None:
            url = _model_spec(self.loaded, model_key).artifacts
        else:
            key = artifact_key(self.loaded.spec.artifact_prefix, packaged.sha256)
            url = f"s3://{self.bucket}/{key}"
            self.artifacts.setdefault(
                url,
                Artifact(
                    sha256=packaged.sha256,
                    size=packaged.size,
                    local_path=str(packaged.path),
                    s3_uri=url,
                ),
            )
        self._data_urls[model_key] = url
        return url

    def _data_source(self, model_key: str) -> str | None:
        """An uncompressed model block's S3 prefix: the spec's own s3://.../, or the local
        tree's content-addressed prefix (hashed once; uploaded by the plan's weights change)."""
        model_spec = _model_spec(self.loaded, model_key)
        if model_spec.artifacts is None or not model_spec.uncompressed():
            return None
        if model_key in self._data_sources:
            return self._data_sources[model_key]
        if model_spec.is_s3_prefix():
            self._data_sources[model_key] = model_spec.artifacts
            return model_spec.artifacts
        tree = weights_tree(self.loaded, self.cache, build=self.build, model_key=model_key)
        prefix = prefix_of(self.bucket, self.loaded.spec.artifact_prefix, tree.sha256)
        self.weights.setdefault(
            prefix,
            Weights(
                s3_uri=prefix,
                manifest_uri=manifest_uri_of(prefix),
                sha256=tree.sha256,
                files=tree.files,
            ),
        )
        self._data_sources[model_key] = prefix
        return prefix


def weights_tree(
    loaded: LoadedSpec, cache: Path | None = None, *, build: bool = True, model_key: str = TOP_MODEL
) -> WeightsTree:
    """The uncompressed files of the model block at `model_key`, laid out as its framework's
    archive would be, with their digests (weights.py). `build=False`: NotPackagedError
    instead of reading files whose digests are not cached."""
    model_spec = _model_spec(loaded, model_key)
    paths = loaded.paths_of(model_key)
    if paths.artifacts is None:  # load_spec resolves every local artifacts path
        raise DeployspecError(f"{loaded.file}: {model_key}.artifacts was not resolved")
    layout = Layout.TENSORFLOW if model_spec.framework is Framework.TENSORFLOW else Layout.FLAT
    source = ArtifactSource(
        layout=layout,
        artifacts=paths.artifacts,
        entry_point=paths.entry_point,
        source_dir=paths.source_dir,
    )
    return tree_of(source, cache or cache_dir("artifacts"), build=build)


def multi_model_prefix(bucket: str, artifact_prefix: str) -> str:
    """The S3 prefix of a spec's multi-model archives (fixed: adding a model must not change
    the model, whose ModelDataUrl it is). It ends with "/": SageMaker joins prefix + key."""
    return f"s3://{bucket}/{artifact_prefix}/multi-model/"


def target_model_key(name: str, sha256: str) -> str:
    """A multi-model archive's key under the prefix, the TargetModel that invokes it: a new key
    for new content, as AWS advises (SageMaker keeps serving a cached model whose archive was
    replaced under the same key)."""
    return f"{name}/{sha256}/model.tar.gz"


def _multi_model_archives(builder: _Builder, model_key: str) -> str:
    loaded = builder.loaded
    prefix = multi_model_prefix(builder.bucket, loaded.spec.artifact_prefix)
    paths = loaded.paths_of(model_key)
    layout_spec = _model_spec(loaded, model_key)
    layout = Layout.TENSORFLOW if layout_spec.framework is Framework.TENSORFLOW else Layout.FLAT
    folder = builder.cache or cache_dir("artifacts")
    for name, local in sorted(loaded.archives_of(model_key).items()):
        source = ArtifactSource(
            layout=layout,
            artifacts=local,
            entry_point=paths.entry_point,
            source_dir=paths.source_dir,
        )
        packaged = package(source, folder) if builder.build else cached(source, folder)
        if packaged is None:
            raise NotPackagedError(
                f"the model files of {loaded.file} ({model_key}.models.{name}) are not "
                "packaged on this machine yet (they changed since the last plan, or were never "
                "planned here)",
                hint=f"run `deployspec plan {loaded.file}` to package them",
            )
        key = target_model_key(name, packaged.sha256)
        uri = prefix + key
        builder.artifacts.setdefault(
            uri,
            Artifact(
                sha256=packaged.sha256,
                size=packaged.size,
                local_path=str(packaged.path),
                s3_uri=uri,
                target_model=key,
                model_name=name,
            ),
        )
    return prefix


def _variant(
    builder: _Builder,
    wanted: EndpointVariant,
) -> Variant:
    realtime, serverless = wanted.realtime, wanted.serverless
    instance_type = realtime.instance_type if realtime is not None else None
    if wanted.model is None:
        return _component_host(builder, wanted)
    model = builder.model(wanted.model_key, instance_type)
    if realtime is not None:
        # Large models take minutes to download and load, past SageMaker's default health
        # check; other containers keep AWS's defaults (and their configs' names).
        large = _model_spec(builder.loaded, wanted.model_key).framework in LLM_FRAMEWORKS
        default = LLM_READINESS_SECONDS if large else None
        routing = (realtime.routing_strategy or "").upper() or None
        return Variant(
            model_name=model.name,
            variant_name=wanted.name,
            instance_type=realtime.instance_type,
            initial_instance_count=realtime.instance_count,
            volume_size_gb=realtime.volume_size_gb,
            initial_weight=float(wanted.weight),
            startup_health_check_timeout=realtime.startup_health_check_timeout or default,
            model_data_download_timeout=realtime.model_data_download_timeout or default,
            inference_ami_version=realtime.inference_ami_version,
            # RANDOM is AWS's default: not sent, as AWS's answer reads back (aws.py).
            routing_strategy=None if routing == DEFAULT_ROUTING_STRATEGY else routing,
        )
    if serverless is None:  # the schema gives every variant one of the two
        raise DeployspecError(
            f"{builder.loaded.file}: variant {wanted.name} has neither realtime nor serverless"
        )
    return Variant(
        model_name=model.name,
        variant_name=wanted.name,
        serverless=ServerlessConfig(
            memory_mb=serverless.memory_mb,
            max_concurrency=serverless.max_concurrency,
            provisioned_concurrency=serverless.provisioned_concurrency,
        ),
        initial_weight=float(wanted.weight),
    )


def _component_host(builder: _Builder, wanted: EndpointVariant) -> Variant:
    """The one variant of an inference-component endpoint: instances for the components'
    copies, no model of its own (AWS refuses a ModelName there), SageMaker scaling the
    instance count within managed_scaling; start-up timeouts are each component's own."""
    realtime = wanted.realtime
    if realtime is None:  # validate requires realtime: with components:
        raise DeployspecError(f"{builder.loaded.file}: components: needs realtime:")
    managed = realtime.managed_scaling
    routing = (realtime.routing_strategy or "").upper() or None
    return Variant(
        model_name=None,
        variant_name=wanted.name,
        instance_type=realtime.instance_type,
        initial_instance_count=realtime.instance_count,
        volume_size_gb=realtime.volume_size_gb,
        initial_weight=float(wanted.weight),
        inference_ami_version=realtime.inference_ami_version,
        routing_strategy=None if routing == DEFAULT_ROUTING_STRATEGY else routing,
        managed_scaling=ManagedInstanceScaling(managed.min, managed.max)
        if managed is not None
        else None,
    )


def _components(
    builder: _Builder, instance_type: str
) -> tuple[tuple[InferenceComponent, ...], tuple[Scaling, ...], dict[str, RollingUpdate]]:
    """Each component (bases first, then adapters, each in the spec's order), the copy
    autoscaling of those that have it, and the rolling update policies, by IC name."""
    spec = builder.loaded.spec
    found: list[InferenceComponent] = []
    scalings: list[Scaling] = []
    rolling: dict[str, RollingUpdate] = {}
    entries = spec.component_models
    ordered = sorted(entries.values(), key=lambda entry: entry[0].base is not None)
    for component, model_key in ordered:
        name = component_name(spec.name, component.name)
        if component.base is not None:
            found.append(
                InferenceComponent(
                    name=name,
                    endpoint_name=spec.name,
                    base_component=component_name(spec.name, component.base),
                    artifact_url=_adapter_archive(builder, component),
                )
            )
            continue
        found.append(_model_component(builder, component, model_key, name, instance_type))
        if component.autoscaling is not None:
            auto = component.autoscaling
            scalings.append(
                Scaling(
                    resource_id=component_resource_id(name),
                    min_capacity=auto.min,
                    max_capacity=auto.max,
                    target_value=float(auto.target_concurrent_requests_per_copy),
                    scale_in_cooldown=auto.scale_in_cooldown,
                    scale_out_cooldown=auto.scale_out_cooldown,
                    policy_name=component_scaling_policy(name),
                    metric=CONCURRENT_REQUESTS_PER_COPY,
                    # At zero copies there is no concurrency per copy to track: the alarm on
                    # requests refused for want of a copy brings the first one back.
                    scale_from_zero=auto.min == 0,
                )
            )
        if component.rolling_update is not None:
            policy = component.rolling_update
            batch_type, batch_value = policy.batch_type_value()
            back = policy.rollback_batch_type_value()
            rolling[name] = RollingUpdate(
                batch_type=batch_type,
                batch_value=batch_value,
                wait_seconds=policy.wait,
                timeout_seconds=policy.timeout,
                rollback_batch_type=back[0] if back is not None else None,
                rollback_batch_value=back[1] if back is not None else None,
            )
    return tuple(found), tuple(scalings), rolling


def _model_component(
    builder: _Builder,
    component: ComponentSpec,
    model_key: str,
    name: str,
    instance_type: str,
) -> InferenceComponent:
    compute = component.compute
    if compute is None:  # validate requires compute: on a component with a model
        raise DeployspecError(f"{builder.loaded.file}: component {component.name} has no compute")
    model = builder.model(model_key, instance_type, compute.accelerators)
    large = _model_spec(builder.loaded, model_key).framework in LLM_FRAMEWORKS
    default = LLM_READINESS_SECONDS if large else None
    return InferenceComponent(
        name=name,
        endpoint_name=builder.loaded.spec.name,
        model_name=model.name,
        compute=ComputeRequirements(
            min_memory_mb=compute.memory_mb,
            # As SageMaker reports them back (numbers, read as floats): compared alike.
            cpu_cores=float(compute.cpu_cores) if compute.cpu_cores is not None else None,
            accelerators=float(compute.accelerators) if compute.accelerators is not None else None,
            max_memory_mb=compute.max_memory_mb,
        ),
        startup_health_check_timeout=component.startup_health_check_timeout or default,
        model_data_download_timeout=component.model_data_download_timeout or default,
        copy_count=component.copies,
    )


def _adapter_archive(builder: _Builder, component: ComponentSpec) -> str:
    """An adapter's Container.ArtifactUrl: its own s3:// archive, or its local files packaged
    as one model.tar.gz (the files at the archive's root) at its content address."""
    loaded = builder.loaded
    local = loaded.adapter_path(component.name)
    if local is None:
        if component.artifacts is None:  # validate requires artifacts: on an adapter
            raise DeployspecError(f"{loaded.file}: adapter {component.name} has no artifacts")
        return component.artifacts
    source = ArtifactSource(layout=Layout.FLAT, artifacts=local)
    folder = builder.cache or cache_dir("artifacts")
    packaged = package(source, folder) if builder.build else cached(source, folder)
    if packaged is None:
        raise NotPackagedError(
            f"the adapter files of {loaded.file} (component {component.name}) are not "
            "packaged on this machine yet (they changed since the last plan, or were never "
            "planned here)",
            hint=f"run `deployspec plan {loaded.file}` to package them",
        )
    url = f"s3://{builder.bucket}/{artifact_key(loaded.spec.artifact_prefix, packaged.sha256)}"
    builder.artifacts.setdefault(
        url,
        Artifact(
            sha256=packaged.sha256, size=packaged.size, local_path=str(packaged.path), s3_uri=url
        ),
    )
    return url


def _scaling(endpoint_name: str, wanted: EndpointVariant) -> Scaling | None:
    """The variant's autoscaling: its instance count tracking invocations per instance, or,
    asynchronous, its backlog per instance (down to zero instances with min 0); a serverless
    variant's provisioned concurrency tracking its utilisation."""
    resource_id = scaling_resource_id(endpoint_name, wanted.name)
    if wanted.serverless is not None and wanted.serverless.autoscaling is not None:
        provisioned = wanted.serverless.autoscaling
        return Scaling(
            resource_id=resource_id,
            min_capacity=provisioned.min,
            max_capacity=provisioned.max,
            target_value=float(provisioned.target_utilization),
            scale_in_cooldown=provisioned.scale_in_cooldown,
            scale_out_cooldown=provisioned.scale_out_cooldown,
            policy_name=DEFAULT_SCALING_POLICY,
            metric=PROVISIONED_CONCURRENCY,
        )
    if wanted.realtime is None or wanted.realtime.autoscaling is None:
        return None
    auto = wanted.realtime.autoscaling
    backlog = auto.target_backlog_per_instance
    target = backlog if backlog is not None else auto.target_invocations_per_instance
    return Scaling(
        resource_id=resource_id,
        min_capacity=auto.min,
        max_capacity=auto.max,
        target_value=float(target) if target is not None else None,
        scale_in_cooldown=auto.scale_in_cooldown,
        scale_out_cooldown=auto.scale_out_cooldown,
        policy_name=DEFAULT_SCALING_POLICY,
        metric=BACKLOG if backlog is not None else INVOCATIONS,
        scale_from_zero=backlog is not None and auto.min == 0,
    )


def build_desired(
    loaded: LoadedSpec,
    *,
    region: str,
    role: str,
    artifact_cache: Path | None = None,
    resolved_env: Mapping[str, str] | None = None,
    build_artifact: bool = True,
    process_env: Mapping[str, str] | None = None,
    resolved_packages: Mapping[str, str] | None = None,
) -> Desired:
    """`resolved_env`: the values of the spec's env references, named by `reference_key`
    (every one is needed); `process_env`: the environment hub.token_env names are read from
    (the caller's os.environ; none when not given); `resolved_packages`: the version ARN of
    each model block with package: (model key -> ARN; every one is needed)."""
    spec = loaded.spec
    unresolved = unresolved_references(loaded, resolved_env or {})
    if unresolved:
        raise DeployspecError(
            f"{loaded.file}: {', '.join(unresolved)}: the referenced values were not read from AWS",
            hint="this is a bug in deployspec: please report it",
        )
    account = account_of_role(role)
    bucket = spec.bucket or f"sagemaker-{region}-{account}"
    builder = _Builder(
        loaded,
        region,
        role,
        bucket,
        artifact_cache,
        resolved_env or {},
        build_artifact,
        process_env,
        resolved_packages,
    )
    wanted = spec.endpoint_variants
    production = tuple(_variant(builder, v) for v in wanted if not v.shadow)
    shadows = tuple(_variant(builder, v) for v in wanted if v.shadow)
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
    components: tuple[InferenceComponent, ...] = ()
    component_scalings: tuple[Scaling, ...] = ()
    rolling_updates: dict[str, RollingUpdate] = {}
    if spec.components is not None and production and production[0].instance_type:
        components, component_scalings, rolling_updates = _components(
            builder, production[0].instance_type
        )
    unnamed_config = EndpointConfig(
        name="",
        variants=production,
        data_capture=capture,
        async_inference=async_inference,
        shadow_variants=shadows,
        # The role the components' containers run with: AWS requires it on their config.
        execution_role_arn=role if spec.components is not None else None,
    )
    config = replace(
        unnamed_config, name=content_name(spec.name, endpoint_config_request(unnamed_config))
    )
    scalings = (
        *(s for s in (_scaling(spec.name, v) for v in wanted) if s is not None),
        *component_scalings,
    )

    deployment = None
    if all(v.realtime is not None for v in wanted):
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
        artifacts=tuple(builder.artifacts.values()),
        models=tuple(builder.models.values()),
        weights=tuple(builder.weights.values()),
        config=config,
        endpoint_name=spec.name,
        tags=tags,
        spec_digest=spec_digest(config.name, spec.tags, scalings, deployment),
        scalings=scalings,
        deployment=deployment,
        keep=spec.keep,
        timeout_seconds=spec.deployment.timeout,
        packages=tuple(builder.packages.values()),
        components=components,
        rolling_updates=rolling_updates,
    )
