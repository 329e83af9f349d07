"""API discovery documents: /api, /apis (legacy and aggregated), /api/v1, /apis/<g>/<v>, /version, health."""

from __future__ import annotations

import json
from typing import Any

from meshrepro.kube.versions import KubeVersion, flags
from meshrepro.manifests.kinds import KindInfo, KindRegistry

_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
_READ_ONLY_KINDS = {"SelfSubjectAccessReview", "SubjectAccessReview", "SelfSubjectRulesReview",
                    "LocalSubjectAccessReview", "TokenReview", "SelfSubjectReview"}
# The Go toolchain each release was built with (what `kubectl version -o json` shows as goVersion).
_GO_VERSIONS = {27: "go1.20.2", 28: "go1.20.5", 29: "go1.21.7", 30: "go1.22.2", 31: "go1.22.5", 32: "go1.23.3",
                33: "go1.24.0"}


class Discovery:
    def __init__(self, kinds: KindRegistry, version: KubeVersion, server_address: str) -> None:
        self.kinds = kinds
        self.version = version
        self.server_address = server_address  # the advertised host:port in /api

    def serve(self, path: str, accept: str, git_version: str) -> tuple[str, bytes] | None:
        """(content type, body) for a discovery or health path, or None (404)."""
        path = path.rstrip("/") or "/"
        if path in ("/healthz", "/livez", "/readyz"):
            return "text/plain; charset=utf-8", b"ok"
        if path == "/version":
            return "application/json", _dump(self._version(git_version))
        aggregated = self._aggregated_type(accept)
        if path in ("/api", "/apis") and aggregated:
            return aggregated, _dump(self._aggregated(core=path == "/api", api_version=aggregated_version(aggregated)))
        if path == "/api":
            return "application/json", _dump({"kind": "APIVersions", "versions": ["v1"],
                                              "serverAddressByClientCIDRs": [
                                                  {"clientCIDR": "0.0.0.0/0", "serverAddress": self.server_address}]})
        if path == "/apis":
            return "application/json", _dump(self._group_list())
        parts = path.strip("/").split("/")
        if parts[0] == "api" and len(parts) == 2:
            return self._resource_list("", parts[1])
        if parts[0] == "apis" and len(parts) == 3:
            return self._resource_list(parts[1], parts[2])
        if parts[0] == "apis" and len(parts) == 2:
            group = self._groups().get(parts[1])
            if group is not None:
                return "application/json", _dump({"kind": "APIGroup", "apiVersion": "v1", **group})
        return None

    def _aggregated_type(self, accept: str) -> str | None:
        """The aggregated discovery media type the client accepts and this release serves, if any."""
        served = ["v2", "v2beta1"] if flags(self.version).aggregated_discovery_v2 else ["v2beta1"]
        for clause in accept.split(","):
            if "as=APIGroupDiscoveryList" not in clause:
                continue
            for version in served:
                if f"v={version};" in clause + ";":
                    return f"application/json;g=apidiscovery.k8s.io;v={version};as=APIGroupDiscoveryList"
        return None

    def _kinds(self) -> list[KindInfo]:
        return list(self.kinds)

    def _groups(self) -> dict[str, dict[str, Any]]:
        groups: dict[str, dict[str, Any]] = {}
        for kind in self._kinds():
            if not kind.group:
                continue
            entry = groups.setdefault(kind.group, {"name": kind.group, "versions": []})
            gv = {"groupVersion": f"{kind.group}/{kind.version}", "version": kind.version}
            if gv not in entry["versions"]:
                entry["versions"].append(gv)
        for entry in groups.values():
            entry["preferredVersion"] = entry["versions"][0]
        return groups

    def _group_list(self) -> dict[str, Any]:
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": list(self._groups().values())}

    def _resource_entry(self, kind: KindInfo) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "name": kind.plural, "singularName": kind.singular, "namespaced": kind.namespaced, "kind": kind.kind,
            "verbs": ["create"] if kind.kind in _READ_ONLY_KINDS else _VERBS,
        }
        if kind.short_names:
            entry["shortNames"] = list(kind.short_names)
        return entry

    def _resource_list(self, group: str, version: str) -> tuple[str, bytes] | None:
        kinds = [k for k in self._kinds() if k.group == group and k.version == version]
        if not kinds:
            return None
        return "application/json", _dump({
            "kind": "APIResourceList", "apiVersion": "v1",
            "groupVersion": f"{group}/{version}" if group else version,
            "resources": [self._resource_entry(k) for k in kinds],
        })

    def _aggregated(self, core: bool, api_version: str) -> dict[str, Any]:
        groups: dict[str, dict[str, list[dict[str, Any]]]] = {}
        for kind in self._kinds():
            if (kind.group == "") != core:
                continue
            resource: dict[str, Any] = {
                "resource": kind.plural,
                "responseKind": {"group": kind.group, "version": kind.version, "kind": kind.kind},
                "scope": "Namespaced" if kind.namespaced else "Cluster",
                "singularResource": kind.singular,
                "verbs": ["create"] if kind.kind in _READ_ONLY_KINDS else _VERBS,
            }
            if kind.short_names:
                resource["shortNames"] = list(kind.short_names)
            groups.setdefault(kind.group, {}).setdefault(kind.version, []).append(resource)
        items = []
        for group, versions in groups.items():
            metadata: dict[str, Any] = {"creationTimestamp": None}
            if group:
                metadata["name"] = group
            items.append({"metadata": metadata, "versions": [
                {"version": v, "resources": resources, "freshness": "Current"} for v, resources in versions.items()]})
        return {"kind": "APIGroupDiscoveryList", "apiVersion": f"apidiscovery.k8s.io/{api_version}",
                "metadata": {}, "items": items}

    def _version(self, git_version: str) -> dict[str, str]:
        major, minor = self.version
        return {"major": str(major), "minor": str(minor), "gitVersion": git_version,
                "gitCommit": "0" * 40, "gitTreeState": "clean", "buildDate": "2024-01-01T00:00:00Z",
                "goVersion": _GO_VERSIONS.get(minor, "go1.22.0"), "compiler": "gc", "platform": "linux/amd64"}


def aggregated_version(media_type: str) -> str:
    return "v2" if ";v=v2;" in media_type else "v2beta1"


def _dump(body: Any) -> bytes:
    return json.dumps(body).encode()
