"""IP address management with kind's defaults: one /24 of the pod subnet per node, services from 10.96.0.0/16."""

from __future__ import annotations

import ipaddress

POD_SUBNET = "10.244.0.0/16"
SERVICE_SUBNET = "10.96.0.0/16"
KIND_NETWORK = "172.18.0.0/16"  # docker's usual pick for the `kind` network (host dependent)


class PoolExhausted(Exception):
    """No free address; carries host-local's `a-b` range text."""


class Pool:
    """Hands out addresses of one subnet in order, skipping reserved ones; freed addresses are reused last."""

    def __init__(self, cidr: str, first_offset: int = 1) -> None:
        self.network = ipaddress.ip_network(cidr)
        self._next = first_offset
        self._taken: set[str] = set()
        self._freed: list[str] = []

    def allocate(self) -> str:
        while True:
            if self._next >= self.network.num_addresses - 1:
                if not self._freed:
                    raise PoolExhausted(self.range_text())
                address = self._freed.pop(0)
            else:
                address = str(self.network[self._next])
                self._next += 1
            if address not in self._taken:
                self._taken.add(address)
                return address

    def range_text(self) -> str:
        """host-local's rendering of the range: first usable through last usable address."""
        return f"{self.network[1]}-{self.network[self.network.num_addresses - 2]}"

    def reserve(self, address: str) -> bool:
        """Take a specific address (a Service's requested clusterIP); False when it is taken or foreign."""
        if ipaddress.ip_address(address) not in self.network or address in self._taken:
            return False
        self._taken.add(address)
        return True

    def release(self, address: str) -> None:
        if address in self._taken:
            self._taken.discard(address)
            self._freed.append(address)

    def __contains__(self, address: str) -> bool:
        return ipaddress.ip_address(address) in self.network


def node_pod_cidr(index: int, pod_subnet: str = POD_SUBNET) -> str:
    """The node IPAM controller gives node i the i-th /24 of the pod subnet."""
    network = ipaddress.ip_network(pod_subnet)
    return str(list(network.subnets(new_prefix=24))[index])


def host_local_pool(pod_cidr: str) -> Pool:
    """host-local IPAM (kindnet): .1 is the gateway on the node, pods get .2 onwards."""
    return Pool(pod_cidr, first_offset=2)
