"""Server-side Tables of the other kinds, the Table envelope, and full `kubectl get` renderings."""

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from meshrepro.kube.printers import custom_resource_table, to_table
from meshrepro.runtime.tabwriter import print_table

NOW = datetime(2024, 1, 18, 10, 0, 0, tzinfo=UTC)
V129 = (1, 29)
CREATED = "2024-01-18T09:57:00Z"


def obj(name: str, **fields: Any) -> dict[str, Any]:
    metadata = {
        "name": name,
        "namespace": "default",
        "creationTimestamp": CREATED,
        **fields.pop("metadata", {}),
    }
    return {"metadata": metadata, **fields}


def row(kind: str, o: dict[str, Any], version: tuple[int, int] = V129) -> list[Any]:
    return to_table(kind, [o], NOW, version)["rows"][0]["cells"]


def headers(kind: str, version: tuple[int, int] = V129) -> list[str]:
    return [c["name"] for c in to_table(kind, [], NOW, version)["columnDefinitions"]]


def test_table_envelope_and_include_object() -> None:
    o = obj("cfg", kind="ConfigMap", apiVersion="v1", data={"a": "1"})
    table = to_table("ConfigMap", [o], NOW, V129, resource_version="42")
    assert list(table) == ["kind", "apiVersion", "metadata", "columnDefinitions", "rows"]
    assert (table["kind"], table["apiVersion"], table["metadata"]) == (
        "Table",
        "meta.k8s.io/v1",
        {"resourceVersion": "42"},
    )
    assert list(table["columnDefinitions"][1]) == ["name", "type", "format", "description", "priority"]
    assert table["rows"][0]["object"] == {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": o["metadata"],
    }
    assert to_table("ConfigMap", [o], NOW, V129, include_object="Object")["rows"][0]["object"] is o
    none_row = to_table("ConfigMap", [o], NOW, V129, include_object="None")["rows"][0]
    assert json.dumps(none_row) == '{"cells": ["cfg", 1, "3m"], "object": null}'
    with pytest.raises(ValueError, match='unrecognized includeObject value: "Everything"'):
        to_table("ConfigMap", [o], NOW, V129, include_object="Everything")
    assert to_table("ConfigMap", [], NOW, V129)["rows"] == []


def test_deployment_and_replicaset() -> None:
    spec = {
        "replicas": 2,
        "selector": {"matchLabels": {"app": "nginx"}},
        "template": {
            "spec": {
                "containers": [{"name": "nginx", "image": "nginx:1.25"}, {"name": "log", "image": "busybox"}]
            }
        },
    }
    deploy = obj(
        "nginx", spec=spec, status={"readyReplicas": 1, "updatedReplicas": 2, "availableReplicas": 1}
    )
    assert headers("Deployment") == [
        "Name",
        "Ready",
        "Up-to-date",
        "Available",
        "Age",
        "Containers",
        "Images",
        "Selector",
    ]
    assert row("Deployment", deploy) == [
        "nginx",
        "1/2",
        2,
        1,
        "3m",
        "nginx,log",
        "nginx:1.25,busybox",
        "app=nginx",
    ]
    assert row("Deployment", obj("empty", spec={"replicas": 0}, status={}))[1] == "0/0"
    rs = obj(
        "nginx-7c5ddbdf54",
        spec={**spec, "selector": {"matchLabels": {"app": "nginx", "pod-template-hash": "7c5ddbdf54"}}},
        status={"replicas": 2, "readyReplicas": 1},
    )
    assert row("ReplicaSet", rs) == [
        "nginx-7c5ddbdf54",
        2,
        2,
        1,
        "3m",
        "nginx,log",
        "nginx:1.25,busybox",
        "app=nginx,pod-template-hash=7c5ddbdf54",
    ]


