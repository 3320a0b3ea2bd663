"""Saved plans: what `plan --out` writes and `apply PLAN` accepts.

Contract: `write(path, plan, inputs)` stores the plan together with the inputs it was made from
(the spec's path and digest, `--var` and `--var-file`, `--adopt`, `--role`, the sandbox, and
the Model Registry version each model package group resolved to), mode
0600, with every container environment value sealed: replaced by a salted digest (scrypt for
values that look secret), so the file holds no environment value. A `--var` whose name or value
looks secret is sealed too, and must be given again to apply. `read(path)` validates the whole
file before anything else and raises PlanError for anything that is not exactly a saved plan
of this version.

apply never executes what the file says. It plans again from the recorded inputs against the
live state, and `verify(saved, fresh)` refuses unless the fresh plan, sealed the same way, is
the saved one: an edited, redacted, truncated or stale file can only be refused, and what runs
is always a plan deployspec itself made, with real values. A model package group is not looked
up again: apply deploys the version recorded (`Inputs.packages`), the one the plan showed, even
when a newer one was approved since (plan again to deploy that), and refuses it if it is no
longer Approved (operations.resolve_packages).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from secrets import token_hex
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from . import __version__
from .errors import PlanError
from .plan import FORMAT_VERSION, Action, Kind, Plan
from .secrets import DECLARED, SEALED, is_secret, is_secret_key, looks_secret

MARKER = "deployspec_saved_plan"
SAVED_VERSION = 1
# A saved plan is a few KiB; anything far larger is not one, and is not read whole.
_MAX_BYTES = 16 * 1024 * 1024
_HEX64 = r"^[0-9a-f]{64}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class SavedFile(_Strict):
    path: str
    sha256: str = Field(pattern=_HEX64)


class SavedVar(_Strict):
    """A `--var`: its value as given, or (when it looks secret) only a seal of it."""

    name: str
    value: str | None
    sealed: str | None


class Inputs(_Strict):
    """What the plan was made from; apply plans again from exactly these."""

    spec_file: str
    spec_sha256: str = Field(pattern=_HEX64)
    variables: list[SavedVar]
    var_files: list[SavedFile]
    adopt: bool
    role: str | None
    sandbox: bool
    # Which sandbox (its DEPLOYSPEC_HOME, resolved): each is private to what started it.
    sandbox_home: str | None
    # model key -> the Model Registry version its package: resolved to (desired.packages).
    packages: dict[str, str] = {}


class _Change(_Strict):
    address: str
    kind: Kind = Field(strict=False)
    name: str
    action: Action = Field(strict=False)
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    reasons: list[str]
    forces_replacement: list[str]


class _Summary(_Strict):
    add: int
    change: int
    destroy: int


class _Plan(_Strict):
    format_version: int
    spec_name: str
    spec_file: str | None
    endpoint_name: str
    region: str
    account: str
    endpoint_status: str | None
    timeout_seconds: int = Field(ge=1)
    target_config: str | None
    summary: _Summary
    changes: list[_Change]
    notes: list[str]
    fingerprint: dict[str, Any]
    adopt: bool


class _File(_Strict):
    deployspec_saved_plan: Literal[1]
    deployspec_version: str
    salt: str = Field(pattern=r"^[0-9a-f]{32}$")
    inputs: Inputs
    plan: _Plan


@dataclass(frozen=True)
class Saved:
    path: Path
    inputs: Inputs
    salt: str
    plan: dict[str, Any]  # sealed, as written

    @property
    def spec_name(self) -> str:
        return str(self.plan["spec_name"])

    @property
    def region(self) -> str:
        return str(self.plan["region"])

    @property
    def account(self) -> str:
        return str(self.plan["account"])


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def make_inputs(
    spec_file: Path,
    variables: Sequence[str],
    var_files: Sequence[Path],
    *,
    adopt: bool,
    role: str | None,
    sandbox: bool,
    salt: str,
    sandbox_home: str | None = None,
    packages: dict[str, str] | None = None,
) -> Inputs:
    saved = []
    for item in variables:
        name, _, value = item.partition("=")
        if is_secret_key(name) or looks_secret(value):
            saved.append(SavedVar(name=name, value=None, sealed=_slow_seal(salt, name, value)))
        else:
            saved.append(SavedVar(name=name, value=value, sealed=None))
    return Inputs(
        spec_file=str(spec_file),
        spec_sha256=file_digest(spec_file),
        variables=saved,
        var_files=[SavedFile(path=str(p), sha256=file_digest(p)) for p in var_files],
        adopt=adopt,
        role=role,
        sandbox=sandbox,
        sandbox_home=sandbox_home if sandbox else None,
        packages=dict(packages or {}),
    )


def seal(data: Any, salt: str) -> Any:
    """A copy with every `environment` value replaced by a salted digest of key and value."""
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        listed = data.get(DECLARED)
        declared = [str(k) for k in listed] if isinstance(listed, list) else []
        for key, value in data.items():
            if key == "environment" and isinstance(value, dict):
                out[key] = {
                    k: _slow_seal(salt, str(k), v)
                    if is_secret(str(k), v, declared)
                    else _sealed(salt, str(k), v)
                    for k, v in value.items()
                }
            else:
                out[key] = seal(value, salt)
        return out
    if isinstance(data, list):
        return [seal(item, salt) for item in data]
    return data


def _sealed(salt: str, key: str, value: object) -> str:
    material = json.dumps([salt, key, value], separators=(",", ":"))
    return SEALED + hashlib.sha256(material.encode()).hexdigest()


# scrypt's interactive cost: a guess at a short password costs about 0.1 s, so the seals of
# secrets in a leaked plan file cannot be brute-forced like a plain hash (each costs 16 MiB).
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


def _slow_seal(salt: str, key: str, value: object) -> str:
    material = json.dumps([key, value], separators=(",", ":")).encode()
    sealed = hashlib.scrypt(material, salt=bytes.fromhex(salt), dklen=32, **_SCRYPT)
    return SEALED + "scrypt:" + sealed.hex()


def sealed_variables(inputs: Inputs) -> list[str]:
    """Names of the `--var`s whose values were sealed, to be given again at apply."""
    return [v.name for v in inputs.variables if v.sealed is not None]


def variables_for_apply(saved: Saved, given: Sequence[str]) -> list[str]:
    """The `--var` assignments to plan again with: the recorded values, and the sealed ones
    from `given` (checked against their seals). Any other `--var` is refused."""
    supplied: dict[str, str] = {}
    for item in given:
        name, _, value = item.partition("=")
        supplied[name] = value
    recorded = {v.name for v in saved.inputs.variables}
    extra = sorted(set(supplied) - {v.name for v in saved.inputs.variables if v.sealed})
    if extra:
        raise PlanError(
            f"--var {', '.join(extra)}: the saved plan records "
            + ("this variable" if set(extra) <= recorded else "no such variable")
            + "; only variables whose values it sealed are given again",
            hint="apply the saved plan with only the --var it asks for, or make a new plan",
        )
    out = []
    for var in saved.inputs.variables:
        if var.sealed is None:
            out.append(f"{var.name}={var.value}")
            continue
        if var.name not in supplied:
            raise PlanError(
                f"the saved plan sealed the value of --var {var.name} (it looks secret): give "
                "it again",
                hint=f"apply it with --var {var.name}=... as when the plan was made",
            )
        if _slow_seal(saved.salt, var.name, supplied[var.name]) != var.sealed:
            raise PlanError(
                f"--var {var.name} is not the value the plan was made with",
                hint="give the value the plan was made with, or make a new plan",
            )
        out.append(f"{var.name}={supplied[var.name]}")
    return out


def new_salt() -> str:
    return token_hex(16)


def write(path: Path, plan: Plan, inputs: Inputs, salt: str) -> None:
    document = {
        MARKER: SAVED_VERSION,
        "deployspec_version": __version__,
        "salt": salt,
        "inputs": inputs.model_dump(mode="json"),
        "plan": seal(plan.to_json(), salt),
    }
    data = json.dumps(document, indent=2) + "\n"
    # Private to its owner all the same; O_NOFOLLOW: a symlink (a pull request may add one)
    # must not lead the write elsewhere.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    # The mode given to open() only applies to a new file; an existing one keeps its own.
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(data)


def _json_object(path: Path) -> dict[str, Any] | None:
    """The file as a JSON object, or None when it is not one (a spec, say)."""
    try:
        if not path.is_file():
            return None
        with path.open("rb") as handle:
            head = handle.read(_MAX_BYTES + 1)
        if head.lstrip()[:1] != b"{":
            return None
        data = json.loads(head)
    except (OSError, ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def is_saved_plan(path: Path) -> bool:
    """Whether `path` is a file `plan --out` wrote (whatever its name)."""
    data = _json_object(path)
    return data is not None and MARKER in data


def looks_like_plan(path: Path) -> bool:
    """Whether `path` is a plan (saved, or JSON for reading), as opposed to a spec."""
    data = _json_object(path)
    return data is not None and (MARKER in data or "format_version" in data or "changes" in data)


def read(path: Path) -> Saved:
    try:
        with path.open("rb") as handle:
            raw = handle.read(_MAX_BYTES + 1)
    except OSError as exc:
        raise PlanError(f"cannot read the saved plan {path}: {exc.strerror}") from None
    if len(raw) > _MAX_BYTES:
        raise PlanError(f"{path} is larger than any saved plan ({_MAX_BYTES} bytes)")
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise PlanError(f"{path} is not a saved plan: it is not valid JSON ({exc})") from None
    except RecursionError:
        raise PlanError(f"{path} is not a saved plan: it is nested too deeply") from None
    if not isinstance(data, dict) or MARKER not in data:
        raise PlanError(
            f"{path} is a plan for reading (plan --format json), not a saved plan: it has "
            "secrets masked and no record of its inputs, so it cannot be applied",
            hint=f"save a plan to apply with `deployspec plan SPEC --out {path.name}`",
        )
    if type(data.get(MARKER)) is not int:
        raise PlanError(f"{path} is not a valid saved plan ({MARKER}: not a version number)")
    try:
        parsed = _File.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(top)'}: {err['msg']}"
            for err in exc.errors()[:5]
        )
        raise PlanError(
            f"{path} is not a valid saved plan ({problems})",
            hint="saved plans are written by `deployspec plan --out` and must not be edited; "
            "make the plan again",
        ) from None
    if parsed.plan.format_version != FORMAT_VERSION:
        raise PlanError(
            f"{path} has plan format version {parsed.plan.format_version}; this deployspec "
            f"reads version {FORMAT_VERSION}",
            hint="make the plan again with this version of deployspec",
        )
    return Saved(path=path, inputs=parsed.inputs, salt=parsed.salt, plan=data["plan"])


def check_inputs(saved: Saved) -> None:
    """The spec and var files must be the ones the plan was made from."""
    spec = Path(saved.inputs.spec_file)
    files = [(spec, saved.inputs.spec_sha256, "spec")]
    files += [(Path(f.path), f.sha256, "var file") for f in saved.inputs.var_files]
    for path, expected, what in files:
        try:
            found = file_digest(path)
        except OSError as exc:
            raise PlanError(
                f"the saved plan was made from the {what} {path}, which cannot be read now "
                f"({exc.strerror})",
                hint="apply a saved plan from the folder where it was made, with the same files",
            ) from None
        if found != expected:
            raise PlanError(
                f"the {what} {path} changed since the plan was saved",
                hint="run `deployspec plan --out` again and review the new plan",
            )


def _comparable(plan: dict[str, Any]) -> dict[str, Any]:
    """The parts that must match; where a file lies on this machine is not one of them."""
    data = {k: v for k, v in plan.items() if k != "spec_file"}
    changes = []
    for change in data.get("changes", []):
        after = change.get("after")
        if change.get("kind") == Kind.ARTIFACT.value and isinstance(after, dict):
            change = {**change, "after": {k: v for k, v in after.items() if k != "local_path"}}
        elif change.get("kind") == Kind.WEIGHTS.value and isinstance(after, dict):
            # Each upload names its file on this machine; what is uploaded is its sha256.
            rows = [
                {k: v for k, v in row.items() if k != "local_path"}
                if isinstance(row, dict)
                else row
                for row in after.get("transfers", [])
            ]
            change = {**change, "after": {**after, "transfers": rows}}
        changes.append(change)
    data["changes"] = changes
    return data


def verify(saved: Saved, fresh: Plan) -> None:
    """Refuse unless `fresh`, planned now from the saved inputs, is exactly the saved plan."""
    now = _comparable(seal(fresh.to_json(), saved.salt))
    then = _comparable(saved.plan)
    if now == then:
        return
    if now["fingerprint"] != then["fingerprint"]:
        keys = sorted(set(now["fingerprint"]) | set(then["fingerprint"]))
        changed = ", ".join(
            f"{k}: {then['fingerprint'].get(k)} → {now['fingerprint'].get(k)}"
            for k in keys
            if now["fingerprint"].get(k) != then["fingerprint"].get(k)
        )
        raise PlanError(
            f"the saved plan is stale: endpoint {fresh.endpoint_name} changed since it was "
            f"made ({changed})",
            hint="run `deployspec plan --out` again and review the new plan",
        )
    raise PlanError(
        f"the saved plan {saved.path} is not what deployspec plans now for spec "
        f"{fresh.spec_name} ({_first_difference(then, now)}): it was edited, or something "
        "changed in the account since",
        hint="saved plans must not be edited; run `deployspec plan --out` again and review it",
    )


def _first_difference(then: dict[str, Any], now: dict[str, Any]) -> str:
    for key in sorted(set(then) | set(now)):
        if key == "changes" or then.get(key) == now.get(key):
            continue
        return f"{key} differs"
    old, new = then["changes"], now["changes"]
    for index in range(max(len(old), len(new))):
        a = old[index] if index < len(old) else None
        b = new[index] if index < len(new) else None
        if a != b:
            address = (a or b or {}).get("address", f"change {index}")
            if a is None:
                return f"{address} is missing from the saved plan"
            if b is None:
                return f"{address} would not be planned now"
            return f"{address} differs"
    return "the changes differ"
