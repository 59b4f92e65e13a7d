"""KubeSchedulerConfiguration: defaults, upstream's plugin-set merging and multiPoint
expansion, weights, profiles and errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from kybernetes.scheduler.config import (
    ConfigError,
    default_profile,
    load_config,
    parse_config,
    parse_duration,
)
from tests.scheduler.helpers import cache_of, framework


def names(plugins: list[object]) -> list[str]:
    return [p.name for p in plugins]  # type: ignore[attr-defined]


def test_default_profile_extension_points_and_weights() -> None:
    fw = framework(cache_of([]))
    assert names(fw.filter) == ["NodeUnschedulable", "NodeName", "TaintToleration",
                                "NodeAffinity", "NodePorts", "NodeResourcesFit",
                                "VolumeBinding", "PodTopologySpread", "InterPodAffinity"]
    assert names(fw.pre_filter) == ["NodeAffinity", "NodePorts", "NodeResourcesFit",
                                    "VolumeBinding", "PodTopologySpread", "InterPodAffinity"]
    assert names(fw.reserve) == ["VolumeBinding"]
    assert names(fw.pre_bind) == ["VolumeBinding"]
    assert names(fw.score) == ["TaintToleration", "NodeAffinity", "NodeResourcesFit",
                               "PodTopologySpread", "InterPodAffinity",
                               "NodeResourcesBalancedAllocation", "ImageLocality"]
    assert fw.weights == {"TaintToleration": 3, "NodeAffinity": 2, "NodeResourcesFit": 1,
                          "PodTopologySpread": 2, "InterPodAffinity": 2,
                          "NodeResourcesBalancedAllocation": 1, "ImageLocality": 1}
    assert names(fw.post_filter) == ["DefaultPreemption"]
    assert names(fw.bind) == ["DefaultBinder"]
    assert names(fw.pre_enqueue) == ["SchedulingGates"]
    assert fw.queue_sort.name == "PrioritySort"  # type: ignore[attr-defined]


def test_profiles_disable_reweight_and_configure_plugins() -> None:
    cfg = parse_config({
        "apiVersion": "kubescheduler.config.k8s.io/v1", "kind": "KubeSchedulerConfiguration",
        "percentageOfNodesToScore": 30,
        "clientConnection": {"qps": 500, "burst": 1000},
        "leaderElection": {"leaderElect": False, "leaseDuration": "20s"},
        "profiles": [
            {"schedulerName": "default-scheduler"},
            {"schedulerName": "packer",
             "plugins": {"score": {"disabled": [{"name": "NodeResourcesBalancedAllocation"}],
                                   "enabled": [{"name": "NodeResourcesFit", "weight": 5}]},
                         "filter": {"disabled": [{"name": "TaintToleration"}]},
                         "multiPoint": {"enabled": [{"name": "VolumeZone"}]}},
             "pluginConfig": [{"name": "NodeResourcesFit", "args": {
                 "scoringStrategy": {"type": "MostAllocated"}}}]}]})
    assert cfg.percentage_of_nodes_to_score == 30 and cfg.qps == 500 and cfg.burst == 1000
    assert not cfg.leader_elect and cfg.lease_duration == 20
    packer = framework(cache_of([]), cfg.profiles[1])
    assert "NodeResourcesBalancedAllocation" not in names(packer.score)
    assert names(packer.score)[0] == "NodeResourcesFit"  # explicitly configured goes first
    assert packer.weights["NodeResourcesFit"] == 5
    assert "TaintToleration" not in names(packer.filter)
    assert "TaintToleration" in names(packer.score)
    assert packer.plugins["NodeResourcesFit"].scorer.name == "MostAllocated"


def test_disable_all_and_enable_some() -> None:
    cfg = parse_config({"profiles": [{"schedulerName": "minimal", "plugins": {
        "multiPoint": {"disabled": [{"name": "*"}], "enabled": [
            {"name": "PrioritySort"}, {"name": "NodeResourcesFit", "weight": 2},
            {"name": "DefaultBinder"}]}}}]})
    fw = framework(cache_of([]), cfg.profiles[0])
    assert names(fw.filter) == ["NodeResourcesFit"]
    assert fw.weights == {"NodeResourcesFit": 2}


@pytest.mark.parametrize(("doc", "error"), [
    ({"apiVersion": "kubescheduler.config.k8s.io/v1beta3"}, "no kind"),
    ({"profiles": [{"schedulerName": "a"}, {"schedulerName": "a"}]}, "Duplicate"),
    ({"percentageOfNodesToScore": 101}, "percentageOfNodesToScore"),
    ({"podInitialBackoffSeconds": 5, "podMaxBackoffSeconds": 1}, "podMaxBackoffSeconds"),
    ({"profiles": [{"plugins": {"sideways": {}}}]}, "unknown extension point"),
])
def test_invalid_configurations(doc: dict[str, object], error: str) -> None:
    with pytest.raises(ConfigError, match=error):
        parse_config(doc)


def test_unknown_plugins_and_bad_args_fail_at_framework_build() -> None:
    cfg = parse_config({"profiles": [{"plugins": {"multiPoint": {"enabled": [
        {"name": "Imaginary"}]}}}]})
    with pytest.raises(ConfigError, match="Imaginary"):
        framework(cache_of([]), cfg.profiles[0])
    cfg = parse_config({"profiles": [{"pluginConfig": [{"name": "NodeResourcesFit", "args": {
        "scoringStrategy": {"type": "Bogus"}}}]}]})
    with pytest.raises(ConfigError, match="Bogus"):
        framework(cache_of([]), cfg.profiles[0])


def test_load_from_file(tmp_path: Path) -> None:
    path = tmp_path / "sched.yaml"
    path.write_text("apiVersion: kubescheduler.config.k8s.io/v1\n"
                    "kind: KubeSchedulerConfiguration\n"
                    "profiles:\n- schedulerName: one\n- schedulerName: two\n")
    assert [p.scheduler_name for p in load_config(path).profiles] == ["one", "two"]
    assert default_profile().scheduler_name == "default-scheduler"


def test_durations() -> None:
    assert parse_duration("1m30s") == 90 and parse_duration(2) == 2
    assert parse_duration("500ms") == 0.5
    with pytest.raises(ConfigError):
        parse_duration("soon")
