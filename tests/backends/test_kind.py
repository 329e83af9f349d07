"""The `kind` program on the user's terminal and kind's cluster configuration."""

from __future__ import annotations

import pytest

from meshrepro.backends.sim.kind_config import KindConfigError, load, node_image_version
from meshrepro.backends.sim.machine import Machine
from meshrepro.kube.cluster import NodeSpec, PortMapping
from meshrepro.runtime.process import Transcript
from meshrepro.sim.clock import Clock
from meshrepro.sim.trace import Trace

THREE_NODES = """\
kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
nodes:
- role: control-plane
- role: worker
- role: worker
"""


@pytest.fixture
def machine() -> Machine:
    return Machine(Clock(seed=1), Trace(), (1, 29), "1.29.2")


def run(machine: Machine, command: str) -> tuple[int, str, str, float]:
    """One terminal step: exit code, stdout, stderr, and the simulated time it ended."""
    transcript = Transcript(machine.clock)
    process = machine.clock.process(machine.run_step(command, transcript))
    machine.clock.env.run(until=process)
    return process.value, transcript.text("stdout"), transcript.text("stderr"), machine.clock.now


# -- kind_config ---------------------------------------------------------------------------------


def test_empty_config_is_one_control_plane() -> None:
    """Without a config, kind makes one control-plane node of the scenario's release."""
    spec = load("", "kind", (1, 29), None)
    assert (spec.name, spec.version, spec.git_version) == ("kind", (1, 29), "v1.29.2")
    assert spec.nodes == (NodeSpec("control-plane"),)
    assert (spec.pod_subnet, spec.service_subnet) == ("10.244.0.0/16", "10.96.0.0/16")


@pytest.mark.parametrize(("minor", "image"), [(27, "v1.27.11"), (28, "v1.28.7"), (30, "v1.30.0"), (33, "v1.33.1")])
def test_release_picks_its_node_image(minor: int, image: str) -> None:
    """The scenario's Kubernetes release picks the matching kindest/node tag."""
    assert load("", "kind", (1, minor), None).git_version == image


def test_image_flag_picks_the_version() -> None:
    """`--image kindest/node:v1.28.7` overrides the release: version 1.28, gitVersion v1.28.7."""
    spec = load("", "kind", (1, 29), "kindest/node:v1.28.7")
    assert (spec.version, spec.git_version) == ((1, 28), "v1.28.7")


def test_node_image_in_config_with_digest() -> None:
    """A node's image in the config (digest-pinned as kind's release notes give it) sets the version."""
    config = THREE_NODES.replace("- role: control-plane\n",
                                 "- role: control-plane\n  image: kindest/node:v1.30.0@sha256:047357ac0cfea04\n")
    spec = load(config, "kind", (1, 29), None)
    assert (spec.version, spec.git_version) == ((1, 30), "v1.30.0")


def test_unparseable_image() -> None:
    """An image without a v-tag cannot be mapped to a release."""
    with pytest.raises(KindConfigError) as caught:
        node_image_version("kindest/node:latest")
    assert str(caught.value) == 'ERROR: failed to create cluster: could not parse node image "kindest/node:latest"'


def test_roles_port_mappings_and_networking() -> None:
    """Roles, extraPortMappings (hostPort defaulting to containerPort) and networking subnets are read."""
    config = """\
kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
name: dev
networking:
  podSubnet: 10.100.0.0/16
  serviceSubnet: 10.200.0.0/16
nodes:
- role: control-plane
  extraPortMappings:
  - containerPort: 30080
    hostPort: 8080
  - containerPort: 30053
    protocol: UDP
    listenAddress: 127.0.0.1
- role: worker
"""
    spec = load(config, "kind", (1, 29), None)
    assert spec.name == "dev"
    assert spec.nodes == (NodeSpec("control-plane", (PortMapping(30080, 8080), PortMapping(30053, 30053, "127.0.0.1",
                                                                                             "UDP"))),
                          NodeSpec("worker"))
    assert (spec.pod_subnet, spec.service_subnet) == ("10.100.0.0/16", "10.200.0.0/16")


