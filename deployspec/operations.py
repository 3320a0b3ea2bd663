"""The steps every AWS-facing command shares: connect, load, build desired, read, plan.

Contract: `connect(...)` returns a Gateway to real AWS (standard credential chain, `--profile`,
`--region`, `AWS_ENDPOINT_URL`) or to the running local sandbox, which can never reach AWS;
`prepare(...)` runs spec → desired → state → planner and returns everything the commands need;
`prepare_destroy(...)` the same for destroy. Over many specs, `plan_many(...)` loads every spec,
builds every desired state, refuses colliding specs, then reads state and plans the rest, in a
bounded thread pool on one gateway per region; each spec's error stays its own (`SpecRun`).
A model block's `package:` naming a model package group is resolved here to the group's latest
Approved version (`resolve_packages`, read-only), as env references are; applying a saved plan
passes the versions it recorded (`pinned_packages`), so it deploys the version it showed.
No printing here: the CLI shows the results.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .desired import Desired, account_of_role, build_desired, resolve_role
from .errors import DeployspecError, PlanError, SandboxError
from .plan import Plan
from .planner import make_plan
from .spec import LoadedSpec, load_spec, parse_var_assignments
from .state import Actual, read_actual

if TYPE_CHECKING:
    from .aws import Gateway
    from .multi import Changes, Found, SpecPlan


@dataclass(frozen=True)
class Target:
    """Where to talk to: the command-line options about AWS."""

    region: str | None = None
    profile: str | None = None
    sandbox: bool = False
    role: str | None = None

    @property
    def use_sandbox(self) -> bool:
        return self.sandbox or os.environ.get("DEPLOYSPEC_SANDBOX", "") not in ("", "0")


def connect(target: Target, spec_region: str | None = None) -> Gateway:
    from .aws import Gateway

    region = target.region or spec_region
    if target.use_sandbox:
        from .sandbox import control

        if target.profile:
            raise DeployspecError(
                "--profile and --sandbox cannot be combined: the sandbox uses its own "
                "credentials and never reaches AWS"
            )
        info = control.status()
        if info is None:
            raise SandboxError(
                "the local sandbox is not running",
                hint="start it with `deployspec sandbox start`",
            )
        env = control.environment(info)
        return Gateway.local(
            endpoint_url=info.endpoint_url,
            region=region or info.region,
            access_key=env["AWS_ACCESS_KEY_ID"],
            secret_key=env["AWS_SECRET_ACCESS_KEY"],
        )
    return Gateway.connect(
        profile=target.profile,
        region=region,
        endpoint_url=os.environ.get("AWS_ENDPOINT_URL") or None,
    )


@dataclass(frozen=True)
class Prepared:
    loaded: LoadedSpec
    gateway: Gateway
    desired: Desired
    actual: Actual
    plan: Plan


def load(path: Path, variables: Sequence[str], var_files: Sequence[Path]) -> LoadedSpec:
    return load_spec(path, parse_var_assignments(variables), var_files)


def prepare(
    path: Path,
    variables: Sequence[str],
    var_files: Sequence[Path],
    target: Target,
    *,
    adopt: bool = False,
    build_artifact: bool = True,
    pinned_packages: Mapping[str, str] | None = None,
) -> Prepared:
    """`build_artifact=False`: NotPackagedError instead of packaging on a cache miss;
    `pinned_packages`: a saved plan's package versions (resolve_packages)."""
    loaded = load(path, variables, var_files)
    return prepare_loaded(
        loaded,
        target,
        adopt=adopt,
        build_artifact=build_artifact,
        pinned_packages=pinned_packages,
    )


def prepare_loaded(
    loaded: LoadedSpec,
    target: Target,
    *,
    gateway: Gateway | None = None,
    adopt: bool = False,
    build_artifact: bool = True,
    pinned_packages: Mapping[str, str] | None = None,
) -> Prepared:
    """`prepare` for a spec loaded already, on `gateway` when given (shared by many specs)."""
    role = resolve_role(loaded, target.role)
    if gateway is None:
        gateway = connect(target, loaded.spec.region)
    desired = desire(
        loaded, gateway, role, build_artifact=build_artifact, pinned_packages=pinned_packages
    )
    return plan_desired(loaded, gateway, desired, adopt=adopt)


