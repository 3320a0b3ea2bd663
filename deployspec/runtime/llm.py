"""The LLM containers' request/response contracts, served from a model folder with transformers.

Contract: `load_service(model_dir, framework)` -> an `LLMService` for one of `FRAMEWORKS`
(the spec's names: huggingface-llm is TGI, huggingface-vllm, huggingface-sglang, djl-lmi, and
huggingface-tei for embeddings). `service.load_model()` loads the tokenizer and weights from the
folder (HF_MODEL_ID when it is a local path, else `model_dir`), offline; then
`service.invoke_stream(model, body, content_type, accept)` -> `(content_type, parts)` answers
one POST /invocations, `parts` an iterator of bytes produced as the model writes tokens, and
`service.invoke(...)` -> `(body, content_type)` is the same answer joined. Request formats, by
the body's keys:
- TGI (`huggingface-llm`): `{"inputs": str, "parameters": {max_new_tokens, temperature, top_k,
  top_p, do_sample, seed, stop, details, return_full_text, repetition_penalty}, "stream": bool}`
  -> `[{"generated_text": ...}]` (with `"details"` when asked), or with stream TGI's server-sent
  events: `data:{"index":i,"token":{"id","text","logprob","special"},"generated_text":null,
  "details":null}` per token, the last one with generated_text (and details) set. djl-lmi takes
  the same `inputs`/`parameters` and answers one object, `{"generated_text": ...}`.
- The OpenAI-style messages API, which TGI, vLLM, SGLang and LMI all accept on /invocations:
  `{"messages": [{"role", "content"}], "max_tokens", "temperature", "top_p", "seed", "stop",
  "stream"}` -> a `chat.completion` object, or with stream `chat.completion.chunk` events
  (`data: {...}`) ending with `data: [DONE]`. The prompt is the tokenizer's chat template.
  vLLM and SGLang also take OpenAI completions, `{"prompt": str, ...}` -> `text_completion`.
- TEI (`huggingface-tei`): `{"inputs": str | [str], "normalize": bool = true}` -> one float
  vector per input: the last hidden state, mean pooled (and L2-normalised).
Limits are TGI's: MAX_INPUT_TOKENS (or MAX_INPUT_LENGTH) and MAX_TOTAL_TOKENS from the
environment, else the model's max_position_embeddings (less one for the input). A request over
them, an empty input, or an invalid parameter is refused before generating, as the container
refuses it: TGI 422 `{"error": <TGI's own wording>, "error_type": "validation"}`, the others 400
with an OpenAI-style error object. The error's JSON body is the ModelError's message (what the
container sends is what SageMaker reports as OriginalMessage). Generation is greedy unless the
request samples (do_sample, a temperature other than 1 for TGI or above 0 for the messages API,
top_k or top_p); sampling draws from a generator seeded with `seed` (random when not given), so
the same request with the same seed gives the same text. EOS, a stop sequence or the token
budget ends it (finish reason eos_token / stop_sequence / length; "stop" / "length" in the
OpenAI formats). A stream that fails after its first part ends with the container's own error
event (`stream_error_event`: TGI's `error_type: generation`, LMI's `code`, vLLM's and SGLang's
OpenAI-style error object then `[DONE]`).
torch and transformers (the `llm` extra) are imported only by `load_model`, in the model's
worker process; without them `check_servable` raises NotRunnableHere naming the extra.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import json
import math
import os
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deployspec.runtime.errors import ModelError
from deployspec.runtime.handlers import NotRunnableHere

TGI = "huggingface-llm"
VLLM = "huggingface-vllm"
SGLANG = "huggingface-sglang"
TEI = "huggingface-tei"
LMI = "djl-lmi"
FRAMEWORKS = frozenset({TGI, VLLM, SGLANG, TEI, LMI})
_DISPLAY = {
    TGI: "Text Generation Inference",
    VLLM: "vLLM",
    SGLANG: "SGLang",
    TEI: "Text Embeddings Inference",
    LMI: "DJL LMI",
}
INSTALL_HINT = "pip install 'deployspec[llm]' (PyTorch for CPUs and transformers)"
JSON_TYPE = "application/json"
SSE_TYPE = "text/event-stream"
# TGI's DEFAULT_GENERATION_LENGTH: without max_new_tokens, at most this many per request.
DEFAULT_GENERATION_LENGTH = 1024
MAX_STOP_SEQUENCES = 4  # TGI's --max-stop-sequences default


def llm_installed() -> bool:
    return all(importlib.util.find_spec(name) is not None for name in ("torch", "transformers"))


def check_servable(model_dir: Path, framework: str) -> None:
    """Cheap, in the host: NotRunnableHere without the `llm` extra, ModelError without a
    model folder."""
    if framework not in FRAMEWORKS:
        raise ModelError(f"{framework!r} is not an LLM container kind")
    if not llm_installed():
        raise NotRunnableHere(
            f"serving a {_DISPLAY[framework]} container here needs PyTorch and transformers, "
            "which are not installed",
            hint=INSTALL_HINT,
        )
    if not model_dir.is_dir():
        raise ModelError(f"model directory {model_dir} does not exist")


def _import(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        raise NotRunnableHere(
            f"serving an LLM container here needs the {module} package ({exc.name} is missing)",
            hint=INSTALL_HINT,
        ) from exc


# ---------------------------------------------------------------- requests


class _Refused(Exception):
    """A request the container refuses before generating; `kind` picks TGI's wording."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True)
