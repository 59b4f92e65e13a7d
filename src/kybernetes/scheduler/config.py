"""Scheduler configuration: upstream's `KubeSchedulerConfiguration`
(`kubescheduler.config.k8s.io/v1`), read from a YAML file.

    apiVersion: kubescheduler.config.k8s.io/v1
    kind: KubeSchedulerConfiguration
    clientConnection: {qps: 50, burst: 100}
    leaderElection: {leaderElect: true, resourceName: kube-scheduler}
    percentageOfNodesToScore: 0          # 0: adaptive (50% - nodes/125, at least 5%)
    podInitialBackoffSeconds: 1
    podMaxBackoffSeconds: 10
    profiles:
    - schedulerName: default-scheduler
      plugins:
        score:
          disabled: [{name: NodeResourcesBalancedAllocation}]
      pluginConfig:
      - name: NodeResourcesFit
        args: {scoringStrategy: {type: MostAllocated}}
    - schedulerName: bin-packer
      ...

Defaults and merging are upstream's: every profile starts from the default plugin set (one
`multiPoint` list with the default score weights: TaintToleration 3, NodeAffinity 2,
PodTopologySpread 2, InterPodAffinity 2, NodeResourcesFit 1,
NodeResourcesBalancedAllocation 1, ImageLocality 1); a profile's `disabled` entries remove
defaults (`*` removes all) and its `enabled` entries replace a default in place or are
appended. `expand_profile` then turns the multiPoint list into one ordered list per
extension point, as upstream's `expandMultiPointPlugins` does (explicitly configured
plugins first, then multiPoint ones, then the remaining explicit ones). Upstream plugins we
do not have (the other volume plugins, DRA) are accepted and left out with a warning.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kybernetes.scheduler.plugins import names

log = logging.getLogger(__name__)

API_VERSION = "kubescheduler.config.k8s.io/v1"
KIND = "KubeSchedulerConfiguration"
DEFAULT_SCHEDULER_NAME = "default-scheduler"

EXTENSION_POINTS = ("preEnqueue", "queueSort", "preFilter", "filter", "postFilter",
                    "preScore", "score", "reserve", "permit", "preBind", "bind", "postBind")

# Upstream's default plugins (pkg/scheduler/apis/config/v1/default_plugins.go), in order;
# VolumeRestrictions, NodeVolumeLimits, VolumeZone and the DRA plugins of upstream's list
# are not implemented here.
DEFAULT_MULTI_POINT: tuple[tuple[str, int | None], ...] = (
    (names.SCHEDULING_GATES, None),
    (names.PRIORITY_SORT, None),
    (names.NODE_UNSCHEDULABLE, None),
    (names.NODE_NAME, None),
    (names.TAINT_TOLERATION, 3),
    (names.NODE_AFFINITY, 2),
    (names.NODE_PORTS, None),
    (names.NODE_RESOURCES_FIT, 1),
    (names.VOLUME_BINDING, None),
    (names.POD_TOPOLOGY_SPREAD, 2),
    (names.INTER_POD_AFFINITY, 2),
    (names.DEFAULT_PREEMPTION, None),
    (names.NODE_RESOURCES_BALANCED_ALLOCATION, 1),
    (names.IMAGE_LOCALITY, 1),
    (names.DEFAULT_BINDER, None),
)


class ConfigError(ValueError):
    pass


@dataclass(frozen=True)
class PluginRef:
    name: str
    weight: int | None = None


@dataclass
class PluginSet:
    enabled: list[PluginRef] = field(default_factory=list)
    disabled: list[str] = field(default_factory=list)


@dataclass
class Profile:
    scheduler_name: str = DEFAULT_SCHEDULER_NAME
    plugins: dict[str, PluginSet] = field(default_factory=dict)
    plugin_config: dict[str, dict[str, Any]] = field(default_factory=dict)
    percentage_of_nodes_to_score: int | None = None


@dataclass
class SchedulerConfiguration:
    profiles: list[Profile] = field(default_factory=lambda: [default_profile()])
    percentage_of_nodes_to_score: int = 0
    pod_initial_backoff_seconds: float = 1.0
    pod_max_backoff_seconds: float = 10.0
    # Pods unschedulable for this long are retried even without a relevant event.
    pod_max_in_unschedulable_pods_duration: float = 300.0
    qps: float = 50.0
    burst: int = 100
    kubeconfig: str | None = None
    leader_elect: bool = True
    lease_name: str = "kube-scheduler"
    lease_namespace: str = "kube-system"
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0

    def profile(self, scheduler_name: str) -> Profile | None:
        return next((p for p in self.profiles if p.scheduler_name == scheduler_name), None)


def default_plugins() -> dict[str, PluginSet]:
    return {"multiPoint": PluginSet([PluginRef(n, w) for n, w in DEFAULT_MULTI_POINT])}


def default_profile(scheduler_name: str = DEFAULT_SCHEDULER_NAME) -> Profile:
    return Profile(scheduler_name, default_plugins())


_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(value: Any) -> float:
    """A metav1.Duration ("15s", "1m30s") or a number of seconds."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    text = str(value).strip()
    total, position = 0.0, 0
    for match in _DURATION.finditer(text):
        if match.start() != position:
            break
        total += float(match[1]) * _UNITS[match[2]]
        position = match.end()
    if not text or position != len(text):
        raise ConfigError(f"invalid duration {value!r}")
    return total


