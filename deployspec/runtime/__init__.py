"""The SageMaker inference-toolkit handler contract, run locally without Docker.

`ModelWorker` loads a packaged model (model files at the root, the entry point under code/) in
a child process and runs invocations through the user's handlers and the framework defaults;
`make_server` puts the container's HTTP contract (GET /ping, POST /invocations) in front of it;
`framework_from_image` tells which framework's defaults an inference image implies. TensorFlow
models get the TensorFlow Serving container's contract instead (tfserving.py). Every model
or script failure is a `ModelError` carrying the container's status code.
"""

from deployspec.runtime.errors import ModelError
from deployspec.runtime.handlers import framework_from_image
from deployspec.runtime.server import make_server
from deployspec.runtime.worker import ModelWorker

__all__ = ["ModelError", "ModelWorker", "framework_from_image", "make_server"]
