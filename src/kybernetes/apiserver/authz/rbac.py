"""The RBAC authorizer and rule resolver (upstream's plugin/pkg/auth/authorizer/rbac and
`DefaultRuleResolver` in pkg/registry/rbac/validation/rule.go), answering from memory.

Roles, ClusterRoles, RoleBindings and ClusterRoleBindings are read from the API server's
watch cache into a `Policy`: each role's parsed rules, and each binding indexed under the
subjects it names (a user name, a group, a service account's user name), per scope: the
cluster for ClusterRoleBindings, each namespace for RoleBindings. A request then costs a
few dictionary lookups and the rules of the bindings of its own subjects, whatever the
number of bindings in the cluster. The policy observes the cache: each change to one of the
four resources updates it as the cache applies it (a few dictionary operations), and a
(re)load of the cache has it rebuilt on first use. So it is exactly as fresh as the cache
(upstream's authorizer reads informer caches, just as eventually consistent).

Evaluation is upstream's: ClusterRoleBindings first, then the RoleBindings of the request's
namespace; a binding applies through the first of its subjects that names the user (a
ServiceAccount subject without a namespace means the binding's); a RoleBinding may refer to
a ClusterRole, whose rules then apply in that namespace only. A role that cannot be found
allows nothing and is reported in the reason of a refusal.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from kybernetes.api.goquote import go_quote
from kybernetes.apiserver.authn.user import SERVICE_ACCOUNT_PREFIX, UserInfo
from kybernetes.apiserver.authz.attributes import Attributes
from kybernetes.apiserver.authz.authorizer import NO_OPINION, Decision
from kybernetes.apiserver.authz.policyrule import PolicyRule, rule_allows, rules_of
from kybernetes.apiserver.authz.ruleresolver import SubjectRules, aggregate, split_rules
from kybernetes.apiserver.watchcache import CacheEvent, WatchCache

GROUP = "rbac.authorization.k8s.io"
ROLES = "/registry/roles/"
ROLE_BINDINGS = "/registry/rolebindings/"
CLUSTER_ROLES = "/registry/clusterroles/"
CLUSTER_ROLE_BINDINGS = "/registry/clusterrolebindings/"
_PREFIXES = (ROLES, ROLE_BINDINGS, CLUSTER_ROLES, CLUSTER_ROLE_BINDINGS)


class Subject(NamedTuple):
    kind: str
    name: str
    namespace: str


@dataclass(frozen=True, slots=True)
class Binding:
    """A RoleBinding (`namespace` set) or a ClusterRoleBinding."""

    name: str
    namespace: str
    role_kind: str
    role_name: str
    subjects: tuple[Subject, ...]

    def describe(self, subject_index: int) -> str:
        """Upstream's describer, the source in an allowing decision's reason."""
        subject = self.subjects[subject_index]
        shown = subject.name
        if subject.kind == "ServiceAccount":
            shown = f"{subject.name}/{subject.namespace or self.namespace}"
        who = f"{subject.kind} {go_quote(shown)}"
        if self.namespace:
            return (f"RoleBinding {go_quote(f'{self.name}/{self.namespace}')} of "
                    f"{self.role_kind} {go_quote(self.role_name)} to {who}")
        return (f"ClusterRoleBinding {go_quote(self.name)} of {self.role_kind} "
                f"{go_quote(self.role_name)} to {who}")


# A binding, the index of its first subject that names the user, and the reason an
# allowing decision through it gives (made once, when the binding is indexed).
Grant = tuple[Binding, int, str]


class UnresolvedRole(Exception):
    """A binding's role reference that names no role."""

    def __init__(self, kind: str, name: str) -> None:
        if kind in ("Role", "ClusterRole"):
            # The message of upstream's listers (singular resource).
            message = f"{kind.lower()}.{GROUP} {go_quote(name)} not found"
        else:
            message = f"unsupported role reference kind: {go_quote(kind)}"
        super().__init__(message)
        self.kind = kind
        self.name = name


