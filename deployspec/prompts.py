"""Requests and streamed answers of the large-model containers (`invoke --prompt`, `--stream`).

Contract: pure, no I/O. `request_for(kind, prompt, stream=, max_tokens=)` is the JSON body the
container of framework `kind` (a `spec.Framework` value) takes for one user prompt, or a
DeployspecError with a hint where the container takes none (TEI does not stream; the other
frameworks run the user's own inference code, whose request format only the user knows).

`TokenStream` turns what a container streams, fed in chunks split anywhere (InvokeEndpoint-
WithResponseStream's PayloadParts follow no event boundary), into the text to show: `feed(bytes)`
returns the text that became complete, `close()` the rest. It reads
- server-sent events (`data:` lines, TGI, vLLM, SGLang, LMI's `sse` formatter) and JSON lines
  (LMI's default `jsonlines` formatter), one event per `data:` payload or line;
- TGI's and LMI's token events (`{"token": {"text": ...}}`; special tokens are skipped),
  OpenAI-style chunks (`choices[0].delta.content`, `choices[0].text`; `[DONE]` ends them) and a
  whole answer from a container that did not stream (`generated_text`);
- error events, TGI's `{"error": ..., "error_type": ...}`, LMI's `{"error": ..., "code": ...}`
  and its error token (finish_reason "error"), vLLM's `{"error": {"message": ...}}` and
  `{"object": "error", ...}`: each raises `GenerationError`.
Anything else passes through unchanged: an event it does not know as its own text (and line
end), a stream that does not look like events at all byte for byte (UTF-8 decoded, split
characters joined).
"""

from __future__ import annotations

import codecs
import json
from typing import Any, Final

from .errors import DeployspecError

DEFAULT_MAX_TOKENS: Final = 256

# TGI's own API; TGI also takes the messages API, but its generate API is what every TGI
# version on SageMaker understands.
_GENERATE: Final = frozenset({"huggingface-llm"})
# The OpenAI-style chat API, which these containers route to on /invocations when the body
# has "messages" (vLLM's and SGLang's SageMaker entrypoints, LMI since 0.27).
_CHAT: Final = frozenset({"huggingface-vllm", "huggingface-sglang", "djl-lmi"})
_EMBEDDINGS: Final = frozenset({"huggingface-tei"})
PROMPT_FRAMEWORKS: Final = _GENERATE | _CHAT | _EMBEDDINGS

# SSE field names other than data: they carry nothing deployspec shows.
_SSE_FIELDS: Final = ("event", "id", "retry")
# How an event stream can start; anything else is a stream of plain bytes.
_EVENT_STARTS: Final = ("data:", "event:", "id:", "retry:", ":", "{", "[")


class GenerationError(DeployspecError):
    """The model container reported an error in its stream, after it had started answering."""


def request_for(kind: str, prompt: str, *, stream: bool, max_tokens: int) -> bytes:
    """The request body for one user prompt to a container of framework `kind`."""
    if max_tokens < 1:
        raise DeployspecError(
            f"--max-tokens must be at least 1, not {max_tokens}", hint="the default is 256"
        )
    body: dict[str, Any]
    if kind in _GENERATE:
        body = {"inputs": prompt, "parameters": {"max_new_tokens": max_tokens}, "stream": stream}
    elif kind in _CHAT:
        body = {
            "messages": [{"role": "user", "content": prompt}],
            "max_tokens": max_tokens,
            "stream": stream,
        }
    elif kind in _EMBEDDINGS:
        if stream:
            raise DeployspecError(
                "Text Embeddings Inference (huggingface-tei) answers with whole embeddings: it "
                "does not stream",
                hint="drop --stream",
            )
        body = {"inputs": prompt}
    else:
        raise DeployspecError(
            f"--prompt builds requests for the large-model containers "
            f"({', '.join(sorted(PROMPT_FRAMEWORKS))}), not for framework {kind}, whose "
            "inference code decides what a request looks like",
            hint="write the request with --body (or --body @file)",
        )
    return json.dumps(body, ensure_ascii=False).encode()


