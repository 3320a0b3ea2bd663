"""What people read: plans rendered as text, JSON and markdown, compared with golden files, and
the CLI's own lines around them (destroy naming the archives it keeps, retries while throttled).

The goldens live in tests/golden/<plan>.<format>.txt. After a deliberate change of the output,
rewrite them with `DEPLOYSPEC_UPDATE_GOLDEN=1 pytest tests/test_render.py` and review the diff.
"""

# The fixtures imported from test_e2e are named again by the tests that use them.
# ruff: noqa: F811

from __future__ import annotations

import json
import os
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from deployspec.plan import Action, Change, Kind, Plan
from deployspec.planner import make_destroy_plan, make_plan
from deployspec.render import render_json, render_markdown, render_text
from deployspec.resources import (
    TAG_DIGEST,
    TAG_MODEL,
    TAG_PRUNED,
    EndpointConfig,
    LiveVariant,
    OwnedResource,
    Scaling,
    Variant,
    ownership_tags,
)
from deployspec.state import Actual, Owned
from tests.test_e2e import cli, iris, iris_model, sandbox, sm  # noqa: F401 - fixtures by name
from tests.test_planner import ARCHIVE, SHA, desired, live_endpoint, owned_tags

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("DEPLOYSPEC_UPDATE_GOLDEN", "") not in ("", "0")
SCALING = Scaling("endpoint/iris/variant/AllTraffic", 1, 4, 100.0, 300, 60, "p")


def _realtime(name: str, count: int, volume: int | None = None) -> EndpointConfig:
    return EndpointConfig(
        name,
        (
            Variant(
                "iris-aaaaaaaaaa",
                instance_type="ml.m5.xlarge",
                initial_instance_count=count,
                volume_size_gb=volume,
            ),
        ),
    )


def create_all() -> Plan:
    return make_plan(
        desired(), Actual(artifacts={ARCHIVE: "missing"}, bucket_exists=False, owned=())
    )


def update_config_and_scaling() -> Plan:
    # A config change beyond counts and weights (those are set in place, with no new config).
    d = desired(
        config=_realtime("iris-cccccccccc", 1, volume=30),
        scalings=(replace(SCALING, max_capacity=6),),
    )
    return make_plan(
        d,
        Actual(
            endpoint=live_endpoint(
                "iris-bbbbbbbbbb", variants=(LiveVariant("AllTraffic", 1.0, 1.0, 3, 3),)
            ),
            endpoint_tags=owned_tags(d, pruned="iris-bbbbbbbbbb@keep=2"),
            current_config=_realtime("iris-bbbbbbbbbb", 1),
            current_models=(d.models[0],),
            existing_models=frozenset({d.models[0].name}),
            scalings=(SCALING,),
            owned=None,
        ),
    )


def replace_failed() -> Plan:
    d = desired()
    return make_plan(
        d,
        Actual(
            endpoint=live_endpoint(status="Failed", failure_reason="image not found"),
            endpoint_tags=owned_tags(d, pruned="iris-cccccccccc@keep=2"),
            desired_config_exists=True,
            existing_models=frozenset({"iris-aaaaaaaaaa"}),
        ),
    )


def destroy() -> Plan:
    owned = Owned(
        live_endpoint("iris-cccccccccc"),
        ownership_tags("iris"),
        (SCALING,),
        (
            OwnedResource("endpoint_config", "iris-bbbbbbbbbb", "2026-01-01", ("iris-0000000000",)),
            OwnedResource("endpoint_config", "iris-cccccccccc", "2026-01-02", ("iris-aaaaaaaaaa",)),
            OwnedResource("model", "iris-0000000000", "2026-01-01"),
            OwnedResource("model", "iris-aaaaaaaaaa", "2026-01-02"),
        ),
        {},
    )
    return make_destroy_plan("iris", "us-east-1", "123456789012", owned, purge=(ARCHIVE,))


def tags_only() -> Plan:
    d = desired(tags={"team": "vision", **ownership_tags("iris")})
    return make_plan(
        d,
        Actual(
            endpoint=live_endpoint(),
            endpoint_tags={**desired().endpoint_tags, TAG_PRUNED: "iris-cccccccccc@keep=2"},
            desired_config_exists=True,
            existing_models=frozenset({"iris-aaaaaaaaaa"}),
        ),
    )