def test_daemonset_statefulset() -> None:
    ds = obj(
        "ztunnel",
        spec={
            "selector": {
                "matchLabels": {"app": "ztunnel"},
                "matchExpressions": [
                    {"key": "tier", "operator": "In", "values": ["b", "a"]},
                    {"key": "canary", "operator": "DoesNotExist"},
                ],
            },
            "template": {
                "spec": {
                    "nodeSelector": {"kubernetes.io/os": "linux"},
                    "containers": [{"name": "istio-proxy", "image": "ztunnel"}],
                }
            },
        },
        status={
            "desiredNumberScheduled": 3,
            "currentNumberScheduled": 3,
            "numberReady": 2,
            "updatedNumberScheduled": 3,
            "numberAvailable": 2,
        },
    )
    assert row("DaemonSet", ds) == [
        "ztunnel",
        3,
        3,
        2,
        3,
        2,
        "kubernetes.io/os=linux",
        "3m",
        "istio-proxy",
        "ztunnel",
        "app=ztunnel,!canary,tier in (a,b)",
    ]  # sorted by key
    assert row("DaemonSet", obj("x", spec={}, status={}))[6] == "<none>"
    sts = obj(
        "web",
        spec={"replicas": 3, "template": {"spec": {"containers": [{"name": "w", "image": "i"}]}}},
        status={"readyReplicas": 3},
    )
    assert headers("StatefulSet") == ["Name", "Ready", "Age", "Containers", "Images"]
    assert row("StatefulSet", sts) == ["web", "3/3", "3m", "w", "i"]


def job(**status: Any) -> dict[str, Any]:
    return obj(
        "pi",
        spec={
            "completions": 1,
            "parallelism": 1,
            "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "u"}},
            "template": {"spec": {"containers": [{"name": "pi", "image": "perl"}]}},
        },
        status=status,
    )


def test_job_status_column_arrives_in_130() -> None:
    assert headers("Job", (1, 29)) == [
        "Name",
        "Completions",
        "Duration",
        "Age",
        "Containers",
        "Images",
        "Selector",
    ]
    assert headers("Job", (1, 30))[:3] == ["Name", "Status", "Completions"]
    done = job(
        succeeded=1,
        startTime="2024-01-18T09:57:05Z",
        completionTime="2024-01-18T09:57:40Z",
        conditions=[{"type": "Complete", "status": "True"}],
    )
    assert row("Job", done, (1, 29))[:4] == ["pi", "1/1", "35s", "3m"]
    assert row("Job", done, (1, 30))[:5] == ["pi", "Complete", "1/1", "35s", "3m"]
    assert row("Job", job(startTime="2024-01-18T09:58:00Z"), (1, 30))[1:4] == ["Running", "0/1", "2m"]
    assert row("Job", job(), (1, 30))[3] == ""
    failed = job(
        conditions=[{"type": "FailureTarget", "status": "True"}, {"type": "Failed", "status": "True"}]
    )
    assert row("Job", failed, (1, 30))[1] == "Failed"
    assert row("Job", job(conditions=[{"type": "Suspended", "status": "True"}]), (1, 30))[1] == "Suspended"
    assert (
        row("Job", job(conditions=[{"type": "FailureTarget", "status": "True"}]), (1, 30))[1]
        == "FailureTarget"
    )
    deleting = job(conditions=[{"type": "Suspended", "status": "True"}])
    deleting["metadata"]["deletionTimestamp"] = CREATED
    assert row("Job", deleting, (1, 30))[1] == "Terminating"
    queue = obj("q", spec={"parallelism": 3, "template": {"spec": {}}}, status={"succeeded": 1})
    assert row("Job", queue)[1] == "1/1 of 3"


