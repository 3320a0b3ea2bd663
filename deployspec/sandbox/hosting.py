"""Runs the sandbox's endpoints' models for real, one local worker process per deployment.

Contract: `ModelHost` is the `EndpointInvoker` the sandbox installs into moto. When an endpoint
is created or updated (`start`, on a background thread) or at the latest on the first
invocation of a deployment's variant, it reads the model's data from moto's in-process S3 into
`<cache_dir>/<deployment key>/<variant>/` and starts a `deployspec.runtime.ModelWorker` for the
framework its image names, with the model's environment (SAGEMAKER_PROGRAM and the rest). The
data is the ModelDataUrl's model.tar.gz, unpacked (refusing any member that would land outside
its directory), or the container's ModelDataSource.S3DataSource: S3Prefix with CompressionType
None copies every object under the prefix, keeping its path relative to the prefix (refusing
keys that would land outside the directory; "folder" keys ending in / are skipped), S3Object
with Gzip is a model.tar.gz, S3Object with None the one file, under its name.
A model created from a Model Registry package runs the package's container, as SageMaker
does: its image, model data and environment (under the model's own) are the package's first
container's, which sagemaker_ext puts in the `VariantTarget` the host is given.
An LLM container (TGI, vLLM, SGLang, TEI, LMI: llm.py) without model data serves its
HF_MODEL_ID from the sandbox's Hub mirror (hub.py, `<cache_dir>/../hub/`); an id that is not
there fails the container's start with a FailureReason saying what to do, as a container that
cannot download its model does. `invoke_stream` answers as the model writes: `(content type,
parts)`; a worker that does not stream gives one part. The entry stays in use until the parts
end or are closed. When
SAGEMAKER_SUBMIT_DIRECTORY is an s3:// URL (the SDK's default for scikit-learn), the container
downloads that sourcedir.tar.gz and imports SAGEMAKER_PROGRAM from it; so does the host, from
moto's S3, into `<variant>.sourcedir/`.
`start` reports what SageMaker's startup would: model data that cannot be read, or a container
that does not come up (the script does not import, model_fn raises, the worker dies or hangs).
What the sandbox cannot run at all (an image without the handler contract, a framework or
package not installed here: `NotRunnableHere`) is not a failed start: such an endpoint goes
InService and its invocations answer the reason.
A multi-model variant (Mode MultiModel) starts with no worker; each TargetModel an invocation
names (`InvocationTarget.target_model`) gets a worker of its own, loaded from
`<ModelDataUrl><TargetModel>` into `<variant>.models/<digest>/` on its first invocation. Its
object's ETag is checked on every invocation (`stat_object`): a replaced archive is loaded
again at once (SageMaker would serve its cached copy until evicting it). `invoke(timeout=)`
replaces the invoke timeout for one call (async inference's InvocationTimeoutSeconds).
An inference component's model is a deployment of its own (inference_components.py gives each
component specification its own key), started and released as an endpoint's are.
Workers are reused until moto reports the deployment released (replaced or deleted), then closed
as soon as no invocation is using them. At most `max_idle_workers` idle workers stay up (a
model process costs 100-300 MB, and a repository of a hundred endpoints must fit on a laptop):
beyond that the least recently used idle one is closed, and started again, from the same
artifacts, by its next invocation, as a cold start. Every failure of an invocation becomes a
`ModelInvocationError`, which the extension turns into SageMaker runtime's ModelError.
"""

from __future__ import annotations

import hashlib
import io
import logging
import shutil
import tarfile
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Protocol, cast

from deployspec.runtime import ModelError, ModelWorker, framework_from_image
from deployspec.runtime.handlers import NotRunnableHere
from deployspec.sandbox import hub
from deployspec.sandbox.sagemaker_ext import (
    ContainerFailure,
    InvocationTarget,
    ModelInvocationError,
    VariantTarget,
)

log = logging.getLogger(__name__)

# The sandbox runs models in-process from their artifacts; nothing else can be served.
_SERVER_ERROR = 500


