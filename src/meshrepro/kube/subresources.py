"""pods/log and pods/exec: the API server proxies them to the kubelet of the pod's node."""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

import simpy

from meshrepro.kube import status as api_status
from meshrepro.kube.rbac import User
from meshrepro.kube.requestinfo import RequestInfo
from meshrepro.kube.store import ResourceKey

if TYPE_CHECKING:
    from meshrepro.kube.apiserver import APIServer
    from meshrepro.kube.kubelet import Kubelet

PODS = ResourceKey("", "pods")


def register_pod_subresources(server: APIServer, kubelet_of: Callable[[str], Kubelet | None]) -> None:
    def find(info: RequestInfo) -> tuple[Any, Kubelet | None, tuple[int, Any] | None]:
        pod = server.store.get(PODS, info.namespace, info.name)
        if pod is None:
            return None, None, api_status.not_found("", "pods", info.name)
        kubelet = kubelet_of(pod["spec"].get("nodeName", ""))
        return pod, kubelet, None

    def default_container(pod: Any, query: dict[str, list[str]]) -> str | tuple[int, Any]:
        requested = (query.get("container") or [""])[0]
        if requested:
            names = [c["name"] for c in [*pod["spec"].get("initContainers", []), *pod["spec"]["containers"],
                                         *pod["spec"].get("ephemeralContainers", [])]]
            if requested not in names:
                return api_status.bad_request(f'container {requested} is not valid for pod {pod["metadata"]["name"]}')
            return requested
        containers = pod["spec"]["containers"]
        if len(containers) == 1:
            return containers[0]["name"]
        names = " ".join(c["name"] for c in containers)
        init = " ".join(c["name"] for c in pod["spec"].get("initContainers", []))
        message = f"a container name must be specified for pod {pod['metadata']['name']}, choose one of: [{names}]"
        if init:
            message += f" or one of the init containers: [{init}]"
        return api_status.bad_request(message)

    def target(info: RequestInfo, query: dict[str, list[str]]) -> tuple[Any, Any, Any]:
        """(pod, its kubelet, the container asked for), or the Status error (status, body)."""
        pod, kubelet, error = find(info)
        if error is not None:
            return error
        container = default_container(pod, query)
        if isinstance(container, tuple):
            return container
        return pod, kubelet, container

    def log(user: User, info: RequestInfo, query: dict[str, list[str]], body: bytes
            ) -> Generator[simpy.Event, Any, tuple[int, Any]]:
        found = target(info, query)
        if isinstance(found[0], int):
            return found  # type: ignore[return-value]
        pod, kubelet, container = found
        if kubelet is None:
            return api_status.bad_request(f'container "{container}" in pod "{info.name}" is waiting to start: '
                                          f"ContainerCreating")
        tail_text = (query.get("tailLines") or [""])[0]
        status, payload = kubelet.logs(pod, container, (query.get("previous") or ["false"])[0] == "true",
                                       int(tail_text) if tail_text else None,
                                       (query.get("timestamps") or ["false"])[0] == "true")
        if status != 200:
            return api_status.bad_request(payload)
        return 200, payload
        yield  # pragma: no cover

    def exec_(user: User, info: RequestInfo, query: dict[str, list[str]], body: bytes
              ) -> Generator[simpy.Event, Any, tuple[int, Any]]:
        found = target(info, query)
        if isinstance(found[0], int):
            return found  # type: ignore[return-value]
        pod, kubelet, container = found
        if kubelet is None:
            return api_status.bad_request(f'unable to upgrade connection: container not found ("{container}")')
        status, payload = yield from kubelet.exec(pod, container, query.get("command") or [])
        if status == 500:
            return api_status.internal_error(payload)
        if status != 200:
            return api_status.bad_request(payload)
        return 200, payload

    server.subresources[("pods", "log")] = log
    server.subresources[("pods", "exec")] = exec_
