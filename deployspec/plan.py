"""The Plan: what apply will do, as plain data.

Contract: a Plan is an ordered tuple of Changes, each (kind, name, action, before, after,
reasons, forces). `after` holds everything the applier needs to execute the change, so a plan
saved with `--out` can be applied later without the spec; `reasons` are for people and never
drive apply. `fingerprint` records the live state the plan was made against; `adopt` says the
plan takes over an endpoint deployspec did not create (the applier's ownership check allows
that endpoint and nothing else). `to_json` / `from_json` are exact inverses; FORMAT_VERSION
changes whenever the JSON shape does. Saved plans (`saved.py`) wrap this JSON.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

FORMAT_VERSION = 3

# An archive deployspec uploads: <prefix>/<sha256 of its tar stream>/model.tar.gz.
_ARCHIVE_DIGEST = re.compile(r"/([0-9a-f]{64})/model\.tar\.gz$")
# A weights tree: <prefix>/weights/<tree sha256>/.
_WEIGHTS_DIGEST = re.compile(r"/weights/([0-9a-f]{64})/$")


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    REPLACE = "replace"
    DELETE = "delete"


class Kind(StrEnum):
    BUCKET = "bucket"
    ARTIFACT = "artifact"
    MODEL = "model"
    ENDPOINT_CONFIG = "endpoint_config"
    ENDPOINT = "endpoint"
    SCALING = "scaling"
    # An uncompressed weights tree: an S3 prefix named by its content, and its manifest.
    WEIGHTS = "weights"
    # One model (or adapter) hosted on an inference-component endpoint: a stable name,
    # updated in place (UpdateInferenceComponent / ...RuntimeConfig).
    INFERENCE_COMPONENT = "inference_component"
    # Records on the endpoint that older configs and models were pruned (see state.py).
    PRUNE_MARK = "prune_mark"


@dataclass(frozen=True)
class Change:
    kind: Kind
    name: str
    action: Action
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    reasons: tuple[str, ...] = ()
    # Attributes whose change forces replacement, shown with "# forces replacement".
    forces: tuple[str, ...] = ()

    @property
    def address(self) -> str:
        """How people and progress lines name the change. An uploaded archive's name is its
        full S3 URI, over 150 characters: it is addressed by the first 12 hex digits of the
        content digest that names it (its `name` stays the URI: apply and its guard use that)."""
        if self.kind is Kind.ARTIFACT or self.kind is Kind.WEIGHTS:
            pattern = _ARCHIVE_DIGEST if self.kind is Kind.ARTIFACT else _WEIGHTS_DIGEST
            found = pattern.search(self.name)
            if found is not None:
                return f"{self.kind.value}.{found.group(1)[:12]}"
        return f"{self.kind.value}.{self.name}"

    def to_json(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "kind": self.kind.value,
            "name": self.name,
            "action": self.action.value,
            "before": self.before,
            "after": self.after,
            "reasons": list(self.reasons),
            "forces_replacement": list(self.forces),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Change:
        return cls(
            kind=Kind(data["kind"]),
            name=data["name"],
            action=Action(data["action"]),
            before=data.get("before"),
            after=data.get("after"),
            reasons=tuple(data.get("reasons", ())),
            forces=tuple(data.get("forces_replacement", ())),
        )


@dataclass(frozen=True)
class Plan:
    spec_name: str
    endpoint_name: str
    region: str
    account: str
    changes: tuple[Change, ...]
    fingerprint: dict[str, Any]
    # State worth knowing that is not a change (an endpoint still Updating, drift noticed).
    notes: tuple[str, ...] = ()
    endpoint_status: str | None = None
    timeout_seconds: int = 1800
    spec_file: str | None = None
    # The config the endpoint must serve, InService, when apply is done (None: destroy).
    target_config: str | None = None
    adopt: bool = False
    format_version: int = FORMAT_VERSION

    @property
    def has_changes(self) -> bool:
        return bool(self.changes)

    def counts(self) -> tuple[int, int, int]:
        """(to add, to change, to destroy) as Terraform counts them: a replace is 1 + 1."""
        add = change = destroy = 0
        for item in self.changes:
            if item.action is Action.CREATE:
                add += 1
            elif item.action is Action.UPDATE:
                change += 1
            elif item.action is Action.DELETE:
                destroy += 1
            elif item.action is Action.REPLACE:
                add += 1
                destroy += 1
        return add, change, destroy

    def to_json(self) -> dict[str, Any]:
        add, change, destroy = self.counts()
        return {
            "format_version": self.format_version,
            "spec_name": self.spec_name,
            "spec_file": self.spec_file,
            "endpoint_name": self.endpoint_name,
            "region": self.region,
            "account": self.account,
            "endpoint_status": self.endpoint_status,
            "timeout_seconds": self.timeout_seconds,
            "target_config": self.target_config,
            "summary": {"add": add, "change": change, "destroy": destroy},
            "changes": [c.to_json() for c in self.changes],
            "notes": list(self.notes),
            "fingerprint": self.fingerprint,
            "adopt": self.adopt,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Plan:
        version = data.get("format_version")
        if version != FORMAT_VERSION:
            from .errors import PlanError

            raise PlanError(
                f"this plan has format version {version!r}; this deployspec reads "
                f"version {FORMAT_VERSION}",
                hint="make the plan again with this version of deployspec",
            )
        return cls(
            spec_name=data["spec_name"],
            endpoint_name=data["endpoint_name"],
            region=data["region"],
            account=data["account"],
            changes=tuple(Change.from_json(c) for c in data["changes"]),
            fingerprint=data["fingerprint"],
            notes=tuple(data.get("notes", ())),
            endpoint_status=data.get("endpoint_status"),
            timeout_seconds=data.get("timeout_seconds", 1800),
            spec_file=data.get("spec_file"),
            target_config=data.get("target_config"),
            adopt=bool(data.get("adopt", False)),
        )
