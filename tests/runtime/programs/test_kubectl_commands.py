"""logs, version, auth can-i, label/annotate, wait, exec, describe."""

from __future__ import annotations

import json

from test_kubectl_support import json_response, kubectl, make_host, pod, status_response

POD_PATH = "/api/v1/namespaces/default/pods/nginx-7c5ddbdf54-abcde"


def _host():
    host = make_host()
    host.network.server.objects[POD_PATH] = pod("nginx-7c5ddbdf54-abcde")
    return host


def test_logs_defaulted_container_and_options() -> None:
    host = _host()
    host.network.server.overrides[("GET", POD_PATH + "/log")] = lambda r: status_response(
        400, "BadRequest", 'container "nginx" in pod "nginx-7c5ddbdf54-abcde" is waiting to start: PodInitializing')
    run = kubectl(host, "logs", "nginx-7c5ddbdf54-abcde")
    assert run.stderr == ('Defaulted container "nginx" out of: nginx, init-kubectl (init)\n'
                          'Error from server (BadRequest): container "nginx" in pod "nginx-7c5ddbdf54-abcde" is '
                          'waiting to start: PodInitializing\n')
    host.network.server.overrides[("GET", POD_PATH + "/log")] = lambda r: __import__(
        "meshrepro.net.http", fromlist=["Response"]).Response(200, {"Content-Type": "text/plain"}, b"line 1\nline 2\n")
    host.network.server.objects["/apis/apps/v1/namespaces/default/deployments/nginx"] = {
        "metadata": {"name": "nginx", "namespace": "default"}, "spec": {"selector": {"matchLabels": {"app": "nginx"}}}}
    run = kubectl(host, "logs", "deploy/nginx", "-c", "init-kubectl", "--previous", "--tail=5")
    assert run.stdout == "line 1\nline 2\n" and run.stderr == ""
    assert host.network.server.requests[-1].target == (
        POD_PATH + "/log?container=init-kubectl&previous=true&tailLines=5")


def test_version() -> None:
    run = kubectl(make_host(), "version")
    assert run.stdout == ("Client Version: v1.29.2\nKustomize Version: v5.0.4-0.20230601165947-6ce0bf390ce3\n"
                          "Server Version: v1.29.2\n")
    run = kubectl(make_host(), "version", "--client", "-o", "json")
    assert json.loads(run.stdout)["clientVersion"]["gitCommit"] == "4b8e819355d791d96b7e9d9efe4cbafae2311c88"
    run = kubectl(make_host("refused"), "version")
    assert run.stdout.endswith("Kustomize Version: v5.0.4-0.20230601165947-6ce0bf390ce3\n")
    assert run.stderr == ("The connection to the server 10.96.0.1:443 was refused - did you specify the right host "
                          "or port?\n")


def test_auth_can_i_with_impersonation() -> None:
    host = make_host()

    def review(request):
        body = json.loads(request.body)
        allowed = request.header("Impersonate-User") == "admin"
        return json_response({**body, "status": {"allowed": allowed}}, 201)

    host.network.server.overrides[("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews")] = review
    run = kubectl(host, "auth", "can-i", "list", "pods")
    assert (run.stdout, run.status) == ("no\n", 1)
    run = kubectl(host, "auth", "can-i", "list", "pods", "--as", "admin")
    assert (run.stdout, run.status) == ("yes\n", 0)
    sent = json.loads(host.network.server.requests[-1].body)
    assert sent["spec"]["resourceAttributes"] == {"namespace": "default", "verb": "list", "group": "",
                                                  "resource": "pods"}


def test_label_and_annotate() -> None:
    host = make_host()
    host.network.server.objects["/api/v1/namespaces/default"] = {"metadata": {"name": "default", "labels": {}}}
    host.network.server.overrides[("GET", "/api/v1/namespaces")] = lambda r: json_response({"items": []})
    run = kubectl(host, "label", "namespace", "default", "istio.io/dataplane-mode=ambient")
    assert run.stdout == "namespace/default labeled\n"
    assert host.network.server.requests[-1].header("Content-Type") == "application/merge-patch+json"
    run = kubectl(host, "label", "ns", "default", "istio.io/dataplane-mode=sidecar")
    assert run.stderr == "error: 'istio.io/dataplane-mode' already has a value (ambient), and --overwrite is false\n"
    assert kubectl(host, "label", "ns/default", "istio.io/dataplane-mode-").stdout == "namespace/default unlabeled\n"
    assert kubectl(host, "annotate", "ns", "default", "a=b").stdout == "namespace/default annotated\n"


def test_wait_condition_and_timeout() -> None:
    host = _host()
    run = kubectl(host, "wait", "--for=condition=Ready", "pod/nginx-7c5ddbdf54-abcde", "--timeout=3s")
    assert run.stderr == "error: timed out waiting for the condition on pods/nginx-7c5ddbdf54-abcde\n"
    assert 3 <= run.elapsed < 3.1
    host.network.server.objects[POD_PATH]["status"]["conditions"] = [{"type": "Ready", "status": "True"}]
    run = kubectl(host, "wait", "--for=condition=Ready", "pod/nginx-7c5ddbdf54-abcde")
    assert run.stdout == "pod/nginx-7c5ddbdf54-abcde condition met\n"


def test_exec() -> None:
    host = _host()
    host.network.server.overrides[("POST", POD_PATH + "/exec")] = lambda r: json_response(
        {"stdout": "hello\n", "stderr": "", "exitCode": 3})
    run = kubectl(host, "exec", "nginx-7c5ddbdf54-abcde", "-c", "nginx", "--", "echo", "hello")
    assert run.stdout == "hello\n"
    assert run.stderr == "command terminated with exit code 3\n" and run.status == 3
    assert host.network.server.requests[-1].target == (
        POD_PATH + "/exec?command=echo&command=hello&container=nginx&stderr=true&stdout=true")


def test_describe_pod() -> None:
    host = _host()
    host.network.server.overrides[("GET", "/api/v1/namespaces/default/events")] = lambda r: json_response(
        {"items": [{"type": "Normal", "reason": "Scheduled", "firstTimestamp": "2024-01-18T09:56:50Z",
                    "lastTimestamp": "2024-01-18T09:56:50Z", "count": 1, "source": {"component": "default-scheduler"},
                    "message": "Successfully assigned default/nginx-7c5ddbdf54-abcde to kind-control-plane"}]})
    run = kubectl(host, "describe", "pod", "nginx-7c5ddbdf54-abcde")
    assert run.stdout.startswith("Name:             nginx-7c5ddbdf54-abcde\nNamespace:        default\n"
                                 "Service Account:  default\nNode:             kind-control-plane/172.18.0.2\n"
                                 "Labels:           app=nginx\nAnnotations:      <none>\nStatus:           Pending\n")
    assert run.stdout.endswith(
        "Events:\n  Type    Reason     Age   From               Message\n"
        "  ----    ------     ----  ----               -------\n"
        "  Normal  Scheduled  10s   default-scheduler  Successfully assigned default/nginx-7c5ddbdf54-abcde to "
        "kind-control-plane\n")