def secret_env_change() -> Plan:
    d = desired()
    old_model = replace(
        d.models[0],
        name="iris-0000000000",
        environment={"SAGEMAKER_PROGRAM": "inference.py", "API_KEY": "old-secret"},
    )
    old_config = EndpointConfig(
        "iris-bbbbbbbbbb", (replace(d.config.variants[0], model_name="iris-0000000000"),)
    )
    return make_plan(
        d,
        Actual(
            endpoint=live_endpoint("iris-bbbbbbbbbb"),
            endpoint_tags=owned_tags(d, pruned="iris-bbbbbbbbbb@keep=2"),
            current_config=old_config,
            current_models=(old_model,),
            artifacts={ARCHIVE: "present"},
            owned=None,
        ),
    )


PLANS = {
    "create_all": create_all,
    "update_config_and_scaling": update_config_and_scaling,
    "replace_failed": replace_failed,
    "destroy": destroy,
    "tags_only": tags_only,
    "secret_env_change": secret_env_change,
}
FORMATS = {"text": render_text, "json": render_json, "markdown": render_markdown}


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", PLANS)
def test_golden(name: str, fmt: str) -> None:
    rendered = FORMATS[fmt](PLANS[name]())
    golden = GOLDEN / f"{name}.{fmt}.txt"
    if UPDATE:
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(rendered)
    assert golden.is_file(), f"no golden {golden.name}: run with DEPLOYSPEC_UPDATE_GOLDEN=1"
    assert rendered == golden.read_text()


@pytest.mark.parametrize("name", PLANS)
def test_secrets_are_never_rendered(name: str) -> None:
    plan = PLANS[name]()
    for render in FORMATS.values():
        shown = render(plan)
        assert "hunter2" not in shown and "old-secret" not in shown


def test_a_changed_secret_shows_as_changed_and_masked() -> None:
    for render in FORMATS.values():
        shown = render(secret_env_change())
        assert "environment.API_KEY: (sensitive) changed" in shown


def test_no_changes_is_one_line() -> None:
    d = desired()
    plan = make_plan(
        d,
        Actual(
            endpoint=live_endpoint(),
            endpoint_tags=owned_tags(d, pruned="iris-cccccccccc@keep=2"),
            desired_config_exists=True,
            existing_models=frozenset({"iris-aaaaaaaaaa"}),
        ),
    )
    assert render_text(plan) == "No changes. Endpoint iris matches the spec.\n"
    assert render_markdown(plan) == (
        "### deployspec plan: `iris` (us-east-1)\n\n"
        "**No changes. Endpoint iris matches the spec.**\n"
    )


# --- 17a: an uploaded archive is shown by a short address -----------------------------------


def test_the_archive_is_addressed_by_its_digest_and_its_uri_shown_once() -> None:
    text = render_text(create_all())
    assert f"# artifact.{SHA[:12]} will be uploaded" in text
    assert f'+ artifact "{SHA[:12]}" {{' in text
    # The URI is an attribute (s3_uri, and the model's model_data_url), never the name shown.
    assert f"artifact.{ARCHIVE}" not in text and f'artifact "{ARCHIVE}"' not in text
    assert f'+ s3_uri     = "{ARCHIVE}"' in text
    document = json.loads(render_json(create_all()))
    [upload] = [c for c in document["changes"] if c["kind"] == "artifact"]
    assert upload["address"] == f"artifact.{SHA[:12]}"
    assert upload["name"] == ARCHIVE


# --- 17b: never an empty body ---------------------------------------------------------------


def test_no_change_renders_an_empty_body() -> None:
    for build in PLANS.values():
        text = render_text(build())
        assert not re.search(r"\{\n\s*\}", text), text


def test_an_update_of_bookkeeping_alone_shows_what_it_changes() -> None:
    # No plan makes one now (the planner plans nothing for a digest alone); were one made, it
    # must still show what it changes instead of `{ }`.
    digest_only = Change(
        Kind.ENDPOINT,
        "iris",
        Action.UPDATE,
        {"config_name": "iris-c", "tags": {TAG_DIGEST: "d0"}},
        {"config_name": "iris-c", "tags": {TAG_DIGEST: "d1"}},
        ("tags changed",),
    )
    plan = Plan("iris", "iris", "us-east-1", "123456789012", (digest_only,), {})
    assert '~ tags.deployspec:spec-digest = "d0" -> "d1"' in render_text(plan)
    assert '!     tags.deployspec:spec-digest = "d0" -> "d1"' in render_markdown(plan)


# --- 17c: markdown that GitHub colours -------------------------------------------------------


def _diff_block(markdown: str) -> list[str]:
    found = re.search(r"\n(`{3,})diff\n(.*?)\n\1\n", markdown, re.S)
    assert found is not None, markdown
    return found.group(2).split("\n")


