"""Helpers shared by plugins: score normalization, node selectors, Go integer division.

`NodeSelector` is upstream's `nodeaffinity.RequiredNodeAffinity` and `NodeSelectorTerm`
matching, compiled once per pod: `matches(node)` for one NodeInfo and `mask(table)` for all
nodes at once (label columns compared as value ids).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from kybernetes.scheduler.interface import Mask, Scores
from kybernetes.scheduler.nodeinfo import NodeInfo
from kybernetes.scheduler.nodetable import NodeTable

_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt")


def go_div(a: int, b: int) -> int:
    """Go's integer division (truncates toward zero)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def default_normalize_score(max_priority: int, reverse: bool, scores: Scores) -> None:
    """Upstream's `DefaultNormalizeScore`, in place."""
    if not len(scores):
        return
    max_count = int(scores.max())
    if max_count <= 0:
        if reverse:
            scores[:] = max_priority
        return
    normalized = (max_priority * scores) // max_count
    if reverse:
        normalized = max_priority - normalized
    scores[:] = normalized


class _Expression:
    __slots__ = ("bound", "key", "operator", "values")

    def __init__(self, key: str, operator: str, values: tuple[str, ...]) -> None:
        if operator not in _OPERATORS:
            raise ValueError(f"{operator!r} is not a valid node selector operator")
        if operator in ("In", "NotIn") and not values:
            raise ValueError("values must be non-empty for In and NotIn")
        self.key = key
        self.operator = operator
        self.values = values
        self.bound: int | None = None
        if operator in ("Gt", "Lt"):
            if len(values) != 1:
                raise ValueError("Gt and Lt need exactly one value")
            self.bound = int(values[0])

    def matches(self, labels: Mapping[str, str]) -> bool:
        op = self.operator
        if op == "In":
            return labels.get(self.key) in self.values
        if op == "NotIn":
            return labels.get(self.key) not in self.values
        if op == "Exists":
            return self.key in labels
        if op == "DoesNotExist":
            return self.key not in labels
        value = labels.get(self.key)
        if value is None or self.bound is None:
            return False
        try:
            number = int(value)
        except ValueError:
            return False
        return number > self.bound if op == "Gt" else number < self.bound

    def mask(self, table: NodeTable) -> Mask:
        column = table.column(self.key)
        ids = column.ids[:table.size]
        op = self.operator
        if op in ("In", "NotIn"):
            wanted = [column.index[v] for v in self.values if v in column.index]
            hit = np.isin(ids, wanted) if wanted else np.zeros(len(ids), dtype=np.bool_)
            return hit if op == "In" else ~hit
        if op == "Exists":
            return ids >= 0
        if op == "DoesNotExist":
            return ids < 0
        numbers = column.numeric()[ids]
        if self.bound is None:
            return np.zeros(len(ids), dtype=np.bool_)
        with np.errstate(invalid="ignore"):
            out: Mask = numbers > self.bound if op == "Gt" else numbers < self.bound
        return out


class _FieldExpression:
    __slots__ = ("names", "operator")

    def __init__(self, key: str, operator: str, values: tuple[str, ...]) -> None:
        if key != "metadata.name" or operator not in ("In", "NotIn"):
            raise ValueError(f"unsupported node field selector {key} {operator}")
        self.operator = operator
        self.names = frozenset(values)

    def matches(self, name: str) -> bool:
        return (name in self.names) == (self.operator == "In")

    def mask(self, table: NodeTable) -> Mask:
        hit = np.zeros(table.size, dtype=np.bool_)
        for slot, info in enumerate(table.infos):
            if info is not None and info.name in self.names:
                hit[slot] = True
        return hit if self.operator == "In" else ~hit


class NodeSelectorTerm:
    """One term: its label expressions and field expressions, ANDed. A term that fails to
    parse, or is empty, matches no node (as upstream)."""

    __slots__ = ("expressions", "fields", "valid")

    def __init__(self, term: Mapping[str, Any]) -> None:
        self.expressions: list[_Expression] = []
        self.fields: list[_FieldExpression] = []
        self.valid = True
        try:
            for expr in term.get("matchExpressions") or ():
                self.expressions.append(_Expression(
                    str(expr.get("key") or ""), str(expr.get("operator") or ""),
                    tuple(str(v) for v in expr.get("values") or ())))
            for expr in term.get("matchFields") or ():
                self.fields.append(_FieldExpression(
                    str(expr.get("key") or ""), str(expr.get("operator") or ""),
                    tuple(str(v) for v in expr.get("values") or ())))
        except (ValueError, TypeError, AttributeError):
            self.valid = False
        if not self.expressions and not self.fields:
            self.valid = False

    def matches(self, node: NodeInfo) -> bool:
        if not self.valid:
            return False
        labels = node.labels
        return all(e.matches(labels) for e in self.expressions) and \
            all(f.matches(node.name) for f in self.fields)

    def mask(self, table: NodeTable) -> Mask:
        if not self.valid:
            return np.zeros(table.size, dtype=np.bool_)
        out = np.ones(table.size, dtype=np.bool_)
        for e in self.expressions:
            out &= e.mask(table)
        for f in self.fields:
            out &= f.mask(table)
        return out


def parse_terms(terms: Iterable[Any] | None) -> list[NodeSelectorTerm]:
    return [NodeSelectorTerm(t) for t in terms or () if isinstance(t, dict)]


class NodeSelector:
    """A pod's required node placement: `spec.nodeSelector` AND any of the required node
    affinity terms (upstream's `RequiredNodeAffinity`)."""

    __slots__ = ("labels", "terms")

    def __init__(self, labels: Mapping[str, str] | None, terms: list[NodeSelectorTerm] | None
                 ) -> None:
        self.labels = dict(labels or {})
        # None: no required affinity; []: required affinity with no terms (matches nothing).
        self.terms = terms

    @classmethod
    def of_pod(cls, spec: Mapping[str, Any]) -> NodeSelector:
        required = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
            "requiredDuringSchedulingIgnoredDuringExecution")
        terms = None
        if isinstance(required, dict):
            terms = parse_terms(required.get("nodeSelectorTerms"))
        return cls(spec.get("nodeSelector"), terms)

    @property
    def empty(self) -> bool:
        return not self.labels and self.terms is None

    def matches(self, node: NodeInfo) -> bool:
        labels = node.labels
        for key, value in self.labels.items():
            if labels.get(key) != value:
                return False
        if self.terms is None:
            return True
        return any(t.matches(node) for t in self.terms)

    def mask(self, table: NodeTable) -> Mask:
        out = np.ones(table.size, dtype=np.bool_)
        for key, value in self.labels.items():
            column = table.column(key)
            vid = column.index.get(value)
            if vid is None:
                return np.zeros(table.size, dtype=np.bool_)
            out &= column.ids[:table.size] == vid
        if self.terms is not None:
            any_term = np.zeros(table.size, dtype=np.bool_)
            for term in self.terms:
                any_term |= term.mask(table)
            out &= any_term
        return out
