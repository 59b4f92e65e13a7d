"""The check registry (`pod-security-admission/policy`): each check belongs to a level,
has versions (the policy version from which each revision applies), and may override
baseline checks it supersedes at the restricted level. Evaluating a level and version
runs the baseline checks in the order of their IDs, then (for restricted) the restricted
ones, so messages list violations in upstream's order."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kybernetes.apiserver.admission.podsecurity.policy import (
    BASELINE,
    PRIVILEGED,
    LevelVersion,
    Version,
)

Meta = Mapping[str, Any]
Spec = Mapping[str, Any]


@dataclass(frozen=True)
class CheckResult:
    allowed: bool = True
    reason: str = ""
    detail: str = ""


ALLOWED = CheckResult()
CheckPod = Callable[[Meta, Spec], CheckResult]


@dataclass(frozen=True)
class VersionedCheck:
    minimum: Version
    check: CheckPod
    overrides: tuple[str, ...] = ()


@dataclass(frozen=True)
class Check:
    id: str
    level: str
    versions: tuple[VersionedCheck, ...]

    def at(self, version: Version) -> VersionedCheck | None:
        """The revision in force at `version`, if the check applies yet."""
        chosen = None
        for revision in self.versions:
            if revision.minimum <= version:
                chosen = revision
        return chosen


def forbid(reason: str, detail: str = "") -> CheckResult:
    return CheckResult(False, reason, detail)


def join_quote(items: Sequence[str]) -> str:
    return ", ".join(f'"{item}"' for item in items)


def pluralize(singular: str, plural: str, count: int) -> str:
    return singular if count == 1 else plural


def named(items: list[str], singular: str = "container", plural: str = "containers") -> str:
    """`containers "a", "b"`: the items quoted after their (pluralized) kind."""
    return f"{pluralize(singular, plural, len(items))} {join_quote(items)}"


def containers(spec: Spec) -> Iterator[Mapping[str, Any]]:
    """Init, regular and ephemeral containers, in that order."""
    for kind in ("initContainers", "containers", "ephemeralContainers"):
        items = spec.get(kind)
        for item in items if isinstance(items, list) else ():
            if isinstance(item, Mapping):
                yield item


def security_context(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    context = obj.get("securityContext")
    return context if isinstance(context, Mapping) else {}


def is_windows(spec: Spec) -> bool:
    return (spec.get("os") or {}).get("name") == "windows"


@dataclass(frozen=True)
class Aggregate:
    """The failed checks of one evaluation (upstream's AggregateCheckResult)."""

    reasons: tuple[str, ...]
    details: tuple[str, ...]

    @property
    def allowed(self) -> bool:
        return not self.reasons

    def reason(self) -> str:
        return ", ".join(self.reasons)

    def detail(self) -> str:
        return ", ".join(f"{r} ({d})" if d else r for r, d in zip(self.reasons, self.details,
                                                                   strict=True))


def aggregate(results: Sequence[CheckResult]) -> Aggregate:
    failed = [r for r in results if not r.allowed]
    return Aggregate(tuple(r.reason or "unknown forbidden reason" for r in failed),
                     tuple(r.detail for r in failed))


class Evaluator:
    """The checks in force for each level and version."""

    def __init__(self, checks: Sequence[Check]) -> None:
        self.checks = list(checks)
        self.max_version = max(c.versions[-1].minimum for c in checks)
        self.order = sorted(c.id for c in checks if c.level == BASELINE) + \
            sorted(c.id for c in checks if c.level != BASELINE)
        self._by_id = {c.id: c for c in checks}

    def checks_for(self, lv: LevelVersion) -> list[CheckPod]:
        if lv.level == PRIVILEGED:
            return []
        version = min(lv.version, self.max_version)
        active = {c.id: r for c in self.checks if (r := c.at(version)) is not None}
        if lv.level == BASELINE:
            active = {i: r for i, r in active.items() if self._by_id[i].level == BASELINE}
        else:
            overridden = {o for i, r in active.items() if self._by_id[i].level != BASELINE
                          for o in r.overrides}
            active = {i: r for i, r in active.items() if i not in overridden}
        return [active[i].check for i in self.order if i in active]

    def evaluate(self, lv: LevelVersion, meta: Meta, spec: Spec) -> Aggregate:
        return aggregate([check(meta, spec) for check in self.checks_for(lv)])