class _Scope:
    """The bindings of one scope, under each subject they name: a binding appears under
    each of its subjects' keys (once, with the first subject index for that key)."""

    __slots__ = ("accounts", "entries", "groups", "users")

    def __init__(self) -> None:
        self.users: dict[str, dict[str, Grant]] = {}
        self.groups: dict[str, dict[str, Grant]] = {}
        # Keyed by the service account's user name, system:serviceaccount:<ns>:<name>.
        self.accounts: dict[str, dict[str, Grant]] = {}
        # Where each binding (by name) is filed, to take it out again.
        self.entries: dict[str, list[tuple[dict[str, dict[str, Grant]], str]]] = {}

    def add(self, binding: Binding) -> None:
        self.remove(binding.name)
        filed: list[tuple[dict[str, dict[str, Grant]], str]] = []
        for index, subject in enumerate(binding.subjects):
            if subject.kind == "User":
                key, table = subject.name, self.users
            elif subject.kind == "Group":
                key, table = subject.name, self.groups
            elif subject.kind == "ServiceAccount":
                namespace = subject.namespace or binding.namespace
                if not namespace:
                    continue
                key, table = f"{SERVICE_ACCOUNT_PREFIX}{namespace}:{subject.name}", \
                    self.accounts
            else:
                continue
            under = table.setdefault(key, {})
            if binding.name not in under:
                under[binding.name] = (binding, index,
                                       f"RBAC: allowed by {binding.describe(index)}")
                filed.append((table, key))
        self.entries[binding.name] = filed

    def remove(self, name: str) -> None:
        for table, key in self.entries.pop(name, ()):
            under = table[key]
            del under[name]
            if not under:
                del table[key]

    def grants(self, user: UserInfo) -> Iterable[Grant]:
        """The bindings that apply to `user`, each once, with its first subject that names
        the user."""
        sources = [self.users.get(user.name), self.accounts.get(user.name),
                   *(self.groups.get(group) for group in user.groups)]
        found = [source for source in sources if source]
        if len(found) == 1:
            return found[0].values()
        best: dict[str, Grant] = {}
        for source in found:
            for name, grant in source.items():
                current = best.get(name)
                if current is None or grant[1] < current[1]:
                    best[name] = grant
        return best.values()


def _binding(obj: Mapping[str, Any], namespace: str) -> Binding | None:
    meta = obj.get("metadata")
    ref = obj.get("roleRef")
    if not isinstance(meta, dict) or not isinstance(ref, dict):
        return None
    subjects = obj.get("subjects")
    parsed = tuple(Subject(str(s.get("kind", "")), str(s.get("name", "")),
                           str(s.get("namespace", "") or ""))
                   for s in (subjects if isinstance(subjects, list) else ())
                   if isinstance(s, dict))
    return Binding(str(meta.get("name", "")), namespace, str(ref.get("kind", "")),
                   str(ref.get("name", "")), parsed)


