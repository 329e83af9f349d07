"""The Service registry: cluster IP and node port allocation, validation messages, release on delete."""

from __future__ import annotations

import ipaddress
import random

import pytest

from meshrepro.backends.sim.machine import Machine
from meshrepro.kube.cluster import Cluster, ClusterSpec
from meshrepro.kube.services import NODE_PORT_RANGE, ServiceAllocator
from meshrepro.net.addressing import Pool
from meshrepro.sim.clock import Clock
from meshrepro.sim.trace import Trace


@pytest.fixture
def kind() -> Cluster:
    clock = Clock(seed=3)
    cluster = Machine(clock, Trace(), (1, 29), "1.29.2").create_cluster(ClusterSpec())
    clock.run_until(5)
    return cluster


def create(kind: Cluster, name: str, **spec: object) -> tuple[int, dict]:
    result = kind.client.create("v1", "services", "default", {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": spec})
    return result.status, result.body


def message(kind: Cluster, name: str, **spec: object) -> str:
    status, body = create(kind, name, **spec)
    assert status == 422 and body["reason"] == "Invalid"
    return body["message"]


# -- cluster IPs ---------------------------------------------------------------------------


def test_random_cluster_ips_are_in_the_upper_block_of_the_service_cidr(kind: Cluster) -> None:
    """Random cluster IPs lie in 10.96.0.0/16 above the first 256 addresses kept for static IPs, all distinct."""
    ips = [create(kind, f"s{i}", ports=[{"port": 80}])[1]["spec"]["clusterIP"] for i in range(20)]
    assert len(set(ips)) == 20
    network = ipaddress.ip_network("10.96.0.0/16")
    for ip in ips:
        address = ipaddress.ip_address(ip)
        assert address in network and int(address) - int(network.network_address) >= 256
        assert address != network.broadcast_address


def test_cluster_ips_field_mirrors_cluster_ip(kind: Cluster) -> None:
    """The stored Service has clusterIPs = [clusterIP] and the bootstrap Services hold .1 and .10."""
    _, body = create(kind, "web", ports=[{"port": 80}])
    assert body["spec"]["clusterIPs"] == [body["spec"]["clusterIP"]]
    assert kind.client.get("v1", "services", "default", "kubernetes")["spec"]["clusterIP"] == "10.96.0.1"
    assert kind.client.get("v1", "services", "kube-system", "kube-dns")["spec"]["clusterIP"] == "10.96.0.10"


def test_requested_cluster_ip_is_kept(kind: Cluster) -> None:
    """A free requested clusterIP is used as given."""
    status, body = create(kind, "a", clusterIP="10.96.0.50", ports=[{"port": 80}])
    assert (status, body["spec"]["clusterIP"], body["spec"]["clusterIPs"]) == (201, "10.96.0.50", ["10.96.0.50"])


def test_requested_ip_already_allocated_message_mentions_the_ip(kind: Cluster) -> None:
    """A second Service asking for the same clusterIP is Invalid with the allocator's reason."""
    create(kind, "a", clusterIP="10.96.0.50", ports=[{"port": 80}])
    status, body = create(kind, "b", clusterIP="10.96.0.50", ports=[{"port": 80}])
    assert status == 422
    assert body["message"].endswith("failed to allocate IP 10.96.0.50: provided IP is already allocated")
    assert body["details"]["causes"] == [{"reason": "FieldValueInvalid", "message": body["message"].split(": ", 2)[2],
                                          "field": "spec.clusterIPs"}]


def test_requested_ip_already_allocated_exact_message(kind: Cluster) -> None:
    """The exact Invalid message of a taken clusterIP, as `kubectl create` shows it."""
    create(kind, "a", clusterIP="10.96.0.50", ports=[{"port": 80}])
    assert message(kind, "b", clusterIP="10.96.0.50", ports=[{"port": 80}]) == (
        'Service "b" is invalid: spec.clusterIPs: Invalid value: []string{"10.96.0.50"}: failed to allocate IP '
        '10.96.0.50: provided IP is already allocated')


def test_kubernetes_service_ip_is_taken(kind: Cluster) -> None:
    """10.96.0.1, held by the `kubernetes` Service, cannot be requested again."""
    assert message(kind, "x", clusterIP="10.96.0.1", ports=[{"port": 80}]).endswith(
        "failed to allocate IP 10.96.0.1: provided IP is already allocated")


def test_requested_ip_outside_the_range(kind: Cluster) -> None:
    """A clusterIP outside the service CIDR is refused naming the valid range."""
    assert message(kind, "c", clusterIP="10.97.0.50", ports=[{"port": 80}]).endswith(
        "failed to allocate IP 10.97.0.50: the provided IP (10.97.0.50) is not in the valid range. "
        "The range of valid IPs is 10.96.0.0/16")


def test_malformed_cluster_ip(kind: Cluster) -> None:
    """A clusterIP that is not an IP address fails validation with the field's message."""
    assert message(kind, "c", clusterIP="ten", ports=[{"port": 80}]) == (
        'Service "c" is invalid: spec.clusterIPs[0]: Invalid value: "ten": must be a valid IP address, '
        "(e.g. 10.9.8.7 or 2001:db8::ffff)")


def test_headless_service_gets_no_ip(kind: Cluster) -> None:
    """clusterIP None stays None and takes no address."""
    status, body = create(kind, "h", clusterIP="None", ports=[{"port": 80}])
    assert (status, body["spec"]["clusterIP"], body["spec"]["clusterIPs"]) == (201, "None", ["None"])


def test_release_on_delete_frees_the_ip(kind: Cluster) -> None:
    """Deleting a Service releases its clusterIP: another Service can then request it."""
    create(kind, "a", clusterIP="10.96.0.50", ports=[{"port": 80}])
    assert kind.client.delete("v1", "services", "default", "a").status == 200
    status, body = create(kind, "b", clusterIP="10.96.0.50", ports=[{"port": 80}])
    assert (status, body["spec"]["clusterIP"]) == (201, "10.96.0.50")


def test_release_on_delete_frees_the_node_port(kind: Cluster) -> None:
    """Deleting a NodePort Service releases its node port too."""
    create(kind, "a", type="NodePort", ports=[{"port": 80, "nodePort": 30080}])
    kind.client.delete("v1", "services", "default", "a")
    status, body = create(kind, "b", type="NodePort", ports=[{"port": 80, "nodePort": 30080}])
    assert (status, body["spec"]["ports"][0]["nodePort"]) == (201, 30080)


# -- node ports ------------------------------------------------------------------------------


def test_node_port_allocated_in_range(kind: Cluster) -> None:
    """A NodePort Service without nodePort gets one from 30000-32767."""
    status, body = create(kind, "np", type="NodePort", ports=[{"port": 80}])
    assert status == 201
    assert NODE_PORT_RANGE[0] <= body["spec"]["ports"][0]["nodePort"] <= NODE_PORT_RANGE[1]


def test_node_port_out_of_range(kind: Cluster) -> None:
    """A nodePort outside 30000-32767 is Invalid with the registry's exact message."""
    assert message(kind, "d", type="NodePort", ports=[{"port": 80, "nodePort": 29999}]) == (
        'Service "d" is invalid: spec.ports[0].nodePort: Invalid value: 29999: provided port is not in the valid '
        "range. The range of valid ports is 30000-32767")


def test_duplicate_node_port(kind: Cluster) -> None:
    """A nodePort another Service holds is Invalid: provided port is already allocated."""
    create(kind, "e", type="NodePort", ports=[{"port": 80, "nodePort": 30080}])
    assert message(kind, "f", type="NodePort", ports=[{"port": 80, "nodePort": 30080}]) == (
        'Service "f" is invalid: spec.ports[0].nodePort: Invalid value: 30080: provided port is already allocated')


def test_node_port_on_cluster_ip_service_is_forbidden(kind: Cluster) -> None:
    """A nodePort on a ClusterIP Service is a Forbidden field."""
    assert message(kind, "g", ports=[{"port": 80, "nodePort": 30080}]) == (
        "Service \"g\" is invalid: spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'")


def test_failed_create_releases_the_requested_ip(kind: Cluster) -> None:
    """A create refused for its nodePort leaves the requested clusterIP free for the corrected retry."""
    create(kind, "e", type="NodePort", ports=[{"port": 80, "nodePort": 30080}])
    assert create(kind, "h", type="NodePort", clusterIP="10.96.0.60", ports=[{"port": 80, "nodePort": 30080}])[0] == 422
    status, body = create(kind, "h", type="NodePort", clusterIP="10.96.0.60", ports=[{"port": 80, "nodePort": 30081}])
    assert status == 201, body.get("message")


def test_type_change_to_node_port_allocates_a_port(kind: Cluster) -> None:
    """Patching a ClusterIP Service to type NodePort gives its port a nodePort."""
    create(kind, "i", ports=[{"port": 80}])
    result = kind.client.patch("v1", "services", "default", "i", {"spec": {"type": "NodePort"}})
    assert result.status == 200
    assert NODE_PORT_RANGE[0] <= result.body["spec"]["ports"][0].get("nodePort", 0) <= NODE_PORT_RANGE[1]


# -- port validation -------------------------------------------------------------------------


def test_multi_port_service_needs_port_names(kind: Cluster) -> None:
    """With two ports, the unnamed one is `Required value`."""
    assert message(kind, "g", ports=[{"name": "http", "port": 80}, {"port": 81}]) == (
        'Service "g" is invalid: spec.ports[1].name: Required value')


def test_multi_port_service_both_unnamed(kind: Cluster) -> None:
    """Two unnamed ports give two causes, aggregated in brackets."""
    _status, body = create(kind, "g", ports=[{"port": 80}, {"port": 81}])
    assert body["message"] == (
        'Service "g" is invalid: [spec.ports[0].name: Required value, spec.ports[1].name: Required value]')
    assert [c["field"] for c in body["details"]["causes"]] == ["spec.ports[0].name", "spec.ports[1].name"]


def test_duplicate_port_names(kind: Cluster) -> None:
    """Two ports with one name: Duplicate value on the second."""
    assert message(kind, "g", ports=[{"name": "http", "port": 80}, {"name": "http", "port": 81}]) == (
        'Service "g" is invalid: spec.ports[1].name: Duplicate value: "http"')


def test_port_out_of_range(kind: Cluster) -> None:
    """A port of 0 is out of 1-65535."""
    assert message(kind, "p", ports=[{"port": 0}]) == (
        'Service "p" is invalid: spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive')


def test_ports_required(kind: Cluster) -> None:
    """A ClusterIP Service without ports is Invalid: spec.ports Required value."""
    assert message(kind, "p") == 'Service "p" is invalid: spec.ports: Required value'


def test_unsupported_type(kind: Cluster) -> None:
    """An unknown type lists the supported ones, sorted."""
    assert message(kind, "t", type="Foo", ports=[{"port": 80}]) == (
        'Service "t" is invalid: spec.type: Unsupported value: "Foo": supported values: "ClusterIP", '
        '"ExternalName", "LoadBalancer", "NodePort"')


# -- the allocator alone -------------------------------------------------------------------------


def test_allocator_is_deterministic_under_a_seed() -> None:
    """Two allocators with the same seed hand out the same addresses and ports."""
    def run() -> list[tuple[str, int]]:
        allocator = ServiceAllocator(Pool("10.96.0.0/16"), random.Random(7))
        out = []
        for _ in range(5):
            service = {"metadata": {"name": "s"}, "spec": {"type": "NodePort", "ports": [{"port": 80}]}}
            assert allocator.allocate(service) is None
            out.append((service["spec"]["clusterIP"], service["spec"]["ports"][0]["nodePort"]))
        return out
    assert run() == run()


def test_external_name_gets_no_ip() -> None:
    """An ExternalName Service takes neither address nor port."""
    allocator = ServiceAllocator(Pool("10.96.0.0/16"), random.Random(7))
    service = {"metadata": {"name": "x"}, "spec": {"type": "ExternalName", "externalName": "example.com"}}
    assert allocator.allocate(service) is None
    assert "clusterIP" not in service["spec"]
