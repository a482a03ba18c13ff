"""Catalog data: every row well-formed, selection rules, and every example resolving on its targets."""

from __future__ import annotations

import datetime
import re

import pytest

from compiler import catalog
from compiler.catalog import NoMatch, select

CLOUDS = catalog.clouds()


@pytest.mark.parametrize("cloud", CLOUDS)
def test_rows_are_well_formed(cloud):
    rows = catalog.rows(cloud)
    assert rows, f"{cloud}.csv is empty"
    names = [r.instance_type for r in rows]
    for r in rows:
        where = f"{cloud}.csv {r.instance_type}"
        assert r.accelerator in (*catalog.ACCELERATORS, catalog.NONE), where
        assert (r.accelerator_count == 0) == (r.accelerator == catalog.NONE), where
        assert (r.accelerator_memory_gib == 0) == (r.accelerator == catalog.NONE), where
        assert r.vcpus > 0 and r.memory_gib > 0 and r.price_usd_hour > 0, where
        assert r.arch in ("x86_64", "arm64"), where
        assert re.fullmatch(r"\d{4}-\d{2}", r.price_date), where
        assert datetime.date.fromisoformat(r.checked) <= datetime.date.today(), where
        assert r.purchase == {catalog.RETIRED} or (r.purchase and r.purchase <= set(catalog.PURCHASE)), where
        assert len({x.region for x in rows}) == 1, f"{cloud}: one reference region"
    if cloud == "gcp":  # attached or bundled GPUs need Google's accelerator type name
        assert all(r.provider_accelerator for r in rows if r.accelerator != catalog.NONE)
    duplicated = [(r.instance_type, r.accelerator, r.accelerator_count) for r in rows]
    assert len(duplicated) == len(set(duplicated)), f"{cloud}: duplicate rows"
    assert len(names) >= 10


def test_catalog_targets_are_declared():
    assert set(catalog.CATALOG_OF.values()) - {None} == set(CLOUDS)


def test_cheapest_fit_is_selected():
    chosen = select("aws", "nvidia-l4", 1, "x86_64", cpus=None, memory_gib=None)
    l4 = [r for r in catalog.rows("aws") if r.accelerator == "nvidia-l4" and r.accelerator_count == 1]
    assert chosen.price_usd_hour == min(r.price_usd_hour for r in l4)


def test_minimums_filter_then_cheapest():
    chosen = select("aws", "nvidia-l4", 1, "x86_64", cpus=16, memory_gib=None)
    assert chosen.vcpus >= 16 and chosen.accelerator_count == 1
    cheaper = [r for r in catalog.rows("aws") if r.accelerator == "nvidia-l4" and r.accelerator_count == 1
               and r.vcpus >= 16 and r.price_usd_hour < chosen.price_usd_hour]
    assert cheaper == []


def test_impossible_count_lists_counts_that_exist():
    with pytest.raises(NoMatch, match=r"nvidia-t4 comes only in counts of 1, 4, 8 per instance, not 3"):
        select("aws", "nvidia-t4", 3, "x86_64", None, None)


def test_accelerator_missing_on_a_cloud_names_where_it_is():
    with pytest.raises(NoMatch, match=r"no x86_64 instance type has nvidia-a10 \(offered on: azure, azureml\)"):
        select("aws", "nvidia-a10", 1, "x86_64", None, None)


def test_cpu_selection():
    chosen = select("aws", catalog.NONE, 0, "x86_64", cpus=4, memory_gib=8)
    assert chosen.accelerator == catalog.NONE and chosen.vcpus >= 4 and chosen.memory_gib >= 8


def test_selection_measures_requests_against_what_the_target_leaves_a_replica():
    whole = select("gcp", "nvidia-l4", 1, "x86_64", cpus=4, memory_gib=16)
    assert whole.instance_type == "g2-standard-4"  # 4 vCPUs, 16 GB: exactly the request

    def half(vcpus, memory):  # a target that keeps half of every machine
        return vcpus / 2, memory / 2

    fitted = select("gcp", "nvidia-l4", 1, "x86_64", cpus=4, memory_gib=16, allocatable=half)
    assert fitted.vcpus >= 8 and fitted.memory_gib >= 32
    with pytest.raises(NoMatch, match=r"of which .* are left for a replica"):
        select("gcp", "nvidia-l4", 1, "x86_64", cpus=64, memory_gib=None, allocatable=half)


def test_every_canonical_accelerator_is_sold_somewhere_with_one_memory_size():
    for accelerator in catalog.ACCELERATORS:
        assert catalog.offered_on(accelerator), accelerator
        sizes = {r.accelerator_memory_gib for c in CLOUDS for r in catalog.rows(c) if r.accelerator == accelerator}
        assert len(sizes) == 1, f"{accelerator}: {sizes}"


