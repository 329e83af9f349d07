"""The simulated Kubernetes control plane and nodes: API server, controllers, scheduler, kubelet, proxy, DNS."""
