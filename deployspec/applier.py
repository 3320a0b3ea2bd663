"""Executes a Plan's changes in order. It never re-decides what to do.

Contract: `Applier(gateway, sleep=..., clock=...).apply(plan, report)` runs each change through
an explicit (kind, action) table; the calls each change makes follow only from its `before` and
`after`. Between changes it waits for SageMaker to settle, polling with backoff up to the plan's
timeout, and verifies: an endpoint change succeeds only when the endpoint is InService on the
config the plan named. An update SageMaker rolled back, a Failed endpoint, a timeout or an
endpoint changed by someone else since the plan raise ApplyError; everything created before the
failure is content-named and owned, so running apply again resumes from there. An endpoint the
plan creates that appears meanwhile (a concurrent apply; AWS refuses the second CreateEndpoint)
is waited for when it is ours on the planned config, and refused otherwise.

Before any change runs, `_guard` checks its target, whatever made the plan: a model, config,
endpoint or scaling target is written only when it carries this spec's ownership tags or is
being created (an existing one with the name must be ours and hold the planned content), and
only the plan's own endpoint is touched (with `adopt`, also while it is still untagged). The
config an endpoint change names must be ours too, except the endpoint's own config it was
adopted in place with (state.py), which it must be serving already: no change moves an endpoint
to a config deployspec did not make, and none writes to such a config.

An inference component (its own row: a stable name, changed in place) is created, updated
(its specification with UpdateInferenceComponent as the plan's rolling policy says, or its copy
count alone with UpdateInferenceComponentRuntimeConfig: one write; its tags, following the
spec's, with AddTags / DeleteTags) or deleted, then waited for:
success is InService on the planned specification with the planned copies placed; InService on
the old specification after an update is SageMaker's rollback, and fails with its reason, as
Failed does. One the plan creates that exists already, ours and on the planned specification,
is what a killed apply left: it is waited for, not created again. The guard writes only a
component of the plan's own endpoint (this spec's), carrying this spec's tags when it exists,
serving a model (or, an adapter, a base) of this spec; a deletion waits until it is gone.

It also refuses to delete anything in use: before pruning a config or model it re-reads which
config the endpoint serves. Progress goes to the `report` callback; only the CLI prints it.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ApplyError, AwsError, DeployspecError, NotManagedError
from .plan import Action, Change, Kind, Plan
from .resources import (
    INVOCATIONS,
    TAG_ADOPTED,
    TAG_MANAGED_BY,
    Capacity,
    Deployment,
    Endpoint,
    EndpointConfig,
    InferenceComponent,
    Model,
    RollingUpdate,
    Scaling,
    WeightsFile,
    from_json,
    is_owned,
)
from .state import (
    IN_PROGRESS,
    archive_users,
    check_reusable,
    has_components,
    same_specification,
)

if TYPE_CHECKING:
    from .aws import Gateway
    from .weights import Transfer


@dataclass(frozen=True)
class Event:
    """Something worth telling the user while apply runs."""

    kind: str  # "start" | "done" | "wait" | "progress" | "note"
    address: str
    message: str
    fraction: float | None = None


Report = Callable[[Event], None]


def _ignore(_: Event) -> None:
    return None


class Applier:
    def __init__(
        self,
        gateway: Gateway,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        poll_initial: float = 1.0,
        poll_max: float = 20.0,
    ) -> None:
        self.gateway = gateway
        self.sleep = sleep
        self.clock = clock
        self.poll_initial = poll_initial
        self.poll_max = poll_max
        self._archive_users: dict[str, list[str]] | None = None
        self._handlers: dict[tuple[Kind, Action], Callable[[Change, Plan, Report], None]] = {
            (Kind.BUCKET, Action.CREATE): self._create_bucket,
            (Kind.ARTIFACT, Action.CREATE): self._upload,
            (Kind.ARTIFACT, Action.DELETE): self._delete_artifact,
            (Kind.WEIGHTS, Action.CREATE): self._put_weights,
            (Kind.WEIGHTS, Action.DELETE): self._delete_weights,
            (Kind.MODEL, Action.CREATE): self._create_model,
            (Kind.MODEL, Action.UPDATE): self._retag_model,
            (Kind.MODEL, Action.DELETE): self._delete_model,
            (Kind.ENDPOINT_CONFIG, Action.CREATE): self._create_config,
            (Kind.ENDPOINT_CONFIG, Action.UPDATE): self._retag_config,
            (Kind.ENDPOINT_CONFIG, Action.DELETE): self._delete_config,
            (Kind.ENDPOINT, Action.CREATE): self._create_endpoint,
            (Kind.ENDPOINT, Action.REPLACE): self._replace_endpoint,
            (Kind.ENDPOINT, Action.UPDATE): self._update_endpoint,
            (Kind.ENDPOINT, Action.DELETE): self._delete_endpoint,
            (Kind.SCALING, Action.CREATE): self._put_scaling,
            (Kind.SCALING, Action.UPDATE): self._put_scaling,
            (Kind.SCALING, Action.DELETE): self._delete_scaling,
            (Kind.INFERENCE_COMPONENT, Action.CREATE): self._create_component,
            (Kind.INFERENCE_COMPONENT, Action.UPDATE): self._update_component,
            (Kind.INFERENCE_COMPONENT, Action.DELETE): self._delete_component,
            (Kind.PRUNE_MARK, Action.UPDATE): self._mark_pruned,
        }

    def apply(self, plan: Plan, report: Report = _ignore) -> None:
        # Which models serve the archives this plan deletes: read once, when the first of
        # those deletions is about to run (they come last, after the models' own deletions).
        self._archive_users = None
        restorable = _scaling_removed_for_update(plan)
        removed_scaling: list[Change] = []
        try:
            for change in plan.changes:
                handler = self._handlers.get((change.kind, change.action))
                if handler is None:
                    raise ApplyError(
                        f"this deployspec cannot {change.action.value} a {change.kind.value}",
                        hint="the plan was made by another version of deployspec",
                    )
                report(Event("start", change.address, _describe(change)))
                self._guard(change, plan)
                if (
                    change.kind is Kind.SCALING
                    and change.action is Action.DELETE
                    and change.name in restorable
                ):
                    # Counted as taken off before the call: interrupted in flight, it may have
                    # been done on the AWS side. Registering it again changes nothing.
                    removed_scaling.append(change)
                handler(change, plan, report)
                if change.kind is Kind.ENDPOINT and change.action is Action.UPDATE:
                    removed_scaling = []  # the update went through: what it took off stays off
                report(Event("done", change.address, "done"))
        except (DeployspecError, KeyboardInterrupt):
            # Scaling taken off before an endpoint update is put back when apply stops short of
            # that update, however it stops (refused by SageMaker, rolled back, timed out,
            # Ctrl-C or SIGTERM at any moment, between two changes too): the old fleet must not
            # be left without it.
            self._restore_scaling(removed_scaling, report)
            raise
        if plan.target_config is not None:
            self._verify(plan, plan.target_config, report)

    def _guard(self, change: Change, plan: Plan) -> None:
        """The one check every write passes, whatever made the plan: it touches only what this
        spec owns, what it creates, or (with --adopt) the endpoint it takes over. Every name a
        handler writes is checked, not only the change's own."""
        kind, action = change.kind, change.action
        after = change.after or {}
        _same_target(change, "s3_uri" if kind in (Kind.ARTIFACT, Kind.WEIGHTS) else "name")
        if kind is Kind.BUCKET:
            _same_target(change, "bucket")
        elif kind is Kind.SCALING:
            _same_target(change, "resource_id")
        if kind is Kind.MODEL or kind is Kind.ENDPOINT_CONFIG:
            found: Model | EndpointConfig | None = (
                self.gateway.describe_model(change.name)
                if kind is Kind.MODEL
                else self.gateway.describe_endpoint_config(change.name)
            )
            if action is Action.CREATE and kind is Kind.ENDPOINT_CONFIG:
                made = _resource_after(change)
                for model in made.model_names if isinstance(made, EndpointConfig) else ():
                    self._require_owned_resource(Kind.MODEL, model, change, plan)
            if found is None:
                return
            if action is Action.CREATE:
                wanted = _resource_after(change)
                check_reusable(self.gateway, found, wanted, plan.spec_name)
            else:
                self._require_owned(found.arn, change.address, plan)
        elif kind is Kind.INFERENCE_COMPONENT:
            self._guard_component(change, plan)
        elif kind is Kind.SCALING and _scaled_component(change.name) is not None:
            self._guard_component_scaling(change, plan)
        elif kind is Kind.ENDPOINT or kind is Kind.PRUNE_MARK or kind is Kind.SCALING:
            endpoint = change.name if kind is not Kind.SCALING else _scaled_endpoint(change.name)
            if endpoint != plan.endpoint_name:
                raise NotManagedError(
                    f"{change.address} is not part of endpoint {plan.endpoint_name}: refusing a "
                    "plan that reaches beyond its own endpoint",
                    hint="make the plan with deployspec, for this spec's endpoint",
                )
            live = self.gateway.describe_endpoint(endpoint)
            tags = self.gateway.list_tags(live.arn) if live is not None and live.arn else {}
            if kind is Kind.ENDPOINT and action is not Action.DELETE:
                # The config the endpoint will serve must be this spec's too, or the one it was
                # adopted in place with, which it keeps serving.
                config = str(after.get("config_name"))
                if not _adopted_in_place(config, live, tags, after, plan):
                    self._require_owned_resource(Kind.ENDPOINT_CONFIG, config, change, plan)
            if live is None:
                return  # being created (or already gone)
            if is_owned(tags, plan.spec_name):
                return
            if plan.adopt and TAG_MANAGED_BY not in tags:
                return  # the endpoint this plan takes over; the endpoint change tags it
            raise NotManagedError(
                f"refusing to change {change.address}: endpoint {endpoint} is not managed by "
                f"deployspec for spec {plan.spec_name}",
                hint="deployspec changes only what it owns; plan with --adopt to take over an "
                "endpoint made by hand",
            )
        elif kind is Kind.WEIGHTS:
            self._guard_weights(change)
        elif kind is Kind.ARTIFACT:
            archive = _UPLOADED_ARCHIVE.fullmatch(change.name)
            if archive is None or (
                action is Action.CREATE and archive.group("sha") != after.get("sha256")
            ):
                raise NotManagedError(
                    f"refusing to write {change.name}: not the content address "
                    "(<prefix>/<sha256>/model.tar.gz) of the archive deployspec built",
                    hint="make the plan with deployspec",
                )
            if action is Action.DELETE and not _MULTI_MODEL_ARCHIVE.fullmatch(change.name):
                # (A multi-model archive is served through its prefix, named by no model's
                # ModelDataUrl: looking for models naming it would find none.)
                if self._archive_users is None:
                    doomed = [
                        c.name
                        for c in plan.changes
                        if c.kind is Kind.ARTIFACT and c.action is Action.DELETE
                    ]
                    self._archive_users = archive_users(self.gateway, doomed)
                users = self._archive_users.get(change.name, [])
                if users:
                    raise NotManagedError(
                        f"refusing to delete {change.name}: model {', '.join(users)} serves it",
                        hint="an archive is deleted only when no model in the account uses it",
                    )

    def _guard_component(self, change: Change, plan: Plan) -> None:
        """A component change writes only the component it names, on the plan's own endpoint,
        which must be this spec's; an existing component with the name is written only when
        it carries this spec's ownership tags and runs on that endpoint (names are the
        account's: another endpoint's component may hold it); what it serves (its model, or
        the base of an adapter) must be this spec's too."""
        component = _component_of(change)
        if component.name != change.name or component.endpoint_name != plan.endpoint_name:
            raise NotManagedError(
                f"refusing {change.address}: it would write inference component "
                f"{component.name!r} on endpoint {component.endpoint_name!r}, not "
                f"{change.name!r} on {plan.endpoint_name!r}",
                hint="make the plan with deployspec; plans must not be edited",
            )
        self._require_owned_endpoint(change, plan)
        live = self.gateway.describe_inference_component(change.name)
        if live is not None:
            self._require_owned_component(live, change.address, plan)
        if change.action is Action.DELETE:
            return
        if component.model_name is not None:
            self._require_owned_resource(Kind.MODEL, component.model_name, change, plan)
        if component.base_component is not None:
            base = self.gateway.describe_inference_component(component.base_component)
            if base is None:
                raise NotManagedError(
                    f"refusing {change.address}: its base component {component.base_component} "
                    "does not exist",
                    hint="make the plan again with deployspec",
                )
            self._require_owned_component(
                base, f"{change.address} (its base {component.base_component})", plan
            )

    def _guard_component_scaling(self, change: Change, plan: Plan) -> None:
        """The copies of a component of this spec on the plan's endpoint. One gone already
        (deleted since the plan) leaves its target scaling nothing: a delete may remove it."""
        name = _scaled_component(change.name) or ""
        live = self.gateway.describe_inference_component(name)
        if live is None:
            if change.action is Action.DELETE:
                return
            raise NotManagedError(
                f"refusing {change.address}: inference component {name} does not exist",
                hint="make the plan again with deployspec",
            )
        self._require_owned_component(live, change.address, plan)

    def _require_owned_component(self, live: InferenceComponent, address: str, plan: Plan) -> None:
        if live.endpoint_name != plan.endpoint_name:
            raise NotManagedError(
                f"refusing to change {address}: inference component {live.name} runs on "
                f"endpoint {live.endpoint_name}, not on {plan.endpoint_name}",
                hint="component names are unique in an account and region: another endpoint's "
                "component holds this one; rename the spec's component",
            )
        self._require_owned(live.arn, address, plan)

    def _require_owned_endpoint(self, change: Change, plan: Plan) -> None:
        """The plan's endpoint, this spec's: components go on it (or come off it) only then."""
        live = self.gateway.describe_endpoint(plan.endpoint_name)
        if live is None:
            if change.action is Action.DELETE:
                return  # gone, and its components with it
            raise NotManagedError(
                f"refusing {change.address}: endpoint {plan.endpoint_name} does not exist",
                hint="make the plan again with deployspec",
            )
        tags = self.gateway.list_tags(live.arn) if live.arn else {}
        if not is_owned(tags, plan.spec_name):
            raise NotManagedError(
                f"refusing to change {change.address}: endpoint {plan.endpoint_name} is not "
                f"managed by deployspec for spec {plan.spec_name}",
                hint="deployspec changes only what it owns",
            )

    def _guard_weights(self, change: Change) -> None:
        """A weights change writes only its own tree's keys (its prefix and manifest, named by
        the digest of exactly the files it lists), copies only from the spec's other trees, and
        deletes only a tree no model outside the plan serves."""
        tree = _WEIGHTS_PREFIX.fullmatch(change.name)
        refuse = NotManagedError(
            f"refusing to write {change.name}: not the content address "
            "(<prefix>/weights/<tree sha256>/) of weights deployspec hashed",
            hint="make the plan with deployspec; plans must not be edited",
        )
        if tree is None:
            raise refuse
        if change.action is Action.DELETE:
            doomed = [change.name]
            users = archive_users(self.gateway, doomed).get(change.name, [])
            if users:
                raise NotManagedError(
                    f"refusing to delete {change.name}: model {', '.join(users)} serves it",
                    hint="weights are deleted only when no model in the account uses them",
                )
            return
        from .weights import manifest_uri_of, transfers_from_json, tree_digest

        after = _after(change)
        transfers = transfers_from_json(after.get("transfers") or [])
        files = [
            WeightsFile(path=t.path, sha256=t.sha256, size=t.size, local_path="")
            for t, _ in transfers
        ]
        if (
            tree_digest(files) != tree.group("sha")
            or after.get("manifest_uri") != manifest_uri_of(change.name)
            or any(_unsafe_path(t.path) for t, _ in transfers)
        ):
            raise refuse
        root = tree.group("root")
        for item, _ in transfers:
            source = _WEIGHTS_FILE.fullmatch(item.source or "") if item.source else None
            if item.action == "copy" and (source is None or source.group("root") != root):
                raise NotManagedError(
                    f"refusing {change.address}: it copies {item.path} from {item.source}, "
                    "outside this spec's weights",
                    hint="make the plan with deployspec; plans must not be edited",
                )

    def _require_owned_resource(self, kind: Kind, name: str, change: Change, plan: Plan) -> None:
        """`name`, which `change` makes use of, exists and is this spec's."""
        found: Model | EndpointConfig | None = (
            self.gateway.describe_model(name)
            if kind is Kind.MODEL
            else self.gateway.describe_endpoint_config(name)
        )
        if found is None:
            raise NotManagedError(
                f"refusing {change.address}: it uses {kind.value} {name}, which does not exist",
                hint="make the plan again with deployspec",
            )
        self._require_owned(found.arn, f"{change.address} (it uses {kind.value} {name})", plan)

    def _require_owned(self, arn: str | None, address: str, plan: Plan) -> None:
        tags = self.gateway.list_tags(arn) if arn else {}
        if not is_owned(tags, plan.spec_name):
            raise NotManagedError(
                f"refusing to change {address}: it is not managed by deployspec for spec "
                f"{plan.spec_name} (it lacks the ownership tags)",
                hint="deployspec never changes or deletes what it does not own",
            )

    def _restore_scaling(self, removed: list[Change], report: Report) -> None:
        """Best effort: a failure here is reported, never raised over the one that led here."""
        for taken in removed:
            if taken.before is None:
                continue
            try:
                self.gateway.put_scaling(from_json(Scaling, taken.before))
            except DeployspecError as error:
                report(Event("note", taken.address, f"could not be restored: {error}"))
            else:
                report(Event("done", taken.address, "restored after the failure"))

    def _verify(self, plan: Plan, config_name: str, report: Report) -> None:
        """Success is the endpoint InService on the planned config, whatever ran before."""
        live = self._settle(plan, report)
        if live is None:
            raise ApplyError(f"endpoint {plan.endpoint_name} does not exist after apply")
        if live.status != "InService" or live.config_name != config_name:
            raise ApplyError(
                f"endpoint {plan.endpoint_name} is {live.status} on {live.config_name}, not "
                f"InService on {config_name}: {live.failure_reason or 'no reason given'}",
                hint="fix the cause, then run apply again",
            )

    # ---- S3 ---------------------------------------------------------------------------

    def _create_bucket(self, change: Change, plan: Plan, report: Report) -> None:
        after = _after(change)
        if not self.gateway.bucket_exists(after["bucket"]):
            self.gateway.create_bucket(after["bucket"])

    def _upload(self, change: Change, plan: Plan, report: Report) -> None:
        self._abort_incomplete_uploads(change, report)
        after = _after(change)
        local = Path(after["local_path"])
        size = int(after["size"])
        if not local.is_file():
            raise ApplyError(
                f"the packaged artifact {local} is gone (the cache was cleared, or the plan "
                "was made on another machine)",
                hint="run plan again to repackage it",
            )
        from .artifacts import ArtifactError, verify_archive

        # The cache trusts its files by size: bytes changed since packaging would be uploaded
        # under a content address that no longer names them, and reused by every later apply.
        report(Event("note", change.address, "checking model.tar.gz against its digest"))
        try:
            verify_archive(local, str(after["sha256"]))
        except ArtifactError as exc:
            raise ApplyError(str(exc), hint=exc.hint) from None
        sent = 0
        # s3transfer calls back from its worker threads, one per part in flight.
        lock = threading.Lock()

        def progress(chunk: int) -> None:
            nonlocal sent
            with lock:
                sent += chunk
                fraction = sent / size if size else 1.0
                report(Event("progress", change.address, "uploading", fraction))

        self.gateway.upload_file(local, after["s3_uri"], progress)

    def _abort_incomplete_uploads(self, change: Change, report: Report) -> None:
        """Parts of an upload killed midway stay in S3, billed, until aborted, and boto3 never
        resumes one: the gateway aborts those of this archive and the stale ones of the other
        archives under the spec's prefix (the one in the change's s3_uri; a killed upload of an
        earlier model would otherwise stay forever in a bucket without a lifecycle rule, such
        as the account's default one). Housekeeping: a failure to list them does not stop the
        upload."""
        try:
            aborted = self.gateway.abort_incomplete_uploads(_after(change)["s3_uri"])
        except AwsError as error:
            report(Event("note", change.address, f"incomplete uploads not cleared: {error}"))
            return
        if aborted:
            report(Event("note", change.address, f"aborted {aborted} incomplete earlier upload(s)"))

    def _delete_artifact(self, change: Change, plan: Plan, report: Report) -> None:
        self.gateway.delete_object(change.name)

    def _put_weights(self, change: Change, plan: Plan, report: Report) -> None:
        """The tree's files, each as the plan says (uploaded, copied server-side or already
        there), WEIGHTS_WORKERS at a time, then its manifest: written last, it says the tree
        is complete. Interrupted, the files done stay at their keys with their digests, and
        the next plan counts them as present."""
        from .weights import manifest_json, size_text, transfers_from_json

        after = _after(change)
        transfers = transfers_from_json(after["transfers"])
        prefix = change.name
        total = sum(t.size for t, _ in transfers if t.action != "present")
        done = {"upload": 0, "copy": 0, "present": 0}
        sent = 0
        lock = threading.Lock()

        def tell() -> None:
            report(
                Event(
                    "progress",
                    change.address,
                    f"{size_text(sent)} of {size_text(total)}: {done['upload']} uploaded, "
                    f"{done['copy']} copied, {done['present']} already there",
                    sent / total if total else 1.0,
                )
            )

        def moved(count: int) -> None:
            nonlocal sent
            with lock:
                sent += count
                tell()

        def one(item: Transfer, local: str | None) -> None:
            target = prefix + item.path
            if item.action == "upload":
                if local is None:
                    raise ApplyError(
                        f"{change.address}: the plan names no local file for {item.path}"
                    )
                self.gateway.upload_weights_file(Path(local), target, item.sha256, moved)
            elif item.action == "copy" and item.source is not None:
                self.gateway.copy_weights_file(item.source, target, item.size, item.sha256, moved)
            with lock:
                done[item.action] += 1
                tell()

        pool = ThreadPoolExecutor(max_workers=WEIGHTS_WORKERS)
        try:
            futures = [pool.submit(one, item, local) for item, local in transfers]
            for future in futures:
                future.result()  # the first failure, in plan order
        except AwsError as error:
            # AWS refused a write (credentials, permissions, an outage): what was written
            # stays, so the one thing to say beyond AWS's reason is that apply picks it up.
            pool.shutdown(wait=True, cancel_futures=True)
            written = done["upload"] + done["copy"]
            moving = sum(1 for t, _ in transfers if t.action != "present")
            hints = [error.hint] if error.hint else []
            hints.append(
                "once that is fixed, run apply again: the files written are kept and only "
                "the rest is sent"
            )
            raise ApplyError(
                f"{change.address}: the weights stopped after {written} of {moving} files: {error}",
                hint="; ".join(hints),
            ) from error
        except BaseException:
            # Ctrl-C or a failure: what has not started is not started; what is in flight
            # finishes or aborts its own multipart upload.
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
        files = [
            WeightsFile(path=t.path, sha256=t.sha256, size=t.size, local_path="")
            for t, _ in transfers
        ]
        self.gateway.put_object(
            after["manifest_uri"], manifest_json(after["sha256"], files), "application/json"
        )

    def _delete_weights(self, change: Change, plan: Plan, report: Report) -> None:
        from .weights import manifest_uri_of

        # The manifest first: a tree half deleted must not count as complete.
        self.gateway.delete_object(manifest_uri_of(change.name))
        self.gateway.delete_prefix(change.name)

    # ---- models and configs -------------------------------------------------------------

    def _create_model(self, change: Change, plan: Plan, report: Report) -> None:
        after = _after(change)
        model = from_json(Model, {k: v for k, v in after.items() if k != "tags"})
        # Content-named: if it exists (a concurrent or interrupted apply made it), it is this.
        if self.gateway.describe_model(model.name) is None:
            self.gateway.create_model(model, after["tags"])

    def _create_config(self, change: Change, plan: Plan, report: Report) -> None:
        after = _after(change)
        config = from_json(EndpointConfig, {k: v for k, v in after.items() if k != "tags"})
        if self.gateway.describe_endpoint_config(config.name) is None:
            self.gateway.create_endpoint_config(config, after["tags"])

    def _retag_model(self, change: Change, plan: Plan, report: Report) -> None:
        found = self.gateway.describe_model(change.name)
        if found is None or found.arn is None:
            raise ApplyError(f"model {change.name} disappeared since the plan")
        self._retag(found.arn, change)

    def _retag_config(self, change: Change, plan: Plan, report: Report) -> None:
        found = self.gateway.describe_endpoint_config(change.name)
        if found is None or found.arn is None:
            raise ApplyError(f"endpoint config {change.name} disappeared since the plan")
        self._retag(found.arn, change)

    def _retag(self, arn: str, change: Change) -> None:
        before = (change.before or {}).get("tags") or {}
        after = (change.after or {}).get("tags") or {}
        removed = [k for k in before if k not in after]
        if removed:
            self.gateway.delete_tags(arn, removed)
        added = {k: v for k, v in after.items() if before.get(k) != v}
        if added:
            self.gateway.add_tags(arn, added)

    def _delete_model(self, change: Change, plan: Plan, report: Report) -> None:
        endpoint = self.gateway.describe_endpoint(plan.endpoint_name)
        if endpoint is not None:
            serving = self.gateway.describe_endpoint_config(endpoint.config_name)
            if serving is not None and change.name in serving.model_names:
                raise ApplyError(
                    f"refusing to delete model {change.name}: endpoint {endpoint.name} uses it"
                )
            if serving is not None and has_components(serving):
                # Its models are its components': one rolled back still names its old model.
                for name, _, _ in self.gateway.list_inference_components(endpoint.name):
                    live = self.gateway.describe_inference_component(name)
                    if live is not None and live.model_name == change.name:
                        raise ApplyError(
                            f"refusing to delete model {change.name}: inference component "
                            f"{name} on endpoint {endpoint.name} uses it"
                        )
        self.gateway.delete_model(change.name)

    def _delete_config(self, change: Change, plan: Plan, report: Report) -> None:
        endpoint = self.gateway.describe_endpoint(plan.endpoint_name)
        if endpoint is not None and endpoint.config_name == change.name:
            raise ApplyError(
                f"refusing to delete endpoint config {change.name}: endpoint {endpoint.name} "
                "serves it"
            )
        self.gateway.delete_endpoint_config(change.name)

    # ---- the endpoint ------------------------------------------------------------------

    def _create_endpoint(self, change: Change, plan: Plan, report: Report) -> None:
        after = _after(change)
        existing = self._settle(plan, report)
        if existing is not None and existing.status == "Deleting":
            self._wait_gone(plan, report, existing)
            existing = None
        if existing is None:
            try:
                self.gateway.create_endpoint(after["name"], after["config_name"], after["tags"])
            except AwsError:
                # Another apply may have created it between the look above and this call:
                # AWS then refuses with "Cannot create already existing endpoint". Judged by
                # what exists now, not by AWS's wording; anything else is the error it was.
                existing = self.gateway.describe_endpoint(plan.endpoint_name)
                if existing is None:
                    raise
                self._accept_existing(existing, after["config_name"], plan)
                report(
                    Event(
                        "note",
                        change.address,
                        "another apply created it meanwhile, on the planned config: waiting for it",
                    )
                )
        else:
            self._accept_existing(existing, after["config_name"], plan)
        self._wait_in_service(plan, after["config_name"], report)

    def _accept_existing(self, existing: Endpoint, config_name: str, plan: Plan) -> None:
        """An endpoint the plan would create exists already: one of ours on the planned config
        (a concurrent apply of the same spec) is waited for; anything else is not ours to
        take over."""
        tags = self.gateway.list_tags(existing.arn) if existing.arn else {}
        if existing.config_name == config_name and is_owned(tags, plan.spec_name):
            return
        raise ApplyError(
            f"endpoint {plan.endpoint_name} was created by someone else since the plan (it is "
            f"{existing.status} on {existing.config_name})",
            hint="run plan again",
        )

    def _replace_endpoint(self, change: Change, plan: Plan, report: Report) -> None:
        before = self._settle(plan, report)
        self.gateway.delete_endpoint(plan.endpoint_name)
        self._wait_gone(plan, report, before)
        self._create_endpoint(change, plan, report)

    def _delete_endpoint(self, change: Change, plan: Plan, report: Report) -> None:
        before = self._settle(plan, report)
        if self.gateway.delete_endpoint(plan.endpoint_name):
            self._wait_gone(plan, report, before)

    def _update_endpoint(self, change: Change, plan: Plan, report: Report) -> None:
        before = change.before or {}
        after = _after(change)
        live = self._settle(plan, report)
        if live is None:
            raise ApplyError(
                f"endpoint {plan.endpoint_name} disappeared since the plan", hint="run apply again"
            )
        target = after["config_name"]
        if live.status in ("Failed", "OutOfService"):
            raise ApplyError(
                f"endpoint {plan.endpoint_name} is {live.status}: "
                f"{live.failure_reason or 'no reason given'}",
                hint="fix the cause; the next apply replaces the failed endpoint",
            )
        if before.get("config_name") and live.config_name not in (before["config_name"], target):
            # Someone else moved the endpoint: updating now would fight them.
            raise ApplyError(
                f"endpoint {plan.endpoint_name} now serves {live.config_name}, not "
                f"{before['config_name']} as when the plan was made",
                hint="another apply or a manual change happened; run plan again",
            )
        if live.config_name != target:
            deployment = after.get("deployment")
            self.gateway.update_endpoint(
                plan.endpoint_name,
                target,
                from_json(Deployment, deployment) if deployment else None,
                retain_instance_count=bool(after.get("retain_instance_count")),
            )
            self._wait_in_service(plan, target, report, updating=True)
        if after.get("capacities"):
            self.gateway.update_capacities(
                plan.endpoint_name,
                {
                    variant: from_json(Capacity, capacity)
                    for variant, capacity in after["capacities"].items()
                },
            )
            self._wait_in_service(plan, target, report, updating=True)
        if "tags" in after and live.arn:
            self._retag(live.arn, change)

    def _mark_pruned(self, change: Change, plan: Plan, report: Report) -> None:
        live = self.gateway.describe_endpoint(plan.endpoint_name)
        if live is None or live.arn is None:
            return
        after = _after(change)["tags"]
        # The record may also carry the user tags written last (after the components'): a key
        # it had before and has no more is one the spec dropped.
        removed = [k for k in (change.before or {}).get("tags") or {} if k not in after]
        if removed:
            self.gateway.delete_tags(live.arn, removed)
        self.gateway.add_tags(live.arn, after)

    # ---- scaling -----------------------------------------------------------------------

    def _put_scaling(self, change: Change, plan: Plan, report: Report) -> None:
        self.gateway.put_scaling(from_json(Scaling, _after(change)))

    def _delete_scaling(self, change: Change, plan: Plan, report: Report) -> None:
        # The target is deregistered on the dimension it scales (its metric says which).
        metric = (change.before or {}).get("metric") or INVOCATIONS
        self.gateway.delete_scaling(change.name, str(metric))

    # ---- inference components --------------------------------------------------------

    def _create_component(self, change: Change, plan: Plan, report: Report) -> None:
        """CreateInferenceComponent, then InService on the planned specification. One that
        exists already (an apply killed after creating it, or a concurrent one) is ours (the
        guard said so): on the planned specification it is waited for, else the plan is stale."""
        after = _after(change)
        component = _component_of(change)
        live = self._settle_component(component.name, plan, report)
        if live is not None and live.status == "Deleting":
            self._wait_component_gone(component.name, plan, report)
            live = None
        if live is None:
            try:
                self.gateway.create_inference_component(component, after.get("tags") or {})
            except AwsError:
                # Created meanwhile by another apply: judged by what exists now.
                live = self.gateway.describe_inference_component(component.name)
                if live is None:
                    raise
                self._require_owned_component(live, change.address, plan)
                self._accept_existing_component(live, component, plan)
                report(Event("note", change.address, "another apply created it meanwhile"))
        else:
            self._accept_existing_component(live, component, plan)
            report(Event("note", change.address, "it exists already (an earlier apply made it)"))
        self._wait_component(change, component, plan, report, updating=False)

    def _accept_existing_component(
        self, live: InferenceComponent, component: InferenceComponent, plan: Plan
    ) -> None:
        if live.status == "Failed":
            raise ApplyError(
                f"inference component {component.name} is Failed: "
                f"{live.failure_reason or 'no reason given'}",
                hint="fix the cause, then run plan again: it updates the failed component",
            )
        if not same_specification(live, component):
            raise ApplyError(
                f"inference component {component.name} exists already, with another "
                "specification than the plan's",
                hint="another apply or someone else made it since the plan; run plan again",
            )

    def _update_component(self, change: Change, plan: Plan, report: Report) -> None:
        """The copy count alone (UpdateInferenceComponentRuntimeConfig: one write), the
        specification (UpdateInferenceComponent, rolled as the plan says, with the copy count
        when it changes too), nothing but waiting for a change in flight ("wait"), or its tags
        alone ("tags"), as the plan's `update` says; then verified. A change with `tags` then
        sets the component's tags as planned (AddTags / DeleteTags on its ARN)."""
        after = _after(change)
        component = _component_of(change)
        live = self._settle_component(component.name, plan, report)
        if live is None or live.status == "Deleting":
            raise ApplyError(
                f"inference component {component.name} disappeared since the plan",
                hint="run plan again: it creates it",
            )
        if after.get("update") != "tags":
            self._change_component(change, component, live, plan, report)
        if "tags" in after:
            if live.arn is None:
                raise ApplyError(f"inference component {component.name} has no ARN to tag")
            self._retag(live.arn, change)

    def _change_component(
        self,
        change: Change,
        component: InferenceComponent,
        live: InferenceComponent,
        plan: Plan,
        report: Report,
    ) -> None:
        after = _after(change)
        update = after.get("update")
        if update == "wait":
            # Creating or Updating as the spec asks (an earlier apply's change in flight).
            self._wait_component(change, component, plan, report, updating=False)
            return
        copies = (
            component.copy_count
            if component.copy_count is not None and live.copy_count != component.copy_count
            else None
        )
        if update == "runtime":
            if copies is not None:
                self.gateway.update_inference_component_copies(component, copies)
            self._wait_component(change, component, plan, report, updating=False)
            return
        if update != "specification":
            raise ApplyError(
                f"{change.address}: the plan names no update this deployspec makes ({update!r})",
                hint="the plan was made by another version of deployspec",
            )
        if live.status == "Failed" or not same_specification(live, component):
            rolling = after.get("rolling_update")
            self.gateway.update_inference_component(
                component,
                from_json(RollingUpdate, rolling) if rolling else None,
                copy_count=copies,
            )
            self._wait_component(change, component, plan, report, updating=True)
            return
        # On the planned specification already (an apply killed after its update): the copy
        # count alone may be left.
        if copies is not None:
            self.gateway.update_inference_component_copies(component, copies)
        self._wait_component(change, component, plan, report, updating=False)

    def _delete_component(self, change: Change, plan: Plan, report: Report) -> None:
        """DeleteInferenceComponent, waiting until it is gone: the endpoint, its base (for an
        adapter) and its model are deleted after it, and SageMaker refuses while it exists."""
        live = self._settle_component(change.name, plan, report)
        if live is None:
            return
        if live.status != "Deleting":
            self.gateway.delete_inference_component(change.name)
        self._wait_component_gone(change.name, plan, report)

    def _settle_component(self, name: str, plan: Plan, report: Report) -> InferenceComponent | None:
        """The component once it accepts changes (another apply or the autoscaler may be
        changing it), or None when there is none."""
        deadline, wait = self._deadline(plan), self._poll()
        while True:
            live = self.gateway.describe_inference_component(name)
            if live is None or live.status not in _COMPONENT_BUSY:
                return live
            self._check_component_time(deadline, plan, live)
            report(Event("wait", f"inference_component.{name}", f"waiting: {live.status}"))
            wait()

    def _wait_component(
        self,
        change: Change,
        component: InferenceComponent,
        plan: Plan,
        report: Report,
        *,
        updating: bool,
    ) -> None:
        """Until the component is InService on the planned specification and copy count.
        After an update, InService on another specification is SageMaker's rollback: a
        failure, with its reason; Failed is one too."""
        deadline, wait = self._deadline(plan), self._poll()
        started = self.clock()
        while True:
            live = self.gateway.describe_inference_component(component.name)
            if live is None:
                raise ApplyError(
                    f"inference component {component.name} disappeared while deploying",
                    hint="run apply again",
                )
            if live.status == "InService":
                if not same_specification(live, component):
                    if updating:
                        raise ApplyError(
                            f"the update of inference component {component.name} was rolled "
                            "back; it still serves its earlier specification. Reason: "
                            f"{live.failure_reason or 'none given'}",
                            hint="fix the cause, then run apply again",
                        )
                    raise ApplyError(
                        f"inference component {component.name} is InService on another "
                        "specification than the plan's",
                        hint="another apply or someone else changed it; run plan again",
                    )
                if component.copy_count is None:
                    return
                if live.copy_count == component.copy_count:
                    # Success is every copy placed, not only asked for: InService with copies
                    # short is SageMaker still finding (or adding) room on the instances.
                    if live.current_copy_count is None or (
                        live.current_copy_count >= component.copy_count
                    ):
                        return
                    self._check_copies_time(deadline, plan, live)
                    report(
                        Event(
                            "wait",
                            change.address,
                            f"placing copies: {live.current_copy_count} of "
                            f"{component.copy_count} ({self.clock() - started:.0f}s)",
                        )
                    )
                    wait()
                    continue
                span = _after(change).get("copies_range")
                if span is not None and live.copy_count in range(span[0], span[1] + 1):
                    return  # its autoscaling moved the count while the change rolled out
                raise ApplyError(
                    f"inference component {component.name} is InService with "
                    f"{live.copy_count} copies, not the planned {component.copy_count}",
                    hint="another apply, someone else or its autoscaling changed it; run plan "
                    "again",
                )
            if live.status == "Failed":
                raise ApplyError(
                    f"inference component {component.name} is Failed: "
                    f"{live.failure_reason or 'no reason given'}",
                    hint="fix the cause (its model, image, compute requirements or the "
                    "instances' capacity), then run apply again",
                )
            self._check_component_time(deadline, plan, live)
            elapsed = self.clock() - started
            placed = _copies_text(live)
            report(Event("wait", change.address, f"{live.status}{placed} ({elapsed:.0f}s)"))
            wait()

    def _wait_component_gone(self, name: str, plan: Plan, report: Report) -> None:
        deadline, wait = self._deadline(plan), self._poll()
        while True:
            live = self.gateway.describe_inference_component(name)
            if live is None:
                return
            if live.status == "Failed":
                raise ApplyError(
                    f"inference component {name} is Failed instead of deleted: "
                    f"{live.failure_reason or 'no reason given'}",
                    hint="run the command again to retry the deletion",
                )
            if live.status != "Deleting":
                raise ApplyError(
                    f"inference component {name} was created again (it is {live.status}) "
                    "while deployspec waited for its deletion",
                    hint="another apply or someone else created it; run plan to see where it "
                    "stands",
                )
            self._check_component_time(deadline, plan, live)
            report(Event("wait", f"inference_component.{name}", f"waiting: {live.status}"))
            wait()

    def _check_copies_time(self, deadline: float, plan: Plan, live: InferenceComponent) -> None:
        if self.clock() >= deadline:
            raise ApplyError(
                f"inference component {live.name} has {live.current_copy_count} of its "
                f"{live.copy_count} copies placed after {plan.timeout_seconds}s: the endpoint's "
                "instances have no room for the rest",
                hint="ask less of each copy or run fewer copies, let managed scaling add "
                "instances (realtime.managed_scaling.max), or choose a larger instance type; "
                "`deployspec status` shows what each component holds",
            )

    def _check_component_time(self, deadline: float, plan: Plan, live: InferenceComponent) -> None:
        if self.clock() >= deadline:
            raise ApplyError(
                f"inference component {live.name} still {live.status} after "
                f"{plan.timeout_seconds}s",
                hint="raise deployment.timeout, or run apply again later: it resumes",
            )

    # ---- waiting -----------------------------------------------------------------------

    def _poll(self) -> Callable[[], None]:
        interval = self.poll_initial

        def wait() -> None:
            nonlocal interval
            self.sleep(interval)
            interval = min(self.poll_max, interval * 1.5)

        return wait

    def _deadline(self, plan: Plan) -> float:
        return self.clock() + plan.timeout_seconds

    def _settle(self, plan: Plan, report: Report) -> Endpoint | None:
        """Wait until the endpoint accepts changes (another apply may be mid-update)."""
        deadline, wait = self._deadline(plan), self._poll()
        while True:
            live = self.gateway.describe_endpoint(plan.endpoint_name)
            if live is None or live.status not in IN_PROGRESS or live.status == "Deleting":
                return live
            self._check_time(deadline, plan, live)
            report(Event("wait", f"endpoint.{plan.endpoint_name}", f"waiting: {live.status}"))
            wait()

    def _wait_gone(self, plan: Plan, report: Report, before: Endpoint | None) -> None:
        """Until the endpoint is gone. An endpoint never leaves Deleting except by going, so
        one seen in another state after it (or Creating, or modified since `before`, the
        endpoint as it was when its deletion was asked for) is a new one someone else created:
        waiting for it to go would only end at the timeout."""
        deadline, wait = self._deadline(plan), self._poll()
        seen_deleting = before is not None and before.status == "Deleting"
        while True:
            live = self.gateway.describe_endpoint(plan.endpoint_name)
            if live is None:
                return
            if live.status == "Deleting":
                seen_deleting = True
            elif live.status == "Failed" and seen_deleting:
                raise ApplyError(
                    f"endpoint {plan.endpoint_name} is Failed instead of deleted: "
                    f"{live.failure_reason or 'no reason given'}",
                    hint="run the command again to retry the deletion",
                )
            elif (
                seen_deleting
                or live.status == "Creating"
                or (before is not None and live.last_modified != before.last_modified)
            ):
                raise ApplyError(
                    f"endpoint {plan.endpoint_name} was created again (it is {live.status} on "
                    f"{live.config_name}) while deployspec waited for its deletion",
                    hint="another apply or someone else created it; run plan to see where it "
                    "stands before running this again",
                )
            self._check_time(deadline, plan, live)
            report(Event("wait", f"endpoint.{plan.endpoint_name}", f"waiting: {live.status}"))
            wait()

    def _wait_in_service(
        self, plan: Plan, config_name: str, report: Report, *, updating: bool = False
    ) -> None:
        deadline, wait = self._deadline(plan), self._poll()
        started = self.clock()
        while True:
            live = self.gateway.describe_endpoint(plan.endpoint_name)
            if live is None:
                raise ApplyError(f"endpoint {plan.endpoint_name} disappeared while deploying")
            if live.status == "InService":
                if live.config_name == config_name:
                    return
                if updating:
                    # SageMaker rolled the update back: the old config still serves.
                    raise ApplyError(
                        f"the update of endpoint {plan.endpoint_name} was rolled back; it still "
                        f"serves {live.config_name}. Reason: {live.failure_reason or 'none given'}",
                        hint="fix the cause, then run apply again; the new config is kept",
                    )
            if live.status in ("Failed", "UpdateRollbackFailed", "OutOfService"):
                raise ApplyError(
                    f"endpoint {plan.endpoint_name} is {live.status}: "
                    f"{live.failure_reason or 'no reason given'}",
                    hint="fix the cause (image, artifacts, role permissions, quotas); the next "
                    "apply replaces the failed endpoint",
                )
            self._check_time(deadline, plan, live)
            elapsed = self.clock() - started
            report(
                Event("wait", f"endpoint.{plan.endpoint_name}", f"{live.status} ({elapsed:.0f}s)")
            )
            wait()

    def _check_time(self, deadline: float, plan: Plan, live: Endpoint) -> None:
        if self.clock() >= deadline:
            raise ApplyError(
                f"endpoint {plan.endpoint_name} still {live.status} after {plan.timeout_seconds}s",
                hint="raise deployment.timeout, or run apply again later: it resumes",
            )


