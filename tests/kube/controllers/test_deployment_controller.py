import pytest
from conftest import Cluster

from meshrepro.kube.controllers.deployment import DeploymentController, compute_hash, safe_encode
from meshrepro.kube.controllers.replicaset import ReplicaSetController
from meshrepro.kube.controllers.serviceaccount import ServiceAccountController
from meshrepro.kube.store import ResourceKey

DEPLOY = ResourceKey("apps", "deployments")
RS = ResourceKey("apps", "replicasets")
PODS = ResourceKey("", "pods")


def nginx(replicas: int = 1, sa: str = "", image: str = "nginx") -> dict:
    spec: dict = {"containers": [{"name": "nginx", "image": image}]}
    if sa:
        spec["serviceAccountName"] = sa
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "nginx", "namespace": "default"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "nginx"}},
                     "template": {"metadata": {"labels": {"app": "nginx"}}, "spec": spec}}}


@pytest.fixture
def started(cluster: Cluster) -> Cluster:
    cluster.namespace("default")
    cluster.start(ServiceAccountController(cluster.ctx), ReplicaSetController(cluster.ctx),
                  DeploymentController(cluster.ctx))
    cluster.run(0.5)
    return cluster


def pods(cluster: Cluster) -> list[str]:
    return [p["metadata"]["name"] for p in cluster.store.iter(PODS, "default")]


def test_safe_encode_maps_decimal_digits_like_apimachinery() -> None:
    assert safe_encode("0123456789") == "456789bcdf"
    assert len(compute_hash({"a": 1})) <= 10 and set(compute_hash({"a": 1})) <= set("456789bcdf")
    assert compute_hash({"a": 1}) != compute_hash({"a": 1}, collision_count=1)


def test_new_deployment_creates_replicaset_pod_and_reports_availability(started: Cluster) -> None:
    c = started
    c.put(DEPLOY, nginx())
    c.run(1)
    [rs] = c.store.list(RS, "default")
    rs_name = rs["metadata"]["name"]
    pod_hash = rs["metadata"]["labels"]["pod-template-hash"]
    assert rs_name == f"nginx-{pod_hash}"
    assert rs["spec"]["selector"] == {"matchLabels": {"app": "nginx", "pod-template-hash": pod_hash}}
    assert rs["metadata"]["annotations"] == {"deployment.kubernetes.io/revision": "1",
                                             "deployment.kubernetes.io/desired-replicas": "1",
                                             "deployment.kubernetes.io/max-replicas": "2"}
    assert rs["metadata"]["ownerReferences"][0]["kind"] == "Deployment"
    [pod] = pods(c)
    assert pod.startswith(f"{rs_name}-") and len(pod) == len(rs_name) + 6
    assert c.events() == [
        ("nginx", "Normal", "ScalingReplicaSet", f"Scaled up replica set {rs_name} to 1"),
        (rs_name, "Normal", "SuccessfulCreate", f"Created pod: {pod}"),
    ]
    d = c.store.get(DEPLOY, "default", "nginx")
    assert d["metadata"]["annotations"] == {"deployment.kubernetes.io/revision": "1"}
    assert d["status"]["replicas"] == 1 and d["status"]["unavailableReplicas"] == 1
    assert [(x["type"], x["status"], x["reason"]) for x in d["status"]["conditions"]] == [
        ("Available", "False", "MinimumReplicasUnavailable"), ("Progressing", "True", "ReplicaSetUpdated")]

    c.set_pod("default", pod)  # the kubelet reports Running and Ready at t=1
    c.run(2)
    d = c.store.get(DEPLOY, "default", "nginx")
    assert {k: v for k, v in d["status"].items() if k != "conditions"} == {
        "observedGeneration": 1, "replicas": 1, "updatedReplicas": 1, "readyReplicas": 1, "availableReplicas": 1}
    assert [(x["type"], x["status"], x["reason"], x["message"]) for x in d["status"]["conditions"]] == [
        ("Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability."),
        ("Progressing", "True", "NewReplicaSetAvailable", f'ReplicaSet "{rs_name}" has successfully progressed.')]
    rs = c.store.get(RS, "default", rs_name)
    assert rs["status"] == {"replicas": 1, "fullyLabeledReplicas": 1, "readyReplicas": 1, "availableReplicas": 1,
                            "observedGeneration": 1}


