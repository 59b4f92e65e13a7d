"""The admission chain runs, in order, only the plugins that declare they handle a target,
deciding once per target, and forgets its decisions when its plugins are replaced."""

from __future__ import annotations

from dataclasses import dataclass, field

from kybernetes.api.registry import ResourceInfo
from kybernetes.apiserver.admission.chain import (
    AdmissionChain,
    AdmissionRequest,
    Operation,
    Phase,
    Target,
)

LEASES = ResourceInfo(group="coordination.k8s.io", version="v1", kind="Lease",
                      plural="leases", singular="lease", namespaced=True)


@dataclass
class Recorder:
    name: str
    phases: dict[str, Phase]  # operation -> phases
    calls: list[str]
    asked: list[Target] = field(default_factory=list)

    def handles(self, target: Target) -> Phase:
        self.asked.append(target)
        return self.phases.get(target.operation, Phase.NONE)

    async def admit(self, request: AdmissionRequest) -> None:
        self.calls.append(f"{self.name}.admit")

    async def validate(self, request: AdmissionRequest) -> None:
        self.calls.append(f"{self.name}.validate")


def request(operation: Operation) -> AdmissionRequest:
    return AdmissionRequest(operation, LEASES, "ns", "n1", {}, {})


async def test_only_plugins_handling_the_target_run_in_order() -> None:
    calls: list[str] = []
    a = Recorder("a", {"UPDATE": Phase.ADMIT, "CREATE": Phase.BOTH}, calls)
    b = Recorder("b", {"UPDATE": Phase.VALIDATE}, calls)
    c = Recorder("c", {"CREATE": Phase.BOTH, "UPDATE": Phase.BOTH}, calls)
    chain = AdmissionChain([a, b, c])
    for _ in range(2):
        review = request("UPDATE")
        await chain.admit(review)
        await chain.validate(review)
    review = request("DELETE")
    await chain.admit(review)
    await chain.validate(review)
    assert calls == ["a.admit", "c.admit", "b.validate", "c.validate"] * 2
    # Decided once per target, whatever the number of requests.
    assert a.asked == [Target("coordination.k8s.io", "leases", "", "UPDATE"),
                       Target("coordination.k8s.io", "leases", "", "DELETE")]


async def test_replacing_the_plugins_forgets_the_decisions() -> None:
    calls: list[str] = []
    chain = AdmissionChain([Recorder("a", {"UPDATE": Phase.ADMIT}, calls)])
    await chain.admit(request("UPDATE"))
    chain.plugins = [*chain.plugins, Recorder("b", {"UPDATE": Phase.ADMIT}, calls)]
    await chain.admit(request("UPDATE"))
    assert calls == ["a.admit", "a.admit", "b.admit"]