class Sampling:
    """One generation's parameters, validated."""

    max_new_tokens: int | None
    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None
    repetition_penalty: float = 1.0
    do_sample: bool = False
    seed: int | None = None
    stop: tuple[str, ...] = ()


@dataclass
class Token:
    id: int
    text: str
    logprob: float
    special: bool

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "text": self.text, "logprob": self.logprob, "special": self.special}


@dataclass
class Generation:
    """What one generation produced so far; complete once `finish_reason` is set."""

    input_length: int
    seed: int | None
    tokens: list[Token] = field(default_factory=list)
    text: str = ""
    finish_reason: str | None = None  # TGI's names: length, eos_token, stop_sequence

    @property
    def openai_finish_reason(self) -> str:
        return "length" if self.finish_reason == "length" else "stop"


def _number(params: Mapping[str, Any], name: str) -> float | None:
    value = params.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _Refused(f"`{name}` must be a number")
    return float(value)


def _integer(params: Mapping[str, Any], name: str) -> int | None:
    value = params.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Refused(f"`{name}` must be an integer")
    return value


def _stops(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(s, str) for s in value):
        if len(value) > MAX_STOP_SEQUENCES:
            raise _Refused(
                f"`stop` supports up to {MAX_STOP_SEQUENCES} stop sequences. Given: {len(value)}"
            )
        return tuple(s for s in value if s)
    raise _Refused("`stop` must be a string or a list of strings")


def tgi_sampling(params: Mapping[str, Any]) -> Sampling:
    """TGI's GenerateParameters, checked with TGI's messages."""
    temperature = _number(params, "temperature")
    if temperature is not None and temperature <= 0:
        raise _Refused("`temperature` must be strictly positive")
    top_p = _number(params, "top_p")
    if top_p is not None and not 0 < top_p < 1:
        raise _Refused("`top_p` must be > 0.0 and < 1.0")
    top_k = _integer(params, "top_k")
    if top_k is not None and top_k <= 0:
        raise _Refused("`top_k` must be strictly positive")
    penalty = _number(params, "repetition_penalty")
    if penalty is not None and penalty <= 0:
        raise _Refused("`repetition_penalty` must be strictly positive")
    max_new_tokens = _integer(params, "max_new_tokens")
    if max_new_tokens is not None and max_new_tokens <= 0:
        raise _Refused("`max_new_tokens` must be strictly positive")
    do_sample = params.get("do_sample") is True
    sampling = (
        do_sample
        or (temperature is not None and temperature != 1.0)
        or top_k is not None
        or top_p is not None
    )
    return Sampling(
        max_new_tokens=max_new_tokens,
        temperature=temperature if temperature is not None else 1.0,
        top_k=top_k,
        top_p=top_p,
        repetition_penalty=penalty if penalty is not None else 1.0,
        do_sample=sampling,
        seed=_integer(params, "seed"),
        stop=_stops(params.get("stop")),
    )