def desire(
    loaded: LoadedSpec,
    gateway: Gateway,
    role: str,
    *,
    build_artifact: bool = True,
    pinned_packages: Mapping[str, str] | None = None,
) -> Desired:
    """The spec's desired state in the gateway's region (reads only env references and model
    package groups)."""
    return build_desired(
        loaded,
        region=gateway.region,
        role=role,
        resolved_env=resolve_references(gateway, loaded),
        resolved_packages=resolve_packages(gateway, loaded, pinned_packages),
        build_artifact=build_artifact,
        # A gated Hub model's hub.token_env is read here, where the CLI's environment is.
        process_env=os.environ,
    )


def plan_desired(
    loaded: LoadedSpec, gateway: Gateway, desired: Desired, *, adopt: bool = False
) -> Prepared:
    actual = read_actual(gateway, desired)
    plan = make_plan(desired, actual, adopt=adopt, spec_file=str(loaded.file))
    return Prepared(loaded, gateway, desired, actual, plan)


# SageMaker's limit on one container environment value.
MAX_ENV_VALUE = 1024


def resolve_references(gateway: Gateway, loaded: LoadedSpec) -> dict[str, str]:
    """The values of the models' env Secrets Manager and SSM references, named by
    desired.reference_key (read-only calls).

    SageMaker model environments hold plain values, so each reference is read when planning;
    the value only ever goes to build_desired, and no error here shows it.
    """
    from .desired import reference_key
    from .errors import AwsError
    from .secrets import json_field
    from .spec import SecretsManagerRef

    values: dict[str, str] = {}
    references = [
        (model_key, key, ref)
        for model_key, model_spec in loaded.spec.models.items()
        for key, ref in model_spec.references().items()
    ]
    for model_key, key, ref in references:
        where = f"{loaded.file}: {model_key}.env.{key}"
        try:
            if isinstance(ref, SecretsManagerRef):
                source = f"secret {ref.secretsmanager}"
                value = gateway.get_secret_value(ref.secretsmanager)
                if ref.json_key is not None:
                    source += f" (json_key {ref.json_key})"
                    value = json_field(value, ref.json_key)
            else:
                source = f"parameter {ref.ssm}"
                value = gateway.get_parameter(ref.ssm)
        except AwsError as error:
            raise AwsError(f"{where}: {error}", hint=error.hint) from error
        except ValueError as error:  # json_field's, which never show the secret
            raise DeployspecError(
                f"{where}: {source}: {error}",
                hint="drop json_key to use the whole secret as the value",
            ) from None
        if len(value) > MAX_ENV_VALUE:
            raise DeployspecError(
                f"{where}: the value of {source} has {len(value)} characters; SageMaker allows "
                f"at most {MAX_ENV_VALUE} in an environment value",
                hint="keep large secrets elsewhere and let the inference script read them",
            )
        values[reference_key(model_key, key)] = value
    return values


