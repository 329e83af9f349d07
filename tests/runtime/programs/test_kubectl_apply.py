"""apply / create / delete with -f FILE, DIR and stdin."""

from __future__ import annotations

import json

from test_kubectl_support import kubectl, make_host

MANIFEST = """apiVersion: v1
kind: ServiceAccount
metadata:
  name: pod-reader-sa
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: nginx
spec:
  replicas: 1
  selector:
    matchLabels: {app: nginx}
  template:
    metadata:
      labels: {app: nginx}
    spec:
      containers:
      - name: nginx
        image: nginx
"""


def test_apply_created_unchanged_configured() -> None:
    host = make_host(files={"/work/app.yaml": MANIFEST})
    run = kubectl(host, "apply", "-f", "/work/app.yaml")
    assert run.stdout == "serviceaccount/pod-reader-sa created\ndeployment.apps/nginx created\n"
    assert run.status == 0
    created = host.network.server.objects["/apis/apps/v1/namespaces/default/deployments/nginx"]
    annotation = created["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
    assert annotation.startswith('{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"annotations":{},"name":"nginx"')
    post = next(r for r in host.network.server.requests if r.method == "POST")
    assert post.target == "/api/v1/namespaces/default/serviceaccounts?fieldManager=kubectl-client-side-apply&fieldValidation=Strict"
    run = kubectl(host, "apply", "-f", "/work/app.yaml")
    assert run.stdout == "serviceaccount/pod-reader-sa unchanged\ndeployment.apps/nginx unchanged\n"
    run = kubectl(host, "apply", "-f", "-", stdin=MANIFEST.replace("replicas: 1", "replicas: 2"))
    assert run.stdout == "serviceaccount/pod-reader-sa unchanged\ndeployment.apps/nginx configured\n"
    patch = [r for r in host.network.server.requests if r.method == "PATCH"][-1]
    assert patch.header("Content-Type") == "application/strategic-merge-patch+json"
    assert json.loads(patch.body)["spec"] == {"replicas": 2}


def test_apply_errors() -> None:
    host = make_host(files={"/work/x.yaml": "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n"})
    run = kubectl(host, "apply", "-f", "/work/x.yaml")
    assert run.stderr == ('error: resource mapping not found for name: "w" namespace: "" from "/work/x.yaml": '
                          'no matches for kind "Widget" in version "example.com/v1"\nensure CRDs are installed first\n')
    run = kubectl(host, "apply", "-f", "/work/missing.yaml")
    assert run.stderr == 'error: the path "/work/missing.yaml" does not exist\n'


def test_create_and_delete() -> None:
    host = make_host(files={"/work/d/a.yaml": MANIFEST, "/work/d/notes.txt": "x"})
    assert kubectl(host, "create", "-f", "/work/d").stdout == \
        "serviceaccount/pod-reader-sa created\ndeployment.apps/nginx created\n"
    run = kubectl(host, "create", "-f", "/work/d")
    assert run.stderr == ('Error from server (AlreadyExists): error when creating "/work/d/a.yaml": serviceaccounts '
                          '"pod-reader-sa" already exists\nError from server (AlreadyExists): error when creating '
                          '"/work/d/a.yaml": deployments "nginx" already exists\n')
    run = kubectl(host, "delete", "deploy", "nginx")
    assert run.stdout == 'deployment.apps "nginx" deleted\n'
    run = kubectl(host, "delete", "deploy", "nginx")
    assert run.stderr == 'Error from server (NotFound): deployments "nginx" not found\n'