def openai_sampling(body: Mapping[str, Any]) -> Sampling:
    """The OpenAI request's parameters: temperature 0 (or none given) is greedy."""
    temperature = _number(body, "temperature")
    if temperature is not None and temperature < 0:
        raise _Refused("temperature must be at least 0", 400)
    top_p = _number(body, "top_p")
    if top_p is not None and not 0 < top_p <= 1:
        raise _Refused("top_p must be in (0, 1]", 400)
    max_tokens = _integer(body, "max_tokens")
    if max_tokens is None:
        max_tokens = _integer(body, "max_completion_tokens")
    if max_tokens is not None and max_tokens <= 0:
        raise _Refused("max_tokens must be at least 1", 400)
    n = _integer(body, "n")
    if n is not None and n != 1:
        raise _Refused("only n=1 is supported", 400)
    sampling = temperature is not None and temperature > 0
    return Sampling(
        max_new_tokens=max_tokens,
        temperature=temperature if sampling and temperature is not None else 1.0,
        top_p=top_p if sampling and top_p is not None and top_p < 1 else None,
        do_sample=sampling,
        seed=_integer(body, "seed"),
        stop=_stops(body.get("stop")),
    )


# ---------------------------------------------------------------- the model


@dataclass
class LoadedModel:
    tokenizer: Any
    model: Any
    torch: Any
    max_input_tokens: int
    max_total_tokens: int
    model_id: str


def _env_int(names: tuple[str, ...]) -> int | None:
    for name in names:
        raw = os.environ.get(name, "").strip()
        if raw:
            if not raw.isdigit() or int(raw) <= 0:
                raise ModelError(f"{name}={raw!r} is not a positive whole number")
            return int(raw)
    return None


def _model_source(model_dir: Path) -> Path:
    # HF_MODEL_ID is a path inside the model data when the weights came with it (the worker
    # maps /opt/ml/model to model_dir); a Hub id was resolved by the host into model_dir.
    model_id = os.environ.get("HF_MODEL_ID", "")
    if model_id.startswith("/"):
        return Path(model_id)
    return model_dir


