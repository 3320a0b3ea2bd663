"""`deployspec invoke --local --stream` as users run it: `deployspec serve` on the tiny language
model of examples/llm-tgi (a separate process), and the CLI printing its stream, decoded as
`invoke --stream` decodes an endpoint's PayloadParts."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from deployspec.runtime import ModelError
from tests.conftest import REPO, VALID_SKLEARN, run_cli, start_cli
from tests.test_cli_local import _free_port, _Lines
from tests.test_runtime_server import serving_fake, tgi_token

pytest.importorskip("transformers", reason="the llm extra serves the tiny model")

EXAMPLES = REPO / "examples"


@pytest.fixture(scope="module")
def examples(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """examples/llm-tgi and examples/tei-embeddings copied, with the tiny model written by
    llm-tgi's own script (both serve it)."""
    root = tmp_path_factory.mktemp("examples")
    # One project: tei-embeddings' ../llm-tgi/weights stays inside the repository it is in.
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    for name in ("llm-tgi", "tei-embeddings"):
        shutil.copytree(EXAMPLES / name, root / name, ignore=shutil.ignore_patterns("weights"))
    script = root / "llm-tgi" / "make_model.py"
    subprocess.run([sys.executable, str(script)], check=True, capture_output=True)
    return root


@pytest.fixture(scope="module")
def served(examples: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """(the spec, the URL) of `deployspec serve` running examples/llm-tgi's tiny model."""
    spec = examples / "llm-tgi" / "deployment.yaml"
    cache = tmp_path_factory.mktemp("cache")
    server = start_cli("serve", str(spec), "--port", "0", env={"DEPLOYSPEC_CACHE_DIR": str(cache)})
    assert server.stderr is not None
    log = _Lines(server.stderr)
    try:
        ready = log.wait_for("serving tiny-chat on http://127.0.0.1:", timeout=180)
        yield spec, ready.split(" on ", 1)[1].split(" ", 1)[0]
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
            raise
    assert server.returncode == 0, "\n".join(log.lines)


def invoke(spec: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli("invoke", str(spec), "--local", "--local-url", url, *args)


def test_the_streamed_answer_is_the_generated_text(served: tuple[Path, str]) -> None:
    spec, url = served
    whole = invoke(spec, url, "--prompt", "Hello, ", "--max-tokens", "16")
    assert whole.returncode == 0, whole.stderr
    generated = json.loads(whole.stdout)[0]["generated_text"]
    assert isinstance(generated, str) and generated

    streamed = invoke(spec, url, "--prompt", "Hello, ", "--max-tokens", "16", "--stream")
    assert streamed.returncode == 0, streamed.stderr
    # Greedy decoding: the streamed tokens are the generated text of the same request, and
    # the line end is the CLI's own.
    assert streamed.stdout == generated + "\n"


def test_the_messages_api_streams_its_content(served: tuple[Path, str]) -> None:
    spec, url = served
    request = {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 12}
    whole = invoke(spec, url, "--body", json.dumps(request))
    assert whole.returncode == 0, whole.stderr
    content = json.loads(whole.stdout)["choices"][0]["message"]["content"]
    streamed = invoke(spec, url, "--body", json.dumps({**request, "stream": True}), "--stream")
    assert streamed.returncode == 0, streamed.stderr
    assert streamed.stdout.rstrip("\n") == content


def test_a_request_the_container_refuses_is_its_error(served: tuple[Path, str]) -> None:
    spec, url = served
    refused = invoke(spec, url, "--prompt", "Hi", "--max-tokens", "100000", "--stream")
    assert refused.returncode == 1
    assert "the local model answered 422" in refused.stderr
    assert "must be <= 512" in refused.stderr
    assert "Traceback" not in refused.stderr and refused.stdout == ""


def test_without_a_server_it_says_how_to_start_one(examples: Path) -> None:
    spec = examples / "llm-tgi" / "deployment.yaml"
    url = f"http://127.0.0.1:{_free_port()}"
    result = run_cli("invoke", str(spec), "--local", "--local-url", url, "--body", "{}", "--stream")
    assert result.returncode == 1
    assert "nothing answers" in result.stderr and "deployspec serve" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("kind", "refusal"),
    [("sklearn", "not for framework sklearn"), ("tei", "huggingface-tei) answers with whole")],
)
def test_a_container_that_does_not_stream_gets_the_endpoints_error(
    examples: Path, tmp_path: Path, kind: str, refusal: str
) -> None:
    # The same refusal as `invoke --stream` against the endpoint, before any server is asked.
    if kind == "sklearn":
        (tmp_path / "model").mkdir()
        (tmp_path / "model" / "model.joblib").write_bytes(b"not really a model")
        (tmp_path / "inference.py").write_text("def model_fn(model_dir):\n    return None\n")
        spec = tmp_path / "deployment.yaml"
        spec.write_text(VALID_SKLEARN)
    else:
        spec = examples / "tei-embeddings" / "deployment.yaml"
    url = f"http://127.0.0.1:{_free_port()}"
    local = run_cli(
        "invoke", str(spec), "--local", "--local-url", url, "--prompt", "Hi", "--stream"
    )
    endpoint = run_cli("invoke", str(spec), "--prompt", "Hi", "--stream")
    assert local.returncode == endpoint.returncode == 1
    assert refusal in local.stderr and "Traceback" not in local.stderr
    assert local.stderr == endpoint.stderr


def test_a_failure_mid_stream_shows_the_text_so_far_and_the_models_error(examples: Path) -> None:
    def parts() -> Iterator[bytes]:
        yield tgi_token("Hel")
        yield tgi_token("lo")
        raise ModelError("CUDA out of memory", 500)

    spec = examples / "llm-tgi" / "deployment.yaml"
    with serving_fake(parts()) as (host, port):
        result = run_cli(
            "invoke", str(spec), "--local", "--local-url", f"http://{host}:{port}",
            "--prompt", "Hi", "--stream",
        )  # fmt: skip
    assert result.returncode == 1
    assert result.stdout == "Hello\n"
    assert "the model failed while it was answering: CUDA out of memory" in result.stderr
    assert "deployspec serve" in result.stderr and "CloudWatch" not in result.stderr
    assert "Traceback" not in result.stderr


def test_a_stream_cut_off_is_an_error_after_its_text(examples: Path) -> None:
    # A server that dies mid-answer: one chunk, then the connection closes without the last.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]

    def answer_then_die() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            token = tgi_token("partial")
            conn.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n" + b"%x\r\n%b\r\n" % (len(token), token)
            )

    thread = threading.Thread(target=answer_then_die, daemon=True)
    thread.start()
    try:
        result = run_cli(
            "invoke", str(examples / "llm-tgi" / "deployment.yaml"), "--local",
            "--local-url", f"http://127.0.0.1:{port}", "--body", "{}", "--stream",
        )  # fmt: skip
    finally:
        listener.close()
        thread.join(timeout=10)
    assert result.returncode == 1
    assert result.stdout == "partial\n"
    assert f"the answer from http://127.0.0.1:{port} broke off" in result.stderr
    assert "Traceback" not in result.stderr
