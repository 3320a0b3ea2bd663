"""The local sandbox: moto's server made to behave like SageMaker, plus fault injection.

`control` (start/status/stop/environment/FaultClient) is the API the CLI uses; it imports
neither moto nor boto3. `server` is the process, `app` its WSGI stack, `sagemaker_ext` the
moto extensions, `hosting` the local model workers behind InvokeEndpoint, `throttling` the
deterministic throttle.
"""
