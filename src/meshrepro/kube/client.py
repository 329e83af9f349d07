"""The in-process API client of control-plane components: the same dispatch path as HTTP, without the wire."""

from __future__ import annotations

from typing import Any

from meshrepro.kube.apiserver import APIServer, Result
from meshrepro.kube.rbac import User
from meshrepro.kube.requestinfo import RequestInfo
from meshrepro.kube.store import Obj
from meshrepro.manifests.values import clone


class Client:
    """CRUD on `group/version resource` as one user; every call is authorized and admitted."""

    def __init__(self, server: APIServer, user: User) -> None:
        self.server = server
        self.user = user

    def _info(self, verb: str, api_version: str, resource: str, namespace: str, name: str = "",
              subresource: str = "") -> RequestInfo:
        group, _, version = api_version.rpartition("/")
        return RequestInfo(is_resource_request=True, path="", verb=verb, api_prefix="apis" if group else "api",
                           api_group=group, api_version=version, namespace=namespace, resource=resource,
                           subresource=subresource, name=name)

    def get(self, api_version: str, resource: str, namespace: str, name: str) -> Obj | None:
        result = self.server.dispatch(self.user, self._info("get", api_version, resource, namespace, name))
        return result.body if result.ok else None  # get already hands out a copy

    def list(self, api_version: str, resource: str, namespace: str = "", label_selector: str = "",
             field_selector: str = "") -> list[Obj]:
        query = {}
        if label_selector:
            query["labelSelector"] = [label_selector]
        if field_selector:
            query["fieldSelector"] = [field_selector]
        result = self.server.dispatch(self.user, self._info("list", api_version, resource, namespace), query)
        # The server lists stored objects without copying (its JSON encoder only reads them); callers may edit.
        return [clone(item) for item in result.body["items"]] if result.ok else []

    def create(self, api_version: str, resource: str, namespace: str, obj: Obj) -> Result:
        return _owned(self.server.dispatch(self.user, self._info("create", api_version, resource, namespace), {}, obj))

    def update(self, api_version: str, resource: str, obj: Obj, subresource: str = "") -> Result:
        meta = obj["metadata"]
        info = self._info("update", api_version, resource, meta.get("namespace", ""), meta["name"], subresource)
        return _owned(self.server.dispatch(self.user, info, {}, obj))

    def update_status(self, api_version: str, resource: str, obj: Obj) -> Result:
        """Write status; the answer's body is the stored object, to read and not to edit."""
        meta = obj["metadata"]
        info = self._info("update", api_version, resource, meta.get("namespace", ""), meta["name"], "status")
        return self.server.dispatch(self.user, info, {}, obj)

    def patch(self, api_version: str, resource: str, namespace: str, name: str, patch: Any,
              patch_type: str = "application/merge-patch+json", subresource: str = "") -> Result:
        info = self._info("patch", api_version, resource, namespace, name, subresource)
        return _owned(self.server.dispatch(self.user, info, {"_patchType": [patch_type]}, patch))

    def delete(self, api_version: str, resource: str, namespace: str, name: str) -> Result:
        return _owned(self.server.dispatch(self.user, self._info("delete", api_version, resource, namespace, name)))


def _owned(result: Result) -> Result:
    """Writes answer with the stored object; in-process callers get their own copy to edit."""
    return Result(result.status, clone(result.body)) if isinstance(result.body, dict) else result
