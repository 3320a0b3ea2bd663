"""`deployspec drift`: did anything change a spec's endpoint outside deployspec?

Contract: `check_specs(found, variables, var_files, target)` returns one `SpecReport` per spec,
in find_specs' order, each either an error or the findings of `classify(wanted, live)` (pure);
`render_text`, `render_json` and `exit_code` turn them into output (0 nothing drifted, 2 some
spec drifted, 1 some spec could not be checked). Nothing here prints, and nothing writes.
`read_live` makes read calls only: DescribeEndpoint and ListTags, plus, when the endpoint has
variants with instances or the spec autoscales some, one DescribeScalableTargets for all those
variants and one DescribeScalingPolicies for each target found (what `plan` reads for an
unchanged spec: 4 reads for one autoscaled variant, 5 for two); DescribeEndpointConfig only when
the endpoint serves another config than the spec's (`_needs_config`), and that config's ListTags
only when the last apply did not put it there; for a missing endpoint, ListEndpointConfigs and
the newest owned config's ListTags. No model is packaged (`build_artifact=False`, as `status`)
nor described: without an archive in the cache the rest of the spec is still compared, and no
environment value is read.

What deployspec last applied is on the endpoint: apply tags it with `deployspec:applied`
(resources.AppliedRecord), the config it put there and short hashes of the user tags, the
autoscaling (of every variant) and the rollout settings. Each part is judged on its own, with
no search:

- live equals the spec: in sync, whatever was applied (nothing to fix);
- live is as applied, the spec differs: **pending** (the spec changed since; not drift);
- live is not as applied: **drift** (exit 2), shown applied -> live where the applied value is
  known: the record names the config; the tags or autoscaling applied are known when the spec's,
  the live ones, or either with one key (or one variant's autoscaling) taken from the other hash
  to the record (else each key live and the spec disagree on is drift, its applied value
  unknown);
- the endpoint serves an earlier config of this spec and `deployspec:previous-config` names the
  recorded one: **rollback** (`deployspec rollback` did it; not drift). An endpoint can serve
  one config standing for another (`serving_config`): its own, adopted in place
  (`deployspec:adopted-config`), or deployspec's older one whose weights and instance counts
  apply set in place to the spec's (`deployspec:serves-for`).
Rollout settings are no live state: recorded, never compared. On an endpoint of inference
components (the spec's `components:`, or a live config naming no model) the config, ownership
and tags are judged as above; the components themselves, their copies and copy autoscaling,
and the instance count SageMaker's managed scaling moves are not (no record says what apply
gave each component): `unchecked` says so (COMPONENTS), and `plan` shows any difference.

An endpoint an older deployspec applied has only `deployspec:spec-digest`, one hash of the four
parts: if it hashes the live values, differences from the spec are pending; the spec's, drift;
else **unverified** (not drift) until an apply with this deployspec records the parts.

Whatever was recorded, these are drift: a config deployspec did not create, ownership tags
changed or removed, a Failed endpoint, a production variant's instance count neither the
serving config's initial one nor within that variant's registered autoscaling range, a weight
other than the serving config's (for weights set in place, the config they stand for).

Findings name what they judge as they always have for an endpoint of one variant
(`instance_count`, `weight`, `autoscaling`, `autoscaling.max_capacity`); where the spec or the
endpoint has several variants, by variant (`variants.<name>.instance_count`,
`variants.<name>.weight`, `autoscaling.<name>`, `autoscaling.<name>.max_capacity`).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from itertools import product
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import (
    DeployspecError,
    NotManagedError,
    NotPackagedError,
    UnsupportedShapeError,
)
from .naming import content_name, is_content_name, name_base
from .resources import (
    MANAGED_BY,
    TAG_ADOPTED,
    TAG_APPLIED,
    TAG_DIGEST,
    TAG_MANAGED_BY,
    TAG_PREVIOUS,
    TAG_SERVES_FOR,
    TAG_SPEC,
    AppliedRecord,
    Deployment,
    Endpoint,
    EndpointConfig,
    Scaling,
    Variant,
    is_owned,
    ownership_tags,
    part_hash,
    scaling_resource_id,
    scaling_settings,
    scalings_settings,
    spec_digest,
    user_tags,
)
from .state import IN_PROGRESS
from .wire import endpoint_config_request

if TYPE_CHECKING:
    from .aws import Gateway
    from .desired import Desired
    from .multi import Found
    from .operations import SpecRun, Target
    from .spec import LoadedSpec, ModelSpec

FORMAT_VERSION = 1

# States only a new apply recovers from: SageMaker put the endpoint there, not deployspec.
UNHEALTHY = frozenset({"Failed", "OutOfService", "UpdateRollbackFailed"})
# Stands in for a local model archive that is not packaged here: build_desired then derives
# everything the model's bytes do not decide (sizing, scaling, rollout, tags); the model and
# config names it gives are not used.
_UNKNOWN_ARCHIVE = "s3://deployspec-drift-unpackaged/model.tar.gz"

Value = str | int | float | bool | dict[str, Any] | None

# What drift leaves to `plan` on an endpoint of inference components: no record says what apply
# gave each component, so a difference could not be told drift from pending; SageMaker scales
# the instances, and autoscaling the copies.
COMPONENTS = (
    "inference components (their specifications, copies and copy autoscaling) and the "
    "instances SageMaker scales for them: drift does not cover components yet; "
    "`deployspec plan` shows any difference from the spec"
)


class Cause(StrEnum):
    DRIFT = "drift"
    PENDING = "pending"
    ROLLBACK = "rollback"
    UNVERIFIED = "unverified"


@dataclass(frozen=True)
class Finding:
    """One attribute whose live value is not the spec's, and why."""

    attribute: str
    cause: Cause
    applied: Value  # what deployspec last applied (None: not set, or not known)
    live: Value
    spec: Value  # what the spec says now (None: not set, or not known without the model)
    detail: str
    # False when what was applied is not known (unverified; drift whose applied value the
    # record holds only a hash of): `applied` is then None.
    applied_known: bool = True

    def to_json(self) -> dict[str, Any]:
        return {
            "attribute": self.attribute,
            "cause": self.cause.value,
            "applied": self.applied,
            "applied_known": self.applied_known,
            "live": self.live,
            "spec": self.spec,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class Wanted:
    """What the spec asks for now, as far as drift compares it."""

    spec_name: str
    config: EndpointConfig  # its name means something only when `model_known`
    user_tags: dict[str, str]
    scalings: tuple[Scaling, ...]  # one per autoscaled variant
    deployment: Deployment | None
    model_known: bool = True
    # Why the models (so the config name) are not known: an archive is not packaged here.
    not_packaged: str | None = None
    # The spec's inference components (`components:`): their specifications, copies and copy
    # autoscaling, and the instances SageMaker scales for them, are not compared (COMPONENTS).
    components: bool = False

    @property
    def config_name(self) -> str | None:
        return self.config.name if self.model_known else None

    @property
    def record(self) -> AppliedRecord | None:
        """The deployspec:applied apply would write for the spec as it is now."""
        name = self.config_name
        if name is None:
            return None
        return AppliedRecord.of(name, self.user_tags, self.scalings, self.deployment)

    def scaling_of(self, variant_name: str) -> Scaling | None:
        return _scaling_named(self.scalings, variant_name)

    @classmethod
    def of(cls, desired: Desired, *, not_packaged: str | None = None) -> Wanted:
        return cls(
            spec_name=desired.spec_name,
            config=desired.config,
            user_tags=user_tags(desired.tags),
            scalings=desired.scalings,
            deployment=desired.deployment,
            model_known=not_packaged is None,
            not_packaged=not_packaged,
            components=bool(desired.components),
        )


@dataclass(frozen=True)
class Live:
    """What drift read from AWS for one spec."""

    endpoint: Endpoint | None
    tags: dict[str, str] = field(default_factory=dict)
    # The config the endpoint serves, described only when it is not the spec's own.
    config: EndpointConfig | None = None
    # Its tags, read only when the last apply did not put it there.
    config_tags: dict[str, str] | None = None
    # Why that config could not be read: "missing", or the shape deployspec cannot manage.
    config_problem: str | None = None
    # The scalable targets found on the variants read (those the spec autoscales, and every
    # live variant with instances); `scaling_read`: whether any was read.
    scalings: tuple[Scaling, ...] = ()
    scaling_read: bool = False
    # With the endpoint missing: the newest config deployspec made for the spec, still there.
    leftover_config: str | None = None

    def scaling_of(self, variant_name: str) -> Scaling | None:
        return _scaling_named(self.scalings, variant_name)


def _variant_of(resource_id: str) -> str:
    """`endpoint/<name>/variant/<variant>` -> <variant>."""
    return resource_id.rsplit("/", 1)[-1]


def _scaling_named(scalings: Sequence[Scaling], variant_name: str) -> Scaling | None:
    return next((s for s in scalings if _variant_of(s.resource_id) == variant_name), None)


@dataclass(frozen=True)
class Assessment:
    findings: tuple[Finding, ...]
    unchecked: tuple[str, ...]


@dataclass(frozen=True)
class SpecReport:
    file: str
    spec_name: str | None = None
    endpoint: str | None = None
    region: str | None = None
    endpoint_status: str | None = None
    findings: tuple[Finding, ...] = ()
    unchecked: tuple[str, ...] = ()
    error: str | None = None
    error_hint: str | None = None
    # The error as the CLI prints one (a spec's problems each located, with their hints).
    error_text: str | None = None

    @property
    def state(self) -> str:
        if self.error is not None:
            return "error"
        if self.of(Cause.DRIFT):
            return "drifted"
        return "unverified" if self.of(Cause.UNVERIFIED) else "in_sync"

    def of(self, cause: Cause) -> list[Finding]:
        return [f for f in self.findings if f.cause is cause]

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "spec_name": self.spec_name,
            "endpoint": self.endpoint,
            "region": self.region,
            "state": self.state,
            "endpoint_status": self.endpoint_status,
            "findings": [f.to_json() for f in self.findings],
            "unchecked": list(self.unchecked),
            "error": {"message": self.error, "hint": self.error_hint}
            if self.error is not None
            else None,
        }


