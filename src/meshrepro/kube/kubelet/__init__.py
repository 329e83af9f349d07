"""The kubelet: runs the pods bound to its node (sandbox, CNI, volumes, containers) and serves logs and exec."""

from meshrepro.kube.kubelet.kubelet import Kubelet

__all__ = ["Kubelet"]
