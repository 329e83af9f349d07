"""PeerAuthentication: the mTLS mode in force for one workload, the way istiod computes it.

One function serves both data planes: the sidecar's inbound listener (per port) and the ambient conversion to
ztunnel policies. Sources (identical 1.18 to 1.27):
- `pilot/pkg/security/authn/policy_applier.go` ComposePeerAuthentication: the mesh-wide policy (root namespace, no
  selector), then the namespace's (no selector), then the workload's (selector matching, not in the root namespace);
  the oldest wins within a scope; UNSET inherits from the scope above; nothing at all is PERMISSIVE; each
  `portLevelMtls` entry (keyed by the workload's port) whose mode is UNSET inherits the workload's mode.
- `pilot/pkg/model/authentication.go` addPeerAuthentication / GetNamespaceMutualTLSMode: the mode a client infers
  for a *service* (auto mTLS), from the namespace or mesh policy only; None when neither exists (istiod then
  assumes PERMISSIVE, `BestEffortInferServiceMTLSMode`).

A selector with empty matchLabels counts as no selector (`spec.Selector == nil || len(MatchLabels) == 0`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from meshrepro.kube.store import ResourceKey

Obj = dict[str, Any]
PEER_AUTHENTICATIONS = ResourceKey("security.istio.io", "peerauthentications")
STRICT, PERMISSIVE, DISABLE, UNSET = "STRICT", "PERMISSIVE", "DISABLE", "UNSET"


@dataclass(frozen=True)
class EffectiveMtls:
    """The composed PeerAuthentication of one workload (MergedPeerAuthentication)."""

    mode: str = PERMISSIVE  # STRICT | PERMISSIVE | DISABLE, never UNSET
    port_modes: tuple[tuple[int, str], ...] = ()  # (workload port, mode); UNSET already resolved to `mode`
    workload_policy: str = ""  # the name of the workload-level PeerAuthentication that applied, if any
    decided_by: str = ""  # `PeerAuthentication <ns>/<name>` whose mode is in force ("" for the default)

    def for_port(self, port: int) -> str:
        return next((m for p, m in self.port_modes if p == port), self.mode)


def _mode(setting: Obj | None) -> str:
    """A MutualTLS message's mode (`{mode: STRICT}`), UNSET when absent."""
    return str((setting or {}).get("mode") or UNSET).upper()


def _mtls_mode(spec: Obj | None) -> str:
    return _mode((spec or {}).get("mtls"))


def _selector(pa: Obj) -> Mapping[str, str]:
    return (((pa.get("spec") or {}).get("selector") or {}).get("matchLabels")) or {}


def _age(pa: Obj) -> tuple[str, str]:
    meta = pa["metadata"]
    return meta.get("creationTimestamp", ""), meta["name"]


def _oldest(candidates: list[Obj]) -> Obj | None:
    return min(candidates, key=_age, default=None)


def effective_mtls(pas: Iterable[Obj], *, root_namespace: str, namespace: str, labels: Mapping[str, str]
                   ) -> EffectiveMtls:
    """ComposePeerAuthentication for a workload in `namespace` with `labels`."""
    mesh: list[Obj] = []
    local: list[Obj] = []
    workload: list[Obj] = []
    for pa in pas:
        pa_ns = pa["metadata"].get("namespace", "")
        selector = _selector(pa)
        if not selector:
            if pa_ns == root_namespace:
                mesh.append(pa)
            elif pa_ns == namespace:
                local.append(pa)
        elif pa_ns == namespace and pa_ns != root_namespace and all(labels.get(k) == v for k, v in selector.items()):
            workload.append(pa)
    mode, decided_by = PERMISSIVE, ""
    for chosen in (_oldest(mesh), _oldest(local) if namespace != root_namespace else None):
        if chosen is not None and _mtls_mode(chosen.get("spec")) != UNSET:
            mode, decided_by = _mtls_mode(chosen.get("spec")), _ref(chosen)
    policy = _oldest(workload)
    ports: list[tuple[int, str]] = []
    if policy is not None:
        spec = policy.get("spec") or {}
        if _mtls_mode(spec) != UNSET:
            mode, decided_by = _mtls_mode(spec), _ref(policy)
        for port, setting in (spec.get("portLevelMtls") or {}).items():
            port_mode = _mode(setting)
            ports.append((int(port), mode if port_mode == UNSET else port_mode))
    return EffectiveMtls(mode, tuple(sorted(ports)), policy["metadata"]["name"] if policy is not None else "",
                         decided_by)


def _ref(pa: Obj) -> str:
    return f"PeerAuthentication {pa['metadata'].get('namespace', '')}/{pa['metadata']['name']}"


def namespace_mtls(pas: Iterable[Obj], *, root_namespace: str, namespace: str) -> str | None:
    """GetNamespaceMutualTLSMode: the namespace policy's mode (UNSET inherits the mesh's), else the mesh policy's
    (UNSET is PERMISSIVE there), else None (no policy: callers assume PERMISSIVE)."""
    pas = list(pas)
    mesh = _oldest([p for p in pas if p["metadata"].get("namespace") == root_namespace and not _selector(p)])
    local = _oldest([p for p in pas if p["metadata"].get("namespace") == namespace and not _selector(p)])
    mesh_mode = None
    if mesh is not None:
        mesh_mode = _mtls_mode(mesh.get("spec"))
        mesh_mode = PERMISSIVE if mesh_mode == UNSET else mesh_mode
    if local is not None and namespace != root_namespace:
        mode = _mtls_mode(local.get("spec"))
        return (mesh_mode or PERMISSIVE) if mode == UNSET else mode
    return mesh_mode
