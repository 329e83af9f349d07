"""API discovery and the REST mapper, as kubectl wires them.

Discovery [CG 1.29.0 discovery/discovery_client.go]: `GET /api` then `GET /apis`, each with the
release's Accept list and `?timeout=32s`; an aggregated answer (Content-Type
`application/json;g=apidiscovery.k8s.io;v=<v>;as=APIGroupDiscoveryList`) already holds every
resource, a legacy one (APIVersions / APIGroupList) needs one GET per group version. A 404 on /api
is tolerated. Each failed refresh is logged by the memory cache [CG memcache.go:265] and retried by
the next caller, because a failed result is never cached.

The mapper reproduces how often kubectl asks for discovery while resolving one resource
argument (hence how many `couldn't get current server API group list` lines a failure prints):
the builder's category expansion [cli-runtime pkg/resource/builder.go ReplaceAliases], then
mappingFor [builder.go]: KindFor through the shortcut expander (its own discovery read, error only
logged at V(1)) and the deferred mapper, then RESTMapping twice [client-go restmapper/shortcut.go,
discovery.go]. With discovery down that is 5 refreshes, as observed on real kubectl.
"""

from __future__ import annotations

import json
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

import simpy

from meshrepro.runtime.process import Process

from . import klog
from .errors import GoError
from .rest import RestClient
from .versions import KubectlVersion

DISCOVERY_TIMEOUT = 32.0  # [CG discovery_client.go defaultTimeout]
LEGACY_ACCEPT = "application/json, */*"  # a plain rest client's Accept for APIResourceList

Wait = Generator[simpy.Event, Any, Any]


@dataclass(frozen=True)
class Resource:
    """One API resource as discovery describes it."""

    name: str  # plural, e.g. "deployments"
    kind: str
    group: str
    version: str
    namespaced: bool
    singular: str = ""
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ()

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_resource(self) -> str:
        """`pods`, `deployments.apps`: how errors and `-o name` spell it."""
        return f"{self.name}.{self.group}" if self.group else self.name

    @property
    def group_kind_lower(self) -> str:
        """`pod`, `deployment.apps`: the prefix of `-o name` and of apply's result lines."""
        return f"{self.kind.lower()}.{self.group}" if self.group else self.kind.lower()

    def path(self, namespace: str | None, name: str = "", subresource: str = "") -> str:
        base = "/api/v1" if not self.group else f"/apis/{self.group}/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{self.name}"
        if name:
            base += f"/{name}"
        if subresource:
            base += f"/{subresource}"
        return base


@dataclass
class Discovery:
    """The memory-cached discovery client of one kubectl process."""

    proc: Process
    client: RestClient
    version: KubectlVersion
    resources: list[Resource] | None = None
    group_order: list[str] = field(default_factory=list)

    def refresh(self) -> Wait:
        """Fetch everything once; a failure is logged and raised, and the next call tries again."""
        if self.resources is not None:
            return self.resources
        try:
            resources = yield from self._fetch()
        except GoError as err:
            klog.handle_error(self.proc, self.version, klog.MEMCACHE_LOCATION,
                              f"couldn't get current server API group list: {err}")
            raise
        self.resources = resources
        return resources

    def _get(self, path: str, accept: str) -> Wait:
        timeout = self.client.config.timeout or DISCOVERY_TIMEOUT
        return (yield from self.client.request("GET", path, accept=accept, timeout=timeout))

    def _fetch(self) -> Wait:
        found: list[Resource] = []
        legacy = yield from self._get("/api", self.version.discovery_accept)
        body = b""
        if legacy.status != 404:
            body = legacy.raw()
        if body:
            if self._aggregated(legacy.content_type):
                found += _from_aggregated(_json(body))
            elif _json(body).get("versions"):
                found += yield from self._legacy_group_version("/api/v1", "", "v1")
        groups = yield from self._get("/apis", self.version.discovery_accept)
        body = groups.raw()
        if self._aggregated(groups.content_type):
            found += _from_aggregated(_json(body))
        else:
            for group in _json(body).get("groups") or []:
                preferred = (group.get("preferredVersion") or {}).get("version") \
                    or ((group.get("versions") or [{}])[0]).get("version", "")
                found += yield from self._legacy_group_version(
                    f"/apis/{group.get('name')}/{preferred}", str(group.get("name", "")), preferred)
        return found

    def _legacy_group_version(self, path: str, group: str, version: str) -> Wait:
        result = yield from self._get(path, LEGACY_ACCEPT)
        listing = result.into()
        out = []
        for item in listing.get("resources") or []:
            if "/" in item.get("name", ""):
                continue  # subresources such as pods/log
            out.append(Resource(
                name=item["name"], kind=item.get("kind", ""), group=group, version=version,
                namespaced=bool(item.get("namespaced")), singular=item.get("singularName", ""),
                short_names=tuple(item.get("shortNames") or ()), categories=tuple(item.get("categories") or ()),
                verbs=tuple(item.get("verbs") or ())))
        return out

    def _aggregated(self, content_type: str) -> bool:
        """ContentTypeIsGVK for each aggregated version this release decodes."""
        base, _, rest = content_type.partition(";")
        if base.strip() != "application/json":
            return False
        params = dict(p.strip().split("=", 1) for p in rest.split(";") if "=" in p)
        return (params.get("g") == "apidiscovery.k8s.io" and params.get("as") == "APIGroupDiscoveryList"
                and params.get("v") in self.version.aggregated_discovery)