def serving_config(endpoint: Endpoint, tags: dict[str, str]) -> str:
    """The config the endpoint counts as serving: its own, or the content-named config its own
    stands for while it still serves it: adopted in place (deployspec:adopted-config), or
    deployspec's older config whose weights and instance counts apply set in place to that
    config's (deployspec:serves-for); apply records "<its config> <the desired config>" in
    either."""
    return _stand_in(endpoint, tags)[0]


def _stand_in(endpoint: Endpoint, tags: dict[str, str]) -> tuple[str, str | None]:
    """(the config the endpoint counts as serving, the tag that says so: TAG_ADOPTED,
    TAG_SERVES_FOR, or None when it is the endpoint's own)."""
    for key in (TAG_ADOPTED, TAG_SERVES_FOR):
        live, _, stands_for = tags.get(key, "").partition(" ")
        if live and stands_for and live == endpoint.config_name:
            return stands_for, key
    return endpoint.config_name, None


# ---- what was applied -----------------------------------------------------------------------


def last_applied(wanted: Wanted, live: Live) -> AppliedRecord | None:
    """The endpoint's deployspec:applied record; for an endpoint only an older deployspec
    applied, the record of the live values or of the spec's, whichever has the endpoint's
    deployspec:spec-digest (None: neither, or no tag)."""
    record = AppliedRecord.parse(live.tags.get(TAG_APPLIED))
    if record is not None or live.endpoint is None:
        return record
    recorded = live.tags.get(TAG_DIGEST)
    if not recorded:
        return None
    serving = serving_config(live.endpoint, live.tags)
    candidates = (
        (serving, user_tags(live.tags), live.scalings),
        # Without the models the spec's config is not known: only the serving one can be tried.
        (wanted.config_name or serving, wanted.user_tags, wanted.scalings),
    )
    for config, tags, scalings in candidates:
        if spec_digest(config, tags, scalings, wanted.deployment) == recorded:
            return AppliedRecord.of(config, tags, scalings, wanted.deployment)
    return None