class LLMService:
    """One LLM container's contract over a loaded model; runs inside the worker process."""

    def __init__(self, model_dir: Path, framework: str) -> None:
        if framework not in FRAMEWORKS:
            raise ModelError(f"{framework!r} is not an LLM container kind")
        self.model_dir = model_dir
        self.framework = framework

    def load_model(self) -> LoadedModel:
        torch = _import("torch")
        transformers = _import("transformers")
        # One thread: the sandbox's models are small and share two cores with the server and
        # other workers; more threads make each token slower (3.7 ms against 13 ms measured).
        torch.set_num_threads(1)
        # Progress bars and warnings go to the worker's stderr, the sandbox's log.
        transformers.utils.logging.disable_progress_bar()
        transformers.utils.logging.set_verbosity_error()
        source = _model_source(self.model_dir)
        if not (source / "config.json").is_file():
            raise ModelError(
                f"{source} has no config.json: it is not a model folder save_pretrained wrote",
                hint="upload the folder holding config.json, the weights and the tokenizer",
            )
        try:
            tokenizer = transformers.AutoTokenizer.from_pretrained(str(source))
            model = transformers.AutoModelForCausalLM.from_pretrained(str(source))
        except (OSError, ValueError) as exc:
            raise ModelError(f"loading the model from {source} failed: {exc}") from exc
        model.eval()
        positions = int(getattr(model.config, "max_position_embeddings", 0) or 2048)
        max_total = _env_int(("MAX_TOTAL_TOKENS",)) or positions
        max_input = _env_int(("MAX_INPUT_TOKENS", "MAX_INPUT_LENGTH")) or max(1, max_total - 1)
        if max_input >= max_total:
            # TGI refuses to start with these settings.
            raise ModelError(
                f"MAX_INPUT_TOKENS ({max_input}) must be < MAX_TOTAL_TOKENS ({max_total})"
            )
        return LoadedModel(
            tokenizer=tokenizer,
            model=model,
            torch=torch,
            max_input_tokens=max_input,
            max_total_tokens=max_total,
            model_id=os.environ.get("HF_MODEL_ID") or str(source),
        )

    def invoke(
        self, model: LoadedModel, body: bytes, content_type: str, accept: str
    ) -> tuple[bytes, str]:
        result_type, parts = self.invoke_stream(model, body, content_type, accept)
        return b"".join(parts), result_type

    def invoke_stream(
        self, model: LoadedModel, body: bytes, content_type: str, accept: str
    ) -> tuple[str, Iterator[bytes]]:
        try:
            request = json.loads(body or b"null")
        except (ValueError, UnicodeDecodeError) as exc:
            raise self._error(f"Failed to parse the request body as JSON: {exc}", 422) from exc
        if not isinstance(request, dict):
            raise self._error("the request body must be a JSON object", 422)
        try:
            return self._route(model, request)
        except _Refused as refused:
            raise self._error(refused.message, refused.status) from None

    def _route(self, model: LoadedModel, request: dict[str, Any]) -> tuple[str, Iterator[bytes]]:
        if self.framework == TEI:
            return JSON_TYPE, iter([self._embed(model, request)])
        if "messages" in request:
            return self._chat(model, request)
        if "inputs" in request and self.framework in (TGI, LMI):
            return self._generate(model, request)
        if "prompt" in request and self.framework in (VLLM, SGLANG):
            return self._completion(model, request)
        accepted = {
            TGI: "`inputs` (TGI's generate) or `messages`",
            LMI: "`inputs` with `parameters`, or `messages`",
            VLLM: "`messages` or `prompt`",
            SGLANG: "`messages` or `prompt`",
        }[self.framework]
        raise _Refused(f"the request has none of the fields this container takes: {accepted}")

    def _error(self, message: str, status: int) -> ModelError:
        if self.framework == TGI:
            # TGI answers 422 with its validation message; other statuses keep their own.
            body: dict[str, Any] = {"error": message, "error_type": "validation"}
        elif self.framework == TEI:
            body = {"error": message, "error_type": "Validation"}
        else:
            body = {
                "object": "error",
                "message": message,
                "type": "BadRequestError",
                "param": None,
                "code": 400,
            }
            status = 400
        return ModelError(json.dumps(body), status)

    # ------------------------------------------------------------ TGI generate

    def _generate(self, model: LoadedModel, request: dict[str, Any]) -> tuple[str, Iterator[bytes]]:
        inputs = request.get("inputs")
        if not isinstance(inputs, str):
            raise _Refused("`inputs` must be a string")
        params = request.get("parameters") or {}
        if not isinstance(params, dict):
            raise _Refused("`parameters` must be an object")
        sampling = tgi_sampling(params)
        ids = self._encode(model, inputs)
        budget = self._budget(model, ids, sampling)
        details = params.get("details") is True
        prefix = inputs if params.get("return_full_text") is True else ""
        steps = _generate_tokens(model, ids, sampling, budget)
        if request.get("stream") is True:
            return SSE_TYPE, self._tgi_events(steps, prefix, details)
        generation = _drain(steps)
        if self.framework == LMI:
            return JSON_TYPE, iter([_json({"generated_text": prefix + generation.text})])
        answer: dict[str, Any] = {"generated_text": prefix + generation.text}
        if details:
            answer["details"] = {
                "finish_reason": generation.finish_reason,
                "generated_tokens": len(generation.tokens),
                "seed": generation.seed,
                "prefill": [],
                "tokens": [t.as_json() for t in generation.tokens],
            }
        return JSON_TYPE, iter([_json([answer])])

    def _tgi_events(
        self, steps: Iterator[tuple[Token, Generation]], prefix: str, details: bool
    ) -> Iterator[bytes]:
        for index, (token, generation) in enumerate(steps, start=1):
            done = generation.finish_reason is not None
            event = {
                "index": index,
                "token": token.as_json(),
                "generated_text": prefix + generation.text if done else None,
                "details": (
                    {
                        "finish_reason": generation.finish_reason,
                        "generated_tokens": len(generation.tokens),
                        "seed": generation.seed,
                    }
                    if done and details
                    else None
                ),
            }
            yield b"data:" + _json(event) + b"\n\n"

    # ------------------------------------------------------------ OpenAI formats

    def _chat(self, model: LoadedModel, request: dict[str, Any]) -> tuple[str, Iterator[bytes]]:
        messages = request.get("messages")
        if (
            not isinstance(messages, list)
            or not messages
            or not all(
                isinstance(m, dict) and isinstance(m.get("role"), str) and "content" in m
                for m in messages
            )
        ):
            raise _Refused("`messages` must be a non-empty list of {role, content} objects")
        conversation = [
            {"role": m["role"], "content": _content_text(m["content"])} for m in messages
        ]
        sampling = openai_sampling(request) if self.framework != TGI else self._tgi_chat(request)
        try:
            prompt = model.tokenizer.apply_chat_template(
                conversation, tokenize=False, add_generation_prompt=True
            )
        except Exception as exc:  # jinja errors of the model's own template
            raise _Refused(f"the model's chat template failed: {exc}") from exc
        ids = self._encode(model, str(prompt))
        budget = self._budget(model, ids, sampling)
        steps = _generate_tokens(model, ids, sampling, budget)
        created = int(time.time())
        head = {
            "id": "" if self.framework == TGI else f"chatcmpl-{uuid.uuid4().hex}",
            "created": created,
            "model": model.model_id,
            "system_fingerprint": _fingerprint(self.framework),
        }
        if request.get("stream") is True:
            return SSE_TYPE, _chat_events(steps, head)
        generation = _drain(steps)
        answer = {
            **head,
            "object": "chat.completion",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": generation.text},
                    "logprobs": None,
                    "finish_reason": generation.openai_finish_reason,
                }
            ],
            "usage": _usage(generation),
        }
        return JSON_TYPE, iter([_json(answer)])

    def _tgi_chat(self, request: dict[str, Any]) -> Sampling:
        # TGI maps the chat request onto its GenerateParameters (max_tokens -> max_new_tokens)
        # and validates those, with its generate messages.
        base = openai_sampling(request)
        return Sampling(
            max_new_tokens=base.max_new_tokens,
            temperature=base.temperature,
            top_p=base.top_p,
            do_sample=base.do_sample,
            seed=base.seed,
            stop=base.stop,
        )

    def _completion(
        self, model: LoadedModel, request: dict[str, Any]
    ) -> tuple[str, Iterator[bytes]]:
        prompt = request.get("prompt")
        if not isinstance(prompt, str):
            raise _Refused("`prompt` must be a string")
        sampling = openai_sampling(request)
        ids = self._encode(model, prompt)
        budget = self._budget(model, ids, sampling)
        steps = _generate_tokens(model, ids, sampling, budget)
        head = {
            "id": f"cmpl-{uuid.uuid4().hex}",
            "created": int(time.time()),
            "model": model.model_id,
        }
        if request.get("stream") is True:
            return SSE_TYPE, _completion_events(steps, head)
        generation = _drain(steps)
        answer = {
            **head,
            "object": "text_completion",
            "choices": [
                {
                    "index": 0,
                    "text": generation.text,
                    "logprobs": None,
                    "finish_reason": generation.openai_finish_reason,
                }
            ],
            "usage": _usage(generation),
        }
        return JSON_TYPE, iter([_json(answer)])

    # ------------------------------------------------------------ TEI

    def _embed(self, model: LoadedModel, request: dict[str, Any]) -> bytes:
        inputs = request.get("inputs")
        texts = [inputs] if isinstance(inputs, str) else inputs
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            raise _Refused("Input validation error: `inputs` must be a string or a list of strings")
        if not texts:
            raise _Refused("Input validation error: `inputs` cannot be empty")
        normalize = request.get("normalize", True) is not False
        torch = model.torch
        vectors: list[list[float]] = []
        for text in texts:
            ids = model.tokenizer(text, add_special_tokens=True)["input_ids"]
            if not ids:
                raise _Refused("Input validation error: `inputs` cannot be empty")
            if len(ids) > model.max_input_tokens:
                raise _Refused(
                    f"Input validation error: `inputs` must have less than "
                    f"{model.max_input_tokens} tokens. Given: {len(ids)}",
                    413,
                )
            with torch.no_grad():
                out = model.model(torch.tensor([ids]), output_hidden_states=True)
            vector = out.hidden_states[-1][0].mean(dim=0)
            if normalize:
                vector = torch.nn.functional.normalize(vector, dim=0)
            vectors.append([float(v) for v in vector.tolist()])
        return _json(vectors)

    # ------------------------------------------------------------ shared

    def _encode(self, model: LoadedModel, text: str) -> list[int]:
        if not text:
            raise _Refused("`inputs` cannot be empty")
        ids: list[int] = list(model.tokenizer(text, add_special_tokens=True)["input_ids"])
        if not ids:
            raise _Refused("`inputs` cannot be empty")
        return ids

    def _budget(self, model: LoadedModel, ids: list[int], sampling: Sampling) -> int:
        """max_new_tokens after TGI's checks (same order, same wording)."""
        input_length = len(ids)
        if sampling.max_new_tokens is not None:
            max_new = sampling.max_new_tokens
        else:
            max_new = min(max(model.max_total_tokens - input_length, 0), DEFAULT_GENERATION_LENGTH)
        if input_length + max_new > model.max_total_tokens:
            if self.framework in (TGI, LMI):
                raise _Refused(
                    f"`inputs` tokens + `max_new_tokens` must be <= {model.max_total_tokens}. "
                    f"Given: {input_length} `inputs` tokens and {max_new} `max_new_tokens`"
                )
            raise _Refused(
                f"This model's maximum context length is {model.max_total_tokens} tokens. "
                f"However, you requested {input_length + max_new} tokens ({input_length} in "
                f"the messages, {max_new} in the completion). Please reduce the length of the "
                "messages or completion.",
                400,
            )
        if input_length > model.max_input_tokens:
            raise _Refused(
                f"`inputs` must have less than {model.max_input_tokens} tokens. "
                f"Given: {input_length}"
            )
        if max_new <= 0:
            raise _Refused("`max_new_tokens` must be strictly positive")
        return max_new


