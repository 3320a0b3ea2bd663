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
from .errors import DeployspecError, SandboxError
from .plan import Plan
from .planner import make_plan
from .spec import LoadedSpec, load_spec, parse_var_assignments
from .state import Actual, endpoint_fingerprint, read_actual

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
    import boto3

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
        session = boto3.Session(
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
            region_name=region or info.region,
        )
        return Gateway(session, endpoint_url=info.endpoint_url)
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
) -> Prepared:
    loaded = load(path, variables, var_files)
    role = resolve_role(loaded, target.role)
    gateway = connect(target, loaded.spec.region)
    desired = build_desired(loaded, region=gateway.region, role=role)
    actual = read_actual(gateway, desired)
    plan = make_plan(desired, actual, adopt=adopt, spec_file=str(path))
    return Prepared(loaded, gateway, desired, actual, plan)


def connect_spec(
    path: Path, variables: Sequence[str], var_files: Sequence[Path], target: Target
) -> tuple[LoadedSpec, Gateway, str]:
    """The spec, a gateway, and the account, for commands that need no desired state."""
    loaded = load(path, variables, var_files)
    gateway = connect(target, loaded.spec.region)
    return loaded, gateway, account_of_role(resolve_role(loaded, target.role))


def check_fresh(gateway: Gateway, plan: Plan) -> None:
    """Refuse a saved plan whose endpoint changed since it was made."""
    now = endpoint_fingerprint(gateway.describe_endpoint(plan.endpoint_name))
    then = {k: plan.fingerprint.get(k) for k in now}
    if now != then:
        changed = ", ".join(f"{k}: {then[k]} → {now[k]}" for k in now if now[k] != then[k])
        raise DeployspecError(
            f"the saved plan is stale: endpoint {plan.endpoint_name} changed since it was made "
            f"({changed})",
            hint="run `deployspec plan --out` again and review the new plan",
        )