def _with(base: dict[str, Any], key: str, source: dict[str, Any]) -> dict[str, Any]:
    """`base` with `key` as in `source` (absent there: absent)."""
    out = dict(base)
    if key in source:
        out[key] = source[key]
    else:
        out.pop(key, None)
    return out


def _applied_part(
    live: dict[str, Any], spec: dict[str, Any], keys: Sequence[str], recorded: str
) -> dict[str, Any] | None:
    """The applied value of a part (tags, autoscaling settings) the record has a hash of: live,
    the spec's, or either with one of the differing `keys` taken from the other (one edit in
    the spec, or one by hand, since the apply); None when it is none of those."""

    def candidates() -> Iterator[dict[str, Any]]:
        yield live
        yield spec
        for key in keys:
            yield _with(spec, key, live)
            yield _with(live, key, spec)

    return next((c for c in candidates() if part_hash(c) == recorded), None)


def _by_key(
    prefix: str,
    live: dict[str, Any],
    spec: dict[str, Any],
    recorded: str | None,
    drift_detail: Callable[[str, Any, Any], str],
    order: Sequence[str],
) -> list[Finding]:
    """A finding per key of `order` live and the spec disagree on: pending where live is as
    applied, else drift (`drift_detail(key, applied, live)` words it); unverified without a
    record."""
    keys = [k for k in order if live.get(k) != spec.get(k)]
    applied = _applied_part(live, spec, keys, recorded) if recorded else None
    findings = []
    for key in keys:
        now, wanted, attribute = live.get(key), spec.get(key), f"{prefix}.{key}"
        if applied is not None:
            before = applied.get(key)
            cause = Cause.PENDING if before == now else Cause.DRIFT
            detail = "the spec changed it" if before == now else drift_detail(key, before, now)
            findings.append(Finding(attribute, cause, before, now, wanted, detail))
            continue
        detail = (
            "changed outside deployspec since the last apply, and in the spec too: which keys "
            "were changed by hand is not recorded"
            if recorded
            else "differs from the spec"
        )
        cause = Cause.DRIFT if recorded else Cause.UNVERIFIED
        findings.append(Finding(attribute, cause, None, now, wanted, detail, applied_known=False))
    return findings


# ---- classification (pure) ------------------------------------------------------------------


def classify(wanted: Wanted, live: Live) -> Assessment:
    """Findings for one spec; NotManagedError for an endpoint deployspec does not manage."""
    endpoint = live.endpoint
    if endpoint is None:
        return Assessment(tuple(_missing(live)), ())
    unchecked: list[str] = []
    applied = last_applied(wanted, live)
    config_ours = _config_ours(wanted, live, applied)
    ownership = _ownership(wanted, endpoint, live, config_ours)
    if endpoint.status == "Deleting":
        unchecked.append(
            "the endpoint is Deleting: nothing else is checked (if `deployspec destroy` is not "
            "deleting it, the next check reports it deleted)"
        )
        return Assessment(tuple(ownership), tuple(unchecked))
    findings: list[Finding] = []
    if endpoint.status in UNHEALTHY:
        findings.append(
            Finding(
                "endpoint.status",
                Cause.DRIFT,
                "InService",
                endpoint.status,
                "InService",
                f"the endpoint is {endpoint.status}: "
                f"{endpoint.failure_reason or 'no reason given'}",
            )
        )
    findings += ownership
    findings += _config(wanted, endpoint, live, applied, config_ours, unchecked)
    if wanted.components or (live.config is not None and live.config.hosts_components):
        unchecked.append(COMPONENTS)
    else:
        plain = _one_variant(wanted, endpoint, live)
        findings += _capacity(wanted, endpoint, live, applied, unchecked, plain)
        findings += _scaling(wanted, live, applied, plain)
    findings += _tags(wanted, live, applied)
    if any(f.cause is Cause.UNVERIFIED for f in findings):
        unchecked.append(
            "whether the differences marked unverified were made outside deployspec: an older "
            "deployspec applied the endpoint, recording no deployspec:applied tag, and its "
            "deployspec:spec-digest tag "
            + (
                "is gone"
                if TAG_DIGEST not in live.tags
                else "matches neither the spec nor what is live"
            )
            + "; apply once with this deployspec to enable drift checks"
        )
    return Assessment(tuple(findings), tuple(unchecked))


def _missing(live: Live) -> list[Finding]:
    if live.leftover_config is not None:
        return [
            Finding(
                "endpoint.status",
                Cause.DRIFT,
                "InService",
                None,
                "InService",
                "the endpoint was deleted outside deployspec: the configs deployspec made for it "
                f"(the newest: {live.leftover_config}) are still there, and `deployspec destroy` "
                "would have removed them",
            )
        ]
    return [
        Finding(
            "endpoint.status",
            Cause.PENDING,
            None,
            None,
            "InService",
            "the endpoint does not exist: the spec was not applied here yet (or was destroyed)",
        )
    ]


def _config_ours(wanted: Wanted, live: Live, applied: AppliedRecord | None) -> bool | None:
    """Whether deployspec made the config the endpoint serves for this spec (None: unknown)."""
    endpoint = live.endpoint
    if endpoint is None:
        return None
    serving = serving_config(endpoint, live.tags)
    if serving in (wanted.config_name, applied.config if applied else None):
        return True  # the spec's own, or the one the last apply put there
    if serving != endpoint.config_name:
        return True  # the stand-in the endpoint was adopted with
    if live.config_problem is not None and live.config_problem != "missing":
        return False  # a shape deployspec never creates
    if live.config_tags is None:
        return None
    return is_owned(live.config_tags, wanted.spec_name) and is_content_name(
        endpoint.config_name, wanted.spec_name
    )


