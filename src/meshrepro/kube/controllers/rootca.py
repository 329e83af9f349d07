"""root-ca-cert-publisher: ConfigMap `kube-root-ca.crt` with the cluster CA in every namespace.

Port of pkg/controller/certificates/rootcacertpublisher/publisher.go: namespaces are queued on add and
update, the ConfigMap's namespace on its update or delete; syncNamespace creates the ConfigMap, or
rewrites it when its data or description annotation drifted.
"""

from __future__ import annotations

from meshrepro.kube.controllers.base import Controller, ControllerContext, Key
from meshrepro.kube.controllers.util import (
    CONFIG_MAPS,
    NAMESPACES,
    RateLimitedQueue,
    error_message,
    namespace_terminating,
)
from meshrepro.kube.store import WatchEvent

CONFIG_MAP_NAME = "kube-root-ca.crt"
DESCRIPTION_ANNOTATION = "kubernetes.io/description"
DESCRIPTION = ("Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints "
               "such as the internal service IP or kubernetes.default.svc. "
               "No other usage is guaranteed across distributions of Kubernetes clusters.")


class RootCACertPublisher(Controller):
    name = "root-ca-cert-publisher"
    primary = NAMESPACES
    secondary = (CONFIG_MAPS,)

    def __init__(self, ctx: ControllerContext, ca_pem: str) -> None:
        super().__init__(ctx)
        self.ca_pem = ca_pem
        self.retries = RateLimitedQueue(self)

    def keys_for(self, event: WatchEvent) -> list[Key]:
        meta = event.object["metadata"]
        if meta["name"] != CONFIG_MAP_NAME or event.type == "ADDED":
            return []
        return [("", meta["namespace"])]

    def _on_primary(self, event: WatchEvent) -> None:
        if event.type != "DELETED":
            self.enqueue(("", event.object["metadata"]["name"]))

    def reconcile(self, namespace: str, name: str) -> None:
        if self.ctx.store.peek(NAMESPACES, "", name) is None:
            return
        data = {"ca.crt": self.ca_pem}
        current = self.ctx.store.get(CONFIG_MAPS, name, CONFIG_MAP_NAME)
        if current is None:
            result = self.ctx.client.create("v1", "configmaps", name, {
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": CONFIG_MAP_NAME, "namespace": name,
                             "annotations": {DESCRIPTION_ANNOTATION: DESCRIPTION}},
                "data": data})
            # No retry when the namespace is gone or terminating.
            retry = not result.ok and result.status != 404 and not namespace_terminating(result)
        else:
            annotations = current["metadata"].get("annotations") or {}
            if current.get("data") == data and annotations.get(DESCRIPTION_ANNOTATION):
                return
            current["data"] = data
            current["metadata"]["annotations"] = {**annotations, DESCRIPTION_ANNOTATION: DESCRIPTION}
            result = self.ctx.client.update("v1", "configmaps", current)
            retry = not result.ok
        if retry:
            self.ctx.trace.add(self.ctx.clock.now, self.name, f"Namespace {name}", "sync failed",
                               error_message(result))
            self.retries.add_rate_limited((namespace, name))
        else:
            self.retries.forget((namespace, name))
