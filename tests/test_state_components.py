"""Reading an endpoint's inference components (state.py): one listing and one description
each, their tags only where ownership matters, and destroy's reading of them only on an
endpoint whose config names no model."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from types import SimpleNamespace
from typing import TYPE_CHECKING, cast

from deployspec.resources import (
    CONCURRENT_REQUESTS_PER_COPY,
    ComputeRequirements,
    Endpoint,
    EndpointConfig,
    InferenceComponent,
    Scaling,
    Variant,
    component_resource_id,
    ownership_tags,
)
from deployspec.state import Actual, read_components, read_owned

if TYPE_CHECKING:
    from deployspec.aws import Gateway
    from deployspec.desired import Desired

CHAT = InferenceComponent(
    "duo-chat",
    "duo",
    model_name="duo-aaaaaaaaaa",
    compute=ComputeRequirements(1024, 1.0),
    copy_count=1,
    status="InService",
    arn="arn:ic/duo-chat",
)
EMBED = replace(CHAT, name="duo-embed", model_name="duo-bbbbbbbbbb", arn="arn:ic/duo-embed")
COPIES = Scaling(
    component_resource_id("duo-embed"), 1, 4, 4.0, 300, 60, "p", CONCURRENT_REQUESTS_PER_COPY
)


@dataclass
class FakeGateway:
    live: dict[str, InferenceComponent]
    config: EndpointConfig | None = None
    calls: list[str] = field(default_factory=list)

    def list_inference_components(self, endpoint: str) -> list[tuple[str, str, str]]:
        self.calls.append("ListInferenceComponents")
        return [(c.name, "t", c.arn or "") for c in self.live.values()]

    def describe_inference_component(self, name: str) -> InferenceComponent | None:
        self.calls.append("DescribeInferenceComponent")
        return self.live.get(name)

    def list_tags(self, arn: str) -> dict[str, str]:
        self.calls.append(f"ListTags {arn}")
        return ownership_tags("duo")

    def describe_endpoint(self, name: str) -> Endpoint:
        self.calls.append("DescribeEndpoint")
        return Endpoint("duo", "duo-cfg", "InService", arn="arn:ep")

    def describe_endpoint_config(self, name: str) -> EndpointConfig | None:
        self.calls.append("DescribeEndpointConfig")
        return self.config

    def describe_scalings(self, ids: list[str]) -> list[Scaling]:
        self.calls.append(f"DescribeScalableTargets {' '.join(ids)}")
        return []

    def list_endpoint_configs(self, text: str) -> list[tuple[str, str, str]]:
        return []

    def list_models(self, text: str) -> list[tuple[str, str, str]]:
        return []


def desired(*components: InferenceComponent) -> Desired:
    """The two things read_components asks of Desired."""
    wanted = tuple(replace(c, status=None, arn=None) for c in components)
    scalings = {COPIES.resource_id.removeprefix("inference-component/"): COPIES}
    return cast("Desired", SimpleNamespace(components=wanted, component_scaling=scalings.get))


def tags_read(gateway: FakeGateway) -> list[str]:
    return [c.removeprefix("ListTags ") for c in gateway.calls if c.startswith("ListTags")]


def test_components_held_as_the_spec_asks_cost_one_description_each_and_no_tags() -> None:
    gateway = FakeGateway({"duo-chat": CHAT, "duo-embed": replace(EMBED, copy_count=3)})

    found, tags = read_components(cast("Gateway", gateway), "duo", desired(CHAT, EMBED))

    assert set(found) == {"duo-chat", "duo-embed"}
    # duo-embed's copies moved within its autoscaling range: the autoscaler's, no change.
    assert tags == {} and tags_read(gateway) == []
    assert gateway.calls == ["ListInferenceComponents"] + ["DescribeInferenceComponent"] * 2


def test_tags_are_read_of_each_component_a_change_would_touch() -> None:
    foreign = replace(CHAT, name="hand-made", arn="arn:ic/hand-made")
    gateway = FakeGateway(
        {
            "duo-chat": replace(CHAT, model_name="duo-cccccccccc"),  # another specification
            "duo-embed": replace(EMBED, copy_count=9),  # copies beyond its autoscaling
            "hand-made": foreign,  # not in the spec
        }
    )
    _, tags = read_components(cast("Gateway", gateway), "duo", desired(CHAT, EMBED))
    assert sorted(tags) == ["duo-chat", "duo-embed", "hand-made"]

    busy = FakeGateway({"duo-chat": replace(CHAT, status="Updating")})
    _, tags = read_components(cast("Gateway", busy), "duo", desired(CHAT))
    assert list(tags) == ["duo-chat"]


def test_when_the_specs_tags_change_every_components_tags_are_read() -> None:
    """Each component's tags follow the spec's from what it has: the settled ones' too."""
    gateway = FakeGateway({"duo-chat": CHAT, "duo-embed": EMBED})

    _, tags = read_components(cast("Gateway", gateway), "duo", desired(CHAT, EMBED), retag=True)

    assert sorted(tags) == ["duo-chat", "duo-embed"]
    assert tags_read(gateway) == ["arn:ic/duo-chat", "arn:ic/duo-embed"]


