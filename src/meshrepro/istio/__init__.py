"""The Istio control plane and data plane on the simulated cluster: istiod (sidecar injection, the
ambient workload feed to ztunnel, the CA), the istio-cni node agent and plugin that install traffic
redirection, ztunnel, and the Envoy sidecar. Components build on `kube`, `net`, `runtime`, `sim` and
`manifests`, and ask `istio.versions.flags(version)` for every behaviour that changed between
releases.
"""