def test_a_type_sold_only_by_reservation_flex_start_or_spot_is_skipped_on_demand():
    with pytest.raises(NoMatch) as err:
        select("gcp", "nvidia-h200", 8, "x86_64", None, None)
    assert (str(err.value), err.value.field) == (
        "no x86_64 instance type with nvidia-h200 is sold on-demand: a3-ultragpu-8g is sold only as spot, flex-start "
        "or reservation; set hardware.spot: true", "spot")
    assert select("gcp", "nvidia-h200", 8, "x86_64", None, None, how="spot").instance_type == "a3-ultragpu-8g"


def test_retired_types_are_never_selected_and_the_error_says_so():
    with pytest.raises(NoMatch) as err:
        select("aws", "nvidia-v100-16gb", 1, "x86_64", None, None)
    assert (str(err.value), err.value.field) == (
        "no x86_64 instance type has nvidia-v100-16gb: aws retired p3.2xlarge, p3.8xlarge and p3.16xlarge "
        "(offered on: gcp)", "accelerator")


def test_an_accelerator_on_another_arch_says_which():
    with pytest.raises(NoMatch) as err:
        select("aws", "nvidia-t4g", 1, "x86_64", None, None)
    assert (str(err.value), err.value.field) == (
        "no x86_64 instance type has nvidia-t4g; it comes only with arm64 CPUs (set hardware.arch)", "arch")


@pytest.mark.parametrize("cloud, accelerator, count, arch, how, expected", [
    ("aws", "nvidia-v100-32gb", 8, "x86_64", "on-demand", "p3dn.24xlarge"),
    ("gcp", "nvidia-v100-16gb", 1, "x86_64", "on-demand", "n1-standard-4"),
    ("gcp", "nvidia-v100-16gb", 8, "x86_64", "spot", "n1-standard-32"),
    ("aws", "nvidia-t4g", 1, "arm64", "on-demand", "g5g.xlarge"),
    ("aws", "nvidia-t4g", 2, "arm64", "spot", "g5g.16xlarge"),
    ("aws", "nvidia-b200", 8, "x86_64", "on-demand", "p6-b200.48xlarge"),
    ("gcp", "nvidia-b200", 8, "x86_64", "spot", "a4-highgpu-8g"),
    ("azure", "nvidia-h100-nvl", 1, "x86_64", "on-demand", "Standard_NC40ads_H100_v5"),
    ("azure", "nvidia-h100-nvl", 2, "x86_64", "spot", "Standard_NC80adis_H100_v5"),
    ("azureml", "nvidia-h100-nvl", 1, "x86_64", "on-demand", "Standard_NC40ads_H100_v5"),
    ("azureml", "nvidia-h100-nvl", 2, "x86_64", "on-demand", "Standard_NC80adis_H100_v5"),
    ("azure", "nvidia-a10", 1, "x86_64", "on-demand", "Standard_NV36ads_A10_v5"),
    ("aws", "nvidia-a10g", 1, "x86_64", "on-demand", "g5.xlarge"),
])
def test_new_names_select_the_right_types(cloud, accelerator, count, arch, how, expected):
    assert select(cloud, accelerator, count, arch, None, None, how=how).instance_type == expected


def test_b200_on_gcp_is_not_sold_on_demand():
    with pytest.raises(NoMatch, match=r"^no x86_64 instance type with nvidia-b200 is sold on-demand: a4-highgpu-8g is "
                                      r"sold only as spot, flex-start or reservation; set hardware.spot: true$"):
        select("gcp", "nvidia-b200", 8, "x86_64", None, None)


@pytest.mark.parametrize("cpus, memory_gib, expected", [
    (16, None, "Standard_F16s_v2"),  # unchanged: the new sizes cost more than every size that fitted before
    (17, None, "Standard_F32s_v2"),
    (None, 33, "Standard_F32s_v2"),
    (64, None, "Standard_F64s_v2"),
    (None, 144, "Standard_F72s_v2"),
])
def test_azureml_cpu_sizes_above_16_vcpus(cpus, memory_gib, expected):
    assert select("azureml", catalog.NONE, 0, "x86_64", cpus, memory_gib).instance_type == expected


def test_a_count_sold_only_another_way_is_named(monkeypatch):
    def row(name, count, purchase):
        return catalog.InstanceType("gcp", name, "nvidia-h200", count, 141, 26 * count, 234.0 * count, "x86_64",
                                    count * 10.0, "us-central1", "2026-12", "nvidia-h200-141gb", frozenset(purchase),
                                    "2026-12-01")
    fake = (row("x-1g", 1, {"on-demand", "spot"}), row("x-8g", 8, {"spot", "reservation"}))
    monkeypatch.setattr(catalog, "rows", lambda cloud: fake)
    with pytest.raises(NoMatch) as err:
        select("gcp", "nvidia-h200", 8, "x86_64", None, None)
    assert (str(err.value), err.value.field) == (
        "nvidia-h200 comes only in counts of 1 per instance, not 8; x-8g with 8 is not sold on-demand", "count")
    assert select("gcp", "nvidia-h200", 8, "x86_64", None, None, how="spot").instance_type == "x-8g"
