"""The rules one service contributes to a backend's ruleset, and how two versions differ.

A backend renders each service into named chains (each a tuple of rules), sets with their
definitions and map or set elements (key -> value); `diff` says what a sync must change
to get from one rendering to the next, so a one-endpoint change rewrites one service chain
and one endpoint chain rather than the table (upstream's partial sync).
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field

from kybernetes.proxy.changes import Endpoint, ServicePort


def _hash(text: str) -> str:
    return base64.b32encode(hashlib.sha256(text.encode()).digest()).decode()


def hash8(text: str) -> str:
    return _hash(text)[:8]


def hash16(text: str) -> str:
    return _hash(text)[:16]


def _hash_and_name(name: str) -> str:
    """upstream nftables' hashAndTruncate: `<hash of name>-<name>` (names here stay far
    below its 240-character limit: DNS labels, a protocol and an IPv4 address)."""
    return f"{hash8(name)}-{name}"


def chain_base(port: ServicePort) -> str:
    """upstream nftables' servicePortChainNameBase: `<hash>-<ns>/<name>/<proto>/<port>`."""
    name = port.name
    return _hash_and_name(f"{name.namespace}/{name.name}/{port.protocol}/{name.port}")


def endpoint_base(port: ServicePort, endpoint: Endpoint) -> str:
    """upstream nftables' servicePortEndpointChainNameBase: `<hash>-<ns>/<name>/<proto>/
    <port>__<ip>/<port>`."""
    name = port.name
    return _hash_and_name(f"{name.namespace}/{name.name}/{port.protocol}/{name.port}__"
                          f"{endpoint.ip}/{endpoint.port}")


@dataclass
class Rendered:
    chains: dict[str, tuple[str, ...]] = field(default_factory=dict)
    sets: dict[str, str] = field(default_factory=dict)
    # (map or set, key) -> value ("" for a set's element)
    elements: dict[tuple[str, str], str] = field(default_factory=dict)

    def merge(self, other: Rendered) -> None:
        self.chains.update(other.chains)
        self.sets.update(other.sets)
        self.elements.update(other.elements)


@dataclass
class Diff:
    """What to change, in the order a transaction must do it."""
    removed_elements: list[tuple[str, str]] = field(default_factory=list)
    new_chains: list[str] = field(default_factory=list)
    new_sets: list[str] = field(default_factory=list)
    changed_chains: list[str] = field(default_factory=list)  # to flush and refill
    removed_chains: list[str] = field(default_factory=list)
    removed_sets: list[str] = field(default_factory=list)
    added_elements: list[tuple[str, str]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return any((self.removed_elements, self.new_chains, self.new_sets,
                    self.changed_chains, self.removed_chains, self.removed_sets,
                    self.added_elements))


def diff(old: Rendered, new: Rendered) -> Diff:
    out = Diff()
    for key, value in old.elements.items():
        if new.elements.get(key) != value:
            out.removed_elements.append(key)
    for name, rules in new.chains.items():
        before = old.chains.get(name)
        if before is None:
            out.new_chains.append(name)
            out.changed_chains.append(name)
        elif before != rules:
            out.changed_chains.append(name)
    out.removed_chains = [name for name in old.chains if name not in new.chains]
    for name, definition in new.sets.items():
        was = old.sets.get(name)
        if was != definition:
            if was is not None:
                out.removed_sets.append(name)
            out.new_sets.append(name)
    out.removed_sets += [name for name in old.sets if name not in new.sets]
    # A set made anew must first lose the rules that refer to it.
    redefined = [f"@{name}" for name in out.removed_sets if name in new.sets]
    if redefined:
        for name, rules in new.chains.items():
            if name not in out.changed_chains and \
                    any(ref in rule for rule in rules for ref in redefined):
                out.changed_chains.append(name)
    for key, value in new.elements.items():
        if old.elements.get(key) != value:
            out.added_elements.append(key)
    return out