def _ownership(
    wanted: Wanted, endpoint: Endpoint, live: Live, config_ours: bool | None
) -> list[Finding]:
    tags = live.tags
    spec = wanted.spec_name
    recorded = TAG_APPLIED in tags or TAG_DIGEST in tags
    if not is_owned(tags, spec) and not (config_ours or recorded):
        other = tags.get(TAG_SPEC)
        if tags.get(TAG_MANAGED_BY) == MANAGED_BY and other:
            raise NotManagedError(
                f"endpoint {endpoint.name!r} is managed by deployspec for spec {other!r}, "
                f"not {spec!r}",
                hint="two specs cannot share an endpoint; rename this spec",
            )
        raise NotManagedError(
            f"endpoint {endpoint.name!r} exists but deployspec does not manage it for spec "
            f"{spec!r}: it lacks the ownership tags, and its config is not one deployspec made",
            hint="drift checks endpoints deployspec manages; `deployspec plan --adopt` shows "
            "how apply would take this one over",
        )
    findings = []
    for key, expected in ownership_tags(spec).items():
        found = tags.get(key)
        if found != expected:
            what = "removed" if found is None else "changed"
            findings.append(
                Finding(
                    f"tags.{key}",
                    Cause.DRIFT,
                    expected,
                    found,
                    expected,
                    f"ownership tag {what} outside deployspec: without it deployspec refuses "
                    "to change or destroy the endpoint",
                )
            )
    if not recorded:
        record = wanted.record
        findings.append(
            Finding(
                f"tags.{TAG_APPLIED}",
                Cause.DRIFT,
                None,
                None,
                record.value if record else None,
                f"tags {TAG_APPLIED} and {TAG_DIGEST} removed outside deployspec: they record "
                "what the last apply applied, so drift cannot tell the spec's pending changes "
                "from drift until an apply records them again",
                applied_known=False,
            )
        )
    return findings


def _config(
    wanted: Wanted,
    endpoint: Endpoint,
    live: Live,
    applied: AppliedRecord | None,
    ours: bool | None,
    unchecked: list[str],
) -> list[Finding]:
    (serving, how), spec = _stand_in(endpoint, live.tags), wanted.config_name
    before = applied.config if applied else None
    described = _described(wanted, endpoint, live)
    what = _sizing(described) if described is not None else None
    if live.config_problem == "missing":
        cause, before = Cause.DRIFT, before or serving
        detail = (
            f"endpoint config {serving}, which the endpoint serves, no longer exists: it was "
            "deleted outside deployspec"
        )
    elif serving == spec:
        return []
    elif applied is not None and serving != applied.config:
        if ours and live.tags.get(TAG_PREVIOUS) == applied.config:
            cause = Cause.ROLLBACK
            detail = (
                f"`deployspec rollback` pointed the endpoint at {serving}, an earlier config of "
                "this spec; `deployspec apply` returns it to the spec"
            )
        else:
            cause = Cause.DRIFT
            detail = _pointed_elsewhere(serving, ours, live.config_problem, what)
            if spec is not None and spec != applied.config:
                detail += f"; the spec, changed since, asks for {spec}"
    elif applied is None and ours is False:
        cause, detail = Cause.DRIFT, _pointed_elsewhere(serving, ours, live.config_problem, what)
    elif spec is None:
        unchecked.append(
            "whether the spec's model changed since the last apply: "
            f"{wanted.not_packaged or 'the model is not packaged here'}; `deployspec plan` "
            "packages it"
        )
        return []
    else:
        cause = Cause.PENDING if applied is not None else Cause.UNVERIFIED
        sizes = f" ({what} -> {_sizing(wanted.config)})" if what else ""
        stands = {
            TAG_ADOPTED: f" (the endpoint serves {endpoint.config_name}, adopted in place for it)",
            TAG_SERVES_FOR: f" (the endpoint serves {endpoint.config_name}, its weights and "
            "instance counts set in place for it)",
        }.get(how or "", "")
        detail = f"the spec now asks for config {spec}{sizes}{stands}"
    known = before is not None
    return [Finding("endpoint_config", cause, before, serving, spec, detail, applied_known=known)]


def _pointed_elsewhere(name: str, ours: bool | None, problem: str | None, what: str | None) -> str:
    serves = f"; it serves {what}" if what else ""
    if problem is not None:
        return (
            f"the endpoint was pointed at {name}, which deployspec did not create ({problem}): "
            "an UpdateEndpoint from the console or an SDK"
        )
    if ours:
        return (
            f"the endpoint was pointed at {name}, an earlier config of this spec (kept for "
            f"rollback), not the one the last apply put there{serves}"
        )
    return (
        f"the endpoint was pointed at {name}, which deployspec did not create for this spec "
        f"(UpdateEndpoint from the console or an SDK){serves}"
    )


def _sizing(config: EndpointConfig) -> str:
    if len(config.all_variants) == 1:
        text = _variant_sizing(config.all_variants[0])
    else:
        text = ", ".join(
            [
                *(
                    f"{v.variant_name} {_variant_sizing(v)} weight {v.initial_weight:g}"
                    for v in config.variants
                ),
                *(f"shadow {v.variant_name} {_variant_sizing(v)}" for v in config.shadow_variants),
            ]
        )
    if config.data_capture is not None:
        text += f", data capture {config.data_capture.sampling_percent}%"
    return text


def _variant_sizing(variant: Variant) -> str:
    if variant.serverless is not None:
        return (
            f"serverless {variant.serverless.memory_mb} MB, "
            f"up to {variant.serverless.max_concurrency} concurrent"
        )
    return f"{variant.instance_type} x{variant.initial_instance_count}"