def test_template_change_keeps_old_pod_until_new_one_is_available(started: Cluster) -> None:
    c = started
    c.put(DEPLOY, nginx())
    c.run(1)
    [old_pod] = pods(c)
    c.set_pod("default", old_pod, ready=False)  # crash-looping: never ready
    c.run(2)
    old_rs = c.store.list(RS, "default")[0]["metadata"]["name"]
    d = c.store.get(DEPLOY, "default", "nginx")
    d["spec"]["template"]["spec"]["serviceAccountName"] = "default"
    c.client.update("apps/v1", "deployments", d)
    c.run(3)
    new_rs = next(rs["metadata"]["name"] for rs in c.store.iter(RS, "default") if rs["metadata"]["name"] != old_rs)
    assert c.store.get(RS, "default", new_rs)["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    assert c.store.get(RS, "default", old_rs)["spec"]["replicas"] == 1
    new_pod = next(p for p in pods(c) if p.startswith(new_rs))
    assert sorted(pods(c)) == sorted([old_pod, new_pod])

    c.set_pod("default", new_pod, ip="10.244.0.6")
    c.run(4)
    assert c.store.get(RS, "default", old_rs)["spec"]["replicas"] == 0
    assert ("nginx", "Normal", "ScalingReplicaSet", f"Scaled down replica set {old_rs} to 0 from 1") in c.events()
    assert (old_rs, "Normal", "SuccessfulDelete", f"Deleted pod: {old_pod}") in c.events()
    # The old pod was bound to a node: it is Terminating until the kubelet removes it.
    assert "deletionTimestamp" in c.store.get(PODS, "default", old_pod)["metadata"]


def test_missing_service_account_gives_failed_create_then_backoff_retry(started: Cluster) -> None:
    c = started
    c.put(DEPLOY, nginx(sa="x"))
    c.run(1)
    rs = c.store.list(RS, "default")[0]
    rs_name = rs["metadata"]["name"]
    message = (f'Error creating: pods "{rs_name}-" is forbidden: error looking up service account default/x: '
               'serviceaccount "x" not found')
    assert [e for e in c.events() if e[2] == "FailedCreate"] == [(rs_name, "Warning", "FailedCreate", message)]
    event = next(e for e in c.store.iter(ResourceKey("", "events"), "default") if e["reason"] == "FailedCreate")
    assert event["count"] > 1
    assert [x["reason"] for x in rs["status"]["conditions"]] == ["FailedCreate"]
    d = c.store.get(DEPLOY, "default", "nginx")
    assert ("ReplicaFailure", "FailedCreate") in [(x["type"], x["reason"]) for x in d["status"]["conditions"]]

    c.run(10)
    c.put(ResourceKey("", "serviceaccounts"), {"apiVersion": "v1", "kind": "ServiceAccount",
                                                "metadata": {"name": "x", "namespace": "default"}})
    # Attempts at 0.5 s twice (the status update requeues at once), then 5 ms * 2^n for n = 2, 3, ...
    # after each failure: 0.505, 0.525, 0.565, ..., 5.605, 10.725 s.
    c.run(10.72)
    assert pods(c) == []
    c.run(10.73)
    assert len(pods(c)) == 1
    rs = c.store.get(RS, "default", rs_name)
    assert "conditions" not in rs["status"]


def test_progress_deadline_exceeded(started: Cluster) -> None:
    c = started
    deploy = nginx()
    deploy["spec"]["progressDeadlineSeconds"] = 30
    c.put(DEPLOY, deploy)
    c.run(40)
    d = c.store.get(DEPLOY, "default", "nginx")
    progressing = next(x for x in d["status"]["conditions"] if x["type"] == "Progressing")
    rs_name = c.store.list(RS, "default")[0]["metadata"]["name"]
    assert (progressing["status"], progressing["reason"], progressing["message"]) == (
        "False", "ProgressDeadlineExceeded", f'ReplicaSet "{rs_name}" has timed out progressing.')
    # Last progress at 09:57:00 (t=0.5 truncated); the deadline passes strictly after 30 s; requeued at +31 s.
    assert progressing["lastTransitionTime"] == "2024-01-18T09:57:31Z"


def test_scale_up_and_down_events(started: Cluster) -> None:
    c = started
    c.put(DEPLOY, nginx())
    c.run(1)
    rs_name = c.store.list(RS, "default")[0]["metadata"]["name"]
    d = c.store.get(DEPLOY, "default", "nginx")
    d["spec"]["replicas"] = 3
    c.client.update("apps/v1", "deployments", d)
    c.run(2)
    assert len(pods(c)) == 3
    assert c.events()[-3][3] == f"Scaled up replica set {rs_name} to 3 from 1"
    d = c.store.get(DEPLOY, "default", "nginx")
    d["spec"]["replicas"] = 1
    c.client.update("apps/v1", "deployments", d)
    c.run(3)
    assert c.store.get(RS, "default", rs_name)["spec"]["replicas"] == 1
    assert ("nginx", "Normal", "ScalingReplicaSet", f"Scaled down replica set {rs_name} to 1 from 3") in c.events()
    assert len([p for p in c.store.iter(PODS, "default") if "deletionTimestamp" not in p["metadata"]]) == 1
