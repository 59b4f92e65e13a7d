"""ImageLocality: prefer nodes that already have the pod's images, weighted by image size
and by how widely the image is spread (an image on every node says nothing).

Upstream `pkg/scheduler/framework/plugins/imagelocality/image_locality.go`: per container
image on the node, `size * nodesWithImage / totalNodes`; the sum is clamped to
[23 MiB, 1000 MiB * containers] and scaled to 0..100. Node images come from
`status.images`; names without a tag count as `:latest`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from kybernetes.scheduler.interface import MAX_NODE_SCORE, CycleState, Handle, Scores
from kybernetes.scheduler.nodeinfo import NodeInfo
from kybernetes.scheduler.nodetable import NodeTable
from kybernetes.scheduler.plugins.names import IMAGE_LOCALITY
from kybernetes.scheduler.podinfo import PodInfo

MB = 1024 * 1024
MIN_THRESHOLD = 23 * MB
MAX_CONTAINER_THRESHOLD = 1000 * MB


def calculate_priority(sum_scores: int, num_containers: int) -> int:
    max_threshold = MAX_CONTAINER_THRESHOLD * num_containers
    if sum_scores < MIN_THRESHOLD:
        sum_scores = MIN_THRESHOLD
    elif sum_scores > max_threshold:
        sum_scores = max_threshold
    if max_threshold <= MIN_THRESHOLD:
        return 0
    return MAX_NODE_SCORE * (sum_scores - MIN_THRESHOLD) // (max_threshold - MIN_THRESHOLD)


def scaled_image_score(size: int, num_nodes: int, total_nodes: int) -> int:
    return int(size * (num_nodes / total_nodes)) if total_nodes else 0


def sum_image_scores(pod: PodInfo, node: NodeInfo, total_nodes: int) -> int:
    total = 0
    for image in pod.images:
        state = node.image_states.get(image)
        if state is not None:
            total += scaled_image_score(state.size, state.num_nodes, total_nodes)
    return total


class ImageLocality:
    name = IMAGE_LOCALITY

    def __init__(self, handle: Handle) -> None:
        self.handle = handle

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        total_nodes = self.handle.cache.num_nodes
        return calculate_priority(sum_image_scores(pod, node, total_nodes), len(pod.images))

    def score_vector(self, state: CycleState, pod: PodInfo, table: NodeTable,
                     slots: NDArray[np.intp]) -> Scores:
        total_nodes = self.handle.cache.num_nodes
        sums = np.zeros(table.size, dtype=np.int64)
        for image in pod.images:
            members = table.images.get(image)
            if not members:
                continue
            summary = self.handle.cache.image_states.get(image)
            if summary is None:
                continue
            sums[list(members)] += scaled_image_score(summary.size, summary.num_nodes,
                                                      total_nodes)
        chosen = sums[slots]
        max_threshold = MAX_CONTAINER_THRESHOLD * len(pod.images)
        if max_threshold <= MIN_THRESHOLD:
            return np.zeros(len(slots), dtype=np.int64)
        clamped = np.clip(chosen, MIN_THRESHOLD, max_threshold)
        out: Scores = MAX_NODE_SCORE * (clamped - MIN_THRESHOLD) // (max_threshold -
                                                                     MIN_THRESHOLD)
        return out


def new(args: Mapping[str, Any], handle: Handle) -> ImageLocality:
    return ImageLocality(handle)