# What deployspec uploads: <prefix>/<sha256 of the content>/model.tar.gz.
_WEIGHTS_PREFIX = re.compile(r"(?P<root>s3://[^/]+/(?:.+/)?weights/)(?P<sha>[0-9a-f]{64})/")
_WEIGHTS_FILE = re.compile(r"(?P<root>s3://[^/]+/(?:.+/)?weights/)[0-9a-f]{64}/(?P<path>.+)")
# Uploads of one weights tree at a time: each holds one part (64 MiB) in memory.
WEIGHTS_WORKERS = 8


def _unsafe_path(path: str) -> bool:
    """A path that would leave its prefix or name no file."""
    parts = path.split("/")
    return not path or path.startswith("/") or any(p in ("", ".", "..") for p in parts)


_UPLOADED_ARCHIVE = re.compile(r"s3://[^/]+/(?:.+/)?(?P<sha>[0-9a-f]{64})/model\.tar\.gz")
# One of a multi-model endpoint's archives (desired.target_model_key under its prefix).
_MULTI_MODEL_ARCHIVE = re.compile(
    r"s3://[^/]+/(?:.+/)?multi-model/[A-Za-z0-9][A-Za-z0-9._-]*/[0-9a-f]{64}/model\.tar\.gz"
)


def _same_target(change: Change, key: str) -> None:
    """What a handler writes (`after[key]`, or `before[key]` for a delete) is the change's name:
    the guard checked that name, so nothing else may be written."""
    data = change.after if change.after is not None else change.before
    if data is not None and key in data and data[key] != change.name:
        raise NotManagedError(
            f"refusing {change.address}: it would write {key} {data[key]!r}, not {change.name!r}",
            hint="make the plan with deployspec; plans must not be edited",
        )