def _plugin_set(raw: Any, where: str) -> PluginSet:
    if raw is None:
        return PluginSet()
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: must be an object")
    enabled = []
    for item in raw.get("enabled") or ():
        if not isinstance(item, Mapping) or not item.get("name"):
            raise ConfigError(f"{where}.enabled: each plugin needs a name")
        weight = item.get("weight")
        enabled.append(PluginRef(str(item["name"]), int(weight) if weight is not None else None))
    disabled = []
    for item in raw.get("disabled") or ():
        if not isinstance(item, Mapping) or not item.get("name"):
            raise ConfigError(f"{where}.disabled: each plugin needs a name")
        disabled.append(str(item["name"]))
    return PluginSet(enabled, disabled)


def merge_plugin_set(default: PluginSet, custom: PluginSet) -> PluginSet:
    """Upstream's `mergePluginSet`."""
    disabled = list(custom.disabled) + list(default.disabled)
    disabled_names = set(disabled)
    custom_by_name = {p.name: i for i, p in enumerate(custom.enabled)}
    replaced: set[int] = set()
    enabled: list[PluginRef] = []
    if "*" not in disabled_names:
        for plugin in default.enabled:
            if plugin.name in disabled_names:
                continue
            index = custom_by_name.get(plugin.name)
            if index is not None:
                plugin = custom.enabled[index]
                replaced.add(index)
            enabled.append(plugin)
    enabled += [p for i, p in enumerate(custom.enabled) if i not in replaced]
    return PluginSet(enabled, disabled)


def merge_plugins(default: dict[str, PluginSet], custom: dict[str, PluginSet]
                  ) -> dict[str, PluginSet]:
    out: dict[str, PluginSet] = {}
    for point in ("multiPoint", *EXTENSION_POINTS):
        d, c = default.get(point, PluginSet()), custom.get(point, PluginSet())
        merged = merge_plugin_set(d, c)
        if merged.enabled or merged.disabled:
            out[point] = merged
    return out


def _profile(raw: Mapping[str, Any], index: int) -> Profile:
    where = f"profiles[{index}]"
    name = str(raw.get("schedulerName") or DEFAULT_SCHEDULER_NAME)
    custom: dict[str, PluginSet] = {}
    plugins = raw.get("plugins") or {}
    if not isinstance(plugins, Mapping):
        raise ConfigError(f"{where}.plugins: must be an object")
    for point, value in plugins.items():
        if point != "multiPoint" and point not in EXTENSION_POINTS:
            raise ConfigError(f'{where}.plugins: unknown extension point "{point}"')
        custom[point] = _plugin_set(value, f"{where}.plugins.{point}")
    config: dict[str, dict[str, Any]] = {}
    for item in raw.get("pluginConfig") or ():
        if not isinstance(item, Mapping) or not item.get("name"):
            raise ConfigError(f"{where}.pluginConfig: each entry needs a name")
        plugin = str(item["name"])
        if plugin in config:
            raise ConfigError(f'{where}.pluginConfig: Duplicate value: "{plugin}"')
        args = item.get("args") or {}
        if not isinstance(args, Mapping):
            raise ConfigError(f"{where}.pluginConfig[{plugin}].args: must be an object")
        config[plugin] = dict(args)
    percentage = raw.get("percentageOfNodesToScore")
    return Profile(name, merge_plugins(default_plugins(), custom), config,
                   int(percentage) if percentage is not None else None)


