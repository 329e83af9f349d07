"""What differs between kubectl releases, as data: build facts and named behaviours.

Code asks a `KubectlVersion` field, never compares version strings. Each field names its source:
[KC x] kubernetes/kubectl at tag kubernetes-x, [CG x] kubernetes/client-go at tag kubernetes-x,
[AM x] kubernetes/apimachinery; build facts come from published `version` outputs of each release.
"""

from __future__ import annotations

from dataclasses import dataclass

# [CG 1.27.0-1.29.0 discovery/discovery_client.go acceptDiscoveryFormats = AcceptV2Beta1 + "," + AcceptV1]
_ACCEPT_V2BETA1 = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"
# [CG 1.30.0-1.31.0: AcceptV2 + "," + AcceptV2Beta1 + "," + AcceptV1]
_ACCEPT_V2 = ("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
              "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json")


@dataclass(frozen=True)
class KubectlVersion:
    git_version: str  # "v1.29.2"
    git_commit: str
    build_date: str
    go_version: str
    kustomize: str  # "Kustomize Version: ..." [KC x pkg/cmd/version getKustomizeVersion, from go.mod]
    discovery_accept: str
    # aggregated-discovery versions whose Content-Type the client decodes [CG x ContentTypeIsGVK callers]
    aggregated_discovery: tuple[str, ...]
    # "plain": HandleError via klog.ErrorDepth -> `couldn't get current server API group list: <err>`
    #   [AM <=1.30 pkg/util/runtime/runtime.go logError];
    # "structured": `"Unhandled Error" err="<err quoted>"` [AM 1.31.0 runtime.go HandleErrorWithContext]
    handle_error_format: str
    # `kubectl version` without -o: 1.27 prints Go's %#v of version.Info after a deprecation warning,
    # 1.28 made --short the default and removed the flag [KC 1.27.0 vs 1.28.0 pkg/cmd/version/version.go]
    version_short_default: bool

    @property
    def minor(self) -> int:
        return int(self.git_version.lstrip("v").split(".")[1])

    @property
    def user_agent(self) -> str:
        """rest.DefaultKubernetesUserAgent: `kubectl/<gitVersion> (<os>/<arch>) kubernetes/<commit[:7]>`."""
        return f"kubectl/{self.git_version} (linux/amd64) kubernetes/{self.git_commit[:7]}"


def _v(git_version: str, commit: str, build_date: str, go: str, kustomize: str) -> KubectlVersion:
    minor = int(git_version.split(".")[1])
    return KubectlVersion(
        git_version=git_version, git_commit=commit, build_date=build_date, go_version=go, kustomize=kustomize,
        discovery_accept=_ACCEPT_V2 if minor >= 30 else _ACCEPT_V2BETA1,
        aggregated_discovery=("v2", "v2beta1") if minor >= 30 else ("v2beta1",),
        handle_error_format="structured" if minor >= 31 else "plain",
        version_short_default=minor >= 28,
    )


# One entry per release kind ships as a node image (the default kubectl of a cluster of that minor).
# Commits and build dates: published `kubectl/kubeadm version` outputs of each release.
VERSIONS: dict[str, KubectlVersion] = {
    v.git_version.lstrip("v"): v
    for v in (
        _v("v1.27.3", "25b4e43193bcda6c7328a6d147b1fb73a33f1598", "2023-06-14T09:53:42Z", "go1.20.5", "v5.0.1"),
        _v("v1.28.0", "855e7c48de7388eb330da0f8d9d2394ee818fb8d", "2023-08-15T10:20:15Z", "go1.20.7",
           "v5.0.4-0.20230601165947-6ce0bf390ce3"),
        _v("v1.29.2", "4b8e819355d791d96b7e9d9efe4cbafae2311c88", "2024-02-14T10:39:04Z", "go1.21.7",
           "v5.0.4-0.20230601165947-6ce0bf390ce3"),
        _v("v1.30.0", "7c48c2bd72b9bf5c44d21d7338cc7bea77d0ad2a", "2024-04-17T17:34:08Z", "go1.22.2",
           "v5.0.4-0.20230601165947-6ce0bf390ce3"),
        _v("v1.31.0", "9edcffcde5595e8a5b1a35f88c421764e575afce", "2024-08-13T07:28:49Z", "go1.22.5", "v5.4.2"),
    )
}


def lookup(version: str) -> KubectlVersion:
    """'1.29.2', 'v1.29.2', or a bare minor '1.29' (its entry in VERSIONS)."""
    text = version.strip().lstrip("v")
    if text in VERSIONS:
        return VERSIONS[text]
    for known, entry in VERSIONS.items():
        if text.count(".") == 1 and known.rsplit(".", 1)[0] == text:
            return entry
    raise ValueError(f"unsupported kubectl version {version!r}; known: {', '.join(VERSIONS)}")
