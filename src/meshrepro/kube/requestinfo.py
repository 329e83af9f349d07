"""What an API request asks for, parsed from method, path and query.

A port of k8s.io/apiserver/pkg/endpoints/request/requestinfo.go (RequestInfoFactory.NewRequestInfo
with the apiserver's prefixes {"api", "apis"} and groupless prefix {"api"}). The authorizer and
the Forbidden message both read these attributes, so they must match the real parser exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

API_PREFIXES = frozenset({"api", "apis"})
GROUPLESS_API_PREFIXES = frozenset({"api"})

# Path words that are verbs, not resources: /api/v1/watch/pods, /api/v1/proxy/nodes/n.
_SPECIAL_VERBS = frozenset({"proxy", "watch"})
_SPECIAL_VERBS_NO_SUBRESOURCES = frozenset({"proxy"})
# Subresources of a namespace: /api/v1/namespaces/x/status is the namespace x, not a resource "status".
_NAMESPACE_SUBRESOURCES = frozenset({"status", "finalize"})

_METHOD_VERBS = {
    "POST": "create",
    "GET": "get",
    "HEAD": "get",
    "PUT": "update",
    "PATCH": "patch",
    "DELETE": "delete",
}


class RequestInfoError(ValueError):
    """The path names a special verb but nothing after it (the real parser returns an error)."""


@dataclass(frozen=True)
class RequestInfo:
    is_resource_request: bool
    path: str
    verb: str
    api_prefix: str = ""
    api_group: str = ""
    api_version: str = ""
    namespace: str = ""
    resource: str = ""
    subresource: str = ""
    name: str = ""
    parts: tuple[str, ...] = ()


def _split_path(path: str) -> list[str]:
    trimmed = path.strip("/")
    return trimmed.split("/") if trimmed else []


def _collection_verb(query: dict[str, list[str]]) -> str:
    # Any watch value but "false"/"0" means watch (Convert_Slice_string_To_bool uses the first value).
    values = query.get("watch") or []
    if not values:
        return "list"
    return "list" if values[0].lower() in ("false", "0") else "watch"


def parse_request_info(method: str, path: str, query: dict[str, list[str]] | None = None) -> RequestInfo:
    """Parse one request the way the apiserver's WithRequestInfo filter does."""
    query = query or {}
    non_resource = RequestInfo(is_resource_request=False, path=path, verb=method.lower())
    parts = _split_path(path)
    if len(parts) < 3 or parts[0] not in API_PREFIXES:
        return non_resource
    api_prefix, parts = parts[0], parts[1:]
    api_group = ""
    if api_prefix not in GROUPLESS_API_PREFIXES:
        if len(parts) < 3:  # /apis/<group>/<version> is discovery, not a resource
            return non_resource
        api_group, parts = parts[0], parts[1:]
    api_version, parts = parts[0], parts[1:]

    if parts[0] in _SPECIAL_VERBS:
        if len(parts) < 2:
            raise RequestInfoError(f"unable to determine kind and namespace from url, {path}")
        verb, parts = parts[0], parts[1:]
    else:
        verb = _METHOD_VERBS.get(method, "")

    namespace = ""
    if parts[0] == "namespaces" and len(parts) > 1:
        namespace = parts[1]
        # /namespaces/x/pods is a namespaced resource; /namespaces/x[/status] is the namespace itself.
        if len(parts) > 2 and parts[2] not in _NAMESPACE_SUBRESOURCES:
            parts = parts[2:]

    resource = parts[0]
    name = parts[1] if len(parts) >= 2 else ""
    subresource = parts[2] if len(parts) >= 3 and verb not in _SPECIAL_VERBS_NO_SUBRESOURCES else ""

    if not name and verb == "get":
        verb = _collection_verb(query)
    if not name and verb == "delete":
        verb = "deletecollection"

    return RequestInfo(
        is_resource_request=True,
        path=path,
        verb=verb,
        api_prefix=api_prefix,
        api_group=api_group,
        api_version=api_version,
        namespace=namespace,
        resource=resource,
        subresource=subresource,
        name=name,
        parts=tuple(parts),
    )
