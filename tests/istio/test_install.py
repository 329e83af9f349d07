"""What `istioctl install` renders: profiles, -f/--set merging, and the objects of each component per release."""

from __future__ import annotations

import json

import pytest
import yaml

from meshrepro.istio.install import (
    NotModelled,
    RenderError,
    merge_inputs,
    parse_value,
    render,
    split_path,
)

Obj = dict


def installed(version: tuple[int, int, int], *sets: str, files: list[tuple[str, str]] | None = None):
    return render(version, merge_inputs(version, files or [], list(sets)))


def find(objects: list[Obj], kind: str, name: str) -> Obj:
    return next(o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name)


def all_objects(version: tuple[int, int, int], *sets: str) -> list[Obj]:
    return [o for c in installed(version, *sets).components for o in c.objects]


def container(workload: Obj) -> Obj:
    return workload["spec"]["template"]["spec"]["containers"][0]


def env(workload: Obj) -> dict[str, object]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container(workload)["env"]}


@pytest.mark.parametrize(("profile", "components"), [
    ("default", ["Base", "Pilot", "IngressGateways"]), ("minimal", ["Base", "Pilot"]),
    ("demo", ["Base", "Pilot", "IngressGateways", "EgressGateways"]), ("ambient", ["Base", "Pilot", "Cni", "Ztunnel"]),
])
def test_profiles_enable_their_components(profile: str, components: list[str]) -> None:
    assert [c.name for c in installed((1, 22, 0), f"profile={profile}").components] == components


@pytest.mark.parametrize(("version", "pilot", "cni", "ztunnel"), [
    ((1, 18, 0), "pilot:1.18.0", "install-cni:1.18.0", "ztunnel:1.18.0"),
    ((1, 20, 2), "pilot:1.20.2-distroless", "install-cni:1.20.2", "ztunnel:1.20.2-distroless"),
    ((1, 21, 2), "pilot:1.21.2-distroless", "install-cni:1.21.2", "ztunnel:1.21.2-distroless"),
    ((1, 22, 3), "pilot:1.22.3-distroless", "install-cni:1.22.3-distroless", "ztunnel:1.22.3-distroless"),
])
def test_ambient_images_per_release(version: tuple[int, int, int], pilot: str, cni: str, ztunnel: str) -> None:
    objects = all_objects(version, "profile=ambient")
    assert container(find(objects, "Deployment", "istiod"))["image"] == f"docker.io/istio/{pilot}"
    assert container(find(objects, "DaemonSet", "istio-cni-node"))["image"] == f"docker.io/istio/{cni}"
    assert container(find(objects, "DaemonSet", "ztunnel"))["image"] == f"docker.io/istio/{ztunnel}"


def test_default_profile_images_have_no_variant() -> None:
    objects = all_objects((1, 24, 0))
    assert container(find(objects, "Deployment", "istiod"))["image"] == "docker.io/istio/pilot:1.24.0"
    assert container(find(objects, "Deployment", "istio-ingressgateway"))["image"] == "docker.io/istio/proxyv2:1.24.0"


def test_istiod_ambient_env_per_release() -> None:
    old = env(find(all_objects((1, 20, 2), "profile=ambient"), "Deployment", "istiod"))
    assert old["PILOT_ENABLE_AMBIENT_CONTROLLERS"] == "true" and old["PILOT_ENABLE_HBONE"] == "true"
    assert old["CA_TRUSTED_NODE_ACCOUNTS"] == "istio-system/ztunnel,kube-system/ztunnel"
    assert old["JWT_POLICY"] == "third-party-jwt" and "PILOT_ENABLE_AMBIENT" not in old
    new = env(find(all_objects((1, 24, 0), "profile=ambient"), "Deployment", "istiod"))
    assert new["PILOT_ENABLE_AMBIENT"] == "true" and "PILOT_ENABLE_AMBIENT_CONTROLLERS" not in new
    assert new["CA_TRUSTED_NODE_ACCOUNTS"] == "istio-system/ztunnel" and "JWT_POLICY" not in new
    assert "PILOT_ENABLE_AMBIENT" not in env(find(all_objects((1, 24, 0)), "Deployment", "istiod"))