@pytest.mark.parametrize(("config", "message"), [
    ("nodes:\n- role: master\n", 'ERROR: failed to create cluster: invalid configuration: invalid role: "master"'),
    ("kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha3\n",
     "ERROR: failed to create cluster: unknown apiVersion: kind.x-k8s.io/v1alpha3"),
    ("- a\n", "ERROR: failed to create cluster: unable to decode config: expected a mapping"),
])
def test_config_errors(config: str, message: str) -> None:
    """Configurations kind cannot use fail with kind's ERROR line."""
    with pytest.raises(KindConfigError) as caught:
        load(config, "kind", (1, 29), None)
    assert str(caught.value) == message


def test_yaml_error() -> None:
    """Malformed YAML is reported as kind's YAML-to-JSON conversion error."""
    with pytest.raises(KindConfigError) as caught:
        load("nodes: [\n", "kind", (1, 29), None)
    assert str(caught.value).startswith("ERROR: failed to create cluster: error converting YAML to JSON: ")


# -- the kind program -------------------------------------------------------------------------------


def test_get_clusters_when_there_are_none(machine: Machine) -> None:
    """`kind get clusters` with nothing created prints kind's notice on stderr and succeeds."""
    assert run(machine, "kind get clusters") == (0, "", "No kind clusters found.\n", 0.0)


def test_create_cluster_output_and_timing(machine: Machine) -> None:
    """`kind create cluster` prints kind's stages on stderr and takes 21.5 simulated seconds for one node."""
    code, out, err, end = run(machine, "kind create cluster")
    assert (code, out, end) == (0, "", 21.5)
    lines = err.splitlines()
    assert lines[:10] == [
        'Creating cluster "kind" ...',
        " ✓ Ensuring node image (kindest/node:v1.29.2) 🖼",
        " ✓ Preparing nodes 📦 ",
        " ✓ Writing configuration 📜",
        " ✓ Starting control-plane 🕹️",
        " ✓ Installing CNI 🔌",
        " ✓ Installing StorageClass 💾",
        'Set kubectl context to "kind-kind"',
        "You can now use your cluster with:",
        ""]
    assert lines[10:12] == ["kubectl cluster-info --context kind-kind", ""]
    assert machine.clusters["kind"].node_names == ["kind-control-plane"]


def test_multi_node_names_and_join_stage(machine: Machine) -> None:
    """A three-node config names kind-control-plane, kind-worker, kind-worker2 and adds the join stage (12 s)."""
    machine.fs.write("/root/scenario/kind.yaml", THREE_NODES)
    code, _, err, end = run(machine, "kind create cluster --config kind.yaml")
    assert (code, end) == (0, 33.5)
    assert " ✓ Preparing nodes 📦 📦 📦 \n" in err and " ✓ Joining worker nodes 🚜\n" in err
    cluster = machine.clusters["kind"]
    assert cluster.node_names == ["kind-control-plane", "kind-worker", "kind-worker2"]
    assert cluster.node_ips == ["172.18.0.2", "172.18.0.3", "172.18.0.4"]


def test_config_from_stdin_name_and_image_flags(machine: Machine) -> None:
    """`--config -` reads stdin; `--name` names the cluster and its nodes; `--image` picks the release."""
    code, _, err, _ = run(machine, f"kind create cluster --name two --image kindest/node:v1.28.7 --config - <<EOF\n"
                                   f"{THREE_NODES}EOF")
    assert code == 0
    assert err.startswith('Creating cluster "two" ...\n ✓ Ensuring node image (kindest/node:v1.28.7) 🖼\n')
    cluster = machine.clusters["two"]
    assert cluster.node_names == ["two-control-plane", "two-worker", "two-worker2"]
    assert (cluster.spec.version, cluster.spec.git_version) == ((1, 28), "v1.28.7")


def test_name_flag_overrides_the_configs_name(machine: Machine) -> None:
    """`--name` wins over `name:` in the config."""
    machine.fs.write("/root/scenario/kind.yaml", "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nname: fromfile\n")
    assert run(machine, "kind create cluster --name=flag --config=kind.yaml")[0] == 0
    assert list(machine.clusters) == ["flag"]


def test_missing_config_file(machine: Machine) -> None:
    """A config path that does not exist fails with kind's error reading the file."""
    code, _, err, _ = run(machine, "kind create cluster --config nope.yaml")
    assert (code, err) == (1, ("ERROR: failed to create cluster: error reading file: open nope.yaml: "
                              "no such file or directory\n"))
    assert machine.clusters == {}


