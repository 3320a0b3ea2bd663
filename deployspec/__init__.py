"""deployspec: declarative SageMaker endpoint deployments."""

__version__ = "0.1.0"