def test_istiod_workload_ports_and_probe() -> None:
    objects = all_objects((1, 24, 0), "profile=ambient")
    istiod = container(find(objects, "Deployment", "istiod"))
    assert [p["containerPort"] for p in istiod["ports"]] == [8080, 15010, 15012, 15017, 15014]
    assert istiod["readinessProbe"]["httpGet"] == {"path": "/ready", "port": 8080}
    older = container(find(all_objects((1, 22, 0)), "Deployment", "istiod"))
    assert [p["containerPort"] for p in older["ports"]] == [8080, 15010, 15017]
    service = find(objects, "Service", "istiod")["spec"]["ports"]
    assert [(p["port"], p.get("targetPort", p["port"])) for p in service] == [
        (15010, 15010), (15012, 15012), (443, 15017), (15014, 15014)]


def test_cni_and_ztunnel_daemonsets() -> None:
    objects = all_objects((1, 20, 2), "profile=ambient")
    cni = find(objects, "DaemonSet", "istio-cni-node")
    assert cni["spec"]["template"]["spec"]["hostNetwork"] is True
    assert container(cni)["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": 8000}
    assert env(cni)["NODE_NAME"] == {"fieldRef": {"apiVersion": "v1", "fieldPath": "spec.nodeName"}}
    assert cni["spec"]["template"]["metadata"]["annotations"]["ambient.istio.io/redirection"] == "disabled"
    ztunnel = find(objects, "DaemonSet", "ztunnel")
    assert container(ztunnel)["name"] == "istio-proxy"
    assert container(ztunnel)["readinessProbe"]["httpGet"] == {"port": 15021, "path": "/healthz/ready"}
    fields = {k: v["fieldRef"]["fieldPath"] for k, v in env(ztunnel).items() if isinstance(v, dict)}
    assert {k: fields[k] for k in ("POD_NAME", "POD_NAMESPACE", "NODE_NAME", "INSTANCE_IP")} == {
        "POD_NAME": "metadata.name", "POD_NAMESPACE": "metadata.namespace", "NODE_NAME": "spec.nodeName",
        "INSTANCE_IP": "status.podIP"}
    assert env(ztunnel)["ISTIO_META_ENABLE_HBONE"] == "true"
    labels = find(all_objects((1, 22, 0), "profile=ambient"), "DaemonSet", "ztunnel")["spec"]["template"]["metadata"]
    assert labels["labels"]["istio.io/dataplane-mode"] == "none"  # the pod-level opt-out from 1.22


def test_cni_without_ambient_is_not_host_network() -> None:
    cni = find(all_objects((1, 22, 0), "components.cni.enabled=true"), "DaemonSet", "istio-cni-node")
    assert "hostNetwork" not in cni["spec"]["template"]["spec"]
    config = json.loads(find(all_objects((1, 21, 0), "components.cni.enabled=true"), "ConfigMap",
                             "istio-cni-config")["data"]["cni_network_config"])
    assert config["kubernetes"]["exclude_namespaces"] == ["istio-system", "kube-system"]


def test_owner_labels_on_every_object() -> None:
    for component in installed((1, 20, 2), "profile=ambient").components:
        for obj in component.objects:
            labels = obj["metadata"]["labels"]
            assert labels["operator.istio.io/component"] == component.name
            assert labels["operator.istio.io/version"] == "1.20.2"
            assert labels["install.operator.istio.io/owning-resource"] == "installed-state"
    assert "install.operator.istio.io/owning-resource" not in all_objects((1, 24, 0))[0]["metadata"]["labels"]