def _adopted_in_place(
    config: str, live: Endpoint | None, tags: dict[str, str], after: dict[str, Any], plan: Plan
) -> bool:
    """Whether `config`, which deployspec did not make, is the one the endpoint keeps serving
    since it was adopted in place: it serves it now (so no update moves it there: the handler
    refuses an endpoint moved since the plan) and the endpoint records it as adopted, or this
    adopting plan's change records it."""
    if live is None or live.config_name != config:
        return False
    records = [tags.get(TAG_ADOPTED, "")]
    if plan.adopt:
        records.append(str((after.get("tags") or {}).get(TAG_ADOPTED, "")))
    return any(record.partition(" ")[0] == config for record in records)


def _scaled_component(resource_id: str) -> str | None:
    """`inference-component/<name>` -> <name>."""
    kind, _, name = resource_id.partition("/")
    return name if kind == "inference-component" and name and "/" not in name else None


def _component_of(change: Change) -> InferenceComponent:
    """The component a change writes: `after["component"]`, or for a delete `before`."""
    data: object
    if change.action is Action.DELETE:
        before = change.before or {}
        data = before.get("component", before)
    else:
        data = _after(change).get("component")
    if not isinstance(data, dict):
        raise ApplyError(f"{change.address}: the plan holds no inference component")
    return from_json(InferenceComponent, data)


