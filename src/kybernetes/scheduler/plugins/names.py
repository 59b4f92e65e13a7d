"""Plugin names, as upstream's `pkg/scheduler/framework/plugins/names`."""

PRIORITY_SORT = "PrioritySort"
SCHEDULING_GATES = "SchedulingGates"
NODE_UNSCHEDULABLE = "NodeUnschedulable"
NODE_NAME = "NodeName"
TAINT_TOLERATION = "TaintToleration"
NODE_AFFINITY = "NodeAffinity"
NODE_PORTS = "NodePorts"
NODE_RESOURCES_FIT = "NodeResourcesFit"
NODE_RESOURCES_BALANCED_ALLOCATION = "NodeResourcesBalancedAllocation"
POD_TOPOLOGY_SPREAD = "PodTopologySpread"
INTER_POD_AFFINITY = "InterPodAffinity"
IMAGE_LOCALITY = "ImageLocality"
DEFAULT_PREEMPTION = "DefaultPreemption"
DEFAULT_BINDER = "DefaultBinder"
VOLUME_BINDING = "VolumeBinding"

# Upstream plugins of the default profile that kybernetes does not have yet (volumes, DRA):
# a configuration naming them is accepted and they are left out, with a warning.
NOT_IMPLEMENTED = frozenset({
    "VolumeRestrictions", "NodeVolumeLimits", "VolumeZone",
    "DynamicResources", "NodeDeclaredFeatures", "GangScheduling",
})