@pytest.mark.parametrize(
    ("spec", "status", "expected"),
    [
        (
            {
                "type": "ClusterIP",
                "clusterIPs": ["10.96.0.10"],
                "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}],
                "selector": {"k8s-app": "kube-dns"},
            },
            {},
            ["ClusterIP", "10.96.0.10", "<none>", "53/UDP,53/TCP", "3m", "k8s-app=kube-dns"],
        ),
        (
            {
                "type": "NodePort",
                "clusterIPs": ["10.96.1.1"],
                "ports": [{"port": 80, "nodePort": 30000, "protocol": "TCP"}],
            },
            {},
            ["NodePort", "10.96.1.1", "<none>", "80:30000/TCP", "3m", "<none>"],
        ),
        (
            {"type": "ClusterIP", "clusterIPs": ["None"], "externalIPs": ["1.2.3.4"]},
            {},
            ["ClusterIP", "None", "1.2.3.4", "<none>", "3m", "<none>"],
        ),
        (
            {
                "type": "LoadBalancer",
                "clusterIPs": ["10.96.2.2"],
                "ports": [{"port": 443, "nodePort": 31443, "protocol": "TCP"}],
            },
            {},
            ["LoadBalancer", "10.96.2.2", "<pending>", "443:31443/TCP", "3m", "<none>"],
        ),
        (
            {"type": "LoadBalancer", "clusterIPs": ["10.96.2.2"], "externalIPs": ["9.9.9.9"]},
            {
                "loadBalancer": {
                    "ingress": [{"ip": "172.18.255.200"}, {"hostname": "a-very-long-lb-name.example.com"}]
                }
            },
            [
                "LoadBalancer",
                "10.96.2.2",
                "172.18.255.200,a-very-long-lb-name.example.com,9.9.9.9",
                "<none>",
                "3m",
                "<none>",
            ],
        ),
        (
            {"type": "ExternalName", "externalName": "example.com"},
            {},
            ["ExternalName", "<none>", "example.com", "<none>", "3m", "<none>"],
        ),
    ],
)
def test_service(spec: dict[str, Any], status: dict[str, Any], expected: list[str]) -> None:
    assert row("Service", obj("svc", spec=spec, status=status))[1:] == expected


def test_endpoints_and_endpointslice() -> None:
    eps = obj(
        "web",
        subsets=[
            {
                "addresses": [{"ip": f"10.244.0.{i}"} for i in range(1, 4)],
                "ports": [{"port": 80}, {"port": 443}],
            }
        ],
    )
    assert row("Endpoints", eps)[1] == "10.244.0.1:80,10.244.0.2:80,10.244.0.3:80 + 3 more..."
    assert row("Endpoints", obj("none"))[1] == "<none>"
    headless = obj(
        "h",
        subsets=[
            {"addresses": [{"ip": "10.244.0.9"}]},
            {"addresses": [{"ip": "fd00::1"}], "ports": [{"port": 8080}]},
        ],
    )
    assert row("Endpoints", headless)[1] == "10.244.0.9,[fd00::1]:8080"
    es = obj(
        "web-abc12",
        addressType="IPv4",
        ports=[{"port": 80, "name": "http"}, {"name": "grpc"}, {}],
        endpoints=[{"addresses": ["10.244.0.1"]}, {"addresses": ["10.244.0.2"]}],
    )
    assert row("EndpointSlice", es) == ["web-abc12", "IPv4", "80,grpc,*", "10.244.0.1,10.244.0.2", "3m"]
    assert row("EndpointSlice", obj("empty", addressType="IPv4"))[2:4] == ["<unset>", "<unset>"]


def test_node() -> None:
    node = obj(
        "kind-control-plane",
        metadata={
            "labels": {
                "node-role.kubernetes.io/control-plane": "",
                "node-role.kubernetes.io/": "",
                "kubernetes.io/role": "x",
            }
        },
        spec={"unschedulable": True},
        status={
            "conditions": [
                {"type": "MemoryPressure", "status": "False"},
                {"type": "Ready", "status": "True"},
            ],
            "addresses": [
                {"type": "InternalIP", "address": "172.18.0.2"},
                {"type": "Hostname", "address": "kind-control-plane"},
            ],
            "nodeInfo": {
                "kubeletVersion": "v1.29.2",
                "osImage": "Debian GNU/Linux 12 (bookworm)",
                "kernelVersion": "6.5.0",
                "containerRuntimeVersion": "containerd://1.7.13",
            },
        },
    )
    assert row("Node", node) == [
        "kind-control-plane",
        "Ready,SchedulingDisabled",
        "control-plane,x",
        "3m",
        "v1.29.2",
        "172.18.0.2",
        "<none>",
        "Debian GNU/Linux 12 (bookworm)",
        "6.5.0",
        "containerd://1.7.13",
    ]
    bare = row("Node", obj("n2", status={"conditions": [{"type": "Ready", "status": "Unknown"}]}))
    assert bare[1:3] == ["NotReady", "<none>"] and bare[7:] == ["<unknown>"] * 3
    assert row("Node", obj("n3"))[1] == "Unknown"