def parse_config(doc: Mapping[str, Any] | None) -> SchedulerConfiguration:
    """A configuration from a decoded KubeSchedulerConfiguration document."""
    doc = doc or {}
    api_version = doc.get("apiVersion")
    if api_version and api_version != API_VERSION:
        raise ConfigError(f'no kind "{doc.get("kind")}" is registered for version '
                          f'"{api_version}" (only {API_VERSION})')
    if doc.get("kind") and doc["kind"] != KIND:
        raise ConfigError(f"kind must be {KIND}, not {doc['kind']}")
    cfg = SchedulerConfiguration()
    raw_profiles = doc.get("profiles") or []
    if raw_profiles:
        cfg.profiles = [_profile(p, i) for i, p in enumerate(raw_profiles)]
    seen: set[str] = set()
    for profile in cfg.profiles:
        if profile.scheduler_name in seen:
            raise ConfigError(f'profiles: Duplicate value: "{profile.scheduler_name}"')
        seen.add(profile.scheduler_name)
    percentage = doc.get("percentageOfNodesToScore")
    if percentage is not None:
        cfg.percentage_of_nodes_to_score = int(percentage)
    for p in [cfg.percentage_of_nodes_to_score, *(
            q.percentage_of_nodes_to_score for q in cfg.profiles)]:
        if p is not None and not 0 <= p <= 100:
            raise ConfigError("percentageOfNodesToScore: Invalid value: not in valid range "
                              "[0-100]")
    if doc.get("podInitialBackoffSeconds") is not None:
        cfg.pod_initial_backoff_seconds = float(doc["podInitialBackoffSeconds"])
    if doc.get("podMaxBackoffSeconds") is not None:
        cfg.pod_max_backoff_seconds = float(doc["podMaxBackoffSeconds"])
    if cfg.pod_max_backoff_seconds < cfg.pod_initial_backoff_seconds:
        raise ConfigError("podMaxBackoffSeconds: must be greater than or equal to "
                          "PodInitialBackoffSeconds")
    client = doc.get("clientConnection") or {}
    if client.get("qps") is not None:
        cfg.qps = float(client["qps"])
    if client.get("burst") is not None:
        cfg.burst = int(client["burst"])
    if client.get("kubeconfig"):
        cfg.kubeconfig = str(client["kubeconfig"])
    election = doc.get("leaderElection") or {}
    if election.get("leaderElect") is not None:
        cfg.leader_elect = bool(election["leaderElect"])
    cfg.lease_name = str(election.get("resourceName") or cfg.lease_name)
    cfg.lease_namespace = str(election.get("resourceNamespace") or cfg.lease_namespace)
    for key, attr in (("leaseDuration", "lease_duration"), ("renewDeadline", "renew_deadline"),
                      ("retryPeriod", "retry_period")):
        if election.get(key) is not None:
            setattr(cfg, attr, parse_duration(election[key]))
    return cfg


def load_config(path: str | Path) -> SchedulerConfiguration:
    try:
        doc = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError(f"reading {path}: {err}") from err
    if doc is not None and not isinstance(doc, Mapping):
        raise ConfigError(f"{path}: not a KubeSchedulerConfiguration object")
    return parse_config(doc)


# ----------------------------------------------------------------------------- expansion


@dataclass
class ExpandedProfile:
    """Plugin names per extension point, in order, and the score weights."""

    points: dict[str, list[str]]
    weights: dict[str, int]
    needed: list[str]


def expand_profile(profile: Profile, implements: Mapping[str, set[str]]) -> ExpandedProfile:
    """Upstream's `expandMultiPointPlugins` and `getScoreWeights`. `implements` maps each
    instantiable plugin name to the extension points it implements."""
    plugins = profile.plugins
    multi = plugins.get("multiPoint", PluginSet())
    points: dict[str, list[str]] = {}
    for point in EXTENSION_POINTS:
        specific = plugins.get(point, PluginSet())
        enabled = [p.name for p in specific.enabled if p.name in implements]
        for name in enabled:
            if point not in implements[name]:
                raise ConfigError(f'plugin "{name}" does not extend {point} plugin')
        disabled = set(specific.disabled)
        if "*" in disabled:
            points[point] = _dedupe(enabled, point)
            continue
        overrides: list[str] = []
        from_multi: list[str] = []
        for ref in multi.enabled:
            if ref.name not in implements or point not in implements[ref.name]:
                continue
            if ref.name in disabled:
                continue
            if ref.name in enabled:
                overrides.append(ref.name)
                continue
            if ref.name in from_multi:
                raise ConfigError(f'plugin "{ref.name}" already registered as "{point}"')
            from_multi.append(ref.name)
        ordered = [n for n in enabled if n in overrides] + from_multi + \
            [n for n in enabled if n not in overrides]
        points[point] = _dedupe(ordered, point)
    weights: dict[str, int] = {}
    for ref in [*plugins.get("score", PluginSet()).enabled, *multi.enabled]:
        if ref.name in weights or ref.name not in points["score"]:
            continue
        weights[ref.name] = ref.weight or 1
    needed = []
    for names_ in points.values():
        for name in names_:
            if name not in needed:
                needed.append(name)
    return ExpandedProfile(points, weights, needed)


def _dedupe(names_: list[str], point: str) -> list[str]:
    seen: list[str] = []
    for name in names_:
        if name in seen:
            raise ConfigError(f'plugin "{name}" already registered as "{point}"')
        seen.append(name)
    return seen


def referenced_plugins(profile: Profile) -> list[str]:
    out: list[str] = []
    for plugin_set in profile.plugins.values():
        for ref in plugin_set.enabled:
            if ref.name not in out:
                out.append(ref.name)
    return out


def check_known(profile: Profile, known: set[str]) -> list[str]:
    """Plugin names the profile enables that are unknown; upstream plugins we lack are
    dropped with a warning instead."""
    unknown = []
    for name in referenced_plugins(profile):
        if name in known:
            continue
        if name in names.NOT_IMPLEMENTED:
            log.warning("profile %s: plugin %s is not implemented in kybernetes; skipped",
                        profile.scheduler_name, name)
            continue
        unknown.append(name)
    return unknown
