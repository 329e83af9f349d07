"""`kubectl get` output forms and its errors."""

from __future__ import annotations

from test_kubectl_support import kubectl, make_host, pod, status_response


def _host_with_pods(*names: str):
    host = make_host()
    for name in names:
        host.network.server.objects[f"/api/v1/namespaces/default/pods/{name}"] = pod(name)
    return host


def test_table_from_the_server() -> None:
    run = kubectl(_host_with_pods("nginx-7c5ddbdf54-abcde"), "get", "pods")
    assert run.stdout == ("NAME                     READY   STATUS     RESTARTS   AGE\n"
                          "nginx-7c5ddbdf54-abcde   0/1     Init:0/1   0          16s\n")
    assert run.stderr == "" and run.status == 0


def test_wide_and_all_namespaces() -> None:
    run = kubectl(_host_with_pods("a"), "get", "po", "-o", "wide", "-A")
    assert run.stdout.splitlines()[0].split() == ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP",
                                                  "NODE"]
    assert run.stdout.splitlines()[1].startswith("default     a ")


def test_no_resources() -> None:
    run = kubectl(make_host(), "get", "pods")
    assert run.stdout == "" and run.status == 0
    assert run.stderr == "No resources found in default namespace.\n"


def test_forbidden_list() -> None:
    host = make_host()
    message = ('pods is forbidden: User "system:serviceaccount:default:default" cannot list resource "pods" in API '
               'group "" in the namespace "default"')
    host.network.server.overrides[("GET", "/api/v1/namespaces/default/pods")] = \
        lambda r: status_response(403, "Forbidden", message, {"kind": "pods"})
    run = kubectl(host, "get", "pods")
    assert run.stderr == f"Error from server (Forbidden): {message}\n"
    assert run.status == 1


def test_not_found_and_name_output() -> None:
    host = _host_with_pods("a")
    run = kubectl(host, "get", "pod", "a", "b", "-o", "name")
    assert run.stdout == "pod/a\n"
    assert run.stderr == 'Error from server (NotFound): pods "b" not found\n'


def test_unknown_resource_type_and_flag() -> None:
    run = kubectl(make_host(), "get", "foo")
    assert run.stderr == 'error: the server doesn\'t have a resource type "foo"\n'
    run = kubectl(make_host(), "get", "pods", "--foo")
    assert run.stderr == "error: unknown flag: --foo\nSee 'kubectl get --help' for usage.\n"
    assert run.status == 1
    run = kubectl(make_host(), "gte", "pods")
    assert run.stderr == 'error: unknown command "gte" for "kubectl"\n\nDid you mean this?\n\tget\n'


def test_yaml_and_json() -> None:
    host = _host_with_pods("a")
    run = kubectl(host, "get", "pod", "a", "-o", "yaml")
    assert run.stdout.startswith("apiVersion: v1\nkind: Pod\nmetadata:\n  creationTimestamp: \"2024-01-18T09:57:05Z\"\n"
                                 "  labels:\n    app: nginx\n")
    assert "spec:\n  containers:\n  - image: nginx\n    name: nginx\n" in run.stdout
    run = kubectl(host, "get", "pods", "-o", "json")
    assert run.stdout.startswith('{\n    "apiVersion": "v1",\n    "items": [\n        {\n            "apiVersion": "v1",')
    assert run.stdout.endswith('    "kind": "List",\n    "metadata": {\n        "resourceVersion": ""\n    }\n}\n')


def test_jsonpath_and_selector() -> None:
    host = _host_with_pods("a")
    host.network.server.objects["/api/v1/namespaces/default/pods/b"] = pod("b", labels={"app": "other"})
    run = kubectl(host, "get", "pods", "-l", "app=nginx", "-o", "jsonpath={.items[*].metadata.name}")
    assert run.stdout == "a"
    assert host.network.server.requests[-1].target == \
        "/api/v1/namespaces/default/pods?labelSelector=app%3Dnginx&limit=500"


def test_deployment_short_name_and_forbidden_namespace_flag() -> None:
    host = make_host()
    host.network.server.objects["/apis/apps/v1/namespaces/kube-system/deployments/coredns"] = {
        "metadata": {"name": "coredns", "namespace": "kube-system"}}
    run = kubectl(host, "get", "deploy", "-n", "kube-system", "-o", "name")
    assert run.stdout == "deployment.apps/coredns\n"
