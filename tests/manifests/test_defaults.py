from pathlib import Path

import pytest

from meshrepro.kube.versions import flags
from meshrepro.manifests.defaults import apply_defaults, image_tag
from meshrepro.manifests.load import load_file

DATA = Path(__file__).parent.parent / "testdata" / "manifests"


def test_deployment_defaults_as_kubectl_get_shows_them():
    [deploy] = load_file(DATA / "valid-nginx-deployment.yaml")
    out = apply_defaults(deploy.obj, flags((1, 29)))
    spec = out["spec"]
    assert spec["replicas"] == 2  # given values stay
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}
    assert (spec["revisionHistoryLimit"], spec["progressDeadlineSeconds"]) == (10, 600)
    assert spec["template"]["metadata"]["creationTimestamp"] is None
    pod = spec["template"]["spec"]
    assert {k: pod[k] for k in ("dnsPolicy", "restartPolicy", "schedulerName", "securityContext",
                                "terminationGracePeriodSeconds")} == {
        "dnsPolicy": "ClusterFirst", "restartPolicy": "Always", "schedulerName": "default-scheduler",
        "securityContext": {}, "terminationGracePeriodSeconds": 30}
    assert "enableServiceLinks" not in pod  # only Pods get it, not templates
    init, main = pod["initContainers"][0], pod["containers"][0]
    assert init["imagePullPolicy"] == "Always" and main["imagePullPolicy"] == "IfNotPresent"
    assert main["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    assert main["resources"] == {} and main["terminationMessagePath"] == "/dev/termination-log"
    assert main["readinessProbe"] == {"httpGet": {"port": 80, "path": "/", "scheme": "HTTP"}, "timeoutSeconds": 1,
                                      "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3}
    assert "imagePullPolicy" not in deploy.obj["spec"]["template"]["spec"]["containers"][0]  # input untouched


def test_creation_timestamp_null_is_gone_from_1_34():
    [deploy] = load_file(DATA / "valid-nginx-deployment.yaml")
    assert "creationTimestamp" not in apply_defaults(deploy.obj, flags((1, 34)))["spec"]["template"]["metadata"]


def test_nodeport_service():
    [svc] = load_file(DATA / "valid-service-nodeport.yaml")
    spec = apply_defaults(svc.obj, flags((1, 29)))["spec"]
    assert spec["ports"] == [{"port": 80, "nodePort": 30080, "protocol": "TCP", "targetPort": 80}]
    assert (spec["sessionAffinity"], spec["externalTrafficPolicy"], spec["internalTrafficPolicy"]) == \
        ("None", "Cluster", "Cluster")
    assert (spec["ipFamilyPolicy"], spec["ipFamilies"]) == ("SingleStack", ["IPv4"])


def test_pod_namespace_and_job():
    pod = apply_defaults({"apiVersion": "v1", "kind": "Pod", "spec": {"containers": [
        {"name": "c", "image": "busybox@sha256:abc", "resources": {"limits": {"cpu": "1"}}}]}}, flags((1, 29)))
    assert pod["spec"]["enableServiceLinks"] is True
    assert pod["spec"]["containers"][0]["imagePullPolicy"] == "IfNotPresent"  # digest, no tag
    assert pod["spec"]["containers"][0]["resources"]["requests"] == {"cpu": "1"}
    ns = apply_defaults({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "demo"}}, flags((1, 29)))
    assert ns["metadata"]["labels"] == {"kubernetes.io/metadata.name": "demo"}
    assert ns["spec"] == {"finalizers": ["kubernetes"]} and ns["status"] == {"phase": "Active"}
    job = {"apiVersion": "batch/v1", "kind": "Job", "spec": {"template": {"spec": {"restartPolicy": "Never"}}}}
    new, old = apply_defaults(job, flags((1, 29)))["spec"], apply_defaults(job, flags((1, 28)))["spec"]
    assert (new["completions"], new["parallelism"], new["backoffLimit"], new["completionMode"], new["suspend"]) == \
        (1, 1, 6, "NonIndexed", False)
    assert new["podReplacementPolicy"] == "TerminatingOrFailed" and new["manualSelector"] is False
    assert "podReplacementPolicy" not in old and "manualSelector" not in old


@pytest.mark.parametrize("image, tag", [("nginx", "latest"), ("nginx:1.25", "1.25"),
                                        ("localhost:5000/app", "latest"), ("r.io:5000/app:v1", "v1"),
                                        ("app@sha256:ff", "")])
def test_image_tag(image, tag):
    assert image_tag(image) == tag
