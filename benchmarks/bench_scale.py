"""A Deployment of N pods on a kind cluster with enough workers, brought to Ready (DESIGN.md §6:
1,000 pods < 10 s, 10,000 pods < 120 s, under 2 GiB; a 1,000-pod ambient namespace < 10 s).

    python benchmarks/bench_scale.py [--pods 1000] [--ambient 1.24.0]

`--ambient RELEASE` installs that Istio release with the ambient profile first and labels the namespace, so
every pod is captured by istio-cni, handed to its node's ztunnel and published by istiod.

Each worker holds at most 110 pods (the kubelet's default max-pods), so the cluster gets
ceil(N / 100) workers. Prints the wall time of the whole run (cluster creation included), the
simulated time it covered, and the peak resident memory.
"""

from __future__ import annotations

import argparse
import math
import resource
import tempfile
import time
from pathlib import Path

from meshrepro.scenario import model, runner

TARGETS = {1000: 10.0, 10000: 120.0}

DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata: {{name: web}}
spec:
  replicas: {pods}
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers:
      - name: nginx
        image: nginx:1.25
"""


def scenario_text(workers: int, pods: int, ambient: str | None) -> str:
    nodes = "\n".join(["    - role: control-plane"] + ["    - role: worker"] * workers)
    versions = f'versions: {{kubernetes: "1.29", istio: "{ambient}"}}\n' if ambient else ""
    mesh = ("  - istioctl install --set profile=ambient -y\n"
            "  - kubectl label namespace default istio.io/dataplane-mode=ambient\n") if ambient else ""
    return (f"name: scale {pods}\n{versions}steps:\n  - |\n    kind create cluster --config=- <<EOF\n    kind: Cluster\n"
            f"    apiVersion: kind.x-k8s.io/v1alpha4\n    nodes:\n{nodes}\n    EOF\n"
            f"{mesh}  - kubectl apply -f deployment.yaml\n"
            f"  - kubectl wait --for=condition=Available deploy/web --timeout=3600s\n"
            f"  - kubectl get deploy web\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=1000)
    parser.add_argument("--ambient", metavar="RELEASE", help="install this Istio release in ambient mode first")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        Path(folder, "deployment.yaml").write_text(DEPLOYMENT.format(pods=args.pods))
        Path(folder, "scenario.yaml").write_text(scenario_text(math.ceil(args.pods / 100), args.pods, args.ambient))
        scenario = model.load(str(Path(folder, "scenario.yaml")))
        started = time.perf_counter()
        result = runner.run(scenario)
        wall = time.perf_counter() - started
    ready = result.steps[-1].output.splitlines()[-1]
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    target = TARGETS.get(args.pods)
    verdict = "" if target is None else (f"target {target:.0f} s: " + ("ok" if wall < target else "OVER TARGET"))
    print(f"{args.pods} pods: {wall:.1f} s wall, {result.steps[-1].end} simulated end, peak {peak_mib:.0f} MiB; "
          f"{ready.split()[1]} ready. {verdict}")


if __name__ == "__main__":
    main()
