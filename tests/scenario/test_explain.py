"""`explain`: every failure traced back to the decision that caused it, from the records the simulation kept; and
`try_remedies`: each automatic remedy run as an extra cell and judged."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from meshrepro.istio import versions as istio_versions
from meshrepro.scenario import factors, runner
from meshrepro.scenario.diagnoses import BY_CODE, CATALOGUE, Finding
from meshrepro.scenario.explain import Explanation, explain, try_remedies
from meshrepro.scenario.model import Scenario
from meshrepro.scenario.result import ExpectationResult, PodView, RunResult, StepResult

SEED = Path(__file__).resolve().parents[2] / "examples" / "istio-48854"
NETWORKING = SEED.parent / "networking"


@functools.cache
def scenario(path: Path) -> Scenario:
    return factors.baseline(*factors.load(str(path)))


@functools.cache
def result(path: Path) -> RunResult:
    return runner.run(scenario(path))


def explained(path: Path) -> Explanation:
    return explain(result(path))


def only(explanation: Explanation, code: str) -> Finding:
    found = [f for f in explanation.findings if f.code == code]
    assert len(found) == 1, [f.key for f in explanation.findings]
    return found[0]


def test_seed_ambient_1_20_is_an_unknown_source_caused_by_istiod_not_publishing_pending_pods() -> None:
    """exp3 on 1.20: kubectl's EOF ← connection EOF ← ztunnel `unknown source` ← istiod does not publish the Pending
    pod (the flag and its upstream change) ← the init container keeps it Pending ← istio-cni captured it by the
    namespace label."""
    explanation = explained(SEED / "exp3-ambient-1.20.yaml")
    finding = only(explanation, "MR0101")
    assert finding.subject.startswith("Pod default/nginx-")
    assert finding.symptom == "Unable to connect to the server: EOF"
    assert finding.steps == [7]
    assert len(finding.connections) == 60
    components = [link.component for link in finding.chain]
    assert components[0].startswith("container init-kubectl of Pod default/nginx-")
    assert components[1] == f"connection #{finding.connections[0]}"
    assert components[2].startswith("ztunnel ztunnel-")
    assert components[3:5] == ["istiod", "kubelet/test-control-plane"]
    assert components[5] == "istio-cni"
    ztunnel, istiod, kubelet, cni = finding.chain[2:6]
    assert ztunnel.summary == "dropped the outbound connection: unknown source: 10.244.0.7"
    assert "ztunnel::proxy::outbound: failed" in ztunnel.evidence
    assert istiod.summary == "did not publish the pod to ztunnel: phase Pending is not Running"
    assert istiod.flag is not None and istiod.flag.name == "istiod_publishes_pending_pods"
    assert istiod.flag.change == istio_versions.TABLE["istiod_publishes_pending_pods"].change
    assert istiod.flag.change.startswith("istio/istio#49767")
    assert (istiod.flag.version, istiod.flag.holds, istiod.flag.since) == ("1.20.2", False, "1.21.2")
    assert finding.root is istiod
    assert "while init container init-kubectl ran" in kubelet.summary
    assert cni.subject == "Namespace default, label istio.io/dataplane-mode=ambient"
    assert "ztunnel-pods-ips" in cni.rule
    assert "10.244.0.7" in finding.chain[1].summary and "ztunnel-pods-ips" in finding.chain[1].rule
    assert [r.key for r in finding.remedies][:3] == ["upgrade-istio", "upgrade-istio-latest", "opt-out"]
    assert finding.remedies[0].level == {"versions": {"istio": "1.21.2"}}
    # the init container's exit follows from it
    crash = only(explanation, "MR0403")
    assert crash.see == [finding.key]


def test_seed_on_1_21_0_captures_in_pod_and_still_fails_for_the_same_reason() -> None:
    finding = only(explained(SEED / "exp3-ambient-1.21.0.yaml"), "MR0101")
    assert "REDIRECT --to-ports 15001" in finding.chain[1].rule
    assert finding.root is not None and finding.root.flag is not None
    assert (finding.root.flag.name, finding.root.flag.holds) == ("istiod_publishes_pending_pods", False)


def test_without_the_mesh_and_with_rbac_nothing_is_explained() -> None:
    explanation = explained(SEED / "exp2-rbac.yaml")
    assert explanation.empty and explanation.findings == [] and explanation.failed_connections == 0


@pytest.mark.parametrize("name", ["exp3-ambient-1.22.3.yaml", "exp3-ambient-1.24.0.yaml",
                                  "exp7-main-container-1.20.yaml"])
def test_fixed_releases_and_the_main_container_have_nothing_to_explain(name: str) -> None:
    assert explained(SEED / name).findings == []


def test_strict_mtls_rejecting_plaintext_is_the_policy_diagnosis() -> None:
    finding = only(explained(SEED / "exp6-from-test-namespace-1.20.yaml"), "MR0103")
    assert finding.symptom == "curl: (56) Recv failure: Connection reset by peer"
    assert finding.steps == [10]
    policy = next(link for link in finding.chain if link.component == "istiod")
    assert policy.subject == "PeerAuthentication default/peerauth"
    assert policy.flag is not None and policy.flag.name == "ambient_peer_authentication" and policy.flag.holds
    assert "istio_converted_static_strict" in policy.summary
    client = finding.chain[-1]
    assert client.component == "istio-cni" and client.subject == "Pod test/test"
    assert {r.key for r in finding.remedies} == {"permissive", "enroll-client"}


def test_rbac_without_a_binding_is_forbidden_for_the_default_service_account() -> None:
    explanation = explained(SEED / "exp1-default-sa.yaml")
    finding = only(explanation, "MR0201")
    assert finding.symptom.startswith('Error from server (Forbidden): pods is forbidden: User '
                                      '"system:serviceaccount:default:default" cannot list resource "pods"')
    assert any(link.subject == "ServiceAccount default/default" for link in finding.chain)
    assert [r.key for r in finding.remedies] == ["grant-rbac"]
    crash = only(explanation, "MR0403")
    assert crash.see == [finding.key]


def test_a_token_path_used_as_a_token_is_unauthorized() -> None:
    finding = only(explained(SEED / "exp4-projected-no-mesh.yaml"), "MR0202")
    assert "You must be logged in to the server" in finding.symptom
    assert any("sent the file path `/var/run/secrets/kubernetes.io/serviceaccount/token`" in link.summary
               for link in finding.chain)


@pytest.mark.parametrize(("name", "codes"), [
    ("no-endpoints.yaml", ["MR0301"]),
    ("nodeport-from-host.yaml", ["MR0302"]),
    ("service-dns.yaml", ["MR0303", "MR0304"]),
    ("job.yaml", ["MR0402", "MR0402"]),
])
def test_kubernetes_networking_and_lifecycle(name: str, codes: list[str]) -> None:
    assert [f.code for f in explained(NETWORKING / name).findings] == codes


def test_dns_nxdomain_names_every_search_expansion() -> None:
    finding = only(explained(NETWORKING / "service-dns.yaml"), "MR0304")
    assert finding.symptom == "wget: bad address 'nope'"
    assert "nope.default.svc.cluster.local." in finding.chain[1].summary


def test_explain_is_deterministic() -> None:
    path = SEED / "exp3-ambient-1.20.yaml"
    assert explain(result(path)).to_dict() == explain(runner.run(scenario(path))).to_dict()


def test_every_code_is_unique_and_documented() -> None:
    codes = [d.code for d in CATALOGUE]
    assert len(codes) == len(set(codes)) == len(BY_CODE)
    schema = (SEED.parents[1] / "docs" / "json-schema.md").read_text(encoding="utf-8")
    assert all(f"| {code} |" in schema for code in codes)


def test_sidecar_with_istio_cni_refuses_the_init_container_before_envoy_listens() -> None:
    """exp8: istio-cni writes the redirect at sandbox creation; init-kubectl's connection to 10.96.0.1:443 goes to
    127.0.0.1:15001, where nothing listens until istio-proxy starts after the init containers."""
    explanation = explained(SEED / "exp8-sidecar-cni.yaml")
    finding = only(explanation, "MR0105")
    assert finding.symptom == "The connection to the server 10.96.0.1:443 was refused - did you specify the right host " \
                              "or port?"
    assert "REDIRECT --to-ports 15001" in finding.chain[1].rule
    assert finding.chain[2].summary.startswith("no listener on 127.0.0.1:15001/tcp")
    assert "istio-proxy had not started: the connection came from init container init-kubectl" in \
           finding.chain[3].summary
    assert finding.chain[4].component == "istio-cni"
    assert [r.key for r in finding.remedies] == ["run-as-1337", "exclude-ip-range", "exclude-port", "native-sidecar"]
    assert only(explanation, "MR0403").see == [finding.key]
    assert explained(SEED / "exp8-sidecar-cni-runasuser.yaml").findings == []


def test_the_remedies_for_the_sidecar_redirect_all_work_on_the_apiserver_address() -> None:
    path = SEED / "exp8-sidecar-cni-seed-annotations.yaml"
    outcomes = try_remedies(scenario(path), explained(path), jobs=2)
    assert {(o.remedy.key, o.verdict) for o in outcomes} == {
        ("run-as-1337", "works"), ("exclude-ip-range", "works"), ("exclude-port", "works"),
        ("native-sidecar", "works")}


# -- records made by hand: the sidecar redirect and pulls, beyond the shipped examples ----------------------------


def _result(connections: list[dict], trace: list[dict], events: list[dict] | None = None,
            steps: list[StepResult] | None = None, pods: list[PodView] | None = None) -> RunResult:
    return RunResult("hand-made", "s.yaml", 0, {"kubernetes": "1.29", "istio": "1.24.0"}, {}, steps or [],
                     pods or [], [], connections, events or [], [ExpectationResult("step: 1, exit_code: 0", 5, False,
                                                                                   "exit code 7")], trace)


def _step(output: str) -> StepResult:
    return StepResult(1, "kubectl logs app -c init", output, output, "", 7, "2024-01-18T09:57:00Z",
                      "2024-01-18T09:58:00Z")


def test_a_redirect_to_15001_with_no_listener_is_the_sidecar_not_started() -> None:
    pod = PodView("default", "app", "kind-control-plane", "10.244.0.9", "Pending", "Init:0/1", "0/2", "0",
                  {"app": "app"}, [{"name": "init", "init": True}, {"name": "istio-proxy", "init": False}])
    hops = [{"component": "iptables in pod default/app", "action": "nat ISTIO_OUTPUT #5",
             "detail": "-A ISTIO_OUTPUT -j REDIRECT --to-ports 15001"},
            {"component": "netns pod default/app", "action": "no listener on 127.0.0.1:15001/tcp",
             "detail": "the kernel answers the SYN with RST"}]
    connection = {"id": 3, "time": "2024-01-18T09:57:10.000Z", "protocol": "tcp", "source": "10.244.0.9:40000",
                  "source_owner": "pod default/app", "destination": "10.96.0.1:443", "final": "127.0.0.1:15001",
                  "outcome": "refused", "hops": hops}
    trace = [
        {"time": "2024-01-18T09:57:01.000Z", "component": "istio-cni", "subject": "Pod default/app",
         "action": "sidecar redirect written at sandbox creation", "reason": "istio-iptables rules", "data": {}},
        {"time": "2024-01-18T09:57:05.000Z", "component": "kubelet/kind-control-plane", "subject": "Pod default/app",
         "action": "started container init", "reason": "uid 1000, argv ['sh']", "data": {}},
        {"time": "2024-01-18T09:57:11.000Z", "component": "kubelet/kind-control-plane", "subject": "Pod default/app",
         "action": "container init exited with 1", "reason": "Error", "data": {}},
    ]
    step = _step("The connection to the server 10.96.0.1:443 was refused - did you specify the right host or port?")
    explanation = explain(_result([connection], trace, steps=[step], pods=[pod]))
    finding = only(explanation, "MR0105")
    assert finding.connections == [3]
    assert "REDIRECT --to-ports 15001" in finding.chain[1].rule
    assert any("istio-proxy had not started" in link.summary and "init container init" in link.summary
               for link in finding.chain)
    assert {"run-as-1337", "exclude-ip-range", "exclude-port", "native-sidecar"} <= {r.key for r in finding.remedies}
    assert finding.remedies[1].title == "exclude 10.96.0.1/32 from redirection (excludeOutboundIPRanges)"
    assert explanation.expectations[0].findings == [finding.key]
    assert not [f for f in explanation.findings if f.code == "MR0302"]  # not also a plain "no listener"


def test_an_image_pull_failure_comes_from_the_events() -> None:
    event = {"namespace": "default", "object": "Pod/web", "type": "Warning", "reason": "Failed",
             "message": 'Failed to pull image "nginx:nope": not found', "count": 3,
             "first": "2024-01-18T09:57:10Z", "last": "2024-01-18T09:57:40Z"}
    finding = only(explain(_result([], [], [event])), "MR0401")
    assert finding.subject == "Pod default/web" and "nginx:nope" in finding.remedy


def test_a_failed_connection_no_diagnosis_knows_is_still_reported() -> None:
    connection = {"id": 9, "time": "2024-01-18T09:57:10.000Z", "protocol": "tcp", "source": "10.244.0.9:40000",
                  "source_owner": "pod default/app", "destination": "10.244.0.3:80", "final": "10.244.0.3:80",
                  "outcome": "reset", "hops": [{"component": "mystery", "action": "reset it", "detail": "why not"}]}
    finding = only(explain(_result([connection], [])), "MR0001")
    assert finding.connections == [9] and finding.chain[-1].component == "mystery"


# -- remedies ----------------------------------------------------------------------------------------------------


def test_remedies_for_the_seed_upgrade_and_opt_out_work_the_sidecar_workarounds_do_not() -> None:
    path = SEED / "exp3-ambient-1.20.yaml"
    outcomes = {o.remedy.key: o for o in try_remedies(scenario(path), explained(path), jobs=2)}
    assert outcomes["upgrade-istio-latest"].verdict == "works"
    assert outcomes["opt-out"].verdict == "works"
    for key in ("run-as-1337", "exclude-ip-range", "exclude-port"):
        assert outcomes[key].verdict == "does not help", outcomes[key]
        assert outcomes[key].detail == "MR0101 remains, for the same reason"
    # 1.21.2 carries the flag, but its legacy index ignores the update that sets the pod's IP
    assert outcomes["upgrade-istio"].verdict == "does not help"
    assert "ambient_index_krt" in outcomes["upgrade-istio"].detail
    works = outcomes["opt-out"]
    assert works.change == [('patch Deployment/nginx (namespace default) in manifests/nginx-rbac.yaml: merge '
                            '{"spec":{"template":{"metadata":{"annotations":{"ambient.istio.io/redirection":'
                            '"disabled"}}}}}')]
    assert {e["text"] for e in works.expectations if not e["after"]}  # the seed's expectations describe the bug


def test_granting_rbac_is_a_remedy_that_works_for_experiment_1() -> None:
    path = SEED / "exp1-default-sa.yaml"
    outcomes = try_remedies(scenario(path), explained(path), jobs=1)
    assert [(o.remedy.key, o.verdict) for o in outcomes] == [("grant-rbac", "works")]
