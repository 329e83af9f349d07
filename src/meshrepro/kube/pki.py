"""The certificates kubeadm (and so kind) creates: the cluster CA, the API server's serving cert, the admin's client cert."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from meshrepro.net.tls import Certificate
from meshrepro.sim.clock import rfc3339


@dataclass(frozen=True)
class ClusterPKI:
    ca: Certificate
    apiserver: Certificate
    admin: Certificate


def _serial(rng_bits: int) -> str:
    return f"{rng_bits:016x}"


def create_pki(now: datetime, rng_bits: list[int], node_name: str, node_ip: str, service_ip: str,
               admin_groups: tuple[str, ...], extra_sans: tuple[str, ...] = ()) -> ClusterPKI:
    """kubeadm's certs: the CA lives 10 years, leaf certificates one year."""
    ca = Certificate(
        common_name="kubernetes", issuer="kubernetes", serial=_serial(rng_bits[0]), is_ca=True,
        not_before=rfc3339(now), not_after=rfc3339(now + timedelta(days=3650)),
    )
    ca = Certificate(**{**ca.__dict__, "issuer_serial": ca.serial})
    leaf = {"issuer": ca.common_name, "issuer_serial": ca.serial, "not_before": rfc3339(now),
            "not_after": rfc3339(now + timedelta(days=365))}
    # kubeadm's apiserver SANs plus kind's additions (localhost and 127.0.0.1 for the published port).
    apiserver = Certificate(
        common_name="kube-apiserver", serial=_serial(rng_bits[1]),
        dns_names=(node_name, "kubernetes", "kubernetes.default", "kubernetes.default.svc",
                   "kubernetes.default.svc.cluster.local", "localhost", *extra_sans),
        ip_addresses=(service_ip, node_ip, "127.0.0.1"), **leaf,
    )
    admin = Certificate(common_name="kubernetes-admin", organizations=admin_groups, serial=_serial(rng_bits[2]), **leaf)
    return ClusterPKI(ca, apiserver, admin)
