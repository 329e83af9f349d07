"""Wall time of the seed's what-if matrix (target: a 64-cell matrix < 20 s with 2 jobs, DESIGN.md §6).

    python benchmarks/bench_matrix.py [--jobs 2] [--repeat N]

Runs examples/istio-48854/matrix.yaml (128 cells) as `meshrepro matrix --jobs N` does, and prints per run:
the wall time, the CPU time of this process and its workers, how many cells ran (cells with identical
runs share one), the time per 64 cells, and whether the target holds. The figure is only meaningful on an
otherwise idle machine: the CPU time says what an idle machine would need (about CPU / jobs).
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

from meshrepro.report import matrix_text
from meshrepro.scenario import factors, matrix

TARGET_SECONDS = 20.0
TARGET_CELLS = 64
SCENARIO = Path(__file__).resolve().parents[1] / "examples" / "istio-48854" / "matrix.yaml"


def cpu_seconds() -> float:
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


def measure(jobs: int) -> tuple[float, float, matrix.Matrix]:
    started, cpu = time.perf_counter(), cpu_seconds()
    scenario, found = factors.load(str(SCENARIO))
    result = matrix.run_matrix(scenario, found, jobs=jobs)
    matrix_text.render(result)
    return time.perf_counter() - started, cpu_seconds() - cpu, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    for _ in range(args.repeat):
        wall, cpu, result = measure(args.jobs)
        cells = len(result.cells)
        ran = sum(c.same_run_as is None for c in result.cells)
        per_target = wall * TARGET_CELLS / cells
        verdict = "ok" if per_target < TARGET_SECONDS else "OVER TARGET"
        print(f"{SCENARIO.name}: {cells} cells ({ran} runs) with --jobs {args.jobs}: wall {wall:.1f} s, "
              f"CPU {cpu:.1f} s (idle-machine estimate {cpu / args.jobs:.1f} s); "
              f"{per_target:.1f} s per {TARGET_CELLS} cells, target {TARGET_SECONDS:.0f} s: {verdict}")


if __name__ == "__main__":
    main()
