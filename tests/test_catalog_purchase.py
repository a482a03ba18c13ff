"""Every selectable catalog row can be bought the way its target emits it, checked against the clouds' own lists where
the test environment has a copy (moto's EC2 data for AWS, the managed online endpoint SKU list for Azure ML) and
against the documented rules elsewhere; retired rows are really gone; selection never picks a row it cannot buy."""

from __future__ import annotations

import gzip
import importlib.util
import json
import pathlib
import re

import pytest

from compiler import catalog
from targets import azureml

# moto's copies of EC2 DescribeInstanceTypes and DescribeInstanceTypeOfferings (location type "region"), generated
# from the EC2 API by moto's scripts/ec2_get_instance_type_offerings.py; moto is a pinned dev dependency. The p3.*
# types left DescribeInstanceTypes in getmoto/moto commit 50a0c55 ("Chore: Update EC2 types", #10000, 2026-05-01).
_MOTO = pathlib.Path(importlib.util.find_spec("moto").origin).parent / "ec2" / "resources"


def _gz_json(path: pathlib.Path):
    return json.loads(gzip.decompress(path.read_bytes()))


@pytest.fixture(scope="module")
def ec2_types() -> dict:
    return _gz_json(_MOTO / "instance_types.json.gz")


@pytest.fixture(scope="module")
def ec2_offered() -> set[str]:
    (region,) = {r.region for r in catalog.rows("aws")}
    return {o["InstanceType"] for o in _gz_json(_MOTO / "instance_type_offerings" / "region" / f"{region}.json.gz")}


AWS_LIVE = [r for r in catalog.rows("aws") if not r.retired]


@pytest.mark.parametrize("row", AWS_LIVE, ids=lambda r: r.instance_type)
def test_aws_row_is_sold_in_its_region_the_ways_it_says(row, ec2_types, ec2_offered):
    assert row.instance_type in ec2_offered, f"{row.instance_type} is not offered in {row.region}"
    assert row.purchase == set(ec2_types[row.instance_type]["SupportedUsageClasses"])


def test_retired_aws_rows_are_gone_from_ec2(ec2_types):
    retired = [r.instance_type for r in catalog.rows("aws") if r.retired]
    assert retired == ["p3.2xlarge", "p3.8xlarge", "p3.16xlarge"]
    assert [t for t in retired if t in ec2_types] == []


def test_azureml_rows_are_on_the_managed_online_endpoint_sku_list():
    # Managed online deployments run on dedicated capacity only: no spot (targets/azureml.py refuses it).
    rows = catalog.rows("azureml")
    assert [r.instance_type for r in rows if r.instance_type.lower() not in azureml.SUPPORTED_SIZES] == []
    assert {r.purchase for r in rows} == {frozenset({catalog.ON_DEMAND})}


def test_azure_spot_rows_are_sizes_spot_vms_support():
    # "The following VM sizes are not supported for Azure Spot Virtual Machines: B-series, Promo versions of any size"
    # (https://learn.microsoft.com/azure/virtual-machines/spot-vms).
    spot = [r.instance_type for r in catalog.rows("azure") if r.sells(catalog.SPOT)]
    assert [t for t in spot if re.match(r"Standard_B\d", t) or "Promo" in t] == []
    assert all(r.sells(catalog.ON_DEMAND) for r in catalog.rows("azure"))


def test_gcp_rows_sold_without_on_demand_are_the_documented_families():
    # A3 Ultra and A4 are offered through future reservations, Flex-start and Spot only: the STANDARD provisioning
    # model infc emits for hardware.spot: false cannot create them
    # (https://cloud.google.com/ai-hypercomputer/docs/consumption-models; SkyPilot's catalogs/v8/gcp/vms.csv lists no
    # on-demand price for a4-highgpu-8g).
    rows = catalog.rows("gcp")
    assert sorted({r.instance_type for r in rows if not r.sells(catalog.ON_DEMAND)}) == ["a3-ultragpu-8g",
                                                                                      "a4-highgpu-8g"]
    assert all(r.sells(catalog.SPOT) for r in rows)  # every GPU machine but A4X has Spot (same page)


COMBOS = sorted({(cloud, r.accelerator, r.accelerator_count, r.arch) for cloud in catalog.clouds()
                 for r in catalog.rows(cloud)})


@pytest.mark.parametrize("how", [catalog.ON_DEMAND, catalog.SPOT])
@pytest.mark.parametrize("cloud, accelerator, count, arch", COMBOS)
def test_selection_only_returns_rows_sold_the_way_asked(cloud, accelerator, count, arch, how):
    sold = [r for r in catalog.rows(cloud) if (r.accelerator, r.accelerator_count, r.arch) == (accelerator, count, arch)
            and r.sells(how) and not r.retired]
    try:
        chosen = catalog.select(cloud, accelerator, count, arch, None, None, how=how)
    except catalog.NoMatch:
        assert sold == []
        return
    assert chosen in sold and chosen.price_usd_hour == min(r.price_usd_hour for r in sold)


@pytest.mark.parametrize("target, spot, how", [
    ("aws", True, "spot"), ("azure", True, "spot"), ("gcp", True, "spot"), ("gke", True, "spot"),
    ("azureml", True, "on-demand"),  # its check refuses spot, with the reason
    ("aws", False, "on-demand"), ("gcp", False, "on-demand"),
])
def test_each_target_buys_the_way_it_emits(target, spot, how):
    assert catalog.how_bought(target, spot) == how
