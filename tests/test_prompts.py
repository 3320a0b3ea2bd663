"""`invoke --prompt` request bodies and the reader of streamed answers (pure)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from deployspec.errors import DeployspecError
from deployspec.prompts import PROMPT_FRAMEWORKS, GenerationError, TokenStream, request_for
from deployspec.spec import LLM_FRAMEWORKS, Framework


@pytest.mark.parametrize(
    ("kind", "stream", "expected"),
    [
        (
            "huggingface-llm",
            True,
            {"inputs": "Hi ✓", "parameters": {"max_new_tokens": 7}, "stream": True},
        ),
        (
            "huggingface-llm",
            False,
            {"inputs": "Hi ✓", "parameters": {"max_new_tokens": 7}, "stream": False},
        ),
        *(
            (
                kind,
                stream,
                {
                    "messages": [{"role": "user", "content": "Hi ✓"}],
                    "max_tokens": 7,
                    "stream": stream,
                },
            )
            for kind in ("huggingface-vllm", "huggingface-sglang", "djl-lmi")
            for stream in (True, False)
        ),
        ("huggingface-tei", False, {"inputs": "Hi ✓"}),
    ],
)
def test_request_for_each_container(kind: str, stream: bool, expected: dict[str, Any]) -> None:
    body = request_for(kind, "Hi ✓", stream=stream, max_tokens=7)
    assert json.loads(body) == expected
    assert "Hi ✓".encode() in body  # UTF-8, not \u escapes


@pytest.mark.parametrize(
    ("kind", "stream", "max_tokens", "message", "hint"),
    [
        ("huggingface-tei", True, 256, "does not stream", "drop --stream"),
        ("sklearn", False, 256, "not for framework sklearn", "--body"),
        ("custom", True, 256, "not for framework custom", "--body"),
        ("huggingface", False, 256, "not for framework huggingface", "--body"),
        ("huggingface-llm", True, 0, "at least 1", "256"),
    ],
)
def test_request_for_refusals(
    kind: str, stream: bool, max_tokens: int, message: str, hint: str
) -> None:
    with pytest.raises(DeployspecError) as caught:
        request_for(kind, "Hi", stream=stream, max_tokens=max_tokens)
    assert message in str(caught.value)
    assert caught.value.hint is not None and hint in caught.value.hint


def test_every_llm_framework_takes_a_prompt() -> None:
    assert {f.value for f in LLM_FRAMEWORKS} == PROMPT_FRAMEWORKS
    for framework in Framework:
        if framework not in LLM_FRAMEWORKS:
            with pytest.raises(DeployspecError):
                request_for(framework.value, "Hi", stream=False, max_tokens=1)


def _sse(*events: dict[str, Any] | str, prefix: str = "data:", end: str = "\n\n") -> bytes:
    return "".join(
        f"{prefix}{e if isinstance(e, str) else json.dumps(e, ensure_ascii=False)}{end}"
        for e in events
    ).encode()


def _tgi_token(text: str, *, special: bool = False, last: bool = False) -> dict[str, Any]:
    return {
        "index": 1,
        "token": {"id": 7, "text": text, "logprob": -0.5, "special": special},
        "generated_text": "Hello wörld 🙂" if last else None,
        "details": {"finish_reason": "eos_token", "generated_tokens": 3} if last else None,
    }


def _chunk(content: str | None, *, role: bool = False) -> dict[str, Any]:
    delta: dict[str, Any] = {"role": "assistant"} if role else {}
    if content is not None:
        delta["content"] = content
    return {
        "id": "chatcmpl-0",
        "object": "chat.completion.chunk",
        "created": 1712792433,
        "model": "m",
        "choices": [{"index": 0, "delta": delta, "finish_reason": None}],
    }


def _lmi_token(text: str, **last: Any) -> dict[str, Any]:
    return {"token": {"id": 304, "text": text, "log_prob": -0.05}, **last}


USAGE = {"id": "c", "object": "chat.completion.chunk", "choices": [], "usage": {"total_tokens": 9}}

# (name, what the container streams, the text shown)
STREAMS: list[tuple[str, bytes, str]] = [
    (
        "tgi generate",
        _sse(
            _tgi_token("Hello"),
            _tgi_token(" wörld"),
            _tgi_token(" 🙂"),
            _tgi_token("</s>", special=True, last=True),
        ),
        "Hello wörld 🙂",
    ),
    (
        "openai chunks (vllm, sglang, tgi messages)",
        _sse(_chunk("", role=True), _chunk("Hé"), _chunk(" 🙂"), _chunk(None), USAGE, "[DONE]")
        .decode()
        .replace("data:", "data: ")
        .encode(),
        "Hé 🙂",
    ),
    (
        "lmi jsonlines",
        _sse(
            _lmi_token("Deep "),
            _lmi_token("Learning"),
            _lmi_token(" rocks", generated_text="Deep Learning rocks", details={}),
            prefix="",
            end="\n",
        ),
        "Deep Learning rocks",
    ),
    (
        "lmi chat jsonlines",
        _sse(_chunk(" Oh", role=True), _chunk(" assist"), prefix="", end="\n"),
        " Oh assist",
    ),
    (
        "sse without blank lines (lmi's sse formatter)",
        _sse(_lmi_token("a"), _lmi_token("b"), end="\n"),
        "ab",
    ),
    (
        "crlf, comments, event and id fields",
        b": keep-alive\r\nevent: message\r\nid: 1\r\ndata: "
        + json.dumps(_tgi_token("x")).encode()
        + b"\r\n\r\nretry: 10\r\ndata: "
        + json.dumps(_tgi_token("y")).encode()
        + b"\r\n\r\n",
        "xy",
    ),
    (
        "an event's data on several lines",
        b'data: {"token":\ndata: {"text": "split", "special": false}}\n\n',
        "split",
    ),
    ("non-json sse data", b"data: hello\n\ndata:  world\n\n", "hello world"),
    (
        "unknown json events pass through",
        b'data: {"foo": 1}\n\n{"bar": 2}\n',
        '{"foo": 1}{"bar": 2}\n',
    ),
    ("a whole answer that did not stream", b'[{"generated_text": "Hi there"}]', "Hi there"),
    ("last line unterminated", b'{"token": {"text": "a"}}\n{"token": {"text": "b"}}', "ab"),
    ("token texts with line ends", _sse(_tgi_token("one\n"), _tgi_token("\ntwo")), "one\n\ntwo"),
    (
        "plain text",
        "Once upon a time\nthere was ü 🙂\n".encode(),
        "Once upon a time\nthere was ü 🙂\n",
    ),
    ("plain text starting like a field", b"dat is Dutch", "dat is Dutch"),
    ("leading whitespace then events", b"\n\n" + _sse(_tgi_token("z")), "z"),
    ("nothing", b"", ""),
]


def _read(chunks: list[bytes]) -> str:
    stream = TokenStream()
    return "".join(stream.feed(chunk) for chunk in chunks) + stream.close()


@pytest.mark.parametrize(("name", "data", "text"), STREAMS, ids=[s[0] for s in STREAMS])
def test_stream_text_whatever_the_parts(name: str, data: bytes, text: str) -> None:
    assert _read([data]) == text
    assert _read([bytes([b]) for b in data]) == text
    for offset in range(len(data) + 1):
        assert _read([data[:offset], data[offset:]]) == text, f"split at byte {offset}"


def test_done_is_seen() -> None:
    stream = TokenStream()
    stream.feed(_sse(_chunk("a")))
    assert not stream.done
    stream.feed(b"data: [DONE]\n\n")
    assert stream.done


def test_tokens_are_given_as_they_complete() -> None:
    stream = TokenStream()
    first = _sse(_tgi_token("Hel"))
    assert stream.feed(first[:-3]) == ""
    assert stream.feed(first[-3:]) == "Hel"
    assert stream.feed(_sse(_tgi_token("lo"))[:-1]) == "lo"  # its data line is whole
    assert stream.close() == ""


# (name, what the container streams, words the error names)
ERRORS: list[tuple[str, bytes, list[str]]] = [
    (
        "tgi",
        _sse(
            _tgi_token("a"),
            {
                "error": "Request failed during generation: CUDA out of memory",
                "error_type": "generation",
            },
        ),
        ["CUDA out of memory", "(generation)"],
    ),
    (
        "lmi payload",
        _sse({"error": "invalid max_new_tokens", "code": 424}, prefix="", end="\n"),
        ["invalid max_new_tokens", "(424)"],
    ),
    (
        "lmi error token",
        _sse(
            _lmi_token("a"),
            {
                "token": {"id": -1, "text": "", "log_prob": -1, "special_token": True},
                "generated_text": "",
                "details": {"finish_reason": "error", "generated_tokens": None, "inputs": None},
            },
            prefix="",
            end="\n",
        ),
        ["finish_reason error"],
    ),
    (
        "vllm nested",
        _sse(
            {"error": {"message": "max_tokens too large", "type": "BadRequestError", "code": 400}}
        ),
        ["max_tokens too large", "(BadRequestError)"],
    ),
    (
        "vllm flat",
        _sse({"object": "error", "message": "boom", "type": "InternalServerError", "code": 500}),
        ["boom", "(InternalServerError)"],
    ),
]


@pytest.mark.parametrize(("name", "data", "words"), ERRORS, ids=[e[0] for e in ERRORS])
def test_error_events_raise_whatever_the_parts(name: str, data: bytes, words: list[str]) -> None:
    for offset in range(len(data) + 1):
        stream = TokenStream("llm")
        with pytest.raises(GenerationError) as caught:
            stream.feed(data[:offset])
            stream.feed(data[offset:])
            stream.close()
        for word in words:
            assert word in str(caught.value)
        assert caught.value.hint is not None
        assert "/aws/sagemaker/Endpoints/llm" in caught.value.hint


def test_text_before_an_error_is_given_first() -> None:
    stream = TokenStream()
    assert stream.feed(_sse(_tgi_token("partial"))) == "partial"
    with pytest.raises(GenerationError):
        stream.feed(_sse({"error": "x", "error_type": "generation"}))
