"""Levels, versions and the policy a namespace's labels ask for
(`pod-security-admission/api`): `pod-security.kubernetes.io/<mode>` holds a level and
`pod-security.kubernetes.io/<mode>-version` a policy version, for the modes enforce, audit
and warn. An unparsable label is an error, and evaluates as restricted:latest for enforce
and privileged for audit and warn (failing closed only where it refuses)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import total_ordering

from kybernetes.api.errors import FieldError

PRIVILEGED, BASELINE, RESTRICTED = "privileged", "baseline", "restricted"
LEVELS = (PRIVILEGED, BASELINE, RESTRICTED)
LABEL_PREFIX = "pod-security.kubernetes.io/"
MODES = ("enforce", "audit", "warn")
_VERSION = re.compile(r"^v1\.([0-9]|[1-9][0-9]*)$")


@total_ordering
@dataclass(frozen=True)
class Version:
    """`v1.<minor>`, or `latest` (newer than any)."""

    minor: int = 0
    latest: bool = False

    def __str__(self) -> str:
        return "latest" if self.latest else f"v1.{self.minor}"

    def __lt__(self, other: Version) -> bool:
        if self.latest:
            return False
        return other.latest or self.minor < other.minor


LATEST = Version(latest=True)


def v1(minor: int) -> Version:
    return Version(minor)


@dataclass(frozen=True)
class LevelVersion:
    level: str
    version: Version

    def __str__(self) -> str:
        return f"{self.level}:{self.version}"


@dataclass(frozen=True)
class Policy:
    enforce: LevelVersion
    audit: LevelVersion
    warn: LevelVersion

    def of(self, mode: str) -> LevelVersion:
        return {"enforce": self.enforce, "audit": self.audit, "warn": self.warn}[mode]


DEFAULT_POLICY = Policy(*(LevelVersion(PRIVILEGED, LATEST),) * 3)


def compare_levels(a: str, b: str) -> int:
    """-1, 0 or 1 as level `a` is less strict than, as strict as or stricter than `b`."""
    return (LEVELS.index(a) > LEVELS.index(b)) - (LEVELS.index(a) < LEVELS.index(b))


def _label_error(label: str, value: str, detail: str) -> FieldError:
    return FieldError.invalid(f"metadata.labels[{label}]", value, detail)


def policy_for(labels: dict[str, str] | None, defaults: Policy = DEFAULT_POLICY
               ) -> tuple[Policy, list[FieldError]]:
    """The namespace's policy (always a usable one) and the errors of its labels."""
    errs: list[FieldError] = []
    modes = {m: defaults.of(m) for m in MODES}
    for mode in MODES:
        level, version = modes[mode].level, modes[mode].version
        label = LABEL_PREFIX + mode
        if labels and label in labels:
            value = labels[label]
            if value in LEVELS:
                level = value
            else:
                # Enforce fails closed, audit and warn fail open.
                level = RESTRICTED if mode == "enforce" else PRIVILEGED
                errs.append(_label_error(label, value, "must be one of " + ", ".join(LEVELS)))
        label = f"{LABEL_PREFIX}{mode}-version"
        if labels and label in labels:
            value = labels[label]
            parsed = parse_version(value)
            if parsed is None:
                errs.append(_label_error(label, value, 'must be "latest" or "v1.x"'))
                parsed = LATEST
            version = parsed
        modes[mode] = LevelVersion(level, version)
    return Policy(modes["enforce"], modes["audit"], modes["warn"]), errs


def parse_version(text: str) -> Version | None:
    if text == "latest":
        return LATEST
    match = _VERSION.match(text)
    return Version(int(match[1])) if match else None