class Worker(Protocol):
    def invoke(
        self, body: bytes, content_type: str, accept: str, timeout: float = 60.0
    ) -> tuple[bytes, str]: ...

    def close(self) -> None: ...


class WorkerFactory(Protocol):
    def __call__(
        self,
        model_dir: Path,
        *,
        framework: str,
        program: str | None,
        env: Mapping[str, str] | None = None,
        startup_timeout: float = 60.0,
        code_dir: Path | None = None,
    ) -> Worker: ...


class StreamingWorker(Worker, Protocol):
    def invoke_stream(
        self, body: bytes, content_type: str, accept: str, timeout: float = 60.0
    ) -> tuple[str, Iterator[bytes]]: ...


ObjectReader = Callable[[str, str, str], bytes]
"""(account_id, region, s3://bucket/key) -> the object's bytes; raises ModelInvocationError."""

ObjectStat = Callable[[str, str, str], str | None]
"""(account_id, region, s3://bucket/key) -> the object's ETag, None when there is no such
object; raises ModelInvocationError for a URL that is not s3://bucket/key."""


ObjectLister = Callable[[str, str, str], list[str]]
"""(account_id, region, s3://bucket/prefix) -> the s3:// URLs of the objects under the prefix."""

# The LLM containers (llm.py's kinds): they can serve a Hub model without model data.
_LLM_FRAMEWORKS = frozenset(
    {"huggingface-llm", "huggingface-vllm", "huggingface-sglang", "huggingface-tei", "djl-lmi"}
)


class _HubModelMissing(ModelInvocationError):
    """HF_MODEL_ID names a Hub model the sandbox does not have: the container cannot start."""


class _NotRunnable(ModelInvocationError):
    """The sandbox cannot run this model at all; SageMaker might."""


class _ModelDataUnavailable(ModelInvocationError):
    """The ModelDataUrl cannot be read: SageMaker fails the endpoint before any container."""


def read_moto_object(account_id: str, region: str, url: str) -> bytes:
    """Read an object from moto's own S3 backend, in this process."""
    from moto.core.exceptions import ServiceException
    from moto.s3.models import s3_backends
    from moto.utilities.utils import get_partition

    bucket, key = parse_s3_url(url)
    try:
        obj = s3_backends[account_id][get_partition(region)].get_object(bucket, key)
    except ServiceException as error:
        raise ModelInvocationError(_SERVER_ERROR, f"cannot read {url}: {error}") from error
    if obj is None:
        raise ModelInvocationError(_SERVER_ERROR, f"model data {url} does not exist")
    return bytes(obj.value)


def stat_moto_object(account_id: str, region: str, url: str) -> str | None:
    """The ETag of an object in moto's own S3 backend, in this process; None when it (or its
    bucket) does not exist."""
    from moto.core.exceptions import ServiceException
    from moto.s3.models import s3_backends
    from moto.utilities.utils import get_partition

    bucket, key = parse_s3_url(url)
    try:
        obj = s3_backends[account_id][get_partition(region)].get_object(bucket, key)
    except ServiceException:
        return None
    return None if obj is None else str(obj.etag)


def list_moto_objects(account_id: str, region: str, url: str) -> list[str]:
    """The objects under an s3://bucket/prefix in moto's own S3 backend, in this process."""
    from moto.core.exceptions import ServiceException
    from moto.s3.models import s3_backends
    from moto.utilities.utils import get_partition

    bucket_name, _, prefix = url[5:].partition("/") if url.startswith("s3://") else ("", "", "")
    if not bucket_name:
        raise ModelInvocationError(_SERVER_ERROR, f"S3Uri {url!r} is not s3://bucket/prefix/")
    try:
        bucket = s3_backends[account_id][get_partition(region)].get_bucket(bucket_name)
    except ServiceException as error:
        raise ModelInvocationError(_SERVER_ERROR, f"cannot list {url}: {error}") from error
    return sorted(f"s3://{bucket_name}/{key}" for key in bucket.keys if key.startswith(prefix))