def test_duplicate_cluster_name(machine: Machine) -> None:
    """Creating a cluster whose name exists fails at once with kind's message, leaving the first alone."""
    run(machine, "kind create cluster")
    code, out, err, end = run(machine, "kind create cluster")
    assert (code, out, end) == (1, "", 21.5)
    assert err == 'ERROR: failed to create cluster: node(s) already exist for a cluster with the name "kind"\n'
    assert list(machine.clusters) == ["kind"]


def test_kubeconfig_written(machine: Machine) -> None:
    """The admin kubeconfig goes to /root/.kube/config with context, cluster and user kind-<name>."""
    run(machine, "kind create cluster --name dev")
    cluster = machine.clusters["dev"]
    text = machine.fs.read("/root/.kube/config")
    assert "current-context: kind-dev\n" in text
    assert f"    server: https://127.0.0.1:{cluster.api_host_port}\n  name: kind-dev\n" in text
    assert "- context:\n    cluster: kind-dev\n    user: kind-dev\n  name: kind-dev\n" in text
    assert text.startswith("apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: ")


def test_kubectl_reaches_the_new_cluster(machine: Machine) -> None:
    """Through the written kubeconfig, host kubectl lists the node, created 16 s before kind returned."""
    run(machine, "kind create cluster --image kindest/node:v1.28.7")
    code, out, _, _ = run(machine, "kubectl get nodes")
    assert code == 0
    assert out == ("NAME                 STATUS   ROLES           AGE   VERSION\n"
                   "kind-control-plane   Ready    control-plane   16s   v1.28.7\n")


def test_get_clusters_sorted(machine: Machine) -> None:
    """`kind get clusters` lists cluster names sorted, one per line on stdout."""
    run(machine, "kind create cluster --name zeta")
    run(machine, "kind create cluster --name alpha")
    assert run(machine, "kind get clusters")[:3] == (0, "alpha\nzeta\n", "")


def test_delete_cluster_output(machine: Machine) -> None:
    """`kind delete cluster` names the nodes it deleted; the cluster is gone from `kind get clusters`."""
    machine.fs.write("/root/scenario/kind.yaml", THREE_NODES)
    run(machine, "kind create cluster --config kind.yaml")
    assert run(machine, "kind delete cluster")[:3] == (0, "", (
        'Deleting cluster "kind" ...\nDeleted nodes: ["kind-control-plane" "kind-worker" "kind-worker2"]\n'))
    assert machine.clusters == {}
    assert run(machine, "kind get clusters")[2] == "No kind clusters found.\n"


def test_delete_missing_cluster_succeeds_quietly(machine: Machine) -> None:
    """Deleting a cluster that does not exist only prints the Deleting line and succeeds, as kind does."""
    assert run(machine, "kind delete cluster --name nope")[:3] == (0, "", 'Deleting cluster "nope" ...\n')


def test_deleted_cluster_stops_answering(machine: Machine) -> None:
    """After deletion the published API port refuses connections."""
    run(machine, "kind create cluster")
    run(machine, "kind delete cluster")
    code, _, err, _ = run(machine, "kubectl get nodes")
    assert code == 1
    assert err.endswith(" was refused - did you specify the right host or port?\n")


def test_version_and_unknown_command(machine: Machine) -> None:
    """`kind version` prints kind's version line; an unknown command fails."""
    assert run(machine, "kind version")[:2] == (0, "kind v0.22.0 go1.21.7 linux/amd64\n")
    code, _, err, _ = run(machine, "kind frobnicate it")
    assert (code, err) == (1, 'ERROR: unknown command "frobnicate it" for "kind"\n')


def test_second_cluster_gets_the_next_address(machine: Machine) -> None:
    """Two clusters on one machine have distinct node addresses."""
    run(machine, "kind create cluster")
    run(machine, "kind create cluster --name two")
    assert machine.clusters["two"].node_ips == ["172.18.0.3"]


def test_delete_cluster_removes_its_kubeconfig_context(machine: Machine) -> None:
    """After `kind delete cluster` the kubeconfig no longer names kind-kind."""
    run(machine, "kind create cluster")
    run(machine, "kind delete cluster")
    assert "kind-kind" not in machine.fs.read("/root/.kube/config")
