"""Running a spec's model on this machine: `deployspec serve` and `invoke --local`.

Contract: `prepare_local_model(loaded)` packages the model exactly as apply would (same
deterministic model.tar.gz), unpacks it into the cache, and returns what the runtime's
ModelWorker needs; `invoke_local(url, ...)` posts to a running server's /invocations and
returns the whole answer. `invoke_local_stream(url, ...)` posts the same way and returns
`(content type, chunks)` once the answer's headers have arrived: the body's bytes as the server
sends them (a streaming container's chunks, or a whole answer), for the same decoding as
InvokeEndpointWithResponseStream's PayloadParts. Every failure is a DeployspecError: before the
answer as `invoke_local`'s, a connection cut or silent for 60 s mid-answer by the iterator.
"""

from __future__ import annotations

import http.client
import socket
import tarfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .cache import cache_dir
from .desired import container_environment, package_artifact
from .errors import DeployspecError
from .spec import EndpointVariant, LoadedSpec, Spec

# An error body is shown to the user; a server could send any amount.
_MAX_ERROR_BODY = 64 * 1024
_TIMEOUT_SECONDS = 60
# The most of a stream read at once: read1 returns what has arrived, up to this.
_READ_SIZE = 64 * 1024


def pick_variant(spec: Spec, name: str | None) -> EndpointVariant:
    """The variant called `name` (production or shadow), or the first production variant."""
    variants = spec.endpoint_variants
    if name is None:
        return variants[0]
    found = next((v for v in variants if v.name == name), None)
    if found is None:
        raise DeployspecError(
            f"the spec has no variant {name!r}",
            hint=f"its variants: {', '.join(v.name for v in variants)}",
        )
    return found


def prepare_local_model(
    loaded: LoadedSpec, variant: str | None = None
) -> tuple[Path, str, str | None, dict[str, str]]:
    """The model of `variant` (default: the first production variant), unpacked to serve."""
    chosen = pick_variant(loaded.spec, variant)
    if chosen.model is None:
        raise DeployspecError(
            "serve runs one model; this spec's endpoint hosts inference components",
            hint="try its components on the sandbox: deployspec apply --sandbox, then "
            "deployspec invoke --sandbox --component NAME",
        )
    packaged = package_artifact(loaded, model_key=chosen.model_key)
    if packaged is None:
        raise DeployspecError(
            "serve needs local artifacts; this spec points at S3",
            hint=f"download the model.tar.gz and point {chosen.model_key}.artifacts at the folder",
        )
    target = cache_dir("serve") / packaged.sha256
    if not (target / ".complete").exists():
        target.mkdir(parents=True, exist_ok=True)
        with tarfile.open(packaged.path, "r:gz") as archive:
            # Our own packager wrote it (regular files and folders only); the "data" filter,
            # where this Python has it, refuses anything else all the same.
            if hasattr(tarfile, "data_filter"):
                archive.extractall(target, filter="data")
            else:
                archive.extractall(target)
        (target / ".complete").touch()
    env = container_environment(
        loaded, loaded.spec.region or "us-east-1", model_key=chosen.model_key
    )
    program = env.get("SAGEMAKER_PROGRAM")
    return target, chosen.model.framework.value, program, env


def invoke_local(url: str, body: bytes, content_type: str, accept: str) -> tuple[bytes, str]:
    with _errors(url), _open(url, body, content_type, accept) as response:
        return response.read(), response.headers.get("Content-Type", "")


def invoke_local_stream(
    url: str, body: bytes, content_type: str, accept: str
) -> tuple[str, Iterator[bytes]]:
    """`invoke --local --stream`: see the module docstring."""
    with _errors(url):
        response = _open(url, body, content_type, accept)
    return response.headers.get("Content-Type", ""), _chunks(response, url)


def _chunks(response: http.client.HTTPResponse, url: str) -> Iterator[bytes]:
    try:
        while True:
            try:
                # read1, unlike read, returns each chunk as it arrives instead of waiting for
                # a full buffer.
                chunk = response.read1(_READ_SIZE)
            except TimeoutError:
                raise DeployspecError(
                    f"{url} sent nothing for {_TIMEOUT_SECONDS} s in the middle of its answer",
                    hint="the model may be stuck; `deployspec serve` shows its log",
                ) from None
            except (OSError, http.client.HTTPException) as exc:
                raise DeployspecError(
                    f"the answer from {url} broke off: {str(exc) or type(exc).__name__}",
                    hint="see the output of `deployspec serve` for what happened",
                ) from None
            if not chunk:
                return
            yield chunk
    finally:
        response.close()


def _open(url: str, body: bytes, content_type: str, accept: str) -> http.client.HTTPResponse:
    if not url.startswith(("http://", "https://")):
        raise DeployspecError(
            f"{url!r} is not an http:// URL", hint="for example --local-url http://127.0.0.1:8080"
        )
    request = urllib.request.Request(
        url.rstrip("/") + "/invocations",
        data=body,
        method="POST",
        headers={"Content-Type": content_type, "Accept": accept},
    )
    response: http.client.HTTPResponse = urllib.request.urlopen(request, timeout=_TIMEOUT_SECONDS)
    return response


@contextmanager
def _errors(url: str) -> Iterator[None]:
    """What goes wrong reaching a local server, as DeployspecErrors that say what to do."""
    try:
        yield
    except urllib.error.HTTPError as exc:
        detail = exc.read(_MAX_ERROR_BODY).decode("utf-8", errors="replace")
        raise DeployspecError(f"the local model answered {exc.code}: {detail}") from None
    except (urllib.error.URLError, ValueError, OSError) as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        if isinstance(reason, ConnectionRefusedError | socket.gaierror):
            raise DeployspecError(
                f"nothing answers at {url}: {reason}",
                hint="start it with `deployspec serve FILE`",
            ) from None
        if isinstance(reason, TimeoutError | socket.timeout):
            raise DeployspecError(
                f"{url} did not answer within {_TIMEOUT_SECONDS} s",
                hint="the model may still be busy; `deployspec serve` shows its log",
            ) from None
        if isinstance(reason, ConnectionError | http.client.HTTPException):
            # The server runs: it ended the connection (a crash, or a request it refused).
            raise DeployspecError(
                f"{url} closed the connection without answering: {reason}",
                hint="see the output of `deployspec serve` for what happened",
            ) from None
        raise DeployspecError(
            f"cannot reach {url}: {reason}", hint="start it with `deployspec serve FILE`"
        ) from None