class Policy:
    """The RBAC objects, indexed for evaluation."""

    def __init__(self) -> None:
        self.cluster = _Scope()
        self.namespaces: defaultdict[str, _Scope] = defaultdict(_Scope)
        self.roles: dict[tuple[str, str], tuple[PolicyRule, ...]] = {}
        self.cluster_roles: dict[str, tuple[PolicyRule, ...]] = {}

    @classmethod
    def from_cache(cls, cache: WatchCache) -> Policy:
        policy = cls()
        for prefix in _PREFIXES:
            for item in cache.scan(prefix):
                policy.put(item.key, item.obj)
        return policy

    def put(self, key: str, obj: Mapping[str, Any]) -> None:
        """Add or replace the object stored under `key`."""
        if key.startswith(CLUSTER_ROLES):
            self.cluster_roles[key.removeprefix(CLUSTER_ROLES)] = rules_of(obj)
        elif key.startswith(ROLES):
            namespace, _, name = key.removeprefix(ROLES).partition("/")
            self.roles[(namespace, name)] = rules_of(obj)
        elif key.startswith(CLUSTER_ROLE_BINDINGS):
            binding = _binding(obj, "")
            if binding is not None:
                self.cluster.add(binding)
        elif key.startswith(ROLE_BINDINGS):
            namespace = key.removeprefix(ROLE_BINDINGS).partition("/")[0]
            binding = _binding(obj, namespace)
            if binding is not None:
                self.namespaces[namespace].add(binding)

    def delete(self, key: str) -> None:
        """Forget the object stored under `key`."""
        if key.startswith(CLUSTER_ROLES):
            self.cluster_roles.pop(key.removeprefix(CLUSTER_ROLES), None)
        elif key.startswith(ROLES):
            namespace, _, name = key.removeprefix(ROLES).partition("/")
            self.roles.pop((namespace, name), None)
        elif key.startswith(CLUSTER_ROLE_BINDINGS):
            self.cluster.remove(key.removeprefix(CLUSTER_ROLE_BINDINGS))
        elif key.startswith(ROLE_BINDINGS):
            namespace, _, name = key.removeprefix(ROLE_BINDINGS).partition("/")
            if namespace in self.namespaces:
                self.namespaces[namespace].remove(name)

    def grants(self, user: UserInfo, namespace: str) -> Iterator[Grant]:
        """ClusterRoleBindings, then the RoleBindings of `namespace`, that apply to
        `user`."""
        yield from self.cluster.grants(user)
        if namespace and namespace in self.namespaces:
            yield from self.namespaces[namespace].grants(user)

    def role_rules(self, kind: str, name: str, namespace: str) -> tuple[PolicyRule, ...]:
        """The rules a role reference of a binding in `namespace` ("" for a
        ClusterRoleBinding) stands for; raises UnresolvedRole."""
        found = self.cluster_roles.get(name) if kind == "ClusterRole" else \
            self.roles.get((namespace, name)) if kind == "Role" else None
        if found is None:
            raise UnresolvedRole(kind, name)
        return found


class RBACAuthorizer:
    """The RBAC authorization mode, its rule resolver, and the rule lookups escalation
    prevention shares."""

    def __init__(self, cache: WatchCache) -> None:
        self.cache = cache
        self._policy: Policy | None = None
        cache.observers.append(self._observe)

    def _observe(self, event: CacheEvent | None) -> None:
        if event is None:
            self._policy = None  # reloaded: rebuilt from the cache on first use
        elif self._policy is not None and event.key.startswith(_PREFIXES):
            if event.type == "DELETED":
                self._policy.delete(event.key)
            else:
                self._policy.put(event.key, event.current.obj)

    @property
    def policy(self) -> Policy:
        if self._policy is None:
            self._policy = Policy.from_cache(self.cache)
        return self._policy

    def authorize(self, attrs: Attributes) -> Decision:
        policy = self.policy
        errors: list[str] = []
        for binding, _, reason in policy.grants(attrs.user, attrs.namespace):
            try:
                rules = policy.role_rules(binding.role_kind, binding.role_name,
                                          binding.namespace)
            except UnresolvedRole as err:
                errors.append(str(err))
                continue
            for rule in rules:
                if rule_allows(attrs, rule):
                    return Decision("allow", reason)
        if errors:
            return Decision("no-opinion", f"RBAC: {aggregate(errors)}")
        return NO_OPINION

    def policy_rules(self, user: UserInfo, namespace: str
                     ) -> tuple[list[PolicyRule], list[str]]:
        """All rules that apply to `user` in `namespace` ("" for cluster-wide only), and
        the errors resolving them (upstream's RulesFor)."""
        policy = self.policy
        rules: list[PolicyRule] = []
        errors: list[str] = []
        for binding, _, _ in policy.grants(user, namespace):
            try:
                rules.extend(policy.role_rules(binding.role_kind, binding.role_name,
                                               binding.namespace))
            except UnresolvedRole as err:
                errors.append(str(err))
        return rules, errors

    def role_reference_rules(self, kind: str, name: str, namespace: str
                             ) -> tuple[PolicyRule, ...]:
        return self.policy.role_rules(kind, name, namespace)

    def rules_for(self, user: UserInfo, namespace: str) -> SubjectRules:
        rules, errors = self.policy_rules(user, namespace)
        found = split_rules(rules)
        return SubjectRules(found.resource_rules, found.non_resource_rules, False,
                            tuple(errors))