def _json(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except ValueError as exc:
        raise GoError(f"invalid character in discovery response: {exc}") from None
    return value if isinstance(value, dict) else {}


def _from_aggregated(listing: dict[str, Any]) -> list[Resource]:
    """SplitGroupsAndResources: every version of each group, the preferred one first."""
    out: list[Resource] = []
    for item in listing.get("items") or []:
        group = (item.get("metadata") or {}).get("name", "")
        for version in item.get("versions") or []:  # preferred version first
            for res in version.get("resources") or []:
                kind = (res.get("responseKind") or {}).get("kind", "")
                out.append(Resource(
                    name=res.get("resource", ""), kind=kind, group=group, version=version.get("version", ""),
                    namespaced=res.get("scope") == "Namespaced", singular=res.get("singularResource", ""),
                    short_names=tuple(res.get("shortNames") or ()),
                    categories=tuple(res.get("categories") or ()), verbs=tuple(res.get("verbs") or ())))
    return out


class Mapper:
    """ShortcutExpander over DeferredDiscoveryRESTMapper, plus the category expander."""

    def __init__(self, discovery: Discovery) -> None:
        self.discovery = discovery

    def _resources_quietly(self) -> Wait:
        """A discovery read whose error the caller only logs at V(1) (not shown)."""
        try:
            return (yield from self.discovery.refresh())
        except GoError:
            return []

    def expand_categories(self, arg: str) -> Wait:
        """`all` and other categories become their resources; one discovery read."""
        resources = yield from self._resources_quietly()
        members = [r for r in resources if arg in r.categories]
        return [r.group_resource for r in members] if members else [arg]

    def resource_for(self, arg: str) -> Wait:
        """builder.mappingFor for a resource argument: `pods`, `po`, `deploy`, `deployments.apps`."""
        group_resource = arg.lower()
        resources = yield from self._resources_quietly()  # the shortcut expander's own read
        expanded = _expand_shortcut(resources, group_resource)
        kind_err: GoError | None = None
        try:
            resources = yield from self.discovery.refresh()
            found = _match_resource(resources, expanded)
        except GoError as err:
            kind_err, found = err, None
        if found is not None:
            return found
        # ParseKindArg fallback: the argument as a Kind, twice (fully specified, then group kind)
        for _ in range(2):
            try:
                resources = yield from self.discovery.refresh()
            except GoError as err:
                kind_err = err
                continue
            match = _match_kind(resources, arg.split(".", 1)[0], arg.split(".", 1)[1] if "." in arg else None)
            if match is not None:
                return match
        if kind_err is not None and self.discovery.resources is None:
            raise kind_err
        raise GoError(f'the server doesn\'t have a resource type "{group_resource.split(".", 1)[0]}"')

    def kind_for(self, api_version: str, kind: str) -> Wait:
        """RESTMapping(groupKind, version) for an object read from a file."""
        resources = yield from self.discovery.refresh()
        group, _, version = api_version.rpartition("/")
        match = _match_kind(resources, kind, group, version)
        if match is None:
            raise NoKindMatch(kind, group, version)
        return match


class NoKindMatch(GoError):
    """meta.NoKindMatchError: `no matches for kind "X" in version "g/v"`."""

    def __init__(self, kind: str, group: str, version: str) -> None:
        gv = f"{group}/{version}" if group else version
        super().__init__(f'no matches for kind "{kind}" in version "{gv}"')


def _expand_shortcut(resources: list[Resource], arg: str) -> str:
    name, _, group = arg.partition(".")
    for r in resources:
        if name in r.short_names and (not group or r.group == group):
            return f"{r.name}.{r.group}" if r.group else r.name
    return arg


def _match_resource(resources: list[Resource], arg: str) -> Resource | None:
    """ResourceFor: plural or singular name, optionally `.group` or `.version.group` qualified."""
    name, _, qualifier = arg.partition(".")
    for r in resources:
        if name not in (r.name, r.singular or r.kind.lower(), r.kind.lower()):
            continue
        if not qualifier or qualifier == r.group or qualifier == f"{r.version}.{r.group}":
            return r
    return None


def _match_kind(resources: list[Resource], kind: str, group: str | None,
                version: str | None = None) -> Resource | None:
    for r in resources:
        if r.kind == kind and (group is None or r.group == group) and (not version or r.version == version):
            return r
    return None