def test_event() -> None:
    event = obj(
        "nginx.17aa",
        type="Warning",
        reason="BackOff",
        involvedObject={
            "kind": "Pod",
            "name": "nginx-7c5ddbdf54-abcde",
            "fieldPath": "spec.containers{nginx}",
        },
        source={"component": "kubelet", "host": "kind-control-plane"},
        count=4,
        firstTimestamp="2024-01-18T09:58:00Z",
        lastTimestamp="2024-01-18T09:59:30Z",
        message="Back-off restarting failed container nginx in pod nginx_default(uid)\n",
    )
    assert headers("Event") == [
        "Last Seen",
        "Type",
        "Reason",
        "Object",
        "Subobject",
        "Source",
        "Message",
        "First Seen",
        "Count",
        "Name",
    ]
    assert row("Event", event) == [
        "30s",
        "Warning",
        "BackOff",
        "pod/nginx-7c5ddbdf54-abcde",
        "spec.containers{nginx}",
        "kubelet, kind-control-plane",
        "Back-off restarting failed container nginx in pod nginx_default(uid)",
        "2m",
        4,
        "nginx.17aa",
    ]
    new_api = obj(
        "x.1",
        type="Normal",
        reason="Scheduled",
        involvedObject={"kind": "Pod", "name": "p"},
        eventTime="2024-01-18T09:59:00.123456Z",
        reportingComponent="default-scheduler",
        message="Successfully assigned default/p to kind-worker",
    )
    cells = row("Event", new_api)
    assert (cells[0], cells[5], cells[7], cells[8]) == ("59s", "default-scheduler", "59s", 1)  # 59.88s
    series = obj(
        "x.2",
        involvedObject={"kind": "Node"},
        firstTimestamp=CREATED,
        series={"count": 7, "lastObservedTime": "2024-01-18T09:59:50.000000Z"},
    )
    cells = row("Event", series)
    assert (cells[0], cells[3], cells[8]) == ("10s", "node", 7)


def test_configmap_secret_namespace_serviceaccount() -> None:
    assert row("ConfigMap", obj("kube-root-ca.crt", data={"ca.crt": "x"}, binaryData={"b": "AA=="})) == [
        "kube-root-ca.crt",
        2,
        "3m",
    ]
    assert row("Secret", obj("tls", type="kubernetes.io/tls", data={"tls.crt": "", "tls.key": ""})) == [
        "tls",
        "kubernetes.io/tls",
        2,
        "3m",
    ]
    assert row("Namespace", obj("istio-system", status={"phase": "Active"})) == [
        "istio-system",
        "Active",
        "3m",
    ]
    assert headers("ServiceAccount", (1, 33)) == ["Name", "Secrets", "Age"]
    assert row("ServiceAccount", obj("default"), (1, 33)) == ["default", 0, "3m"]
    assert headers("ServiceAccount", (1, 34)) == ["Name", "Age"]
    assert row("ServiceAccount", obj("default"), (1, 34)) == ["default", "3m"]