def _copies_text(live: InferenceComponent) -> str:
    """How far a component's copies are from its count, for progress lines."""
    current, desired = live.current_copy_count, live.copy_count
    if current is None or desired is None or current == desired:
        return ""
    if current < desired:
        return f", {current} of {desired} copies"
    return f", {current} copies, going to {desired}"


# Component states in which SageMaker refuses changes; apply waits for them to settle.
_COMPONENT_BUSY = frozenset({"Creating", "Updating"})


def _scaled_endpoint(resource_id: str) -> str | None:
    """`endpoint/<name>/variant/<variant>` -> <name>."""
    parts = resource_id.split("/")
    return parts[1] if len(parts) == 4 and parts[0] == "endpoint" else None


def _resource_after(change: Change) -> Model | EndpointConfig:
    data = {k: v for k, v in _after(change).items() if k != "tags"}
    if change.kind is Kind.MODEL:
        return from_json(Model, data)
    return from_json(EndpointConfig, data)


def _scaling_removed_for_update(plan: Plan) -> set[str]:
    """Scaling targets the plan deregisters ahead of an endpoint update (SageMaker refuses an
    instance type change under autoscaling; a serverless config has nothing to scale): the ones
    to put back if that update fails."""
    names: set[str] = set()
    for index, change in enumerate(plan.changes):
        if (
            change.kind is Kind.SCALING
            and change.action is Action.DELETE
            and any(
                c.kind is Kind.ENDPOINT and c.action is Action.UPDATE
                for c in plan.changes[index + 1 :]
            )
        ):
            names.add(change.name)
    return names


def _after(change: Change) -> dict[str, Any]:
    if change.after is None:
        raise ApplyError(f"{change.address}: the plan has no target state")
    return change.after


def _describe(change: Change) -> str:
    verbs = {
        Action.CREATE: "creating",
        Action.UPDATE: "updating",
        Action.DELETE: "deleting",
        Action.REPLACE: "replacing",
    }
    if change.kind in (Kind.ARTIFACT, Kind.WEIGHTS) and change.action is Action.CREATE:
        return "uploading"
    return verbs[change.action]