def _content_text(content: Any) -> str:
    """A message's content: a string, or OpenAI's list of {type: text, text} parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [p.get("text") for p in content if isinstance(p, dict) and p.get("type") == "text"]
        if all(isinstance(t, str) for t in texts):
            return "".join(t for t in texts if isinstance(t, str))
    raise _Refused("message `content` must be a string or a list of text parts")


def stream_error_event(framework: str, error: ModelError) -> bytes:
    """The event with which the container `framework` ends a stream that failed after its first
    part (what each container's server writes when generation fails mid-answer)."""
    if framework == TGI:
        event: dict[str, Any] = {"error": error.message, "error_type": "generation"}
        return b"data:" + json.dumps(event).encode() + b"\n\n"
    if framework == LMI:
        event = {"error": error.message, "code": error.status_code}
        return b"data: " + json.dumps(event).encode() + b"\n\n"
    # vLLM and SGLang: an OpenAI-style error object, and the stream's usual end after it.
    event = {
        "error": {
            "message": error.message,
            "type": "InternalServerError",
            "param": None,
            "code": error.status_code,
        }
    }
    return b"data: " + json.dumps(event).encode() + b"\n\ndata: [DONE]\n\n"


def _fingerprint(framework: str) -> str:
    return f"deployspec-sandbox-{framework}"


def _usage(generation: Generation) -> dict[str, int]:
    return {
        "prompt_tokens": generation.input_length,
        "completion_tokens": len(generation.tokens),
        "total_tokens": generation.input_length + len(generation.tokens),
    }


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _chat_events(
    steps: Iterator[tuple[Token, Generation]], head: dict[str, Any]
) -> Iterator[bytes]:
    for token, generation in steps:
        done = generation.finish_reason is not None
        chunk = {
            **head,
            "object": "chat.completion.chunk",
            "choices": [
                {
                    "index": 0,
                    "delta": {"role": "assistant", "content": "" if token.special else token.text},
                    "logprobs": None,
                    "finish_reason": generation.openai_finish_reason if done else None,
                }
            ],
        }
        yield b"data: " + _json(chunk) + b"\n\n"
    yield b"data: [DONE]\n\n"


def _completion_events(
    steps: Iterator[tuple[Token, Generation]], head: dict[str, Any]
) -> Iterator[bytes]:
    for token, generation in steps:
        done = generation.finish_reason is not None
        chunk = {
            **head,
            "object": "text_completion",
            "choices": [
                {
                    "index": 0,
                    "text": "" if token.special else token.text,
                    "logprobs": None,
                    "finish_reason": generation.openai_finish_reason if done else None,
                }
            ],
        }
        yield b"data: " + _json(chunk) + b"\n\n"
    yield b"data: [DONE]\n\n"


def _drain(steps: Iterator[tuple[Token, Generation]]) -> Generation:
    last: Generation | None = None
    for _, generation in steps:
        last = generation
    if last is None:  # _generate_tokens always yields at least one token
        raise ModelError("the model generated nothing")
    return last


def _generate_tokens(
    loaded: LoadedModel, ids: list[int], sampling: Sampling, budget: int
) -> Iterator[tuple[Token, Generation]]:
    """Yield each token as it is chosen, with the generation so far (finished on the last)."""
    torch = loaded.torch
    tokenizer, model = loaded.tokenizer, loaded.model
    seed = sampling.seed
    generator = None
    if sampling.do_sample:
        if seed is None:
            # TGI draws a seed when none is given and reports it in the details.
            seed = int.from_bytes(os.urandom(8), "big") >> 1
        generator = torch.Generator().manual_seed(seed)
    generation = Generation(input_length=len(ids), seed=seed if sampling.do_sample else None)
    eos_ids = _eos_ids(tokenizer, model)
    special_ids = set(getattr(tokenizer, "all_special_ids", []) or [])
    seen = list(ids)
    visible: list[int] = []
    # transformers 5 renamed forward's past_key_values to cache.
    cache_argument = (
        "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
    )
    past = None
    next_input = torch.tensor([ids])
    with torch.inference_mode():
        for _ in range(budget):
            out = model(input_ids=next_input, use_cache=True, **{cache_argument: past})
            past = out.past_key_values
            logits = out.logits[0, -1].float()
            token_id, logprob = _choose(torch, logits, seen, sampling, generator)
            seen.append(token_id)
            special = token_id in special_ids
            if special:
                text = str(tokenizer.convert_ids_to_tokens(token_id))
            else:
                before = generation.text
                visible.append(token_id)
                generation.text = tokenizer.decode(visible, skip_special_tokens=True)
                text = generation.text[len(before) :]
            token = Token(id=token_id, text=text, logprob=logprob, special=special)
            generation.tokens.append(token)
            if token_id in eos_ids:
                generation.finish_reason = "eos_token"
            elif any(generation.text.endswith(stop) for stop in sampling.stop):
                generation.finish_reason = "stop_sequence"
            elif len(generation.tokens) >= budget:
                generation.finish_reason = "length"
            yield token, generation
            if generation.finish_reason is not None:
                return
            next_input = torch.tensor([[token_id]])


def _eos_ids(tokenizer: Any, model: Any) -> set[int]:
    found: set[int] = set()
    for value in (
        getattr(model.generation_config, "eos_token_id", None),
        getattr(tokenizer, "eos_token_id", None),
    ):
        if isinstance(value, int):
            found.add(value)
        elif isinstance(value, list):
            found.update(v for v in value if isinstance(v, int))
    return found


def _choose(
    torch: Any, logits: Any, seen: list[int], sampling: Sampling, generator: Any
) -> tuple[int, float]:
    if sampling.repetition_penalty != 1.0 and seen:
        index = torch.tensor(sorted(set(seen)))
        picked = logits[index]
        logits[index] = torch.where(
            picked > 0, picked / sampling.repetition_penalty, picked * sampling.repetition_penalty
        )
    if not sampling.do_sample:
        logprobs = torch.log_softmax(logits, dim=-1)
        token_id = int(torch.argmax(logits))
        return token_id, float(logprobs[token_id])
    logits = logits / sampling.temperature
    if sampling.top_k is not None and sampling.top_k < logits.shape[-1]:
        kth = torch.topk(logits, sampling.top_k).values[-1]
        logits = logits.masked_fill(logits < kth, -math.inf)
    if sampling.top_p is not None:
        ordered, order = torch.sort(logits, descending=True)
        cumulative = torch.cumsum(torch.softmax(ordered, dim=-1), dim=-1)
        # Keep the smallest head of the distribution whose mass reaches top_p.
        drop = cumulative - torch.softmax(ordered, dim=-1) >= sampling.top_p
        logits = logits.scatter(0, order[drop], -math.inf)
    logprobs = torch.log_softmax(logits, dim=-1)
    token_id = int(torch.multinomial(torch.exp(logprobs), 1, generator=generator))
    return token_id, float(logprobs[token_id])


def load_service(model_dir: Path, framework: str) -> LLMService:
    check_servable(model_dir, framework)
    return LLMService(model_dir, framework)