def _one_variant(wanted: Wanted, endpoint: Endpoint, live: Live) -> bool:
    """Whether findings keep the names they had before endpoints had several variants: the spec,
    the endpoint, the config it serves and the autoscaling know one variant, the same."""
    names = {v.variant_name for v in wanted.config.all_variants}
    names.update(v.variant_name for v in (*endpoint.variants, *endpoint.shadow_variants))
    if live.config is not None:
        names.update(v.variant_name for v in live.config.all_variants)
    names.update(_variant_of(s.resource_id) for s in (*wanted.scalings, *live.scalings))
    return len(names) <= 1


def _named(attribute: str, variant: str, plain: bool) -> str:
    return attribute if plain else f"variants.{variant}.{attribute}"


def _instance_count(endpoint: Endpoint, variant_name: str) -> int | None:
    found = next((v for v in endpoint.variants if v.variant_name == variant_name), None)
    if found is None:
        return None
    if found.desired_instance_count is not None:
        return found.desired_instance_count
    return found.current_instance_count


def _live_weight(endpoint: Endpoint, variant_name: str) -> float | None:
    found = next((v for v in endpoint.variants if v.variant_name == variant_name), None)
    if found is None:
        return None
    return found.desired_weight if found.desired_weight is not None else found.current_weight


def _described(wanted: Wanted, endpoint: Endpoint, live: Live) -> EndpointConfig | None:
    """The config the endpoint serves, as described: the one read, or, for weights and counts
    set in place on it, the config they stand for (None: not read, or that is not known)."""
    if live.config is None:
        return None
    serving, how = _stand_in(endpoint, live.tags)
    if how != TAG_SERVES_FOR:
        return live.config
    return _set_in_place(wanted, endpoint, live.config, serving)


def _set_in_place(
    wanted: Wanted, endpoint: Endpoint, config: EndpointConfig, name: str
) -> EndpointConfig | None:
    """The config `name` that the endpoint serving `config` stands for, its production variants'
    weights and instance counts set in place (TAG_SERVES_FOR): `config` with the weights and
    the initial counts of the spec, of the endpoint or its own, whichever gives the content
    `name` hashes; None when none does (the spec changed them since, and they drifted)."""

    def spec_variant(variant: Variant) -> Variant | None:
        return wanted.config.variant_named(variant.variant_name)

    def weight_of(source: str, variant: Variant) -> float | None:
        if source == "live":
            return _live_weight(endpoint, variant.variant_name)
        found = spec_variant(variant)
        return found.initial_weight if source == "spec" and found is not None else None

    def count_of(source: str, variant: Variant) -> int | None:
        if variant.instance_type is None:
            return None
        if source == "live":
            return _instance_count(endpoint, variant.variant_name)
        found = spec_variant(variant)
        return found.initial_instance_count if source == "spec" and found is not None else None

    sources = ("own", "live", "spec")
    for weights, counts in product(sources, sources):
        variants = []
        for variant in config.variants:
            weight, count = weight_of(weights, variant), count_of(counts, variant)
            variants.append(
                replace(
                    variant,
                    initial_weight=variant.initial_weight if weight is None else weight,
                    initial_instance_count=variant.initial_instance_count
                    if count is None
                    else count,
                )
            )
        candidate = replace(config, name=name, arn=None, variants=tuple(variants))
        if content_name(wanted.spec_name, endpoint_config_request(candidate)) == name:
            return candidate
    return None


def _baseline(wanted: Wanted, endpoint: Endpoint, live: Live) -> EndpointConfig | None:
    """The config whose initial counts and weights the endpoint's are judged by."""
    if live.config_problem is not None:
        return None
    if serving_config(endpoint, live.tags) == wanted.config_name:
        return wanted.config
    if live.config is not None:
        return _described(wanted, endpoint, live)
    # Without the models, serving what the last apply recorded: read_live did not describe it,
    # as the spec's sizing accounts for the counts (`_count_explained`).
    return wanted.config if wanted.config_name is None else None


def _count_ok(variant: Variant, endpoint: Endpoint, scaling: Scaling | None) -> bool:
    """Whether the variant's live instance count is its initial one or within `scaling`."""
    count = _instance_count(endpoint, variant.variant_name)
    if variant.serverless is not None or count is None:
        return True
    in_range = scaling is not None and scaling.min_capacity <= count <= scaling.max_capacity
    return count == variant.initial_instance_count or in_range


def _count_explained(
    config: EndpointConfig, endpoint: Endpoint, scalings: Sequence[Scaling]
) -> bool:
    """Whether every production variant's live instance count is the config's initial one or
    within that variant's autoscaling in `scalings`."""
    return all(
        _count_ok(v, endpoint, _scaling_named(scalings, v.variant_name)) for v in config.variants
    )


def _capacity(
    wanted: Wanted,
    endpoint: Endpoint,
    live: Live,
    applied: AppliedRecord | None,
    unchecked: list[str],
    plain: bool,
) -> list[Finding]:
    if endpoint.status in IN_PROGRESS:
        unchecked.append(
            f"instance count and weight: the endpoint is {endpoint.status} (run drift again once "
            "it is InService)"
        )
        return []
    if endpoint.status in UNHEALTHY:
        return []
    baseline = _baseline(wanted, endpoint, live)
    if baseline is None:
        serving, how = _stand_in(endpoint, live.tags)
        if how == TAG_SERVES_FOR and live.config is not None:
            unchecked.append(
                f"instance counts and weights: apply set them in place for config {serving}, "
                "which the spec no longer asks for, and what that config holds cannot be told "
                "from its name; `deployspec apply` sets the spec's"
            )
        return []
    # Deregistered: what the autoscaler did within the range it had is still fine (the spec's,
    # when that is the autoscaling applied).
    spec_applied = applied is None or (
        part_hash(scalings_settings(wanted.scalings)) == applied.scaling
    )
    findings: list[Finding] = []
    for variant in baseline.variants:
        had = wanted.scaling_of(variant.variant_name) if spec_applied else None
        findings += _variant_capacity(endpoint, live, variant, had, plain)
    return findings