def copy_prefix(
    urls: Iterable[str], prefix_url: str, dest: Path, read: Callable[[str], bytes]
) -> int:
    """Write each object under `prefix_url` to `dest`/<its key relative to the prefix>;
    returns how many were written. A key escaping `dest` is refused before anything is."""
    files: list[tuple[str, PurePosixPath]] = []
    for url in urls:
        relative = url[len(prefix_url) :]
        if not url.startswith(prefix_url) or not relative or relative.endswith("/"):
            continue  # S3 "folder" markers hold no file
        path = PurePosixPath(relative)
        if path.is_absolute() or ".." in path.parts or "" in relative.split("/"):
            raise ModelInvocationError(
                _SERVER_ERROR, f"model data object {url!r} would land outside the model"
            )
        files.append((url, path))
    dest.mkdir(parents=True, exist_ok=True)
    for url, path in files:
        target = dest.joinpath(*path.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(read(url))
    return len(files)


def parse_s3_url(url: str) -> tuple[str, str]:
    if not url.startswith("s3://") or "/" not in url[5:]:
        raise ModelInvocationError(_SERVER_ERROR, f"ModelDataUrl {url!r} is not s3://bucket/key")
    bucket, _, key = url[5:].partition("/")
    if not bucket or not key:
        raise ModelInvocationError(_SERVER_ERROR, f"ModelDataUrl {url!r} is not s3://bucket/key")
    return bucket, key


def extract_model_archive(data: bytes, dest: Path) -> None:
    """Unpack a model.tar.gz into `dest`, refusing links, devices and paths that escape it."""
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as archive:
            members = archive.getmembers()
            for member in members:
                _check_member(member)
            dest.mkdir(parents=True, exist_ok=True)
            if hasattr(tarfile, "data_filter"):
                archive.extractall(dest, members=members, filter="data")
            else:  # Python < 3.11.4: the checks above are the whole defence
                archive.extractall(dest, members=members)
    except (tarfile.TarError, OSError) as error:
        raise ModelInvocationError(
            _SERVER_ERROR, f"model data is not a readable tar archive: {error}"
        ) from error


def _check_member(member: tarfile.TarInfo) -> None:
    path = PurePosixPath(member.name)
    if path.is_absolute() or ".." in path.parts:
        raise ModelInvocationError(
            _SERVER_ERROR, f"model archive member {member.name!r} would land outside the model"
        )
    if not (member.isfile() or member.isdir()):
        raise ModelInvocationError(
            _SERVER_ERROR,
            f"model archive member {member.name!r} is a link or special file; only regular "
            "files and directories are unpacked",
        )


@dataclass
class _Entry:
    start_lock: threading.Lock = field(default_factory=threading.Lock)
    worker: Worker | None = None
    in_use: int = 0
    retired: bool = False
    # When it was last used, in ModelHost's own count of uses (for closing the oldest first).
    last_used: int = 0
    # A multi-model archive's ETag when its worker started: another one means a new archive.
    version: str | None = None


# (deployment key, variant name, TargetModel or "" for the variant's own model)
_Key = tuple[str, str, str]


def _key(target: InvocationTarget) -> _Key:
    return (target.deployment_key, target.variant.variant_name, target.target_model or "")


def model_url(target: InvocationTarget) -> str | None:
    """The model.tar.gz a target runs: a multi-model variant's TargetModel is a key under its
    ModelDataUrl, which SageMaker joins as they are (the prefix ends with "/")."""
    url = target.variant.model_data_url
    if target.target_model is None or url is None:
        return url
    return url + target.target_model


# How many idle model workers the sandbox keeps up (DEPLOYSPEC_SANDBOX_MAX_WORKERS).
MAX_IDLE_WORKERS = 16


class _Startup:
    """A `ContainerStartup`: set once by the thread that brings the containers up."""

    def __init__(self) -> None:
        self._done = threading.Event()
        self._failure: ContainerFailure | None = None

    def finished(self) -> bool:
        return self._done.is_set()

    def failure(self) -> ContainerFailure | None:
        return self._failure if self._done.is_set() else None

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)

    def finish(self, failure: ContainerFailure | None) -> None:
        self._failure = failure
        self._done.set()


