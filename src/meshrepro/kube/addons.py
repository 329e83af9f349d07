"""What kind installs besides the control plane: CoreDNS, kube-proxy, kindnet, local-path-provisioner, and
the mirror pods of the static control-plane pods, so `kubectl get pods -A` looks like a real kind cluster."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from meshrepro.kube.store import Obj

if TYPE_CHECKING:
    from meshrepro.kube.cluster import ClusterSpec

# Component image tags per Kubernetes minor, as kubeadm pins them (cmd/kubeadm/app/constants).
COREDNS = {27: "v1.10.1", 28: "v1.10.1", 29: "v1.11.1", 30: "v1.11.1", 31: "v1.11.3", 32: "v1.11.3", 33: "v1.12.0"}
ETCD = {27: "3.5.7-0", 28: "3.5.9-0", 29: "3.5.10-0", 30: "3.5.12-0", 31: "3.5.15-0", 32: "3.5.16-0", 33: "3.5.21-0"}
KINDNETD = "docker.io/kindest/kindnetd:v20240202-8f1494ea"
LOCAL_PATH = "docker.io/kindest/local-path-provisioner:v20240202-8f1494ea"

_CONTROL_PLANE_TOLERATIONS = [{"key": "CriticalAddonsOnly", "operator": "Exists"},
                              {"effect": "NoSchedule", "key": "node-role.kubernetes.io/control-plane"}]


def addon_objects(spec: ClusterSpec, node_names: list[str]) -> list[Obj]:
    minor = spec.version[1]
    objects: list[Obj] = []
    for namespace, name in (("kube-system", "coredns"), ("kube-system", "kube-proxy"), ("kube-system", "kindnet"),
                            ("local-path-storage", "local-path-provisioner-service-account")):
        objects.append({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": namespace}})
    objects.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "coredns", "namespace": "kube-system"},
                    "data": {"Corefile": _COREFILE}})
    objects.append(_deployment("kube-system", "coredns", {"k8s-app": "kube-dns"}, 2, {
        "serviceAccountName": "coredns", "dnsPolicy": "Default", "priorityClassName": "system-cluster-critical",
        "tolerations": _CONTROL_PLANE_TOLERATIONS, "nodeSelector": {"kubernetes.io/os": "linux"},
        "volumes": [{"name": "config-volume", "configMap": {"name": "coredns", "items": [
            {"key": "Corefile", "path": "Corefile"}]}}],
        "containers": [{"name": "coredns", "image": f"registry.k8s.io/coredns/coredns:{COREDNS.get(minor, 'v1.11.1')}",
                        "args": ["-conf", "/etc/coredns/Corefile"],
                        "ports": [{"containerPort": 53, "name": "dns", "protocol": "UDP"},
                                  {"containerPort": 53, "name": "dns-tcp", "protocol": "TCP"},
                                  {"containerPort": 9153, "name": "metrics", "protocol": "TCP"}],
                        "volumeMounts": [{"name": "config-volume", "mountPath": "/etc/coredns", "readOnly": True}]}]}))
    objects.append(_daemonset("kube-system", "kube-proxy", {"k8s-app": "kube-proxy"}, {
        "serviceAccountName": "kube-proxy", "hostNetwork": True, "priorityClassName": "system-node-critical",
        "tolerations": [{"operator": "Exists"}],
        "containers": [{"name": "kube-proxy", "image": f"registry.k8s.io/kube-proxy:{spec.git_version}",
                        "command": ["/usr/local/bin/kube-proxy", "--config=/var/lib/kube-proxy/config.conf",
                                    "--hostname-override=$(NODE_NAME)"],
                        "env": [{"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
                        "securityContext": {"privileged": True}}]}))
    objects.append(_daemonset("kube-system", "kindnet", {"app": "kindnet", "k8s-app": "kindnet", "tier": "node"}, {
        "serviceAccountName": "kindnet", "hostNetwork": True, "tolerations": [{"operator": "Exists"}],
        "containers": [{"name": "kindnet-cni", "image": KINDNETD,
                        "env": [{"name": "HOST_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}},
                                {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                                {"name": "POD_SUBNET", "value": spec.pod_subnet}]}]}))
    objects.append(_deployment("local-path-storage", "local-path-provisioner", {"app": "local-path-provisioner"}, 1, {
        "serviceAccountName": "local-path-provisioner-service-account", "tolerations": _CONTROL_PLANE_TOLERATIONS,
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "containers": [{"name": "local-path-provisioner", "image": LOCAL_PATH,
                        "command": ["local-path-provisioner", "--debug", "start", "--helper-image",
                                    "docker.io/kindest/local-path-helper:v20230510-486859a6",
                                    "--config", "/etc/config/config.json"]}]}))
    control_plane = node_names[0]
    for component, image in (("etcd", f"registry.k8s.io/etcd:{ETCD.get(minor, '3.5.10-0')}"),
                             ("kube-apiserver", f"registry.k8s.io/kube-apiserver:{spec.git_version}"),
                             ("kube-controller-manager", f"registry.k8s.io/kube-controller-manager:{spec.git_version}"),
                             ("kube-scheduler", f"registry.k8s.io/kube-scheduler:{spec.git_version}")):
        objects.append(_mirror_pod(component, image, control_plane))
    return objects


def _deployment(namespace: str, name: str, labels: dict[str, str], replicas: int, pod_spec: Obj) -> Obj:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
            "spec": {"replicas": replicas, "selector": {"matchLabels": dict(labels)},
                     "template": {"metadata": {"labels": dict(labels)}, "spec": pod_spec}}}


def _daemonset(namespace: str, name: str, labels: dict[str, str], pod_spec: Obj) -> Obj:
    return {"apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
            "spec": {"selector": {"matchLabels": dict(labels)},
                     "template": {"metadata": {"labels": dict(labels)}, "spec": pod_spec}}}


def _mirror_pod(component: str, image: str, node: str) -> Obj:
    pod: dict[str, Any] = {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": f"{component}-{node}", "namespace": "kube-system",
                     "labels": {"component": component, "tier": "control-plane"},
                     "annotations": {"kubernetes.io/config.mirror": "simulated", "kubernetes.io/config.source": "file"}},
        "spec": {"nodeName": node, "hostNetwork": True, "priorityClassName": "system-node-critical",
                 "automountServiceAccountToken": False,
                 "containers": [{"name": component, "image": image, "command": [component]}]},
    }
    return pod


_COREFILE = """.:53 {
    errors
    health {
       lameduck 5s
    }
    ready
    kubernetes cluster.local in-addr.arpa ip6.arpa {
       pods insecure
       fallthrough in-addr.arpa ip6.arpa
       ttl 30
    }
    prometheus :9153
    forward . /etc/resolv.conf {
       max_concurrent 1000
    }
    cache 30
    loop
    reload
    loadplugin
}
"""