def _variant_capacity(
    endpoint: Endpoint, live: Live, variant: Variant, had: Scaling | None, plain: bool
) -> list[Finding]:
    """One production variant's instance count and weight, against the serving config's."""
    name = variant.variant_name
    if not any(v.variant_name == name for v in endpoint.variants):
        return []
    findings = []
    count = _instance_count(endpoint, name)
    initial = variant.initial_instance_count
    registered = live.scaling_of(name)
    if (
        count is not None
        and initial is not None
        and not _count_ok(variant, endpoint, registered or had)
    ):
        if registered is not None:
            why = (
                f"outside the registered autoscaling range {registered.min_capacity}-"
                f"{registered.max_capacity}: set outside deployspec, not by the autoscaler"
            )
        else:
            why = (
                "set outside deployspec (UpdateEndpointWeightsAndCapacities from the console or "
                "an SDK); no autoscaling is registered"
                + (
                    f", and the range it had, {had.min_capacity}-{had.max_capacity}, does not "
                    "hold it either"
                    if had is not None
                    else ""
                )
            )
        attribute = _named("instance_count", name, plain)
        findings.append(Finding(attribute, Cause.DRIFT, initial, count, initial, why))
    weight = _live_weight(endpoint, name)
    if weight is not None and abs(weight - variant.initial_weight) > 1e-9:
        findings.append(
            Finding(
                _named("weight", name, plain),
                Cause.DRIFT,
                variant.initial_weight,
                weight,
                variant.initial_weight,
                "variant weight set outside deployspec (UpdateEndpointWeightsAndCapacities)",
            )
        )
    return findings


def _scaling(
    wanted: Wanted, live: Live, applied: AppliedRecord | None, plain: bool
) -> list[Finding]:
    if not live.scaling_read:
        return []
    names = list(
        dict.fromkeys(
            [
                *(v.variant_name for v in wanted.config.all_variants),
                *(_variant_of(s.resource_id) for s in (*wanted.scalings, *live.scalings)),
            ]
        )
    )
    now = {name: scaling_settings(live.scaling_of(name)) for name in names}
    spec = {name: scaling_settings(wanted.scaling_of(name)) for name in names}
    differing = [name for name in names if now[name] != spec[name]]
    if not differing:
        return []
    recorded = applied.scaling if applied else None
    was = _applied_scalings(wanted.spec_name, now, spec, differing, recorded) if recorded else None
    findings: list[Finding] = []
    for name in differing:
        # Each variant is judged by the hash of what was applied to it, once that is known;
        # else by the record's, which then tells only that something changed since.
        part = part_hash(was[name]) if was is not None else recorded
        prefix = "autoscaling" if plain else f"autoscaling.{name}"
        findings += _variant_scaling(prefix, now[name], spec[name], part)
    return findings


Settings = dict[str, Any] | None


def _applied_scalings(
    endpoint: str,
    now: dict[str, Settings],
    spec: dict[str, Settings],
    differing: Sequence[str],
    recorded: str,
) -> dict[str, Settings] | None:
    """Each variant's autoscaling settings as apply last applied them, from the record's one hash
    of them all: live, the spec's, or either with one variant's settings, or one key of them,
    taken from the other (one edit since the apply, in the spec or by hand); None when none of
    those hashes to the record."""

    def candidates() -> Iterator[dict[str, Settings]]:
        yield now
        yield spec
        for name in differing:
            yield {**spec, name: now[name]}
            yield {**now, name: spec[name]}
            mine, theirs = now[name], spec[name]
            if mine is None or theirs is None:
                continue
            for key in [k for k in dict.fromkeys([*mine, *theirs]) if mine.get(k) != theirs.get(k)]:
                yield {**spec, name: _with(theirs, key, mine)}
                yield {**now, name: _with(mine, key, theirs)}

    return next((c for c in candidates() if _scalings_hash(endpoint, c) == recorded), None)


def _scalings_hash(endpoint: str, by_variant: dict[str, Settings]) -> str:
    """The record's scaling part for these settings, by variant (as AppliedRecord.of hashes)."""
    scalings = tuple(
        Scaling(resource_id=scaling_resource_id(endpoint, name), policy_name=None, **settings)
        for name, settings in by_variant.items()
        if settings is not None
    )
    return part_hash(scalings_settings(scalings))


def _variant_scaling(
    attribute: str, now: Settings, spec: Settings, recorded: str | None
) -> list[Finding]:
    """One variant's autoscaling, `recorded` the hash of what was applied to it."""
    unregistered = part_hash(None)
    if now is not None and spec is not None and recorded != unregistered:
        keys = list(dict.fromkeys([*now, *spec]))
        return _by_key(attribute, now, spec, recorded, _scaling_change, keys)
    # Registered in some of live, the spec and the record only.
    before, known = None, True
    if recorded is None:
        cause, why, known = Cause.UNVERIFIED, "registered" if now else "not registered", False
    elif part_hash(now) == recorded:
        cause, before = Cause.PENDING, now
        why = "the spec now asks for it" if now is None else "the spec no longer asks for it"
    elif now is None:
        cause, known = Cause.DRIFT, part_hash(spec) == recorded
        before = spec if known else None
        why = "deregistered outside deployspec: the instance count no longer follows the load"
    elif recorded == unregistered:
        cause, why = Cause.DRIFT, "registered outside deployspec"
    else:
        cause, known = Cause.DRIFT, False
        why = "changed outside deployspec since the last apply; the spec no longer asks for it"
    return [Finding(attribute, cause, before, now, spec, why, applied_known=known)]


def _scaling_change(key: str, before: Any, after: Any) -> str:
    if key == "target_value" and after is None:
        return "the target-tracking policy was removed or replaced outside deployspec"
    return "changed outside deployspec"


