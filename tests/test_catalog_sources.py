"""Catalog rows agree with the cloud's own instance-type facts where the test environment has a copy: every AWS row
names a real EC2 instance type with the vCPUs, memory, GPUs and architecture the row claims. The copy is moto's
EC2 instance-type data (moto/ec2/resources/instance_types.json.gz, generated from EC2 DescribeInstanceTypes by
moto's scripts/ec2_get_instance_type_offerings.py), installed with the dev dependencies."""

from __future__ import annotations

import gzip
import importlib.util
import json
import pathlib

import pytest

from compiler import catalog
from tests.conftest import moto

# Canonical accelerator -> EC2's GpuInfo name (moto spells T4g with a lowercase g).
EC2_GPUS = {"nvidia-t4": "T4", "nvidia-t4g": "T4g", "nvidia-l4": "L4", "nvidia-a10g": "A10G", "nvidia-l40s": "L40S",
            "nvidia-v100-16gb": "V100", "nvidia-v100-32gb": "V100", "nvidia-a100-40gb": "A100",
            "nvidia-a100-80gb": "A100", "nvidia-h100-80gb": "H100", "nvidia-h200": "H200", "nvidia-b200": "B200"}


@pytest.fixture(scope="module")
def ec2_types() -> dict:
    moto()
    data = pathlib.Path(importlib.util.find_spec("moto").origin).parent / "ec2/resources/instance_types.json.gz"
    return json.loads(gzip.decompress(data.read_bytes()))


# Retired rows (the p3 family, purchase "retired": never selected, kept so that naming one gets a clear error) are
# absent from EC2's data: tests/test_catalog_purchase.py checks that.
@pytest.mark.parametrize("row", [r for r in catalog.rows("aws") if not r.retired],
                         ids=lambda r: f"{r.instance_type}")
def test_aws_row_matches_ec2(ec2_types, row):
    assert row.instance_type in ec2_types, f"{row.instance_type} is not an EC2 instance type"
    facts = ec2_types[row.instance_type]
    assert facts["VCpuInfo"]["DefaultVCpus"] == row.vcpus
    assert facts["MemoryInfo"]["SizeInMiB"] == row.memory_gib * 1024
    assert row.arch in facts["ProcessorInfo"]["SupportedArchitectures"]
    gpus = facts.get("GpuInfo", {}).get("Gpus", [])
    if row.accelerator == catalog.NONE:
        assert gpus == []
        return
    (gpu,) = gpus
    assert (gpu["Manufacturer"], gpu["Name"], gpu["Count"]) == ("NVIDIA", EC2_GPUS[row.accelerator],
                                                               row.accelerator_count)