def test_set_flags_reach_the_objects() -> None:
    objects = all_objects((1, 22, 0), "profile=ambient", "values.pilot.env.PILOT_DEBOUNCE_AFTER=1s",
                          "meshConfig.accessLogFile=/dev/stdout", "values.pilot.autoscaleEnabled=false",
                          "values.pilot.replicaCount=2")
    istiod = find(objects, "Deployment", "istiod")
    assert env(istiod)["PILOT_DEBOUNCE_AFTER"] == "1s"
    assert istiod["spec"]["replicas"] == 2
    assert not [o for o in objects if o["kind"] == "HorizontalPodAutoscaler"]
    mesh = yaml.safe_load(find(objects, "ConfigMap", "istio")["data"]["mesh"])
    assert mesh["accessLogFile"] == "/dev/stdout"
    assert mesh["defaultConfig"]["proxyMetadata"] == {"ISTIO_META_ENABLE_HBONE": "true"}


def test_gateway_list_selectors_in_set_paths() -> None:
    names = [c.name for c in installed(
        (1, 22, 0), "components.ingressGateways.[name:istio-ingressgateway].enabled=false").components]
    assert names == ["Base", "Pilot"]
    assert split_path("values.sidecarInjectorWebhook.injectedAnnotations.container\\.apparmor/x") == [
        "values", "sidecarInjectorWebhook", "injectedAnnotations", "container.apparmor/x"]
    assert split_path("components.ingressGateways[0].enabled") == ["components", "ingressGateways", "[0]", "enabled"]


def test_parse_value_like_istioctl() -> None:
    assert (parse_value("3"), parse_value("0.5"), parse_value("true"), parse_value("a\\,b")) == (3, 0.5, True, "a,b")


def test_file_overlay_and_set_precedence() -> None:
    iop = ("apiVersion: install.istio.io/v1alpha1\nkind: IstioOperator\nspec:\n  profile: ambient\n"
           "  values:\n    pilot:\n      env:\n        A: from-file\n        B: from-file\n")
    objects = [o for c in installed((1, 22, 0), "values.pilot.env.B=from-set", files=[("iop.yaml", iop)]).components
               for o in c.objects]
    values = env(find(objects, "Deployment", "istiod"))
    assert (values["A"], values["B"]) == ("from-file", "from-set")
    assert find(objects, "DaemonSet", "ztunnel")


def test_bad_input_errors_per_release() -> None:
    with pytest.raises(RenderError) as old:
        merge_inputs((1, 20, 2), [], ["profile=ambiant"])
    assert str(old.value) == ("generate config: failed to read profile ambiant from : open profiles/ambiant.yaml: "
                              "file does not exist")
    with pytest.raises(RenderError) as new:
        merge_inputs((1, 24, 0), [], ["profile=ambiant"])
    assert str(new.value) == ('generate config: merge inputs: profile "ambiant" not found: open '
                              "profiles/ambiant.yaml: file does not exist")
    with pytest.raises(RenderError) as set_flag:
        merge_inputs((1, 22, 0), [], ["values.global.hub"])
    assert str(set_flag.value) == "generate config: set flag values.global.hub has incorrect format, must be path=value"
    merge_inputs((1, 24, 0), [], ["values.global.logAsJson"])  # 1.24's installer does not check the format


def test_real_but_unrendered_profiles_are_not_modelled() -> None:
    with pytest.raises(NotModelled):
        merge_inputs((1, 22, 0), [], ["profile=stable"])
    with pytest.raises(RenderError):
        merge_inputs((1, 21, 0), [], ["profile=stable"])  # no such profile before 1.22


def test_installed_state_crd_until_1_21() -> None:
    base = installed((1, 20, 2)).component("Base")
    assert base is not None and "istiooperators.install.istio.io" in [o["metadata"]["name"] for o in base.objects]
    later = installed((1, 21, 0)).component("Base")
    assert later is not None and "istiooperators.install.istio.io" not in [o["metadata"]["name"] for o in later.objects]
