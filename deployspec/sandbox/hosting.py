"""Runs the sandbox's endpoints' models for real, one local worker process per deployment.

Contract: `ModelHost` is the `EndpointInvoker` the sandbox installs into moto. On the first
invocation of a deployment's variant it reads the model's ModelDataUrl from moto's in-process
S3, unpacks it (refusing any member that would land outside its directory) under
`<cache_dir>/<deployment key>/<variant>/`, and starts a `deployspec.runtime.ModelWorker` for the
framework its image names, with the model's environment (SAGEMAKER_PROGRAM and the rest).
Workers are reused until moto reports the deployment released (replaced or deleted), then closed
as soon as no invocation is using them. Every failure becomes a `ModelInvocationError`, which the
extension turns into SageMaker runtime's ModelError.
"""

from __future__ import annotations

import io
import logging
import shutil
import tarfile
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Protocol

from deployspec.runtime import ModelError, ModelWorker, framework_from_image
from deployspec.sandbox.sagemaker_ext import InvocationTarget, ModelInvocationError

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
    ) -> Worker: ...


ObjectReader = Callable[[str, str, str], bytes]
"""(account_id, region, s3://bucket/key) -> the object's bytes; raises ModelInvocationError."""


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


class ModelHost:
    def __init__(
        self,
        cache_dir: Path,
        *,
        read_object: ObjectReader = read_moto_object,
        worker_factory: WorkerFactory = ModelWorker,
        startup_timeout: float = 60.0,
        invoke_timeout: float = 60.0,
    ) -> None:
        self._cache_dir = cache_dir
        self._read_object = read_object
        self._worker_factory = worker_factory
        self._startup_timeout = startup_timeout
        self._invoke_timeout = invoke_timeout
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, str], _Entry] = {}
        self._closed = False

    def invoke(
        self, target: InvocationTarget, body: bytes, content_type: str, accept: str
    ) -> tuple[bytes, str]:
        key = (target.deployment_key, target.variant.variant_name)
        with self._lock:
            if self._closed:
                raise ModelInvocationError(_SERVER_ERROR, "the sandbox is shutting down")
            entry = self._entries.setdefault(key, _Entry())
            entry.in_use += 1
        try:
            with entry.start_lock:
                if entry.worker is None:
                    entry.worker = self._start(target)
                worker = entry.worker
            try:
                return worker.invoke(body, content_type, accept, timeout=self._invoke_timeout)
            except ModelError as error:
                raise _invocation_error(error) from error
        finally:
            self._done_with(entry)

    def release(self, deployment_keys: Iterable[str]) -> None:
        keys = set(deployment_keys)
        with self._lock:
            retired = [k for k in self._entries if k[0] in keys]
            entries = [self._entries.pop(k) for k in retired]
            for entry in entries:
                entry.retired = True
        for key, entry in zip(retired, entries, strict=True):
            self._close_if_idle(entry)
            shutil.rmtree(self._model_dir(*key), ignore_errors=True)

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
        self._close_if_idle(entry)

    def _close_if_idle(self, entry: _Entry) -> None:
        with self._lock:
            if not entry.retired or entry.in_use > 0 or entry.worker is None:
                return
            worker, entry.worker = entry.worker, None
        try:
            worker.close()
        except ModelError as error:
            log.warning("closing a model worker failed: %s", error.message)

    def _model_dir(self, deployment_key: str, variant_name: str) -> Path:
        return self._cache_dir / deployment_key / variant_name.replace("/", "_")

    def _start(self, target: InvocationTarget) -> Worker:
        variant = target.variant
        framework = framework_from_image(variant.image) if variant.image else None
        if framework is None:
            raise ModelInvocationError(
                _SERVER_ERROR,
                f"the sandbox cannot run image {variant.image!r} of model {variant.model_name}: "
                "it runs only SageMaker framework images (scikit-learn, XGBoost, PyTorch, "
                "TensorFlow, Hugging Face) from a model.tar.gz",
            )
        if not variant.model_data_url:
            raise ModelInvocationError(
                _SERVER_ERROR,
                f"model {variant.model_name} has no ModelDataUrl; the sandbox runs models only "
                "from a model.tar.gz in S3",
            )
        data = self._read_object(target.account_id, target.region, variant.model_data_url)
        model_dir = self._model_dir(target.deployment_key, variant.variant_name)
        shutil.rmtree(model_dir, ignore_errors=True)
        extract_model_archive(data, model_dir)
        try:
            return self._worker_factory(
                model_dir,
                framework=framework,
                program=variant.environment.get("SAGEMAKER_PROGRAM"),
                env=variant.environment,
                startup_timeout=self._startup_timeout,
            )
        except ModelError as error:
            raise _invocation_error(error) from error


def _invocation_error(error: ModelError) -> ModelInvocationError:
    message = error.message if not error.hint else f"{error.message} (hint: {error.hint})"
    return ModelInvocationError(error.status_code, message)
