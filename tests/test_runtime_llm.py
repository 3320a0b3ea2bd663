"""The LLM containers' contracts (runtime/llm.py) on the tiny model, in this process."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from deployspec.errors import DeployspecError
from deployspec.runtime import llm
from deployspec.runtime.errors import ModelError
from deployspec.runtime.handlers import NotRunnableHere, framework_from_image
from deployspec.runtime.tiny_llm import make_tiny_model
from deployspec.sandbox import hub
from deployspec.sandbox.hosting import copy_prefix
from deployspec.sandbox.sagemaker_ext import ModelInvocationError

pytest.importorskip("torch")
pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_model(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def loaded(tiny: Path) -> tuple[llm.LLMService, llm.LoadedModel]:
    service = llm.load_service(tiny, llm.TGI)
    return service, service.load_model()


def _ask(service: llm.LLMService, model: llm.LoadedModel, request: dict[str, Any]) -> Any:
    body, content_type = service.invoke(model, json.dumps(request).encode(), "", "")
    assert content_type == "application/json"
    return json.loads(body)


def _events(parts: list[bytes], prefix: bytes) -> list[Any]:
    text = b"".join(parts)
    assert text.endswith(b"\n\n")
    return [
        chunk[len(prefix) :].decode() if chunk == prefix + b"[DONE]" else json.loads(chunk[5:])
        for chunk in text.split(b"\n\n")
        if chunk
    ]


def test_tiny_model_is_deterministic_and_small(tmp_path: Path, tiny: Path) -> None:
    again = make_tiny_model(tmp_path / "again")
    names = sorted(p.name for p in tiny.iterdir())
    assert "model.safetensors" in names and "tokenizer.json" in names
    assert names == sorted(p.name for p in again.iterdir())
    for name in names:
        assert (tiny / name).read_bytes() == (again / name).read_bytes(), name
    assert sum(p.stat().st_size for p in tiny.iterdir()) < 2 * 1024 * 1024


def test_tgi_generate_is_greedy_and_exact(loaded: tuple[llm.LLMService, llm.LoadedModel]) -> None:
    service, model = loaded
    request = {"inputs": "Hello", "parameters": {"max_new_tokens": 5}}
    answer = _ask(service, model, request)
    assert answer == [{"generated_text": "u:zKo"}]
    assert _ask(service, model, request) == answer
    full = _ask(
        service,
        model,
        {"inputs": "Hello", "parameters": {"max_new_tokens": 5, "return_full_text": True}},
    )
    assert full == [{"generated_text": "Hellou:zKo"}]


def test_tgi_details_and_stream_agree(loaded: tuple[llm.LLMService, llm.LoadedModel]) -> None:
    service, model = loaded
    params = {"max_new_tokens": 6, "details": True}
    [answer] = _ask(service, model, {"inputs": "Hi there", "parameters": params})
    details = answer["details"]
    assert details["finish_reason"] == "length" and details["generated_tokens"] == 6
    content_type, parts = service.invoke_stream(
        model,
        json.dumps({"inputs": "Hi there", "parameters": params, "stream": True}).encode(),
        "",
        "",
    )
    parts_list = list(parts)
    assert content_type == "text/event-stream"
    assert len(parts_list) == 6  # one event per token, as it is generated
    events = _events(parts_list, b"data:")
    assert [e["index"] for e in events] == [1, 2, 3, 4, 5, 6]
    assert [e["token"] for e in events] == details["tokens"]
    assert all(e["generated_text"] is None for e in events[:-1])
    assert events[-1]["generated_text"] == answer["generated_text"]
    assert events[-1]["details"]["finish_reason"] == "length"


def test_sampling_is_reproducible_with_a_seed(
    loaded: tuple[llm.LLMService, llm.LoadedModel],
) -> None:
    service, model = loaded
    params = {"max_new_tokens": 12, "do_sample": True, "seed": 7, "top_k": 20, "top_p": 0.9}
    first = _ask(service, model, {"inputs": "abc", "parameters": params})
    assert _ask(service, model, {"inputs": "abc", "parameters": params}) == first
    other = _ask(service, model, {"inputs": "abc", "parameters": {**params, "seed": 8}})
    assert other != first


@pytest.mark.parametrize(
    ("parameters", "inputs", "message"),
    [
        (
            {"max_new_tokens": 20},
            "x" * 500,
            "`inputs` tokens + `max_new_tokens` must be <= 512. "
            "Given: 500 `inputs` tokens and 20 `max_new_tokens`",
        ),
        ({"max_new_tokens": 0}, "x", "`max_new_tokens` must be strictly positive"),
        ({"temperature": 0}, "x", "`temperature` must be strictly positive"),
        ({"top_p": 1.0}, "x", "`top_p` must be > 0.0 and < 1.0"),
        ({}, "", "`inputs` cannot be empty"),
    ],
)
def test_tgi_refuses_as_tgi_does(
    loaded: tuple[llm.LLMService, llm.LoadedModel],
    parameters: dict[str, Any],
    inputs: str,
    message: str,
) -> None:
    service, model = loaded
    with pytest.raises(ModelError) as refused:
        service.invoke(
            model, json.dumps({"inputs": inputs, "parameters": parameters}).encode(), "", ""
        )
    assert refused.value.status_code == 422
    assert json.loads(refused.value.message) == {"error": message, "error_type": "validation"}


def test_max_input_tokens_from_the_environment(tiny: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAX_INPUT_TOKENS", "8")
    monkeypatch.setenv("MAX_TOTAL_TOKENS", "16")
    service = llm.load_service(tiny, llm.TGI)
    model = service.load_model()
    with pytest.raises(ModelError) as refused:
        service.invoke(
            model,
            json.dumps({"inputs": "0123456789", "parameters": {"max_new_tokens": 2}}).encode(),
            "",
            "",
        )
    assert json.loads(refused.value.message)["error"] == (
        "`inputs` must have less than 8 tokens. Given: 10"
    )
    # Without max_new_tokens TGI fills the budget: MAX_TOTAL_TOKENS less the input.
    [answer] = _ask(service, model, {"inputs": "0123", "parameters": {"details": True}})
    assert answer["details"]["generated_tokens"] + 4 <= 16


def test_messages_api(loaded: tuple[llm.LLMService, llm.LoadedModel], tiny: Path) -> None:
    service, model = loaded
    request = {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 5}
    answer = _ask(service, model, request)
    assert answer["object"] == "chat.completion"
    [choice] = answer["choices"]
    assert choice["message"]["role"] == "assistant"
    assert len(choice["message"]["content"]) == 5 and choice["finish_reason"] == "length"
    assert answer["usage"]["completion_tokens"] == 5
    for framework in (llm.VLLM, llm.SGLANG, llm.LMI):
        other = llm.LLMService(tiny, framework)
        assert _ask(other, model, request)["choices"][0]["message"] == choice["message"]
    _, parts = service.invoke_stream(
        model, json.dumps({**request, "stream": True}).encode(), "", ""
    )
    events = _events(list(parts), b"data: ")
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert (
        "".join(c["choices"][0]["delta"]["content"] for c in chunks) == choice["message"]["content"]
    )
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"


def test_vllm_refuses_with_an_openai_error(
    loaded: tuple[llm.LLMService, llm.LoadedModel], tiny: Path
) -> None:
    _, model = loaded
    service = llm.LLMService(tiny, llm.VLLM)
    with pytest.raises(ModelError) as refused:
        service.invoke(model, json.dumps({"inputs": "TGI's format"}).encode(), "", "")
    assert refused.value.status_code == 400
    assert json.loads(refused.value.message)["object"] == "error"
    completion = _ask(service, model, {"prompt": "Hello", "max_tokens": 5})
    assert completion["object"] == "text_completion"
    assert completion["choices"][0]["text"] == "u:zKo"


def test_tei_embeds_mean_pooled_and_normalised(
    loaded: tuple[llm.LLMService, llm.LoadedModel], tiny: Path
) -> None:
    _, model = loaded
    service = llm.LLMService(tiny, llm.TEI)
    vectors = _ask(service, model, {"inputs": ["a", "bc"]})
    assert len(vectors) == 2 and all(len(v) == 32 for v in vectors)
    assert all(abs(sum(x * x for x in v) - 1) < 1e-5 for v in vectors)
    assert _ask(service, model, {"inputs": "a"}) == [vectors[0]]
    raw = _ask(service, model, {"inputs": "a", "normalize": False})
    assert abs(sum(x * x for x in raw[0]) - 1) > 1e-3
    with pytest.raises(ModelError) as refused:
        service.invoke(model, json.dumps({"inputs": []}).encode(), "", "")
    assert refused.value.status_code == 422


def test_without_the_extra_it_is_not_runnable_here(
    tiny: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(llm, "llm_installed", lambda: False)
    with pytest.raises(NotRunnableHere) as missing:
        llm.check_servable(tiny, llm.TGI)
    assert "deployspec[llm]" in (missing.value.hint or "")


@pytest.mark.parametrize(
    ("image", "framework"),
    [
        (
            "763104351884.dkr.ecr.us-east-1.amazonaws.com/huggingface-pytorch-tgi-inference:"
            "2.4.0-tgi3.3.6-gpu-py311-cu124-ubuntu22.04",
            "huggingface-llm",
        ),
        (
            "763104351884.dkr.ecr.us-east-1.amazonaws.com/huggingface-vllm:0.21.0",
            "huggingface-vllm",
        ),
        (
            "763104351884.dkr.ecr.us-east-1.amazonaws.com/huggingface-sglang:0.5.8",
            "huggingface-sglang",
        ),
        (
            "683313688378.dkr.ecr.us-east-1.amazonaws.com/tei-cpu:2.0.1-tei1.8.2-cpu",
            "huggingface-tei",
        ),
        ("683313688378.dkr.ecr.us-east-1.amazonaws.com/tei:2.0.1-tei1.8.2-gpu", "huggingface-tei"),
        (
            "763104351884.dkr.ecr.us-east-1.amazonaws.com/djl-inference:0.33.0-lmi15.0.0-cu128",
            "djl-lmi",
        ),
    ],
)
def test_llm_images_are_recognised(image: str, framework: str) -> None:
    assert framework_from_image(image) == framework


def test_hub_mirror(tmp_path: Path, tiny: Path) -> None:
    home = tmp_path / "home"
    placed = hub.add("acme/tiny-chat", tiny, home=home)
    assert placed == home / "sandbox" / "hub" / "acme" / "tiny-chat"
    assert hub.lookup(home / "sandbox" / "hub", "acme/tiny-chat") == placed
    assert hub.add("acme/tiny-chat", tiny, home=home) == placed  # replaced in place
    assert hub.lookup(home / "sandbox" / "hub", "acme/other") is None
    with pytest.raises(DeployspecError):
        hub.add("../escape", tiny, home=home)
    with pytest.raises(DeployspecError):
        hub.add("acme/empty", tmp_path, home=home)
    assert "deployspec sandbox hub add acme/x" in hub.missing_message("acme/x")


def test_copy_prefix_keeps_paths_and_refuses_escapes(tmp_path: Path) -> None:
    prefix = "s3://b/weights/abc/"
    objects = {prefix + "config.json": b"{}", prefix + "sub/a.bin": b"A", prefix + "sub/": b""}
    assert copy_prefix(objects, prefix, tmp_path / "m", objects.__getitem__) == 2
    assert (tmp_path / "m" / "sub" / "a.bin").read_bytes() == b"A"
    with pytest.raises(ModelInvocationError):
        copy_prefix([prefix + "../x"], prefix, tmp_path / "n", objects.__getitem__)
    assert not (tmp_path / "n").exists()
