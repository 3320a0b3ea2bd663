"""How many accelerators each SageMaker instance type has, from AWS's published specifications.

Contract: `gpu_count(instance_type)` is the number of NVIDIA GPUs of a SageMaker instance type
(`ml.g5.12xlarge` -> 4), 0 for a type without NVIDIA GPUs (CPU types, and Inferentia, Trainium
and Gaudi types, whose accelerators no CUDA container can use); `accelerator_count` counts
those others too (Inferentia / Trainium chips, Habana Gaudi cards). A family that has
accelerators but whose counts could not be sourced (listed in `UNKNOWN_FAMILIES`) raises
`UnknownGpuCount` instead of being guessed: the caller asks the user to say (llm.num_gpus).

The table is kept by hand from AWS's pages and checked by tests/test_spec_llm.py against
botocore's ProductionVariantInstanceType enum: every member of an accelerated family is here
or in an unknown family, and no CPU family is. Sources (December 2026): AWS Batch "GPU jobs"
instance table (g4dn, g5, g6, p2, p3), AWS Neuron architecture pages (inf1, inf2, trn1,
trn1n, trn2), EC2 instance pages for P4d/P4de, P5/P5e/P5en, P6-B200/B300 (8 GPUs each),
P6e-GB200 (4 Blackwell GPUs per instance), G6e (L40S: 1, 4 or 8) and DL1 (8 Gaudi).
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import DeployspecError


class UnknownGpuCount(DeployspecError):
    """An accelerated instance family whose accelerator counts deployspec does not know."""


@dataclass(frozen=True)
class Accelerators:
    count: int
    # "nvidia" (CUDA GPUs), "inferentia", "trainium" or "gaudi".
    kind: str


_NVIDIA, _INFERENTIA, _TRAINIUM, _GAUDI = "nvidia", "inferentia", "trainium", "gaudi"


def _family(kind: str, counts: dict[str, int]) -> dict[str, Accelerators]:
    return {size: Accelerators(n, kind) for size, n in counts.items()}


# family -> size -> accelerators.
_TABLE: dict[str, dict[str, Accelerators]] = {
    # NVIDIA T4.
    "g4dn": _family(
        _NVIDIA,
        {"xlarge": 1, "2xlarge": 1, "4xlarge": 1, "8xlarge": 1, "16xlarge": 1, "12xlarge": 4},
    ),
    # NVIDIA A10G.
    "g5": _family(
        _NVIDIA,
        {
            "xlarge": 1,
            "2xlarge": 1,
            "4xlarge": 1,
            "8xlarge": 1,
            "16xlarge": 1,
            "12xlarge": 4,
            "24xlarge": 4,
            "48xlarge": 8,
        },
    ),
    # NVIDIA L4.
    "g6": _family(
        _NVIDIA,
        {
            "xlarge": 1,
            "2xlarge": 1,
            "4xlarge": 1,
            "8xlarge": 1,
            "16xlarge": 1,
            "12xlarge": 4,
            "24xlarge": 4,
            "48xlarge": 8,
        },
    ),
    # NVIDIA L40S.
    "g6e": _family(
        _NVIDIA,
        {
            "xlarge": 1,
            "2xlarge": 1,
            "4xlarge": 1,
            "8xlarge": 1,
            "16xlarge": 1,
            "12xlarge": 4,
            "24xlarge": 4,
            "48xlarge": 8,
        },
    ),
    # NVIDIA K80 (deprecated for recent framework images).
    "p2": _family(_NVIDIA, {"xlarge": 1, "8xlarge": 8, "16xlarge": 16}),
    # NVIDIA V100.
    "p3": _family(_NVIDIA, {"2xlarge": 1, "8xlarge": 4, "16xlarge": 8}),
    # NVIDIA A100 (40 GB, 80 GB).
    "p4d": _family(_NVIDIA, {"24xlarge": 8}),
    "p4de": _family(_NVIDIA, {"24xlarge": 8}),
    # NVIDIA H100; p5.4xlarge is the one-GPU size.
    "p5": _family(_NVIDIA, {"4xlarge": 1, "48xlarge": 8}),
    # NVIDIA H200.
    "p5e": _family(_NVIDIA, {"48xlarge": 8}),
    "p5en": _family(_NVIDIA, {"48xlarge": 8}),
    # NVIDIA B200, B300; GB200 (a Grace CPU per two Blackwell GPUs, 4 per instance).
    "p6-b200": _family(_NVIDIA, {"48xlarge": 8}),
    "p6-b300": _family(_NVIDIA, {"48xlarge": 8}),
    "p6e-gb200": _family(_NVIDIA, {"36xlarge": 4}),
    # AWS Inferentia (chips).
    "inf1": _family(_INFERENTIA, {"xlarge": 1, "2xlarge": 1, "6xlarge": 4, "24xlarge": 16}),
    "inf2": _family(_INFERENTIA, {"xlarge": 1, "8xlarge": 1, "24xlarge": 6, "48xlarge": 12}),
    # AWS Trainium (chips).
    "trn1": _family(_TRAINIUM, {"2xlarge": 1, "32xlarge": 16}),
    "trn1n": _family(_TRAINIUM, {"32xlarge": 16}),
    "trn2": _family(_TRAINIUM, {"48xlarge": 16}),
    # Habana Gaudi.
    "dl1": _family(_GAUDI, {"24xlarge": 8}),
}

# Accelerated families in botocore's enum whose per-size counts were not found in a source
# deployspec trusts (G7: RTX PRO 4500 Blackwell, "up to 8 GPUs"; G7e: RTX PRO 6000 Blackwell):
# refused rather than guessed.
UNKNOWN_FAMILIES = frozenset({"g7", "g7e"})

# The prefixes of accelerated families: a family of botocore's enum starting with one of them
# and in neither the table nor UNKNOWN_FAMILIES is a new family (tests/test_spec_llm.py fails).
ACCELERATED_PREFIXES = ("g", "p", "inf", "trn", "dl")


def _parts(instance_type: str) -> tuple[str, str]:
    _, family, size = [*instance_type.split(".", 2), "", ""][:3]
    return family, size


def accelerators(instance_type: str) -> Accelerators:
    """The accelerators of `instance_type` (count 0, kind "" for a CPU type)."""
    family, size = _parts(instance_type)
    if family in UNKNOWN_FAMILIES:
        raise UnknownGpuCount(
            f"unknown GPU count for {instance_type}: deployspec's table has no sourced "
            f"counts for the {family} family",
            hint="set model.llm.num_gpus to the number of GPUs the model is split over",
        )
    sizes = _TABLE.get(family)
    if sizes is None:
        if family.startswith(ACCELERATED_PREFIXES) and family not in _CPU_LOOKALIKES:
            raise UnknownGpuCount(
                f"unknown GPU count for {instance_type}: the {family} family is not in "
                "deployspec's table",
                hint="set model.llm.num_gpus, and report the family to deployspec",
            )
        return Accelerators(0, "")
    found = sizes.get(size)
    if found is None:
        raise UnknownGpuCount(
            f"unknown GPU count for {instance_type}: the {family} family has no size {size} "
            "in deployspec's table",
            hint="set model.llm.num_gpus",
        )
    return found


def gpu_count(instance_type: str) -> int:
    """NVIDIA GPUs of `instance_type`: 0 for CPU, Inferentia, Trainium and Gaudi types."""
    found = accelerators(instance_type)
    return found.count if found.kind == _NVIDIA else 0


def accelerator_count(instance_type: str) -> int:
    """All accelerators of `instance_type`: GPUs, Inferentia / Trainium chips, Gaudi cards."""
    return accelerators(instance_type).count


def has_known_count(instance_type: str) -> bool:
    try:
        accelerators(instance_type)
    except UnknownGpuCount:
        return False
    return True


# CPU families whose names start like accelerated ones (none in botocore's enum today; the
# test keeps it honest).
_CPU_LOOKALIKES: frozenset[str] = frozenset()