def _tags(wanted: Wanted, live: Live, applied: AppliedRecord | None) -> list[Finding]:
    now, spec = user_tags(live.tags), wanted.user_tags
    if now == spec:
        return []
    keys = sorted(now.keys() | spec.keys())
    return _by_key("tags", now, spec, applied.tags if applied else None, _tag_change, keys)


def _tag_change(key: str, before: Any, after: Any) -> str:
    what = "added" if before is None else "removed" if after is None else "changed"
    return f"tag {what} outside deployspec"


# ---- reading (through the gateway; read calls only) -----------------------------------------


def read_live(gateway: Gateway, wanted: Wanted) -> Live:
    name = wanted.spec_name
    endpoint = gateway.describe_endpoint(name)
    if endpoint is None:
        return Live(None, leftover_config=_leftover_config(gateway, name))
    tags = gateway.list_tags(endpoint.arn) if endpoint.arn else {}
    # A spec of components: the autoscaling of its copies is not compared (COMPONENTS).
    scaled = [] if wanted.components else _scaled_variants(wanted, endpoint)
    # One read for every variant's target, as plan reads them (state._scaled_variants).
    scalings = (
        tuple(gateway.describe_scalings([scaling_resource_id(name, v) for v in scaled]))
        if scaled
        else ()
    )
    config = config_tags = problem = None
    serving = serving_config(endpoint, tags)
    record = AppliedRecord.parse(tags.get(TAG_APPLIED))
    if _needs_config(wanted, endpoint, serving, record, scalings):
        try:
            config = gateway.describe_endpoint_config(endpoint.config_name)
        except UnsupportedShapeError as exc:
            problem = str(exc).split(";")[0]
        else:
            if config is None:
                problem = "missing"
            elif config.arn and (record is None or serving != record.config):
                # Whether deployspec made it: only asked of a config the last apply did not
                # put there.
                config_tags = gateway.list_tags(config.arn)
    return Live(
        endpoint=endpoint,
        tags=tags,
        config=config,
        config_tags=config_tags,
        config_problem=problem,
        scalings=scalings,
        scaling_read=bool(scaled),
    )


def _scaled_variants(wanted: Wanted, endpoint: Endpoint) -> list[str]:
    """The variants whose autoscaling is read: those the spec autoscales, and every live one
    with instances (serverless variants report none), whose target the spec may not ask for."""
    names = [
        _variant_of(s.resource_id) for s in wanted.scalings if s.resource_id.startswith("endpoint/")
    ]
    names += [
        v.variant_name
        for v in (*endpoint.variants, *endpoint.shadow_variants)
        if v.current_instance_count is not None
    ]
    return list(dict.fromkeys(names))


def _needs_config(
    wanted: Wanted,
    endpoint: Endpoint,
    serving: str,
    record: AppliedRecord | None,
    scalings: Sequence[Scaling],
) -> bool:
    """Whether classify needs the serving config described: not when it is the spec's; with
    the models not packaged here (the spec's config name unknown), not when it is the one the
    last apply recorded and the spec's sizing accounts for the instance counts."""
    if serving == wanted.config_name:
        return False
    if wanted.config_name is not None or record is None or serving != record.config:
        return True
    return not _count_explained(wanted.config, endpoint, scalings)


def _leftover_config(gateway: Gateway, spec_name: str) -> str | None:
    """The newest config deployspec made for the spec (named like ours and tagged so)."""
    found = [
        item
        for item in gateway.list_endpoint_configs(name_base(spec_name))
        if is_content_name(item[0], spec_name)
    ]
    for config_name, _, arn in sorted(found, key=lambda item: item[1], reverse=True):
        if is_owned(gateway.list_tags(arn), spec_name):
            return config_name
    return None


def _without_model_files(loaded: LoadedSpec) -> LoadedSpec:
    """The spec with every model block's archive a stand-in and no environment (nothing to
    package, no reference to read)."""
    spec = loaded.spec

    def stand_in(model: ModelSpec) -> ModelSpec:
        return model.model_copy(update={"artifacts": _UNKNOWN_ARCHIVE, "env": {}})

    update: dict[str, Any] = {}
    if spec.model is not None:
        update["model"] = stand_in(spec.model)
    if spec.variants is not None:
        update["variants"] = [
            v.model_copy(update={"model": stand_in(v.model)}) if v.model is not None else v
            for v in spec.variants
        ]
    if spec.shadow is not None and spec.shadow.model is not None:
        update["shadow"] = spec.shadow.model_copy(update={"model": stand_in(spec.shadow.model)})
    if spec.components is not None:
        # An adapter's local folder is packaged too: its archive stands in the same way.
        update["components"] = [
            c.model_copy(
                update={"model": stand_in(c.model)}
                if c.model is not None
                else {"artifacts": _UNKNOWN_ARCHIVE}
                if c.artifacts is not None
                else {}
            )
            for c in spec.components
        ]
    return dataclasses.replace(loaded, spec=spec.model_copy(update=update))


def wanted_of(loaded: LoadedSpec, gateway: Gateway, role: str) -> Wanted:
    """The spec's wanted state, never packaging the model (unknown when not in the cache)."""
    from .operations import desire

    try:
        desired = desire(loaded, gateway, role, build_artifact=False)
    except NotPackagedError as exc:
        stand_in = desire(_without_model_files(loaded), gateway, role, build_artifact=False)
        return Wanted.of(stand_in, not_packaged=str(exc))
    return Wanted.of(desired)


