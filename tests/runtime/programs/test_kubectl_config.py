"""Kubeconfig commands, the file they write, and the in-cluster decision."""

from __future__ import annotations

from test_kubectl_support import SA, kubectl, make_host, status_response


def test_set_commands_write_kubectls_file_and_switch_from_in_cluster() -> None:
    host = make_host()
    run = kubectl(host, "config", "set-cluster", "cfc", "--server=https://kubernetes.default.svc",
                  f"--certificate-authority={SA}/ca.crt")
    assert (run.stdout, run.status) == ('Cluster "cfc" set.\n', 0)
    assert host.fs.read("/.kube/config") == (
        "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority: "
        "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt\n    server: https://kubernetes.default.svc\n"
        "  name: cfc\ncontexts: null\ncurrent-context: \"\"\nkind: Config\npreferences: {}\nusers: null\n")
    assert kubectl(host, "config", "set-context", "cfc", "--cluster=cfc").stdout == 'Context "cfc" created.\n'
    assert kubectl(host, "config", "set-credentials", "user", f"--token={SA}/token").stdout == 'User "user" set.\n'
    assert kubectl(host, "config", "set-context", "cfc", "--user=user").stdout == 'Context "cfc" modified.\n'
    # no current-context yet: kubectl still uses the in-cluster config (the SA token)
    kubectl(host, "get", "pods")
    assert host.network.server.requests[-1].header("Authorization") == "Bearer eyJhbGciOiJSUzI1NiJ9.token"
    assert kubectl(host, "config", "use-context", "cfc").stdout == 'Switched to context "cfc".\n'
    assert kubectl(host, "config", "current-context").stdout == "cfc\n"
    # now the kubeconfig wins, with the literal path as the bearer token
    host.network.server.overrides[("GET", "/api")] = lambda r: (
        status_response(401, "Unauthorized", "Unauthorized") if r.header("Authorization") == f"Bearer {SA}/token"
        else host.network.server.handle(r))
    run = kubectl(host, "get", "pods")
    assert run.stderr.splitlines()[-1] == ("error: You must be logged in to the server (the server has asked for the "
                                           "client to provide credentials)")
    assert host.network.handshakes[-1].server_name == "kubernetes.default.svc"
    view = kubectl(host, "config", "view").stdout
    assert "    token: REDACTED\n" in view and "current-context: cfc\n" in view


def test_config_errors() -> None:
    host = make_host()
    run = kubectl(host, "config", "use-context", "nope")
    assert (run.stderr, run.status) == ('error: no context exists with the name: "nope"\n', 1)
    run = kubectl(host, "config", "current-context")
    assert run.stderr == "error: current-context is not set\n"
    run = kubectl(host, "config", "frobnicate")
    assert run.stderr == 'error: unknown command "frobnicate"\nSee \'kubectl config -h\' for help and examples\n'


def test_missing_ca_file_fails_before_the_network() -> None:
    host = make_host()
    kubectl(host, "config", "set-cluster", "cfc", "--server=https://kubernetes.default", "--certificate-authority=/nope/ca.crt")
    kubectl(host, "config", "set-context", "cfc", "--cluster=cfc", "--user=u")
    kubectl(host, "config", "set-credentials", "u", "--token=abc")
    kubectl(host, "config", "use-context", "cfc")
    run = kubectl(host, "get", "pods")
    assert run.stderr == ("error: unable to read certificate-authority /nope/ca.crt for cfc due to open /nope/ca.crt: "
                          "no such file or directory\n")
    assert host.network.dials == []


def test_empty_view_and_get_contexts() -> None:
    host = make_host(in_pod=False)
    run = kubectl(host, "config", "view", env={"HOME": "/root"})
    assert run.stdout == ("apiVersion: v1\nclusters: null\ncontexts: null\ncurrent-context: \"\"\nkind: Config\n"
                          "preferences: {}\nusers: null\n")
    kubectl(host, "config", "set-context", "a", "--cluster=c", "--user=u", env={"HOME": "/root"})
    kubectl(host, "config", "use-context", "a", env={"HOME": "/root"})
    run = kubectl(host, "config", "get-contexts", env={"HOME": "/root"})
    assert run.stdout == ("CURRENT   NAME   CLUSTER   AUTHINFO   NAMESPACE\n"
                          "*         a      c         u          \n")
