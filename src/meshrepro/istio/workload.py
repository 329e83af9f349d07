"""A workload as istiod publishes it to ztunnel (the `istio.workload.Workload` xDS resource, the fields
meshrepro uses), and what `istioctl ztunnel-config workloads` prints."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Workload:
    uid: str  # "<cluster>//Pod/<namespace>/<name>" (istiod's workload UID for a pod)
    name: str
    namespace: str
    node: str
    addresses: tuple[str, ...]
    service_account: str
    status: str = "UNHEALTHY"  # HEALTHY when the pod's Ready condition is True
    tunnel_protocol: str = "TCP"  # HBONE once istio-cni annotated the pod `ambient.istio.io/redirection: enabled`
    trust_domain: str = "cluster.local"
    canonical_name: str = ""
    canonical_revision: str = ""
    workload_name: str = ""  # the owning Deployment/ReplicaSet's name, as istiod derives it
    services: tuple[str, ...] = field(default=())  # "<namespace>/<hostname>" of every Service selecting the pod
    service_ports: tuple[tuple[str, int, int], ...] = field(default=())  # (service, port, target port)
    pod_uid: str = ""  # the pod's metadata.uid (what ZDS identifies pods by)

    @property
    def identity(self) -> str:
        return f"spiffe://{self.trust_domain}/ns/{self.namespace}/sa/{self.service_account}"

    @property
    def info(self) -> str:
        """ztunnel's WorkloadInfo display (1.24+): `<sa>.<ns> (<pod>)`."""
        return f"{self.service_account}.{self.namespace} ({self.name})"