def test_bindings_and_roles() -> None:
    binding = obj(
        "read-pods",
        roleRef={"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "pod-reader"},
        subjects=[
            {"kind": "ServiceAccount", "name": "default", "namespace": "default"},
            {"kind": "User", "name": "jane"},
            {"kind": "User", "name": "bob"},
            {"kind": "Group", "name": "devs"},
        ],
    )
    assert row("RoleBinding", binding) == [
        "read-pods",
        "ClusterRole/pod-reader",
        "3m",
        "jane, bob",
        "devs",
        "default/default",
    ]
    crb_cols = to_table("ClusterRoleBinding", [], NOW, V129)["columnDefinitions"]
    assert crb_cols[3]["description"] == "Users in the clusterRoleBinding" and crb_cols[3]["priority"] == 1
    roles = to_table("ClusterRole", [obj("view"), obj("edit")], NOW, V129)
    assert [(c["name"], c["type"]) for c in roles["columnDefinitions"]] == [
        ("Name", "string"),
        ("Created At", "date"),
    ]
    assert [r["cells"] for r in roles["rows"]] == [["view", CREATED], ["edit", CREATED]]
    assert to_table("Role", [], NOW, V129)["rows"] is None  # default convertor: nil slice


CRD = {
    "spec": {
        "versions": [
            {"name": "v1alpha1", "storage": False},
            {
                "name": "v1",
                "storage": True,
                "additionalPrinterColumns": [
                    {"name": "Hosts", "type": "string", "jsonPath": ".spec.hosts"},
                    {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"},
                    {"name": "Ready", "type": "boolean", "jsonPath": ".status.ready", "priority": 1},
                    {"name": "Mode", "type": "string", "jsonPath": ".spec.mode", "description": "The mode."},
                    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
                ],
            },
        ]
    }
}


def test_custom_resource_columns() -> None:
    cr = obj("reviews", spec={"hosts": ["reviews", "ratings"], "replicas": 3.0}, status={"ready": True})
    table = custom_resource_table(CRD, [cr], NOW, resource_version="9")
    defs = table["columnDefinitions"]
    assert [d["name"] for d in defs] == ["Name", "Hosts", "Replicas", "Ready", "Mode", "Age"]
    assert defs[1]["description"] == "Custom resource definition column (in JSONPath format): .spec.hosts"
    assert defs[4]["description"] == "The mode." and defs[3]["priority"] == 1
    assert table["rows"][0]["cells"] == ["reviews", '["reviews","ratings"]', 3, True, None, "3m"]
    assert (
        print_table(table)
        == 'NAME      HOSTS                   REPLICAS   MODE   AGE\n'
        'reviews   ["reviews","ratings"]   3                 3m\n'
    )


def test_custom_resource_without_printer_columns_gets_age() -> None:
    table = custom_resource_table(CRD, [obj("old")], NOW, version="v1alpha1")
    assert [(d["name"], d["type"]) for d in table["columnDefinitions"]] == [
        ("Name", "string"),
        ("Age", "date"),
    ]
    assert table["rows"][0]["cells"] == ["old", "3m"]
    bad = custom_resource_table(
        {
            "spec": {
                "versions": [
                    {
                        "name": "v1",
                        "storage": True,
                        "additionalPrinterColumns": [
                            {"name": "When", "type": "date", "jsonPath": ".spec.when"}
                        ],
                    }
                ]
            }
        },
        [obj("x", spec={"when": "yesterday"})],
        NOW,
    )
    assert bad["rows"][0]["cells"] == ["x", "<invalid>"]


def test_kubectl_get_pods_all_namespaces_golden() -> None:
    def p(ns: str, name: str, created: str, state: dict[str, Any], ready: bool, restarts: int = 0) -> dict:
        status = {
            "phase": "Running",
            "containerStatuses": [{"name": "c", "ready": ready, "restartCount": restarts, "state": state}],
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        }
        return {
            "metadata": {"name": name, "namespace": ns, "creationTimestamp": created},
            "spec": {"containers": [{"name": "c", "image": "i"}]},
            "status": status,
        }

    pods = [
        p("default", "nginx-7c5ddbdf54-abcde", "2024-01-18T09:59:40Z", {"running": {}}, True),
        p(
            "istio-system",
            "ztunnel-x7k2p",
            "2024-01-18T07:00:00Z",
            {"waiting": {"reason": "CrashLoopBackOff"}},
            False,
            12,
        ),
    ]
    pods[1]["status"]["containerStatuses"][0]["lastState"] = {
        "terminated": {"exitCode": 1, "finishedAt": "2024-01-18T09:58:55Z"}
    }
    table = to_table("Pod", pods, NOW, V129)
    assert print_table(table, show_namespace=True) == (
        "NAMESPACE      NAME                     READY   STATUS             RESTARTS       AGE\n"
        "default        nginx-7c5ddbdf54-abcde   1/1     Running            0              20s\n"
        "istio-system   ztunnel-x7k2p            0/1     CrashLoopBackOff   12 (65s ago)   3h\n"
    )