def check_specs(
    found: Sequence[Found],
    variables: Sequence[str],
    var_files: Sequence[Path],
    target: Target,
    *,
    parallelism: int = 8,
) -> list[SpecReport]:
    """Every spec found, in order: loaded, then checked in parallel on one gateway per region
    (operations' many-spec stages). A spec's error is its report's, and stops no other."""
    from .operations import connect_selected, load_selected, resolve_roles, run_parallel

    selected = load_selected(found, variables, var_files)
    runs = selected.runs
    resolve_roles(runs, target)
    # Connected first, as plan does: a spec without region: is then compared in the region
    # its gateway uses, not matched against every region.
    connect_selected(selected, target)

    def check(run: SpecRun) -> None:
        loaded, gateway, role = run.loaded, run.gateway, run.role
        if loaded is None or gateway is None or role is None:
            return  # not reached: the stages above leave every run without an error ready
        wanted = wanted_of(loaded, gateway, role)
        live = read_live(gateway, wanted)
        run.result = (live, classify(wanted, live))

    run_parallel(runs, check, parallelism)
    return [_report(run) for run in runs]


def _report(run: SpecRun) -> SpecReport:
    from .multi import error_fields

    name = run.spec_name
    if run.error is not None or not isinstance(run.result, tuple):
        error = run.error or DeployspecError("not checked")
        message, hint = error_fields(error)
        return SpecReport(
            str(run.file),
            name,
            name,
            run.region,
            error=message,
            error_hint=hint,
            error_text=error.format(),
        )
    live, assessment = run.result
    return SpecReport(
        file=str(run.file),
        spec_name=name,
        endpoint=name,
        region=run.region,
        endpoint_status=live.endpoint.status if live.endpoint else None,
        findings=assessment.findings,
        unchecked=assessment.unchecked,
    )


# ---- output ---------------------------------------------------------------------------------


def exit_code(reports: Sequence[SpecReport]) -> int:
    states = {r.state for r in reports}
    return 1 if "error" in states else 2 if "drifted" in states else 0


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def summary(reports: Sequence[SpecReport]) -> dict[str, int]:
    return {
        "specs": len(reports),
        "drifted": sum(r.state == "drifted" for r in reports),
        "in_sync": sum(r.state == "in_sync" for r in reports),
        "unverified": sum(r.state == "unverified" for r in reports),
        "errors": sum(r.state == "error" for r in reports),
        "with_pending": sum(bool(r.of(Cause.PENDING)) for r in reports if r.error is None),
    }


def summary_line(reports: Sequence[SpecReport]) -> str:
    counts = summary(reports)
    unverified = f"{counts['unverified']} unverified, " if counts["unverified"] else ""
    line = (
        f"{_plural(counts['drifted'], 'spec')} drifted, {counts['in_sync']} in sync, "
        f"{unverified}{_plural(counts['errors'], 'error')}"
    )
    if counts["with_pending"]:
        line += f" ({counts['with_pending']} with pending spec changes)"
    return line


def _shown(value: Value) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, dict):
        return ", ".join(f"{k} {_shown(v)}" for k, v in value.items())
    return str(value)


_HEADINGS = (
    (Cause.DRIFT, "changed outside deployspec:"),
    (Cause.ROLLBACK, "rolled back with `deployspec rollback` (not drift):"),
    (Cause.PENDING, "pending (the spec changed since the last apply; not drift):"),
    (Cause.UNVERIFIED, "differs from the spec (drift or pending: cannot be told):"),
)


def _finding_line(finding: Finding) -> str:
    if finding.applied_known and finding.cause in (Cause.DRIFT, Cause.ROLLBACK):
        return (
            f"{finding.attribute}: {_shown(finding.applied)} (applied) -> "
            f"{_shown(finding.live)} (live)"
        )
    return f"{finding.attribute}: {_shown(finding.live)} (live) -> {_shown(finding.spec)} (spec)"


def _fix(report: SpecReport) -> str | None:
    apply = f"`deployspec apply {report.file}`"
    if report.of(Cause.DRIFT):
        return (
            f"{apply} restores what the spec says; or update the spec to keep the live "
            "change, then apply it"
        )
    if report.of(Cause.ROLLBACK):
        return f"{apply} returns the endpoint to the spec once the rollback is no longer needed"
    if report.of(Cause.UNVERIFIED):
        return (
            f"`deployspec plan {report.file}` shows what apply would change; once applied with "
            "this deployspec, drift can tell"
        )
    if report.of(Cause.PENDING):
        return f"{apply} applies the pending changes"
    return None


def header(report: SpecReport) -> str:
    """`==> FILE: endpoint NAME (REGION) <==`, as a many-spec plan heads each spec's block."""
    where = ""
    if report.endpoint:
        where = f": endpoint {report.endpoint}" + (f" ({report.region})" if report.region else "")
    return f"==> {report.file}{where} <=="


def render_report(report: SpecReport) -> list[str]:
    lines = [header(report)]
    if report.error is not None:
        lines.append(report.error_text or f"error: {report.error}")
        return lines
    if report.state == "drifted":
        lines.append(
            f"drifted: {_plural(len(report.of(Cause.DRIFT)), 'change')} outside deployspec"
        )
    elif report.state == "unverified":
        lines.append(
            f"unverified: {_plural(len(report.of(Cause.UNVERIFIED)), 'difference')} from the "
            "spec that drift cannot tell from pending changes"
        )
    else:
        lines.append("no drift")
    for cause, heading in _HEADINGS:
        found = report.of(cause)
        if not found:
            continue
        lines.append(f"  {heading}")
        for finding in found:
            lines.append(f"    {_finding_line(finding)}")
            lines.append(f"      {finding.detail}")
    lines += [f"  not checked: {item}" for item in report.unchecked]
    fix = _fix(report)
    if fix is not None:
        lines.append(f"  to fix: {fix}")
    return lines


def render_text(reports: Sequence[SpecReport]) -> str:
    """A block per spec, then the summary line; blocks apart by a blank line."""
    blocks = ["\n".join(render_report(report)) + "\n" for report in reports]
    blocks.append(summary_line(reports) + "\n")
    return "\n".join(blocks)


def document(reports: Sequence[SpecReport]) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "exit_code": exit_code(reports),
        "summary": summary(reports),
        "specs": [r.to_json() for r in reports],
    }


def render_json(reports: Sequence[SpecReport]) -> str:
    return json.dumps(document(reports), indent=2) + "\n"