def test_a_component_deleted_between_listing_and_description_is_left_out() -> None:
    gateway = FakeGateway({"duo-chat": CHAT})
    gateway.live = {}  # listed from the first answer below, gone when described
    gateway.list_inference_components = lambda endpoint: [("duo-chat", "t", "arn:ic/duo-chat")]  # type: ignore[method-assign]
    found, tags = read_components(cast("Gateway", gateway), "duo", desired(CHAT))
    assert found == {} and tags == {}


def test_destroy_reads_components_only_of_an_endpoint_whose_config_names_no_model() -> None:
    models = FakeGateway(
        {"duo-chat": CHAT}, EndpointConfig("duo-cfg", (Variant("duo-aaaaaaaaaa"),))
    )
    owned = read_owned(cast("Gateway", models), "duo", components=None)
    assert owned.components == ()
    assert "ListInferenceComponents" not in models.calls

    hosting = FakeGateway(
        {"duo-chat": CHAT}, EndpointConfig("duo-cfg", (Variant(None, instance_type="ml.m5.large"),))
    )
    owned = read_owned(cast("Gateway", hosting), "duo", components=None)
    assert owned.components == (CHAT,)
    # Destroy proves every component's owner, and removes its copies' scaling too.
    assert owned.component_tags == {"duo-chat": ownership_tags("duo")}
    scaled = next(c for c in hosting.calls if c.startswith("DescribeScalableTargets"))
    assert scaled.endswith("inference-component/duo-chat")

    # A spec of components reads them without looking at the config first.
    direct = FakeGateway({"duo-chat": CHAT})
    read_owned(cast("Gateway", direct), "duo", components=True)
    assert "DescribeEndpointConfig" not in direct.calls


def test_a_saved_plan_sees_a_component_changed_since_but_not_its_copy_count() -> None:
    """`Actual.fingerprint`: a component's specification, state or tags changed behind a
    saved plan's back make `apply PLAN.json` refuse; the autoscaler moving its count does not."""
    chat = InferenceComponent(
        "assistants-chat",
        "assistants",
        model_name="assistants-aaaaaaaaaa",
        compute=ComputeRequirements(1024, cpu_cores=1.0),
        copy_count=1,
        status="InService",
    )

    def print_of(component: InferenceComponent, tags: dict[str, str] | None = None) -> object:
        return Actual(
            components={chat.name: component}, component_tags={chat.name: tags or {"a": "b"}}
        ).fingerprint()

    base = print_of(chat)
    assert print_of(replace(chat, copy_count=3)) == base
    assert print_of(replace(chat, model_name="assistants-ffffffffff")) != base
    assert print_of(replace(chat, compute=ComputeRequirements(2048, cpu_cores=1.0))) != base
    assert print_of(replace(chat, status="Updating")) != base
    assert print_of(chat, {"a": "c"}) != base
