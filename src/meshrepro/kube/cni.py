"""The CNI chain the kubelet runs at sandbox creation: the seam where kindnet and istio-cni plug in."""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any, Protocol

import simpy

from meshrepro.kube.store import Obj
from meshrepro.net.addressing import Pool, PoolExhausted
from meshrepro.net.stack import NetNamespace, Network


@dataclass
class CNIResult:
    ips: list[str] = field(default_factory=list)
    gateway: str = ""


@dataclass(frozen=True)
class CNIError:
    plugin_type: str
    plugin_name: str
    message: str


class CNIPlugin(Protocol):
    type: str
    name: str

    def add(self, pod: Obj, netns: NetNamespace, previous: CNIResult) -> Generator[simpy.Event, Any, CNIResult | CNIError]:
        ...

    def delete(self, pod: Obj, netns: NetNamespace) -> None: ...


class PtpHostLocal:
    """kindnet's configuration: ptp veth pairs with host-local IPAM on the node's pod CIDR."""

    type = "ptp"
    name = "kindnet"

    def __init__(self, network: Network, pool: Pool, gateway: str) -> None:
        self.network = network
        self.pool = pool
        self.gateway = gateway

    def add(self, pod: Obj, netns: NetNamespace, previous: CNIResult) -> Generator[simpy.Event, Any, CNIResult | CNIError]:
        try:
            address = self.pool.allocate()
        except PoolExhausted as exhausted:
            return CNIError(self.type, self.name, f"failed to allocate for range 0: no IP addresses available in "
                                                  f"range set: {exhausted}")
        self.network.assign(netns, address)
        return CNIResult(ips=[*previous.ips, address], gateway=self.gateway)
        yield  # pragma: no cover - a generator, like every plugin

    def delete(self, pod: Obj, netns: NetNamespace) -> None:
        for address in netns.addresses:
            if address in self.pool:
                self.pool.release(address)
