"""Numbers SageMaker's API enforces, shared by the spec, the plan and the gateway.

Each comes from botocore's SageMaker service model; tests read the model and compare, so a
botocore upgrade that moves a limit fails a test instead of a deployment. A module of its own
so that the spec can import it without loading anything else.
"""

# DeploymentConfig's MaximumExecutionTimeoutInSeconds range: the one limit the spec, the plan
# and UpdateEndpoint all use.
MIN_DEPLOY_TIMEOUT = 600
MAX_DEPLOY_TIMEOUT = 28800
