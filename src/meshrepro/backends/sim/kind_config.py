"""kind's cluster configuration (kind.x-k8s.io/v1alpha4), read the way `kind create cluster --config` reads it."""

from __future__ import annotations

from typing import Any

import yaml

from meshrepro.kube.cluster import ClusterSpec, NodeSpec, PortMapping
from meshrepro.kube.versions import KubeVersion

API_VERSION = "kind.x-k8s.io/v1alpha4"

# kind release -> default node image; the scenario's Kubernetes version picks the node image instead.
NODE_IMAGES = {27: "v1.27.11", 28: "v1.28.7", 29: "v1.29.2", 30: "v1.30.0", 31: "v1.31.0", 32: "v1.32.0",
               33: "v1.33.1"}


class KindConfigError(Exception):
    """kind's own error text for a configuration it cannot load."""


def node_image_version(image: str) -> str:
    """`kindest/node:v1.29.2@sha256:...` -> `v1.29.2`."""
    tag = image.split("@", 1)[0].rsplit(":", 1)
    if len(tag) != 2 or not tag[1].startswith("v"):
        raise KindConfigError(f'ERROR: failed to create cluster: could not parse node image "{image}"')
    return tag[1]


def load(text: str, default_name: str, version: KubeVersion, image: str | None) -> ClusterSpec:
    try:
        raw: Any = yaml.safe_load(text) if text.strip() else {}
    except yaml.YAMLError as err:
        raise KindConfigError(f"ERROR: failed to create cluster: error converting YAML to JSON: {err}") from None
    raw = raw or {}
    if not isinstance(raw, dict):
        raise KindConfigError("ERROR: failed to create cluster: unable to decode config: expected a mapping")
    if raw.get("kind", "Cluster") != "Cluster" or raw.get("apiVersion", API_VERSION) != API_VERSION:
        raise KindConfigError(f'ERROR: failed to create cluster: unknown apiVersion: {raw.get("apiVersion")}')
    nodes = []
    for node in raw.get("nodes") or [{"role": "control-plane"}]:
        mappings = tuple(PortMapping(int(m["containerPort"]), int(m.get("hostPort", m["containerPort"])),
                                     m.get("listenAddress", "0.0.0.0"), m.get("protocol", "TCP"))
                         for m in node.get("extraPortMappings") or [])
        role = node.get("role", "control-plane")
        if role not in ("control-plane", "worker"):
            raise KindConfigError(f'ERROR: failed to create cluster: invalid configuration: invalid role: "{role}"')
        nodes.append(NodeSpec(role, mappings))
    networking = raw.get("networking") or {}
    git_version = NODE_IMAGES.get(version[1], f"v{version[0]}.{version[1]}.0")
    node_image = image or next((n.get("image") for n in raw.get("nodes") or [] if n.get("image")), None)
    if node_image:
        git_version = node_image_version(node_image)
        parts = git_version.lstrip("v").split(".")
        version = (int(parts[0]), int(parts[1]))
    return ClusterSpec(name=raw.get("name") or default_name, version=version, git_version=git_version,
                       nodes=tuple(nodes), pod_subnet=networking.get("podSubnet", "10.244.0.0/16"),
                       service_subnet=networking.get("serviceSubnet", "10.96.0.0/16"))
