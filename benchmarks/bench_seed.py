"""Wall time of the seed scenarios end to end (target: < 0.5 s each, DESIGN.md §6).

    python benchmarks/bench_seed.py [--repeat N]

Prints one line per scenario: the best and the median of N runs, and whether the target holds.
Run on an otherwise idle machine; the figure is one core's (the simulation is single-threaded).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from meshrepro.report import json as json_report
from meshrepro.scenario import model, runner

TARGET_SECONDS = 0.5
SEED_DIR = Path(__file__).resolve().parents[1] / "examples" / "istio-48854"


def measure(path: Path, repeat: int) -> list[float]:
    scenario = model.load(str(path))
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        json_report.render(runner.run(scenario))
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    for path in sorted(SEED_DIR.glob("exp*.yaml")):
        times = measure(path, args.repeat)
        best, median = min(times), statistics.median(times)
        verdict = "ok" if median < TARGET_SECONDS else "OVER TARGET"
        print(f"{path.name:40s} best {best * 1000:7.1f} ms   median {median * 1000:7.1f} ms   "
              f"target {TARGET_SECONDS * 1000:.0f} ms: {verdict}")


if __name__ == "__main__":
    main()
