"""Catalog data: every row well-formed, selection rules, and every example resolving on its targets."""

from __future__ import annotations

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
