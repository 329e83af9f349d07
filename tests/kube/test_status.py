import json

from meshrepro.kube import status
from meshrepro.kube.rbac import User
from meshrepro.kube.requestinfo import parse_request_info

SA = User.service_account("default", "default")


def _forbidden_message(method, path, user=SA, reason=""):
    code, body = status.forbidden(parse_request_info(method, path, {}), user, reason)
    assert code == 403 and body["code"] == 403 and body["reason"] == "Forbidden"
    return body["message"]


def test_forbidden_list_pods_namespaced():
    assert _forbidden_message("GET", "/api/v1/namespaces/default/pods") == (
        'pods is forbidden: User "system:serviceaccount:default:default" cannot list resource "pods" '
        'in API group "" in the namespace "default"'
    )


def test_forbidden_named_subresource_keeps_name_outside_and_subresource_inside():
    assert _forbidden_message("GET", "/api/v1/namespaces/default/pods/nginx-x/log") == (
        'pods "nginx-x" is forbidden: User "system:serviceaccount:default:default" cannot get resource '
        '"pods/log" in API group "" in the namespace "default"'
    )


def test_forbidden_grouped_resource():
    assert _forbidden_message("GET", "/apis/apps/v1/namespaces/default/deployments") == (
        'deployments.apps is forbidden: User "system:serviceaccount:default:default" cannot list resource '
        '"deployments" in API group "apps" in the namespace "default"'
    )


def test_forbidden_cluster_scope():
    assert _forbidden_message("GET", "/api/v1/nodes").endswith(
        'cannot list resource "nodes" in API group "" at the cluster scope'
    )
    assert _forbidden_message("GET", "/api/v1/pods").startswith("pods is forbidden: ")


def test_forbidden_non_resource_body_exact():
    _, body = status.forbidden(parse_request_info("GET", "/api", {}), User.anonymous())
    assert json.dumps(body, separators=(",", ":")) == (
        '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
        '"message":"forbidden: User \\"system:anonymous\\" cannot get path \\"/api\\"",'
        '"reason":"Forbidden","details":{},"code":403}'
    )


def test_forbidden_details_and_reason_suffix():
    info = parse_request_info("GET", "/apis/apps/v1/namespaces/ns/deployments/web", {})
    reason = 'RBAC: clusterrole.rbac.authorization.k8s.io "pod-reader" not found'
    _, body = status.forbidden(info, SA, reason)
    assert body["details"] == {"name": "web", "group": "apps", "kind": "deployments"}
    assert body["message"].endswith(f'in the namespace "ns": {reason}')


def test_forbidden_sanitizes_html_but_not_reason():
    info = parse_request_info("GET", "/<script>", {})
    _, body = status.forbidden(info, SA, "a<b")
    assert body["message"] == (
        'forbidden: User "system:serviceaccount:default:default" cannot get path "/&lt;script&gt;": a<b'
    )


def test_forbidden_message_for_admission():
    _, body = status.forbidden_message("", "pods", "p", "error looking up service account ns/sa")
    assert body["message"] == 'pods "p" is forbidden: error looking up service account ns/sa'


def test_unauthorized_body_exact():
    assert status.unauthorized() == (
        401,
        {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": "Unauthorized",
            "reason": "Unauthorized",
            "code": 401,
        },
    )


def test_not_found_and_already_exists():
    code, body = status.not_found("", "pods", "x")
    assert (code, body["message"], body["details"]) == (
        404,
        'pods "x" not found',
        {"name": "x", "kind": "pods"},
    )
    code, body = status.already_exists("apps", "deployments", "web")
    assert (code, body["reason"]) == (409, "AlreadyExists")
    assert body["message"] == 'deployments.apps "web" already exists'


def test_not_found_path():
    code, body = status.not_found_path()
    assert (code, body["message"], body["details"]) == (
        404,
        "the server could not find the requested resource",
        {},
    )


def test_conflict_default_is_optimistic_lock_text():
    _, body = status.conflict("", "pods", "p")
    assert body["message"] == (
        'Operation cannot be fulfilled on pods "p": the object has been modified; '
        "please apply your changes to the latest version and try again"
    )
    assert body["reason"] == "Conflict"


def test_bad_request_has_no_details():
    code, body = status.bad_request("boom")
    assert code == 400 and "details" not in body and body["message"] == "boom"


def test_invalid_single_cause():
    err = status.required("spec.template.spec.containers[0].image")
    code, body = status.invalid(status.GroupKind("apps", "Deployment"), "x", [err])
    assert code == 422 and body["reason"] == "Invalid"
    assert (
        body["message"]
        == 'Deployment.apps "x" is invalid: spec.template.spec.containers[0].image: Required value'
    )
    assert body["details"] == {
        "name": "x",
        "group": "apps",
        "kind": "Deployment",
        "causes": [
            {
                "reason": "FieldValueRequired",
                "message": "Required value",
                "field": "spec.template.spec.containers[0].image",
            }
        ],
    }


def test_invalid_many_causes_bracketed_and_deduplicated():
    errs = [
        status.invalid_value("metadata.name", "Bad_Name", "a lowercase RFC 1123 subdomain"),
        status.not_supported("spec.restartPolicy", "Sometimes", ["Always", "OnFailure", "Never"]),
        status.invalid_value("metadata.name", "Bad_Name", "a lowercase RFC 1123 subdomain"),
    ]
    _, body = status.invalid(status.GroupKind("", "Pod"), "Bad_Name", errs)
    assert body["message"] == (
        'Pod "Bad_Name" is invalid: [metadata.name: Invalid value: "Bad_Name": '
        "a lowercase RFC 1123 subdomain, "
        'spec.restartPolicy: Unsupported value: "Sometimes": '
        'supported values: "Always", "OnFailure", "Never"]'
    )
    assert len(body["details"]["causes"]) == 3  # causes are not deduplicated


def test_field_error_values():
    assert (
        status.invalid_value("spec.replicas", -1, "must be >= 0").body() == "Invalid value: -1: must be >= 0"
    )
    assert status.invalid_value("spec.x", True, "").body() == "Invalid value: true"
    assert status.invalid_value("spec.x", None, "d").body() == "Invalid value: null: d"
    assert status.forbidden_field("spec.x", "may not be set").body() == "Forbidden: may not be set"
    assert status.duplicate("spec.ports[1].port", 80).body() == "Duplicate value: 80"


def test_method_not_supported_internal_gone_expired():
    code, body = status.method_not_supported("", "pods", "create")
    assert (code, body["message"]) == (405, 'create is not supported on resources of kind "pods"')
    code, body = status.internal_error("etcd down")
    assert (code, body["message"], body["details"]) == (
        500,
        "Internal error occurred: etcd down",
        {"causes": [{"message": "etcd down"}]},
    )
    assert status.gone("gone away")[1]["reason"] == "Gone"
    code, body = status.expired("too old resource version: 1 (2)")
    assert (code, body["reason"]) == (410, "Expired")


def test_go_quote():
    assert status.go_quote('a"b\\c\n\x01é') == '"a\\"b\\\\c\\n\\x01é"'
