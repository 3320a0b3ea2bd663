"""What one SageMaker ML instance has to give inference components: vCPUs, memory, accelerators.

Contract: `size_of(instance_type)` is the `InstanceSize` of an `ml.*` type (vCPUs, memory in
MiB, accelerators), or `UnknownInstanceSize` naming the type, for a family or size the table
does not have. The sandbox's inference components (inference_components.py) place copies
against it: a copy's NumberOfCpuCoresRequired, NumberOfAcceleratorDevicesRequired and
MinMemoryRequiredInMb against what each instance has.

vCPUs and memory are EC2's published figures for the instance behind each ML type (the EC2
instance type pages, December 2026); the whole of an instance's memory is offered, where
SageMaker keeps some back for its own agents (how much is not published). Accelerators are
deployspec.gpus's count (GPUs, Inferentia / Trainium chips, Gaudi cards): that table is the
one source of accelerator counts, and a type it cannot count is unknown here too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from deployspec.gpus import UnknownGpuCount, accelerator_count


class UnknownInstanceSize(ValueError):
    """An instance type whose vCPUs, memory or accelerators the sandbox does not know."""


@dataclass(frozen=True)
class InstanceSize:
    vcpus: int
    memory_mib: int
    accelerators: int


def _gib(sizes: Mapping[str, tuple[int, float]]) -> dict[str, tuple[int, int]]:
    return {size: (vcpus, round(gib * 1024)) for size, (vcpus, gib) in sizes.items()}


# The general purpose, compute and memory optimized shapes repeat across generations.
_M5 = {
    "large": (2, 8),
    "xlarge": (4, 16),
    "2xlarge": (8, 32),
    "4xlarge": (16, 64),
    "12xlarge": (48, 192),
    "24xlarge": (96, 384),
}
_C5 = {
    "large": (2, 4),
    "xlarge": (4, 8),
    "2xlarge": (8, 16),
    "4xlarge": (16, 32),
    "9xlarge": (36, 72),
    "18xlarge": (72, 144),
}
_R5 = {
    "large": (2, 16),
    "xlarge": (4, 32),
    "2xlarge": (8, 64),
    "4xlarge": (16, 128),
    "12xlarge": (48, 384),
    "24xlarge": (96, 768),
}
# m6i/c6i/r6i: memory per vCPU 4, 2 and 8 GiB, sizes up to 32xlarge; the 7i ones add 48xlarge.
_SIXTH = {
    "large": 2,
    "xlarge": 4,
    "2xlarge": 8,
    "4xlarge": 16,
    "8xlarge": 32,
    "12xlarge": 48,
    "16xlarge": 64,
    "24xlarge": 96,
    "32xlarge": 128,
}
_SEVENTH = {**{k: v for k, v in _SIXTH.items() if k != "32xlarge"}, "48xlarge": 192}


def _per_vcpu(vcpus: dict[str, int], gib_per_vcpu: int) -> dict[str, tuple[int, float]]:
    return {size: (n, n * gib_per_vcpu) for size, n in vcpus.items()}


# NVIDIA A10G (g5) and L4 (g6) instances share their host shapes.
_G5 = {
    "xlarge": (4, 16),
    "2xlarge": (8, 32),
    "4xlarge": (16, 64),
    "8xlarge": (32, 128),
    "12xlarge": (48, 192),
    "16xlarge": (64, 256),
    "24xlarge": (96, 384),
    "48xlarge": (192, 768),
}

# family -> size -> (vCPUs, MiB).
_TABLE: dict[str, dict[str, tuple[int, int]]] = {
    "t2": _gib({"medium": (2, 4), "large": (2, 8), "xlarge": (4, 16), "2xlarge": (8, 32)}),
    "m4": _gib(
        {
            "xlarge": (4, 16),
            "2xlarge": (8, 32),
            "4xlarge": (16, 64),
            "10xlarge": (40, 160),
            "16xlarge": (64, 256),
        }
    ),
    "m5": _gib(_M5),
    "m5d": _gib(_M5),
    "m6i": _gib(_per_vcpu(_SIXTH, 4)),
    "m7i": _gib(_per_vcpu(_SEVENTH, 4)),
    "c4": _gib(
        {
            "large": (2, 3.75),
            "xlarge": (4, 7.5),
            "2xlarge": (8, 15),
            "4xlarge": (16, 30),
            "8xlarge": (36, 60),
        }
    ),
    "c5": _gib(_C5),
    "c5d": _gib(_C5),
    "c6i": _gib(_per_vcpu(_SIXTH, 2)),
    "c7i": _gib(_per_vcpu(_SEVENTH, 2)),
    "r5": _gib(_R5),
    "r5d": _gib(_R5),
    "r6i": _gib(_per_vcpu(_SIXTH, 8)),
    "r7i": _gib(_per_vcpu(_SEVENTH, 8)),
    "g4dn": _gib(
        {
            "xlarge": (4, 16),
            "2xlarge": (8, 32),
            "4xlarge": (16, 64),
            "8xlarge": (32, 128),
            "12xlarge": (48, 192),
            "16xlarge": (64, 256),
        }
    ),
    "g5": _gib(_G5),
    "g6": _gib(_G5),
    # NVIDIA L40S: twice the memory per vCPU of g5/g6.
    "g6e": _gib({size: (vcpus, gib * 2) for size, (vcpus, gib) in _G5.items()}),
    "p3": _gib({"2xlarge": (8, 61), "8xlarge": (32, 244), "16xlarge": (64, 488)}),
    "p4d": _gib({"24xlarge": (96, 1152)}),
    "p4de": _gib({"24xlarge": (96, 1152)}),
    "p5": _gib({"4xlarge": (16, 256), "48xlarge": (192, 2048)}),
    "p5e": _gib({"48xlarge": (192, 2048)}),
    "p5en": _gib({"48xlarge": (192, 2048)}),
    "inf2": _gib(
        {"xlarge": (4, 16), "8xlarge": (32, 128), "24xlarge": (96, 384), "48xlarge": (192, 768)}
    ),
    "trn1": _gib({"2xlarge": (8, 32), "32xlarge": (128, 512)}),
    "trn1n": _gib({"32xlarge": (128, 512)}),
}


def known_types() -> list[str]:
    """Every instance type of the table, as SageMaker names it."""
    return [f"ml.{family}.{size}" for family, sizes in _TABLE.items() for size in sizes]


def size_of(instance_type: str) -> InstanceSize:
    prefix, _, rest = instance_type.partition(".")
    family, _, size = rest.partition(".")
    found = _TABLE.get(family, {}).get(size) if prefix == "ml" else None
    if found is None:
        raise UnknownInstanceSize(
            f"the sandbox does not know the vCPUs and memory of instance type {instance_type} "
            f"(deployspec/sandbox/instance_sizes.py has the ml. families {', '.join(_TABLE)}): "
            "choose one of those for an endpoint of inference components"
        )
    try:
        accelerators = accelerator_count(instance_type)
    except UnknownGpuCount as error:
        raise UnknownInstanceSize(str(error)) from error
    vcpus, memory = found
    return InstanceSize(vcpus=vcpus, memory_mib=memory, accelerators=accelerators)
