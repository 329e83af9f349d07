"""Kubernetes behaviour that changed between releases: one named flag per behaviour.

Code asks `flags(version).<name>` and never compares version strings. Every flag names the
release that introduced the behaviour and the upstream change, so a reader can check it.
"""

from __future__ import annotations

from meshrepro.sim.versions import Flag, Flags

KubeVersion = tuple[int, int]  # (major, minor), e.g. (1, 29)


# name -> when the behaviour holds. Keep sorted by name.
TABLE: dict[str, Flag] = {
    "aggregated_discovery_v2": Flag(
        (1, 30), "kubernetes/kubernetes#122882 (KEP-3352 GA)",
        "the API server serves aggregated discovery as apidiscovery.k8s.io/v2 besides v2beta1"),
    "deployment_scaling_event_from": Flag(
        (1, 26), "kubernetes/kubernetes#101142 (release boundary UNCONFIRMED)",
        "the deployment-controller's ScalingReplicaSet event on scaling an existing ReplicaSet names the old "
        "size: `Scaled down replica set x to 0 from 1` (creating one still says `Scaled up replica set x to 1`)"),
    "deployment_scaling_event_from_to": Flag(
        (1, 32), "kubernetes/kubernetes#125118 (release boundary UNCONFIRMED)",
        "ScalingReplicaSet reads `Scaled up replica set x from 0 to 1`, the creation of a ReplicaSet included"),
    "host_ips": Flag(
        (1, 29), "kubernetes/kubernetes#120318 (KEP-2681 PodHostIPs beta)",
        "pod status carries hostIPs besides hostIP"),
    "job_interim_terminal_conditions": Flag(
        (1, 31), "kubernetes/kubernetes#125510 (release boundary UNCONFIRMED)",
        "the job-controller adds SuccessCriteriaMet / FailureTarget before Complete / Failed, and Complete "
        "gets reason CompletionsReached, message `Reached expected number of succeeded pods`"),
    "job_manual_selector": Flag(
        (1, 29), "kubernetes/kubernetes#120206", "Job defaulting sets spec.manualSelector: false"),
    "job_pod_replacement_policy": Flag(
        (1, 29), "KEP-3939 (JobPodReplacementPolicy beta, on by default)",
        "Job defaulting sets spec.podReplacementPolicy: TerminatingOrFailed"),
    "kubeadm_cluster_admins_group": Flag(
        (1, 29), "kubernetes/kubernetes#121305 (KEP-4214)",
        "kubeadm's admin.conf user is in group kubeadm:cluster-admins (bound to cluster-admin by the "
        "ClusterRoleBinding kubeadm:cluster-admins) instead of system:masters; super-admin.conf keeps "
        "system:masters"),
    "omit_null_creation_timestamp": Flag(
        (1, 34), "kubernetes/kubernetes#130989 (release UNCONFIRMED: inferred from the merge date)",
        "pod templates no longer carry `metadata.creationTimestamp: null`"),
    "pod_ready_to_start_containers_condition": Flag(
        (1, 29), "kubernetes/kubernetes#119659 (KEP-3085 beta)",
        "kubelet writes the PodReadyToStartContainers condition (feature gate on by default)"),
    "printer_job_status_column": Flag(
        (1, 30), "kubernetes/kubernetes#123226",
        "`kubectl get jobs` has a STATUS column (Complete/Failed/Terminating/Suspended/FailureTarget/"
        "Running) between NAME and COMPLETIONS"),
    "printer_pod_sidecar_aware": Flag(
        (1, 28), "kubernetes/kubernetes#116429 (KEP-753 alpha printer support)",
        "printPod counts restartable init containers in READY, skips started sidecars in the init walk, "
        "walks app containers once Initialized=True, and RESTARTS after init = sidecar + app restarts "
        "with the last-restart time taken from those only"),
    "printer_pod_terminal_phase_not_terminating": Flag(
        (1, 31), "kubernetes/kubernetes#122038",
        "a deleted pod in phase Succeeded/Failed keeps its STATUS instead of showing Terminating"),
    "printer_serviceaccount_no_secrets_column": Flag(
        (1, 34), "kubernetes/kubernetes#117160",
        "`kubectl get serviceaccounts` drops the SECRETS column (NAME, AGE only)"),
    "probe_errored_unknown_state": Flag(
        (1, 33), "kubernetes/kubernetes#125901 (in the v1.33.0-alpha.1 release notes)",
        "a probe that errors records `Liveness probe errored and resulted in unknown state: <err>` instead of "
        "`Liveness probe errored: <err>`"),
    "pulled_event_image_size": Flag(
        (1, 30), "kubernetes/kubernetes#121929",
        "the kubelet's Pulled event ends with `. Image size: N bytes.`"),
    "sidecar_containers": Flag(
        (1, 29), "kubernetes/kubernetes#121579 (KEP-753 beta)",
        "init containers with restartPolicy: Always run as native sidecars (gate on by default)"),
    "statefulset_pod_index_label": Flag(
        (1, 28), "KEP-4017 (PodIndexLabel beta, on by default)",
        "StatefulSet pods carry the label apps.kubernetes.io/pod-index with their ordinal"),
    "statefulset_pvc_retention_policy": Flag(
        (1, 27), "KEP-1847 (StatefulSetAutoDeletePVC beta, on by default)",
        "StatefulSet defaulting sets persistentVolumeClaimRetentionPolicy Retain/Retain"),
    "token_node_claims": Flag(
        (1, 30), "kubernetes/kubernetes#123135 (ServiceAccountTokenJTI + PodNodeInfo beta)",
        "bound service account tokens carry jti and the node's name and uid"),
}

SUPPORTED = [(1, minor) for minor in range(27, 34)]  # flags may name later releases (1.34) for fidelity
DEFAULT_VERSION: KubeVersion = (1, 29)


def flags(version: KubeVersion) -> Flags:
    return Flags("Kubernetes", TABLE, version)


def parse_version(text: str) -> KubeVersion:
    """'1.29', 'v1.29.2' or '1.29.2' -> (1, 29)."""
    parts = text.strip().lstrip("v").split(".")
    if len(parts) < 2 or not parts[0].isdigit() or not parts[1].isdigit():
        raise ValueError(f"not a Kubernetes version: {text!r}")
    return int(parts[0]), int(parts[1])