def resolve_packages(
    gateway: Gateway, loaded: LoadedSpec, pinned: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The Model Registry version each model block's package: deploys, by model key (read-only
    calls): a version's ARN as it is, a group's latest Approved version (ListModelPackages).

    `pinned` (a saved plan's record, model key -> version ARN) replaces the lookup: applying a
    saved plan deploys the version the plan showed, not one approved since. That version must
    still be Approved (DescribeModelPackage): one rejected since the plan is refused."""
    from .errors import AwsError
    from .resources import APPROVED
    from .spec import package_group, package_region

    resolved: dict[str, str] = {}
    for model_key, model_spec in loaded.spec.models.items():
        given = model_spec.package
        if given is None:
            continue
        where = f"{loaded.file}: {model_key}.package"
        region = package_region(given)
        if region is not None and region != gateway.region:
            raise DeployspecError(
                f"{where}: {given} is in {region}, and the endpoint in {gateway.region}",
                hint="SageMaker deploys a model package in its own region: copy it to "
                f"{gateway.region}'s registry, or deploy the spec to {region}",
            )
        group = package_group(given)
        if group is None:
            resolved[model_key] = given
            continue
        planned = (pinned or {}).get(model_key)
        try:
            if planned is None:
                resolved[model_key] = gateway.latest_approved_package(group).arn
                continue
            found = gateway.describe_model_package(planned)
        except AwsError as error:
            raise AwsError(f"{where}: {error}", hint=error.hint) from error
        status = "gone" if found is None else f"now {found.approval}"
        if found is not None and (found.group or "").lower() != group.split("/")[-1].lower():
            raise PlanError(
                f"{where}: the saved plan deploys {planned}, which is not a version of {group}",
                hint="saved plans must not be edited; run `deployspec plan --out` again",
            )
        if found is None or found.approval != APPROVED:
            raise PlanError(
                f"{where}: the saved plan deploys {planned}, the latest Approved version of "
                f"{group} when it was made, and that version is {status}",
                hint="run `deployspec plan --out` again and review the new plan",
            )
        resolved[model_key] = planned
    return resolved


def connect_spec(
    path: Path, variables: Sequence[str], var_files: Sequence[Path], target: Target
) -> tuple[LoadedSpec, Gateway, str]:
    """The spec, a gateway, and the account, for commands that need no desired state."""
    loaded = load(path, variables, var_files)
    gateway = connect(target, loaded.spec.region)
    return loaded, gateway, account_of_role(resolve_role(loaded, target.role))


def prepare_saved(path: Path, target: Target, given: Sequence[str] = ()) -> Prepared:
    """Plan again from what a saved plan records, and refuse unless the result is that plan.

    The saved file's changes are never executed: the returned plan is made now, from the
    recorded spec, variables and flags, against the live state (see saved.py).
    """
    from .saved import check_inputs, read, variables_for_apply, verify

    saved = read(path)
    inputs = saved.inputs
    if target.region is not None and target.region != saved.region:
        raise PlanError(
            f"the saved plan is for {saved.region}, not {target.region}",
            hint=f"pass --region {saved.region}, or make a plan for {target.region}",
        )
    if target.role is not None and target.role != inputs.role:
        raise PlanError(
            "--role differs from the role the saved plan was made with",
            hint="apply the saved plan without --role",
        )
    if target.use_sandbox and not inputs.sandbox:
        raise PlanError(
            "the saved plan was made against AWS, not the local sandbox",
            hint="apply it without --sandbox (and without DEPLOYSPEC_SANDBOX)",
        )
    if inputs.sandbox_home is not None:
        from .sandbox.control import sandbox_home

        here = str(sandbox_home().resolve())
        if here != inputs.sandbox_home:
            raise PlanError(
                f"the saved plan was made against the sandbox of {inputs.sandbox_home}, "
                f"not this one ({here})",
                hint=f"apply it with DEPLOYSPEC_HOME={inputs.sandbox_home}",
            )
    check_inputs(saved)
    variables = variables_for_apply(saved, given)
    recorded = Target(
        region=saved.region, profile=target.profile, sandbox=inputs.sandbox, role=inputs.role
    )
    prepared = prepare(
        Path(inputs.spec_file),
        variables,
        [Path(f.path) for f in inputs.var_files],
        recorded,
        adopt=inputs.adopt,
        # The versions the plan showed, not the groups' latest now (saved.py).
        pinned_packages=inputs.packages,
    )
    gateway = prepared.gateway
    if gateway.region != saved.region:
        raise PlanError(
            f"the saved plan is for {saved.region}, but the session is in {gateway.region}",
            hint=f"pass --region {saved.region}",
        )
    if gateway.account_id() != saved.account:
        raise PlanError(
            f"the saved plan is for account {saved.account}, but these credentials are for "
            f"account {gateway.account_id()}",
            hint="use the credentials (profile) the plan was made with",
        )
    verify(saved, prepared.plan)
    return prepared


@dataclass(frozen=True)
class DestroyPlan:
    """What `destroy` removes, and the uploaded archives it leaves in S3 (and why)."""

    plan: Plan
    # The archives deployspec uploaded for this spec: kept unless purged.
    candidates: frozenset[str]
    # With --purge-artifacts: the archives another model still serves, and which models.
    still_used: dict[str, list[str]]
    purge_artifacts: bool

    @property
    def left(self) -> list[str]:
        """The uploaded archives that stay in S3 after the destroy."""
        return sorted(self.still_used) if self.purge_artifacts else sorted(self.candidates)


def prepare_destroy(
    loaded: LoadedSpec, gateway: Gateway, account: str, *, purge_artifacts: bool
) -> DestroyPlan:
    """The destroy plan of everything the spec owns (read-only calls)."""
    from .desired import is_uploaded_artifact, multi_model_prefix
    from .planner import make_destroy_plan
    from .state import archive_users, is_multi_model_archive, read_owned
    from .weights import MANIFEST_SUFFIX, is_weights_prefix, weights_root

    # The models' archives are read either way: those kept are named, so nobody is surprised
    # by what stays billed in S3 (once the models are gone nothing leads deployspec to them).
    # A spec of components reads them; any other spec looks whether the endpoint it left has
    # some first (the spec may have dropped its components since the last apply).
    owned = read_owned(
        gateway,
        loaded.spec.name,
        with_model_data=True,
        components=True if loaded.spec.components else None,
    )
    bucket = loaded.spec.bucket or f"sagemaker-{gateway.region}-{account}"
    # Only archives deployspec uploaded under this spec's prefix: never the user's own s3://
    # artifacts, nor anything another spec may use.
    candidates = {
        uri
        for uri in owned.model_data.values()
        if is_uploaded_artifact(uri, bucket, loaded.spec.artifact_prefix)
    }
    # A multi-model model's ModelDataUrl is the spec's prefix: its archives are under it.
    prefix = multi_model_prefix(bucket, loaded.spec.artifact_prefix)
    if prefix in owned.model_data.values():
        candidates.update(
            uri for uri in gateway.list_objects(prefix) if is_multi_model_archive(uri, prefix)
        )
    # Uncompressed weights trees live under <prefix>/weights/: listed when a model of the spec
    # uses one, or to purge (an interrupted upload's tree is named by no model).
    root = weights_root(bucket, loaded.spec.artifact_prefix)
    trees: set[str] = set()
    if purge_artifacts or any(is_weights_prefix(uri, root) for uri in owned.model_data.values()):
        for uri in gateway.list_object_sizes(root):
            rest = uri.removeprefix(root)
            sha = rest.removesuffix(MANIFEST_SUFFIX).split("/", 1)[0]
            if is_weights_prefix(f"{root}{sha}/", root):
                trees.add(f"{root}{sha}/")
    candidates.update(trees)
    if purge_artifacts:
        users = archive_users(gateway, candidates, ignore=owned.model_data)
        purge = tuple(uri for uri in candidates if not users[uri] and uri not in trees)
        purge_weights = tuple(uri for uri in trees if not users[uri])
        still_used = {uri: names for uri, names in users.items() if names}
        kept = tuple(
            f"kept: model {', '.join(sorted(names))} still serves {uri}"
            for uri, names in sorted(still_used.items())
        )
    else:
        purge = purge_weights = ()
        still_used = {}
        kept = tuple(
            f"kept in S3: {uri} (uploaded for this spec; destroy --purge-artifacts deletes it "
            "with the rest)"
            for uri in sorted(candidates)
        )
    plan = make_destroy_plan(
        loaded.spec.name,
        gateway.region,
        account,
        owned,
        purge=purge,
        purge_weights=purge_weights,
    )
    plan = dataclasses.replace(plan, notes=(*plan.notes, *kept))
    return DestroyPlan(plan, frozenset(candidates), still_used, purge_artifacts)


# --- many specs ---------------------------------------------------------------------------
# A command over many specs runs them in stages: load every spec (here, in order), connect one
# gateway per region, then the AWS-facing stages in a bounded thread pool. A spec's error stops
# only that spec; the command reports every spec in find_specs' order.


@dataclass
class SpecRun:
    """One spec of a many-spec command, filled in stage by stage; `error` ends it."""

    file: Path
    loaded: LoadedSpec | None = None
    gateway: Gateway | None = None
    role: str | None = None
    desired: Desired | None = None
    prepared: Prepared | None = None
    # What a command's own stage made of it (a destroy plan, a status report).
    result: object = None
    error: DeployspecError | None = None

    @property
    def spec_name(self) -> str | None:
        return self.loaded.spec.name if self.loaded is not None else None

    @property
    def region(self) -> str | None:
        if self.gateway is not None:
            return self.gateway.region
        return self.loaded.spec.region if self.loaded is not None else None

    def spec_plan(self) -> SpecPlan:
        from .multi import SpecPlan

        return SpecPlan(
            file=str(self.file),
            spec_name=self.spec_name,
            endpoint_name=self.desired.endpoint_name if self.desired else self.spec_name,
            region=self.region,
            plan=self.prepared.plan if self.prepared is not None and self.error is None else None,
            error=self.error,
        )


def _os_error(exc: OSError) -> DeployspecError:
    # As cli.main reports one outside the tool's own checks.
    return DeployspecError(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": "))


@dataclass(frozen=True)
class Selected:
    """The specs a many-spec command runs (`runs`), and those --changed-since left out."""

    runs: list[SpecRun]
    # Loaded, but touched by no change: not run, yet compared for collisions, so that a
    # changed spec cannot take over an unchanged one's endpoint.
    unchanged: list[SpecRun]

    @property
    def everyone(self) -> list[SpecRun]:
        return [*self.runs, *self.unchanged]


def connect_selected(selected: Selected, target: Target) -> None:
    """Connect every spec found, then check the selected ones' endpoints against them all.

    The unchanged specs are connected too (sessions only, no calls): their gateway's region is
    the one they deploy to, which the collision check compares.
    """
    connect_many(selected.everyone, target)
    check_endpoint_collisions(selected.runs, target, others=selected.unchanged)


def load_many(
    found: Sequence[Found], variables: Sequence[str], var_files: Sequence[Path]
) -> list[SpecRun]:
    """Every spec loaded, in order (`load_selected` without --changed-since)."""
    return load_selected(found, variables, var_files).runs


def load_selected(
    found: Sequence[Found],
    variables: Sequence[str],
    var_files: Sequence[Path],
    *,
    changes: Changes | None = None,
) -> Selected:
    """Every spec found, loaded in order; with `changes`, those no change touches set apart.

    --var and --var-file are shared: each spec receives the variables it declares or uses
    (the others are not its business), and a name no spec takes is the command's error.
    In this thread, one after another: loading is CPU work (no thread would gain), and the
    template renderer forks, which must not happen while other threads hold locks.
    """
    from .multi import spec_inputs, touches, touches_unloaded, unknown_variables
    from .spec import declared_variables

    assignments = parse_var_assignments(variables)  # a malformed --var is the command's error
    declared = {e.path: declared_variables(e.path) for e in found if e.error is None}
    if variables or var_files:
        problem = unknown_variables(list(declared.values()), var_files, assignments)
        if problem is not None:
            raise problem
    runs: list[SpecRun] = []
    unchanged: list[SpecRun] = []
    for entry in found:
        run = SpecRun(entry.path, error=entry.error)
        if run.error is None:
            try:
                run.loaded = load_spec(
                    entry.path, assignments, var_files, only=declared[entry.path]
                )
            except DeployspecError as exc:
                run.error = exc
            except OSError as exc:
                run.error = _os_error(exc)
            if changes is not None:
                if run.loaded is not None:
                    touched = touches(changes, spec_inputs(run.loaded, var_files))
                else:
                    touched = touches_unloaded(changes, entry.path, var_files)
                if not touched:
                    if run.loaded is not None:
                        unchanged.append(run)
                    continue
        runs.append(run)
    return Selected(runs, unchanged)


def connect_many(runs: Sequence[SpecRun], target: Target) -> None:
    """One gateway per region (one boto3 session, its clients shared by every thread), given
    to each loaded spec. A failure every region shares (no sandbox, an unknown profile) is the
    command's error; one region's failure is its specs'."""
    groups: dict[str | None, list[SpecRun]] = {}
    for run in runs:
        if run.error is None and run.loaded is not None:
            groups.setdefault(target.region or run.loaded.spec.region, []).append(run)
    by_region: dict[str, Gateway] = {}
    failures: list[DeployspecError] = []
    for region, members in groups.items():
        try:
            gateway = connect(target, region)
        except DeployspecError as exc:
            failures.append(exc)
            for run in members:
                run.error = exc
            continue
        # The spec's region and the configured default may name the same region.
        gateway = by_region.setdefault(gateway.region, gateway)
        for run in members:
            run.gateway = gateway
    if failures and len(failures) == len(groups) and len({str(e) for e in failures}) == 1:
        raise failures[0]


def run_parallel(
    runs: Sequence[SpecRun], work: Callable[[SpecRun], None], parallelism: int
) -> None:
    """`work(run)` for every run without an error, at most `parallelism` at once; an expected
    error becomes that run's error and stops nothing else."""

    def guarded(run: SpecRun) -> None:
        try:
            work(run)
        except DeployspecError as exc:
            run.error = exc
        except OSError as exc:
            run.error = _os_error(exc)

    pending = [run for run in runs if run.error is None]
    if parallelism <= 1 or len(pending) <= 1:
        for run in pending:
            guarded(run)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(
        max_workers=min(parallelism, len(pending)), thread_name_prefix="deployspec"
    ) as pool:
        futures = [pool.submit(guarded, run) for run in pending]
        try:
            for future in futures:
                future.result()
        except BaseException:
            # Ctrl-C, or a bug: start nothing more; what runs is finished (the pool waits).
            pool.shutdown(wait=False, cancel_futures=True)
            raise


def check_collisions(runs: Sequence[SpecRun]) -> None:
    """The collision of specs' desired states (multi.find_collisions) as their errors."""
    from .multi import claim_of, find_collisions

    ready = [run for run in runs if run.error is None and run.desired is not None]
    claims = [claim_of(str(run.file), run.desired) for run in ready if run.desired is not None]
    for index, error in find_collisions(claims).items():
        ready[index].error = error


def _account_of(run: SpecRun, target: Target) -> str:
    """The account a spec deploys to as its role names it; "" (any) when not known."""
    if run.loaded is None:
        return ""
    try:
        return account_of_role(run.role or resolve_role(run.loaded, target.role))
    except DeployspecError:
        return ""


def check_endpoint_collisions(
    runs: Sequence[SpecRun], target: Target, *, others: Sequence[SpecRun] = ()
) -> None:
    """Two loaded specs naming one endpoint, as the errors of those in `runs`; `others` (the
    specs --changed-since left out) are compared too, and named in the errors, but are not
    run, so get none. A spec's region is its gateway's once connected (the session's default
    for a spec without region:), else --region or its region:; with neither (validate), it
    matches every region. Its account is its role's, when that is known."""
    from .multi import Claim, find_collisions

    ready = [run for run in runs if run.error is None and run.loaded is not None]
    compared = [*ready, *(run for run in others if run.loaded is not None)]
    claims: list[Claim] = []
    for run in compared:
        if run.loaded is None:
            continue  # not reached: narrowed for the types
        spec = run.loaded.spec
        region = run.gateway.region if run.gateway is not None else target.region or spec.region
        claims.append(
            Claim(
                file=str(run.file),
                spec_name=spec.name,
                endpoint=(_account_of(run, target), region or "", spec.name),
                resources=(),
            )
        )
    for index, error in find_collisions(claims).items():
        if index < len(ready):
            ready[index].error = error


def resolve_roles(runs: Sequence[SpecRun], target: Target) -> None:
    for run in runs:
        if run.error is None and run.loaded is not None:
            try:
                run.role = resolve_role(run.loaded, target.role)
            except DeployspecError as exc:
                run.error = exc


def plan_many(
    found: Sequence[Found],
    variables: Sequence[str],
    var_files: Sequence[Path],
    target: Target,
    *,
    adopt: bool = False,
    parallelism: int = 8,
    changes: Changes | None = None,
) -> list[SpecRun]:
    """Plan every spec: load, then endpoint collisions over every spec found (--changed-since's
    unchanged ones too), then desired state for the rest and their content collisions
    (before any state is read), then state and plan, on one gateway per region."""
    selected = load_selected(found, variables, var_files, changes=changes)
    runs = selected.runs
    if not runs:
        return runs  # nothing to plan: no session needed either
    resolve_roles(runs, target)
    connect_selected(selected, target)

    # The stages before leave every run without an error loaded, connected and with a role
    # (and, after build, a desired state): the checks only narrow the types.
    def build(run: SpecRun) -> None:
        if run.loaded is not None and run.gateway is not None and run.role is not None:
            run.desired = desire(run.loaded, run.gateway, run.role)

    def plan(run: SpecRun) -> None:
        if run.loaded is not None and run.gateway is not None and run.desired is not None:
            run.prepared = plan_desired(run.loaded, run.gateway, run.desired, adopt=adopt)

    run_parallel(runs, build, parallelism)
    # Content claims only among the specs built: an unchanged spec's would package its model
    # and read its secrets. Under distinct spec names its model and config names cannot meet
    # ours (they begin with the spec name, hashed whole when cut) and its scaling target
    # follows its endpoint (checked above): only a shared uploaded archive (one prefix:, the
    # same model files) goes unseen, until the whole set is planned.
    check_collisions(runs)
    run_parallel(runs, plan, parallelism)
    return runs


@dataclass(frozen=True)
class AsyncResult:
    input_location: str
    output_location: str
    answer: bytes | None  # None without waiting


# How often `invoke --async --wait` looks for the answer.
ASYNC_POLL_SECONDS = 1.0


def invoke_async(
    gateway: Gateway,
    loaded: LoadedSpec,
    payload: bytes,
    content_type: str,
    accept: str,
    *,
    wait_seconds: int | None,
    progress: Callable[[str], None],
    sleep: Callable[[float], None] | None = None,
    clock: Callable[[], float] | None = None,
) -> AsyncResult:
    """Queue one request on the spec's asynchronous endpoint: its input is uploaded under the
    spec's artifact prefix (`<prefix>/async-inputs/<sha256 of the body>`: the same request
    twice is one object), then InvokeEndpointAsync; with `wait_seconds`, the answer is read
    from the output location once written, or the failure from the failure location raised."""
    import hashlib
    import time

    from .errors import AwsError

    spec = loaded.spec
    if spec.async_ is None:
        raise DeployspecError(
            f"{loaded.file}: endpoint {spec.name} is not asynchronous: --async needs an async: "
            "block in the spec",
            hint="drop --async to call it directly",
        )
    sleep = sleep or time.sleep
    clock = clock or time.monotonic
    bucket = spec.bucket or f"sagemaker-{gateway.region}-{gateway.account_id()}"
    digest_hex = hashlib.sha256(payload).hexdigest()
    input_location = f"s3://{bucket}/{spec.artifact_prefix}/async-inputs/{digest_hex}"
    gateway.put_object(input_location, payload, content_type)
    output, failure = gateway.invoke_endpoint_async(spec.name, input_location, content_type, accept)
    progress(f"queued: the answer will be written to {output}")
    if wait_seconds is None:
        return AsyncResult(input_location, output, None)
    deadline = clock() + wait_seconds
    progress(f"waiting for it (at most {wait_seconds} s)...")
    while True:
        found = gateway.get_object(output)
        if found is not None:
            return AsyncResult(input_location, output, found[0])
        if failure is not None:
            failed = gateway.get_object(failure)
            if failed is not None:
                raise AwsError(
                    f"endpoint {spec.name} could not answer the request: "
                    f"{failed[0].decode('utf-8', 'replace')[:2000]}",
                    hint=f"the failure is kept at {failure}",
                )
        if clock() >= deadline:
            raise DeployspecError(
                f"no answer from endpoint {spec.name} within {wait_seconds} s",
                hint=f"it is still queued: its answer will be written to {output}",
            )
        sleep(ASYNC_POLL_SECONDS)


def target_model(gateway: Gateway, loaded: LoadedSpec, account: str, name: str) -> str:
    """The TargetModel that invokes the spec's multi-model archive `name`: its key under the
    prefix, as deployed (listed from S3, so no packaging is needed to invoke)."""
    from .desired import multi_model_prefix

    spec = loaded.spec
    blocks = [m for m in spec.models.values() if m.is_multi_model()]
    if not blocks:
        raise DeployspecError(
            f"{loaded.file}: --target-model is for multi-model endpoints; this spec's model "
            "has no `mode: multi-model`",
            hint="leave --target-model out",
        )
    names = sorted(n for block in blocks for n in (block.models or {}))
    if name not in names:
        raise DeployspecError(
            f"{loaded.file}: the spec's multi-model endpoint has no model {name!r}",
            hint=f"its models: {', '.join(names)}",
        )
    bucket = spec.bucket or f"sagemaker-{gateway.region}-{account}"
    prefix = multi_model_prefix(bucket, spec.artifact_prefix)
    found = sorted(
        uri for uri in gateway.list_objects(f"{prefix}{name}/") if uri.endswith("/model.tar.gz")
    )
    if not found:
        raise DeployspecError(
            f"model {name} of {loaded.file} is not deployed: nothing under {prefix}{name}/",
            hint=f"run `deployspec apply {loaded.file}` first",
        )
    if len(found) > 1:
        raise DeployspecError(
            f"model {name} of {loaded.file} has {len(found)} archives under {prefix}{name}/: "
            "an apply is changing it, or one was interrupted",
            hint=f"run `deployspec apply {loaded.file}`: it removes the older ones",
        )
    return found[0][len(prefix) :]


def component_target(loaded: LoadedSpec, name: str | None) -> str | None:
    """`invoke --component NAME`: the InferenceComponentName of the spec's component NAME
    (`<spec>-<NAME>`). A spec of components needs one named (SageMaker routes by it); any other
    spec has none to name."""
    from .resources import component_name

    components = loaded.spec.components or []
    names = [c.name for c in components]
    if name is None:
        if components:
            raise DeployspecError(
                f"{loaded.file}: the endpoint hosts inference components: name the one to invoke",
                hint=f"pass --component NAME, one of: {', '.join(names)}",
            )
        return None
    if not components:
        raise DeployspecError(
            f"{loaded.file}: the spec has no components: --component names one of an "
            "inference-component endpoint",
            hint="drop --component",
        )
    if name not in names:
        raise DeployspecError(
            f"{loaded.file}: the spec has no component {name!r}",
            hint=f"its components: {', '.join(names)}",
        )
    return component_name(loaded.spec.name, name)


def prompt_request(
    loaded: LoadedSpec,
    prompt: str,
    *,
    variant: str | None,
    stream: bool,
    max_tokens: int,
    component: str | None = None,
) -> bytes:
    """`invoke --prompt`: the request body for the container the spec's production variants
    run (the variant `variant` when given; variants of different containers need it), or the
    component `component` (its name in the spec; an adapter's is its base's container)."""
    from .prompts import request_for

    if component is not None:
        by_name = {c.name: c for c in loaded.spec.components or []}
        found = by_name.get(component)
        base = by_name.get(found.base) if found is not None and found.base else found
        if base is None or base.model is None:
            raise DeployspecError(f"{loaded.file}: the spec has no component {component!r}")
        return request_for(
            str(base.model.framework.value), prompt, stream=stream, max_tokens=max_tokens
        )
    variants = [v for v in loaded.spec.endpoint_variants if not v.shadow]
    if variant is not None:
        variants = [v for v in variants if v.name == variant]
    kinds = sorted({str(v.model.framework.value) for v in variants if v.model is not None})
    if not kinds:
        raise DeployspecError(f"{loaded.file}: the spec has no production variant {variant!r}")
    if len(kinds) > 1:
        raise DeployspecError(
            f"{loaded.file}: the variants run different containers ({', '.join(kinds)}): "
            "--prompt builds the request of one",
            hint="choose the variant with --variant NAME",
        )
    return request_for(kinds[0], prompt, stream=stream, max_tokens=max_tokens)
