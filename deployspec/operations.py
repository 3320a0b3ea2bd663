"""The steps every AWS-facing command shares: connect, load, build desired, read, plan.

Contract: `connect(...)` returns a Gateway to real AWS (standard credential chain, `--profile`,
`--region`, `AWS_ENDPOINT_URL`) or to the running local sandbox, which can never reach AWS;
`prepare(...)` runs spec → desired → state → planner and returns everything the commands need.
No printing here: the CLI shows the results.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
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
) -> Prepared:
    """`build_artifact=False`: NotPackagedError instead of packaging on a cache miss."""
    loaded = load(path, variables, var_files)
    role = resolve_role(loaded, target.role)
    gateway = connect(target, loaded.spec.region)
    desired = build_desired(
        loaded,
        region=gateway.region,
        role=role,
        resolved_env=resolve_references(gateway, loaded),
        build_artifact=build_artifact,
    )
    actual = read_actual(gateway, desired)
    plan = make_plan(desired, actual, adopt=adopt, spec_file=str(path))
    return Prepared(loaded, gateway, desired, actual, plan)


# SageMaker's limit on one container environment value.
MAX_ENV_VALUE = 1024


def resolve_references(gateway: Gateway, loaded: LoadedSpec) -> dict[str, str]:
    """The values of model.env's Secrets Manager and SSM references, by key (read-only calls).

    SageMaker model environments hold plain values, so each reference is read when planning;
    the value only ever goes to build_desired, and no error here shows it.
    """
    from .errors import AwsError
    from .secrets import json_field
    from .spec import SecretsManagerRef

    values: dict[str, str] = {}
    for key, ref in loaded.spec.model.references().items():
        where = f"{loaded.file}: model.env.{key}"
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
        values[key] = value
    return values


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