@pytest.mark.parametrize("name", PLANS)
def test_every_diff_line_starts_with_its_symbol(name: str) -> None:
    lines = _diff_block(render_markdown(PLANS[name]()))
    for line in lines:
        # A change (+ - !), a comment (#), a block's closing brace, or the blank between blocks.
        assert line == "" or line == "  }" or line[0] in "+-!#", repr(line)
        assert not re.match(r"\s+[-+~!]", line), repr(line)  # no symbol GitHub cannot see
    assert not any(line.startswith("~") for line in lines)


def test_markdown_keeps_the_summary_table() -> None:
    markdown = render_markdown(update_config_and_scaling())
    assert "| action | resource | why |" in markdown
    assert "| `~` update | `endpoint.iris` |" in markdown


def test_a_backtick_fence_in_a_value_cannot_close_the_diff_block() -> None:
    plan = make_plan(
        desired(tags={"note": "```", **ownership_tags("iris")}),
        Actual(artifacts={ARCHIVE: "present"}, owned=()),
    )
    markdown = render_markdown(plan)
    assert "\n````diff\n" in markdown
    assert any(re.fullmatch(r'\+ +tags\.note += "```"', line) for line in _diff_block(markdown))


# --- 17d: destroy items say what they are, or nothing -----------------------------------------


def test_destroy_items_do_not_all_read_destroy() -> None:
    plan = destroy()
    assert "# (destroy)" not in render_text(plan)
    reasons = {c.address: c.reasons for c in plan.changes}
    assert reasons == {
        "scaling.endpoint/iris/variant/AllTraffic": (),
        "endpoint.iris": (),
        "endpoint_config.iris-bbbbbbbbbb": ("kept for rollback",),
        "endpoint_config.iris-cccccccccc": ("the endpoint serves it",),
        "model.iris-0000000000": ("kept for rollback",),
        "model.iris-aaaaaaaaaa": ("the endpoint serves it",),
        f"artifact.{SHA[:12]}": ("--purge-artifacts: no other model uses this archive",),
    }


def test_destroy_without_an_endpoint_of_ours_gives_no_reasons() -> None:
    owned = Owned(None, {}, (), (OwnedResource("model", "iris-0000000000", "2026-01-01"),), {})
    [change] = make_destroy_plan("iris", "us-east-1", "123456789012", owned).changes
    assert change.reasons == ()


def test_the_config_tag_names_the_model_served() -> None:
    # What lets destroy tell the served model from the rollback ones.
    config = next(c for c in create_all().changes if c.kind is Kind.ENDPOINT_CONFIG)
    assert (config.after or {})["tags"][TAG_MODEL] == "iris-aaaaaaaaaa"


# --- 17e: destroy names the archives it keeps -------------------------------------------------


def test_destroy_names_the_archives_it_keeps_and_how_to_purge_them(
    sandbox: dict[str, Any], sm: Any, iris: Path
) -> None:
    assert cli(sandbox, "apply", str(iris), "--auto-approve").returncode == 0
    [uri] = [
        m["ModelDataUrl"]
        for m in (
            sm.describe_model(ModelName=n["ModelName"])["PrimaryContainer"]
            for n in sm.list_models()["Models"]
        )
    ]

    kept = cli(sandbox, "destroy", str(iris), "--auto-approve")

    assert kept.returncode == 0, kept.stderr
    assert f"Note: kept in S3: {uri} (uploaded for this spec; destroy --purge-artifacts" in (
        kept.stdout
    )
    assert f"Kept in S3: {uri} (uploaded for this spec); delete it with `aws s3 rm {uri}`." in (
        kept.stdout
    )

    assert cli(sandbox, "apply", str(iris), "--auto-approve").returncode == 0
    purged = cli(sandbox, "destroy", str(iris), "--auto-approve", "--purge-artifacts")
    assert purged.returncode == 0, purged.stderr
    assert "kept in S3" not in purged.stdout.lower()
    assert "--purge-artifacts: no other model uses this archive" in purged.stdout


# --- 17f: a throttled apply shows its retries --------------------------------------------------


def test_a_throttled_apply_says_it_is_retrying(
    sandbox: dict[str, Any], sm: Any, iris: Path
) -> None:
    # S3's calls during apply are few (the bucket, its lifecycle, the upload): every second one
    # throttled gives retries to see without slowing every SageMaker poll down.
    sandbox["faults"].throttle(0.5, "s3")
    try:
        applied = cli(sandbox, "apply", str(iris), "--auto-approve")
    finally:
        sandbox["faults"].clear()
    assert applied.returncode == 0, applied.stderr
    found = re.findall(r"AWS is throttling (\w+); retrying \(attempt (\d+) of 11\)", applied.stderr)
    assert found, applied.stderr
    assert all(int(attempt) >= 2 for _, attempt in found)
