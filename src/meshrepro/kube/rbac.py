"""RBAC: which rules apply to a user and whether one of them allows a request.

Ports of plugin/pkg/auth/authorizer/rbac/rbac.go (RBACAuthorizer, RuleAllows),
pkg/registry/rbac/validation/rule.go (VisitRulesFor, appliesTo) and
pkg/apis/rbac/v1/evaluation_helpers.go (the four matchers). Roles and bindings are the plain v1
JSON dicts the store holds. RBAC only allows or has no opinion; it never denies.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

from meshrepro.kube.status import aggregate_message, go_quote

ANONYMOUS = "system:anonymous"
ALL_AUTHENTICATED = "system:authenticated"
ALL_UNAUTHENTICATED = "system:unauthenticated"
SERVICE_ACCOUNTS_GROUP = "system:serviceaccounts"
_SA_USER_PREFIX = "system:serviceaccount:"


def service_account_username(namespace: str, name: str) -> str:
    return f"{_SA_USER_PREFIX}{namespace}:{name}"


def _with_authenticated(name: str, groups: tuple[str, ...]) -> tuple[str, ...]:
    # AuthenticatedGroupAdder: not for anonymous, nor when either all-group is already there.
    if name == ANONYMOUS or ALL_AUTHENTICATED in groups or ALL_UNAUTHENTICATED in groups:
        return groups
    return (*groups, ALL_AUTHENTICATED)


def _service_account_groups(namespace: str) -> tuple[str, ...]:
    return (SERVICE_ACCOUNTS_GROUP, f"{SERVICE_ACCOUNTS_GROUP}:{namespace}")


def _split_service_account_username(username: str) -> tuple[str, str] | None:
    if not username.startswith(_SA_USER_PREFIX):
        return None
    namespace, sep, name = username[len(_SA_USER_PREFIX) :].partition(":")
    return (namespace, name) if sep and namespace and name and ":" not in name else None


@dataclass(frozen=True)
class User:
    """user.Info as the authorizers see it: after authentication added its groups."""

    name: str
    groups: tuple[str, ...] = ()
    uid: str = ""
    extra: Mapping[str, tuple[str, ...]] = field(default_factory=dict, hash=False)

    @classmethod
    def authenticated(
        cls, name: str, groups: Sequence[str], uid: str = "", extra: Mapping[str, Sequence[str]] | None = None
    ) -> User:
        """A user an authenticator (client certificate, token) vouched for."""
        return cls(
            name,
            _with_authenticated(name, tuple(groups)),
            uid,
            {k: tuple(v) for k, v in (extra or {}).items()},
        )

    @classmethod
    def service_account(
        cls, namespace: str, name: str, extra: Mapping[str, Sequence[str]] | None = None, uid: str = ""
    ) -> User:
        """The user of a ServiceAccount token: system:serviceaccount:<ns>:<name> in
        system:serviceaccounts, system:serviceaccounts:<ns> and system:authenticated."""
        return cls.authenticated(
            service_account_username(namespace, name), _service_account_groups(namespace), uid, extra
        )

    @classmethod
    def anonymous(cls) -> User:
        """A request without credentials (anonymous auth is on in kubeadm clusters)."""
        return cls(ANONYMOUS, (ALL_UNAUTHENTICATED,))

    @classmethod
    def impersonated(cls, name: str, groups: Sequence[str] = ()) -> User:
        """The user the impersonation filter builds from Impersonate-User/-Group headers."""
        group_list = tuple(groups)
        sa = _split_service_account_username(name)
        if sa is not None and not group_list:  # a ServiceAccount's groups are a fixed mapping
            group_list = _service_account_groups(sa[0])
        if name == ANONYMOUS:
            return cls(
                name, group_list if ALL_UNAUTHENTICATED in group_list else (*group_list, ALL_UNAUTHENTICATED)
            )
        return cls(name, _with_authenticated(name, group_list))


class Attributes(Protocol):
    """authorizer.Attributes minus the user; a RequestInfo satisfies it."""

    is_resource_request: bool
    path: str
    verb: str
    api_group: str
    namespace: str
    resource: str
    subresource: str
    name: str


class PolicySource(Protocol):
    def cluster_roles(self) -> Mapping[str, dict]: ...

    def cluster_role_bindings(self) -> list[dict]: ...

    def roles(self, namespace: str) -> Mapping[str, dict]: ...

    def role_bindings(self, namespace: str) -> list[dict]: ...


@dataclass(frozen=True)
class Decision:
    allowed: bool  # False means "no opinion": the next authorizer, or a 403
    reason: str


class RuleSet(NamedTuple):
    rules: list[dict]
    error: str  # the aggregated resolution errors, "" when every role was found


# --- the four matchers (evaluation_helpers.go) ---


def _verb_matches(rule: dict, verb: str) -> bool:
    return any(v in ("*", verb) for v in rule.get("verbs") or ())


def _api_group_matches(rule: dict, group: str) -> bool:
    return any(g in ("*", group) for g in rule.get("apiGroups") or ())


def _resource_matches(rule: dict, combined: str, subresource: str) -> bool:
    for value in rule.get("resources") or ():
        if value in ("*", combined):
            return True
        # "*/log" covers subresource log of any resource; "pods/*" is no wildcard.
        if subresource and value == f"*/{subresource}":
            return True
    return False


def _resource_name_matches(rule: dict, name: str) -> bool:
    names = rule.get("resourceNames") or ()
    return not names or name in names


def _non_resource_url_matches(rule: dict, path: str) -> bool:
    for url in rule.get("nonResourceURLs") or ():
        if url in ("*", path):
            return True
        if url.endswith("*") and path.startswith(url.rstrip("*")):
            return True
    return False


def rule_allows(attrs: Attributes, rule: dict) -> bool:
    if not _verb_matches(rule, attrs.verb):
        return False
    if not attrs.is_resource_request:
        return _non_resource_url_matches(rule, attrs.path)
    combined = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
    return (
        _api_group_matches(rule, attrs.api_group)
        and _resource_matches(rule, combined, attrs.subresource)
        and _resource_name_matches(rule, attrs.name)
    )


# --- which rules apply (rule.go) ---


def _applies_to(user: User, subject: dict, namespace: str) -> bool:
    kind = subject.get("kind")
    if kind == "User":
        return user.name == subject.get("name")
    if kind == "Group":
        return subject.get("name") in user.groups
    if kind == "ServiceAccount":
        # A RoleBinding's own namespace fills in a subject without one; a ClusterRoleBinding's cannot.
        sa_namespace = subject.get("namespace") or namespace
        return bool(sa_namespace) and user.name == service_account_username(
            sa_namespace, subject.get("name", "")
        )
    return False


def _first_applying_subject(user: User, binding: dict, namespace: str) -> dict | None:
    return next((s for s in binding.get("subjects") or () if _applies_to(user, s, namespace)), None)


def _role_ref_rules(role_ref: dict, namespace: str, policy: PolicySource) -> tuple[list[dict], str]:
    kind, name = role_ref.get("kind"), role_ref.get("name", "")
    if kind == "Role":
        role, missing = policy.roles(namespace).get(name), "role"
    elif kind == "ClusterRole":
        role, missing = policy.cluster_roles().get(name), "clusterrole"
    else:
        return [], f"unsupported role reference kind: {go_quote(str(kind or ''))}"
    if role is None:  # the lister's NotFound error
        return [], f"{missing}.rbac.authorization.k8s.io {go_quote(name)} not found"
    return list(role.get("rules") or ()), ""


def _describe_subject(subject: dict, binding_namespace: str) -> str:
    kind, name = subject.get("kind", ""), subject.get("name", "")
    if kind == "ServiceAccount":
        return f"{kind} {go_quote(name + '/' + (subject.get('namespace') or binding_namespace))}"
    return f"{kind} {go_quote(name)}"


def _describe(binding: dict, subject: dict, namespace: str) -> str:
    ref = binding.get("roleRef") or {}
    meta = binding.get("metadata") or {}
    if namespace:
        head = f"RoleBinding {go_quote(meta.get('name', '') + '/' + meta.get('namespace', namespace))}"
    else:
        head = f"ClusterRoleBinding {go_quote(meta.get('name', ''))}"
    return (
        f"{head} of {ref.get('kind', '')} {go_quote(ref.get('name', ''))} "
        f"to {_describe_subject(subject, namespace)}"
    )


def _visit_bindings(
    user: User, bindings: list[dict], namespace: str, policy: PolicySource
) -> Iterator[tuple[str, dict | None, str]]:
    for binding in bindings:
        subject = _first_applying_subject(user, binding, namespace)
        if subject is None:
            continue
        rules, error = _role_ref_rules(binding.get("roleRef") or {}, namespace, policy)
        if error:
            yield "", None, error
            continue
        source = _describe(binding, subject, namespace)
        for rule in rules:
            yield source, rule, ""


def visit_rules_for(
    user: User, namespace: str, policy: PolicySource
) -> Iterator[tuple[str, dict | None, str]]:
    """VisitRulesFor: (source, rule, error) for every rule that applies, ClusterRoleBindings first,
    then RoleBindings of `namespace` only (so a RoleBinding to a ClusterRole grants in its namespace)."""
    yield from _visit_bindings(user, policy.cluster_role_bindings(), "", policy)
    if namespace:
        yield from _visit_bindings(user, policy.role_bindings(namespace), namespace, policy)


def authorize(user: User, attrs: Attributes, policy: PolicySource) -> Decision:
    """RBACAuthorizer.Authorize: allow on the first matching rule, else no opinion with the
    role-resolution errors as the reason (the apiserver appends it to the Forbidden message)."""
    errors: list[str] = []
    for source, rule, error in visit_rules_for(user, attrs.namespace, policy):
        if rule is not None and rule_allows(attrs, rule):
            return Decision(True, f"RBAC: allowed by {source}")
        if error:
            errors.append(error)
    return Decision(False, f"RBAC: {aggregate_message(errors)}" if errors else "")


def rules_for(user: User, namespace: str, policy: PolicySource) -> RuleSet:
    """RulesFor: every rule that applies to the user in the namespace (SelfSubjectRulesReview)."""
    rules: list[dict] = []
    errors: list[str] = []
    for _, rule, error in visit_rules_for(user, namespace, policy):
        if rule is not None:
            rules.append(rule)
        if error:
            errors.append(error)
    return RuleSet(rules, aggregate_message(errors) if errors else "")