class TokenStream:
    """An incremental reader of a container's stream; see the module docstring."""

    def __init__(self, endpoint: str | None = None) -> None:
        # Named in an error's hint: where the container's log is.
        self._log_group = f"/aws/sagemaker/Endpoints/{endpoint or '<endpoint>'}"
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = ""  # decoded text after the last line end (or all of it, undecided)
        self._events: bool | None = None  # None until the stream's first bytes tell
        self._data: list[str] = []  # the data lines of the SSE event being read
        self.done = False  # an OpenAI-style stream said [DONE]

    def feed(self, chunk: bytes) -> str:
        """The text that the stream's bytes so far complete."""
        return self._take(self._decoder.decode(chunk), final=False)

    def close(self) -> str:
        """The rest, at the stream's end: an unterminated last line, an unfinished event."""
        return self._take(self._decoder.decode(b"", final=True), final=True)

    def _take(self, text: str, *, final: bool) -> str:
        self._pending += text
        if self._events is None:
            start = self._pending.lstrip()
            if any(start.startswith(s) for s in _EVENT_STARTS):
                self._events = True
            elif final or (start and not any(s.startswith(start) for s in _EVENT_STARTS)):
                self._events = False
            else:
                return ""  # too little yet to tell (whitespace, or a prefix of "data:")
        if not self._events:
            passed, self._pending = self._pending, ""
            return passed
        out: list[str] = []
        *lines, self._pending = self._pending.split("\n")
        for line in lines:
            end = "\r\n" if line.endswith("\r") else "\n"
            out.append(self._line(line.removesuffix("\r"), end))
        if final:
            last, self._pending = self._pending, ""
            if last.strip():
                out.append(self._line(last, end=""))
        if final and self._data:
            out.append(self._dispatch("\n".join(self._data), sse=True))
            self._data = []
        return "".join(out)

    def _line(self, line: str, end: str = "\n") -> str:
        """The text of one line; `end` is the line end it came with, given back to a line that
        is not an event."""
        if not line:
            # A blank line ends an SSE event: one whose data never parsed is shown as text.
            if not self._data:
                return ""
            data, self._data = "\n".join(self._data), []
            return self._dispatch(data, sse=True)
        if line.startswith(":"):
            return ""  # an SSE comment (keep-alive)
        field, colon, value = line.partition(":")
        if colon and field == "data":
            self._data.append(value.removeprefix(" "))
            data = "\n".join(self._data)
            # Not every server ends each event with a blank line (LMI's sse formatter writes one
            # data line per event): an event is dispatched as soon as its data is whole.
            if data.strip() == "[DONE]" or _json(data) is not None:
                self._data = []
                return self._dispatch(data, sse=True)
            return ""
        if colon and field in _SSE_FIELDS:
            return ""
        return self._dispatch(line, sse=False, end=end)

    def _dispatch(self, data: str, *, sse: bool, end: str = "\n") -> str:
        """The text of one event; an event that is not JSON, or JSON of no known shape, is shown
        as it came (a bare line with its line end)."""
        raw = data if sse else data + end
        if data.strip() == "[DONE]":
            self.done = True
            return ""
        parsed = _json(data)
        if parsed is None:
            return raw
        text = _event_text(parsed[0], self._log_group)
        return raw if text is None else text


def _json(text: str) -> tuple[Any] | None:
    """(the value,) when `text` is JSON, else None (a tuple: JSON's null is a value)."""
    try:
        return (json.loads(text),)
    except ValueError:
        return None


def _event_text(event: Any, log_group: str) -> str | None:
    """The text an event adds to the answer ("" for one that adds none), or None for an event
    of no known shape."""
    if isinstance(event, list):
        # TGI's whole answer, from a container that did not stream: [{"generated_text": ...}].
        texts = [e.get("generated_text") for e in event if isinstance(e, dict)]
        if texts and len(texts) == len(event) and all(isinstance(t, str) for t in texts):
            return "".join(t for t in texts if isinstance(t, str))
        return None
    if not isinstance(event, dict):
        return None
    _raise_on_error(event, log_group)
    token = event.get("token")
    if isinstance(token, dict):
        if token.get("special") or token.get("special_token"):
            return ""  # end-of-sequence and other control tokens are not text
        text = token.get("text")
        return text if isinstance(text, str) else ""
    choices = event.get("choices")
    if isinstance(choices, list):
        if not choices or not isinstance(choices[0], dict):
            return ""  # e.g. the usage chunk at the end of an OpenAI-style stream
        delta = choices[0].get("delta")
        if isinstance(delta, dict):
            content = delta.get("content")
            return content if isinstance(content, str) else ""
        text = choices[0].get("text")  # the completions API's chunks
        return text if isinstance(text, str) else ""
    generated = event.get("generated_text")
    if isinstance(generated, str):
        return generated
    return None


def _raise_on_error(event: dict[str, Any], log_group: str) -> None:
    error = event.get("error")
    if event.get("object") == "error":
        error = event  # vLLM before its errors were nested: {"object": "error", "message": ...}
    if error:
        message, kind = _error_parts(error)
        kind = kind or _text(event.get("error_type")) or _text(event.get("code"))
        raise GenerationError(
            f"the model failed while it was answering: {message}" + (f" ({kind})" if kind else ""),
            hint=f"the container's log says more (CloudWatch log group {log_group})",
        )
    details = event.get("details")
    token = event.get("token")
    if (
        isinstance(details, dict)
        and details.get("finish_reason") == "error"
        and isinstance(token, dict)
    ):
        # LMI's streamed error: an empty special token whose details say "error", no message.
        raise GenerationError(
            "the model failed while it was answering (LMI reported finish_reason error)",
            hint=f"the container's log (CloudWatch log group {log_group}) names the cause",
        )


def _error_parts(error: Any) -> tuple[str, str]:
    if isinstance(error, dict):
        message = _text(error.get("message")) or json.dumps(error, ensure_ascii=False)
        kind = _text(error.get("type")) or _text(error.get("code"))
        return message, kind
    return str(error), ""


def _text(value: Any) -> str:
    return "" if value is None else str(value)