class ModelHost:
    def __init__(
        self,
        cache_dir: Path,
        *,
        read_object: ObjectReader = read_moto_object,
        stat_object: ObjectStat = stat_moto_object,
        list_objects: ObjectLister = list_moto_objects,
        worker_factory: WorkerFactory = ModelWorker,
        startup_timeout: float = 60.0,
        invoke_timeout: float = 60.0,
        max_idle_workers: int = MAX_IDLE_WORKERS,
    ) -> None:
        self._cache_dir = cache_dir
        self._max_idle_workers = max(1, max_idle_workers)
        self._uses = 0
        self._read_object = read_object
        self._stat_object = stat_object
        self._list_objects = list_objects
        self._hub_root = cache_dir.parent / hub.HUB_DIR
        self._worker_factory = worker_factory
        self._startup_timeout = startup_timeout
        self._invoke_timeout = invoke_timeout
        self._lock = threading.Lock()
        self._entries: dict[_Key, _Entry] = {}
        self._closed = False

    def invoke(
        self,
        target: InvocationTarget,
        body: bytes,
        content_type: str,
        accept: str,
        timeout: float | None = None,
    ) -> tuple[bytes, str]:
        """Run `body` through the target's model; `timeout` (seconds) replaces the host's
        invoke timeout (async inference's InvocationTimeoutSeconds)."""
        entry = self._use(target)
        try:
            worker = self._worker(target, entry)
            try:
                return worker.invoke(
                    body,
                    content_type,
                    accept,
                    timeout=self._invoke_timeout if timeout is None else timeout,
                )
            except ModelError as error:
                raise _invocation_error(error) from error
        finally:
            self._done_with(entry)

    def invoke_stream(
        self,
        target: InvocationTarget,
        body: bytes,
        content_type: str,
        accept: str,
        timeout: float | None = None,
    ) -> tuple[str, Iterator[bytes]]:
        """`invoke`, answered as the model produces it: `(content type, parts)`. A failure
        before the first part raises ModelInvocationError; so does the iterator, after it."""
        entry = self._use(target)
        seconds = self._invoke_timeout if timeout is None else timeout
        try:
            worker = self._worker(target, entry)
            try:
                if hasattr(worker, "invoke_stream"):
                    streaming = cast(StreamingWorker, worker)
                    result_type, parts = streaming.invoke_stream(
                        body, content_type, accept, timeout=seconds
                    )
                else:
                    output, result_type = worker.invoke(body, content_type, accept, timeout=seconds)
                    parts = iter([output])
            except ModelError as error:
                raise _invocation_error(error) from error
        except BaseException:
            self._done_with(entry)
            raise
        return result_type, self._parts(entry, parts)

    def _parts(self, entry: _Entry, parts: Iterator[bytes]) -> Iterator[bytes]:
        try:
            yield from parts
        except ModelError as error:
            raise _invocation_error(error) from error
        finally:
            close = getattr(parts, "close", None)
            if close is not None:
                close()
            self._done_with(entry)

    def _use(self, target: InvocationTarget) -> _Entry:
        with self._lock:
            if self._closed:
                raise ModelInvocationError(_SERVER_ERROR, "the sandbox is shutting down")
            entry = self._entries.setdefault(_key(target), _Entry())
            entry.in_use += 1
        return entry

    def _worker(self, target: InvocationTarget, entry: _Entry) -> Worker:
        with entry.start_lock:
            version = self._archive_version(target)
            if entry.worker is not None and version != entry.version:
                # The archive under this TargetModel changed: SageMaker would keep the
                # cached model until it is evicted; the sandbox loads the new one at once.
                stale, entry.worker = entry.worker, None
                _close_quietly(stale)
            if entry.worker is None:
                entry.worker = self._start(target)
                entry.version = version
            return entry.worker

    def _archive_version(self, target: InvocationTarget) -> str | None:
        """A multi-model target's archive ETag (None for a variant's own model, which never
        changes under a deployment: a new model is a new deployment)."""
        url = model_url(target)
        if target.target_model is None or url is None:
            return None
        version = self._stat_object(target.account_id, target.region, url)
        if version is None:
            raise _ModelDataUnavailable(404, f"model data {url} does not exist")
        return version

    def start(self, targets: tuple[InvocationTarget, ...]) -> _Startup:
        """Bring the variants' workers up on a background thread (SageMaker's startup)."""
        startup = _Startup()
        with self._lock:
            if self._closed:
                startup.finish(None)
                return startup
            # Registered now, not on the thread: a release or reset in between must see them.
            entries = []
            for target in targets:
                entry = self._entries.setdefault(_key(target), _Entry())
                entry.in_use += 1
                entries.append((target, entry))
        thread = threading.Thread(
            target=self._bring_up,
            args=(entries, startup),
            name=f"sandbox-startup[{targets[0].endpoint_name if targets else ''}]",
            daemon=True,
        )
        thread.start()
        return startup

    def _bring_up(self, entries: list[tuple[InvocationTarget, _Entry]], startup: _Startup) -> None:
        failure: ContainerFailure | None = None
        try:
            for target, entry in entries:
                if failure is None:
                    failure = self._warm(target, entry)
        finally:
            for _, entry in entries:
                self._done_with(entry)
            startup.finish(failure)

    def _warm(self, target: InvocationTarget, entry: _Entry) -> ContainerFailure | None:
        variant = target.variant.variant_name
        if target.variant.multi_model and target.target_model is None:
            # A multi-model container starts empty: models load on their first invocation.
            return None
        try:
            with entry.start_lock:
                if entry.worker is None and not entry.retired:
                    entry.worker = self._start(target)
        except _ModelDataUnavailable as error:
            return ContainerFailure(
                variant, "model_data", error.message, url=_data_url(target.variant)
            )
        except _HubModelMissing as error:
            log.warning(
                "endpoint %s, variant %s: the container did not start: %s",
                target.endpoint_name,
                variant,
                error.message,
            )
            return ContainerFailure(variant, "health_check", error.message, reason=error.message)
        except _NotRunnable as error:
            log.warning(
                "endpoint %s, variant %s: not started here (%s); invocations will answer that",
                target.endpoint_name,
                variant,
                error.message,
            )
            return None
        except ModelInvocationError as error:
            log.warning(
                "endpoint %s, variant %s: the container did not start: %s",
                target.endpoint_name,
                variant,
                error.message,
            )
            return ContainerFailure(variant, "health_check", _log_text(error))
        except Exception as error:  # a fault of the sandbox itself must still end the startup
            log.exception("bringing up endpoint %s failed", target.endpoint_name)
            return ContainerFailure(variant, "health_check", f"{type(error).__name__}: {error}")
        return None

    def release(self, deployment_keys: Iterable[str]) -> None:
        keys = set(deployment_keys)
        with self._lock:
            retired = [k for k in self._entries if k[0] in keys]
            entries = [self._entries.pop(k) for k in retired]
            for entry in entries:
                entry.retired = True
        for key, entry in zip(retired, entries, strict=True):
            self._close_if_idle(entry)
            shutil.rmtree(self._model_dir(key), ignore_errors=True)
            shutil.rmtree(self._source_dir(key), ignore_errors=True)

    def release_all(self) -> None:
        with self._lock:
            keys = {k[0] for k in self._entries}
        self.release(keys)

    def close(self) -> None:
        """Close every worker; later invocations fail."""
        with self._lock:
            self._closed = True
        self.release_all()

    def _done_with(self, entry: _Entry) -> None:
        with self._lock:
            entry.in_use -= 1
            self._uses += 1
            entry.last_used = self._uses
        self._close_if_idle(entry)
        self._trim()

    def _trim(self) -> None:
        """Close the least recently used idle workers beyond the limit (they restart on use).

        Under the host's lock an idle entry has no invocation between its count and its start
        lock (invoke counts itself in first), so taking its worker away here races with none.
        """
        with self._lock:
            idle = sorted(
                (e for e in self._entries.values() if e.worker is not None and e.in_use == 0),
                key=lambda e: e.last_used,
            )
            surplus = idle[: max(0, len(idle) - self._max_idle_workers)]
            workers = []
            for entry in surplus:
                if entry.worker is not None:
                    workers.append(entry.worker)
                    entry.worker = None
        for worker in workers:
            try:
                worker.close()
            except ModelError as error:
                log.warning("closing an idle model worker failed: %s", error.message)

    def _close_if_idle(self, entry: _Entry) -> None:
        with self._lock:
            if not entry.retired or entry.in_use > 0 or entry.worker is None:
                return
            worker, entry.worker = entry.worker, None
        try:
            worker.close()
        except ModelError as error:
            log.warning("closing a model worker failed: %s", error.message)

    def _model_dir(self, key: _Key) -> Path:
        deployment_key, variant_name, target_model = key
        variant_dir = self._cache_dir / deployment_key / variant_name.replace("/", "_")
        if not target_model:
            return variant_dir
        # TargetModel is any printable text (slashes, dots): a digest names its folder safely.
        digest = hashlib.sha256(target_model.encode()).hexdigest()[:16]
        return variant_dir.with_name(variant_dir.name + ".models") / digest

    def _source_dir(self, key: _Key) -> Path:
        model_dir = self._model_dir(key)
        return model_dir.with_name(model_dir.name + ".sourcedir")

    def _start(self, target: InvocationTarget) -> Worker:
        variant = target.variant
        model_dir = self._model_dir(_key(target))
        shutil.rmtree(model_dir, ignore_errors=True)
        has_data = self._download(target, model_dir)
        framework = framework_from_image(variant.image) if variant.image else None
        if framework is None:
            raise _NotRunnable(
                _SERVER_ERROR,
                f"the sandbox cannot run image {variant.image!r} of model {variant.model_name}: "
                "it runs only SageMaker framework images (scikit-learn, XGBoost, PyTorch, "
                "TensorFlow, Hugging Face, and the TGI, vLLM, SGLang, TEI and LMI LLM "
                "containers) from their model data",
            )
        if not has_data and framework in _LLM_FRAMEWORKS:
            model_dir = self._hub_model(target)
        elif not has_data:
            raise _NotRunnable(
                _SERVER_ERROR,
                f"model {variant.model_name} has no ModelDataUrl; the sandbox runs models only "
                "from a model.tar.gz in S3",
            )
        code_dir = self._submitted_code(target)
        try:
            return self._worker_factory(
                model_dir,
                framework=framework,
                program=variant.environment.get("SAGEMAKER_PROGRAM"),
                env=variant.environment,
                startup_timeout=self._startup_timeout,
                code_dir=code_dir,
            )
        except NotRunnableHere as error:
            raise _NotRunnable(error.status_code, _message(error)) from error
        except ModelError as error:
            raise _invocation_error(error) from error

    def _download(self, target: InvocationTarget, model_dir: Path) -> bool:
        """The target's model data into `model_dir`; False when the model has none. What
        cannot be read is `_ModelDataUnavailable` (SageMaker's download failure); what is
        read but unusable (a bad archive, a key escaping the model) fails the container."""

        def read(url: str) -> bytes:
            try:
                return self._read_object(target.account_id, target.region, url)
            except ModelInvocationError as error:
                raise _ModelDataUnavailable(error.status_code, error.message) from error

        url = model_url(target)
        if url:
            extract_model_archive(read(url), model_dir)
            return True
        source = None if target.target_model is not None else _s3_data_source(target.variant)
        if source is None:
            return False
        uri = str(source.get("S3Uri") or "")
        kind, compression = source.get("S3DataType"), source.get("CompressionType")
        if kind == "S3Prefix" and compression == "None":
            try:
                listed = self._list_objects(target.account_id, target.region, uri)
            except ModelInvocationError as error:
                raise _ModelDataUnavailable(error.status_code, error.message) from error
            if copy_prefix(listed, uri, model_dir, read) == 0:
                raise _ModelDataUnavailable(404, f"no model data under {uri}")
        elif kind == "S3Object" and compression == "Gzip":
            extract_model_archive(read(uri), model_dir)
        elif kind == "S3Object":
            data = read(uri)
            model_dir.mkdir(parents=True, exist_ok=True)
            (model_dir / PurePosixPath(parse_s3_url(uri)[1]).name).write_bytes(data)
        else:
            raise ModelInvocationError(
                _SERVER_ERROR,
                f"S3DataSource {kind} with CompressionType {compression} is not a layout "
                "SageMaker accepts",
            )
        return True

    def _hub_model(self, target: InvocationTarget) -> Path:
        """The folder serving an LLM container's HF_MODEL_ID when the model has no data."""
        environment = target.variant.environment
        model_id = environment.get("HF_MODEL_ID", "")
        if not model_id:
            raise _HubModelMissing(
                _SERVER_ERROR,
                f"model {target.variant.model_name} has neither model data nor HF_MODEL_ID: "
                "the container has no model to serve",
            )
        found = hub.lookup(self._hub_root, model_id, environment.get("HF_MODEL_REVISION"))
        if found is None:
            raise _HubModelMissing(_SERVER_ERROR, hub.missing_message(model_id))
        return found

    def _submitted_code(self, target: InvocationTarget) -> Path | None:
        """The unpacked sourcedir.tar.gz an s3:// SAGEMAKER_SUBMIT_DIRECTORY names, as the
        container's toolkit downloads it; None when the code is in the model (code/)."""
        url = target.variant.environment.get("SAGEMAKER_SUBMIT_DIRECTORY", "")
        if not url.startswith("s3://"):
            return None
        try:
            data = self._read_object(target.account_id, target.region, url)
        except ModelInvocationError as error:
            raise ModelInvocationError(
                error.status_code,
                f"SAGEMAKER_SUBMIT_DIRECTORY {url}: the source code cannot be downloaded: "
                f"{error.message}",
            ) from error
        source_dir = self._source_dir(_key(target))
        shutil.rmtree(source_dir, ignore_errors=True)
        try:
            extract_model_archive(data, source_dir)
        except ModelInvocationError as error:
            raise ModelInvocationError(
                error.status_code, f"SAGEMAKER_SUBMIT_DIRECTORY {url}: {error.message}"
            ) from error
        return source_dir


def _s3_data_source(variant: VariantTarget) -> Mapping[str, object] | None:
    source = (variant.model_data_source or {}).get("S3DataSource")
    return source if isinstance(source, Mapping) else None


def _data_url(variant: VariantTarget) -> str | None:
    """The URL SageMaker names when the model data cannot be downloaded."""
    source = _s3_data_source(variant)
    return variant.model_data_url or (str(source.get("S3Uri")) if source else None)


def _close_quietly(worker: Worker) -> None:
    try:
        worker.close()
    except ModelError as error:
        log.warning("closing a model worker failed: %s", error.message)


def _log_text(error: ModelInvocationError) -> str:
    """What the container would have logged: the error, then its traceback when there is one."""
    cause = error.__cause__
    trace = cause.trace if isinstance(cause, ModelError) else None
    return f"{error.message}\n{trace.rstrip()}" if trace else error.message


def _message(error: ModelError) -> str:
    return error.message if not error.hint else f"{error.message} (hint: {error.hint})"


def _invocation_error(error: ModelError) -> ModelInvocationError:
    return ModelInvocationError(error.status_code, _message(error))
