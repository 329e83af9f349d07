"""The what-if matrix: every combination of a scenario's factor levels, run in parallel, reduced to a truth
table; then, per expectation, what it depends on.

`run_matrix` applies every combination first (so a factor that does not apply is an input error before
anything runs), then runs each cell in a worker process (`spawn`, `jobs` of them; `jobs=1` runs inline).
A worker sends back a `CellResult`: the levels, each expectation's verdict and actual text, one line of
symptom, and the wall time. Cells are independent runs with the same seed, so the table is the same
whatever `jobs` is and whichever cell finishes first (only `wall_seconds` varies). Cells whose runs would
be identical (e.g. two Istio releases in cells that never call `istioctl`) run once and share the result.

`Matrix.minimal_causes()` answers, for each expectation:

- `holds_when` / `fails_when`: the cells where it holds (fails) as a shortest disjunction of conjunctions
  of factor levels (prime implicants of the grid, then the fewest that cover it);
- `causes`: starting from the baseline (the first level of every factor), the minimal sets of changes that
  flip its outcome, each set with the levels that do it (no subset of a cause flips it);
- `remedies`: when it fails at the baseline, the single changes that make it hold;
- `irrelevant`: the factors that, changed alone from any cell, never flip it.
"""

from __future__ import annotations

import dataclasses
import itertools
import multiprocessing
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from meshrepro.scenario import runner
from meshrepro.scenario.factors import Factor, Level, apply
from meshrepro.scenario.model import Scenario
from meshrepro.scenario.result import RunResult

FAILED_OUTCOMES = ("refused", "eof", "reset", "timeout", "unreachable")
SYSTEM_NAMESPACES = ("kube-system", "istio-system", "local-path-storage", "kube-public", "kube-node-lease")
MAX_CONDITION_TERMS = 250_000  # beyond this many candidate terms `holds_when`/`fails_when` are not computed

Progress = Callable[[int, int, "CellResult | None"], None]  # (cells done, cells in all, the cell just done)
Assignment = tuple[tuple[str, str], ...]  # (factor, level) pairs, in factor order
Literal = tuple[str, tuple[str, ...]]  # a factor and the levels it may take
Term = tuple[Literal, ...]  # a conjunction of literals; () is "always"


@dataclass(frozen=True)
class CellResult:
    index: int  # position in the grid (itertools.product of the levels, factors in declaration order)
    levels: tuple[str, ...]  # the level of each factor
    passed: tuple[bool, ...]  # each expectation, in the scenario's order
    actual: tuple[str, ...]
    symptom: str  # one line: the first failed connection, an unhealthy pod, a failed step, or "ok"
    wall_seconds: float
    same_run_as: int | None = None  # the index of the cell whose identical run this one shares


@dataclass(frozen=True)
class Analysis:
    """What one expectation depends on, over the whole grid."""

    expectation: int  # 0-based
    label: str  # E1, E2 ...
    text: str
    line: int
    baseline_passed: bool
    holds_in: int  # cells where it holds
    cells: int
    holds_when: tuple[Term, ...] | None  # None: the grid was too large to minimise
    fails_when: tuple[Term, ...] | None
    causes: tuple[Assignment, ...]
    remedies: tuple[Assignment, ...]
    irrelevant: tuple[str, ...]


@dataclass(frozen=True)
class Matrix:
    scenario: str
    path: str
    seed: int
    factors: tuple[tuple[str, tuple[str, ...]], ...]  # each factor's name and level names; level 0 is the baseline
    expectations: tuple[tuple[str, int], ...]  # each expectation's text and line
    cells: tuple[CellResult, ...]  # in grid order

    @property
    def baseline(self) -> CellResult:
        return self.cells[0]

    def cell(self, levels: Mapping[str, str] | Sequence[str]) -> CellResult:
        """The cell with these levels (a mapping may leave factors at their baseline)."""
        if isinstance(levels, Mapping):
            levels = [levels.get(name, names[0]) for name, names in self.factors]
        index = 0
        for (name, names), level in zip(self.factors, levels, strict=True):
            index = index * len(names) + names.index(level)
        return self.cells[index]

    def minimal_causes(self) -> list[Analysis]:
        return [self._analyse(i) for i in range(len(self.expectations))]

    def _analyse(self, which: int) -> Analysis:
        names = [n for n, _ in self.factors]
        outcome = {c.levels: c.passed[which] for c in self.cells}
        base = self.baseline.levels
        base_outcome = outcome[base]
        causes: list[Assignment] = []
        for size in range(1, len(names) + 1):
            for chosen in itertools.combinations(range(len(names)), size):
                options = [[lv for lv in self.factors[i][1] if lv != base[i]] for i in chosen]
                for picked in itertools.product(*options):
                    change = tuple((names[i], lv) for i, lv in zip(chosen, picked))
                    if any(set(c) <= set(change) for c in causes):
                        continue
                    cell = list(base)
                    for i, lv in zip(chosen, picked):
                        cell[i] = lv
                    if outcome[tuple(cell)] != base_outcome:
                        causes.append(change)
        irrelevant = []
        for i, (name, levels) in enumerate(self.factors):
            if all(outcome[c.levels] == outcome[c.levels[:i] + (other,) + c.levels[i + 1:]]
                   for c in self.cells for other in levels):
                irrelevant.append(name)
        holds = {levels for levels, passed in outcome.items() if passed}
        fails = set(outcome) - holds
        text, line = self.expectations[which]
        return Analysis(which, f"E{which + 1}", text, line, base_outcome, len(holds), len(self.cells),
                        self._condition(holds), self._condition(fails), tuple(causes),
                        tuple(c for c in causes if len(c) == 1) if not base_outcome else (), tuple(irrelevant))

    def _condition(self, target: set[tuple[str, ...]]) -> tuple[Term, ...] | None:
        """The shortest disjunction of conjunctions that selects exactly `target` among the cells."""
        if not target:
            return ()
        if len(target) == len(self.cells):
            return ((),)
        options = [_subsets(levels) for _, levels in self.factors]
        total = 1
        for choices in options:
            total *= len(choices)
        if total > MAX_CONDITION_TERMS:
            return None
        implicants = []
        for term in itertools.product(*options):
            if all(cell in target for cell in itertools.product(*term)):
                implicants.append(term)
        # A term is prime when no term one level wider (on one factor) is an implicant too.
        known = set(implicants)
        primes = [t for t in implicants if not any(
            _widen(t, i, level, levels) in known
            for i, (_, levels) in enumerate(self.factors) for level in levels if level not in t[i])]
        cover = _cover(primes, target, [len(levels) for _, levels in self.factors])
        terms = []
        for term in cover:
            terms.append(tuple((name, chosen) for (name, levels), chosen in zip(self.factors, term)
                               if len(chosen) < len(levels)))
        return tuple(terms)


def _subsets(levels: tuple[str, ...]) -> list[tuple[str, ...]]:
    """Every non-empty set of levels (in level order), the full set last."""
    found = []
    for size in range(1, len(levels) + 1):
        found.extend(itertools.combinations(levels, size))
    return found


def _widen(term: tuple[tuple[str, ...], ...], index: int, level: str,
           levels: tuple[str, ...]) -> tuple[tuple[str, ...], ...]:
    wider = tuple(lv for lv in levels if lv in term[index] or lv == level)
    return term[:index] + (wider,) + term[index + 1:]


def _cover(primes: list[Any], target: set[tuple[str, ...]], sizes: list[int]) -> list[Any]:
    """The fewest primes covering `target` (exact up to 4 terms, greedy beyond); among equals, the ones with
    the fewest literals, then the earliest in grid order."""
    cells = [set(itertools.product(*p)) & target for p in primes]
    order = sorted(range(len(primes)), key=lambda i: (sum(len(c) < n for c, n in zip(primes[i], sizes)), i))
    for size in range(1, min(4, len(order)) + 1):
        for combo in itertools.combinations(order, size):
            if set().union(*(cells[i] for i in combo)) == target:
                return [primes[i] for i in sorted(combo)]
    chosen: list[int] = []
    left = set(target)
    while left:
        best = max(order, key=lambda i: len(cells[i] & left))
        chosen.append(best)
        left -= cells[best]
    return [primes[i] for i in sorted(chosen)]


# ---------------------------------------------------------------- running


def combinations(factors: Sequence[Factor]) -> Iterator[dict[str, Level]]:
    """Every choice of one level per factor, in grid order (the first is the baseline)."""
    for levels in itertools.product(*(f.levels for f in factors)):
        yield {f.name: level for f, level in zip(factors, levels)}


def run_matrix(scenario: Scenario, factors: Sequence[Factor], jobs: int = 1, progress: Progress | None = None,
               seed: int | None = None) -> Matrix:
    """Run every cell of the grid; `progress(done, total, cell)` is called once before the first (with no
    cell), then as each one finishes.

    Cells whose runs are identical (same steps, files and versions that reach the run; the Istio release
    only reaches it through `istioctl` on the terminal's PATH) run once and share the result."""
    seed = scenario.seed if seed is None else seed
    choices = list(combinations(factors))
    cells = [(index, tuple(level.name for level in choice.values()), apply(scenario, choice))
             for index, choice in enumerate(choices)]
    first: dict[tuple[Any, ...], int] = {}
    copies: dict[int, list[tuple[int, tuple[str, ...]]]] = {}
    unique = []
    for index, levels, cell in cells:
        key = _run_key(cell)
        if key in first:
            copies[first[key]].append((index, levels))
        else:
            first[key], copies[index] = index, []
            unique.append((index, levels, cell))
    results: list[CellResult | None] = [None] * len(cells)
    finished = 0
    if progress is not None:
        progress(0, len(cells), None)

    def done(result: CellResult) -> None:
        nonlocal finished
        for cell in [result, *(dataclasses.replace(result, index=i, levels=lv, same_run_as=result.index)
                               for i, lv in copies[result.index])]:
            results[cell.index] = cell
            finished += 1
            if progress is not None:
                progress(finished, len(cells), cell)

    if jobs <= 1 or len(unique) <= 1:
        for index, levels, cell in unique:
            try:
                result = run_cell(index, levels, cell, seed)
            except Exception as error:
                raise CellError(_describe(factors, levels), error) from error
            done(result)
    else:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=min(jobs, len(unique)), mp_context=context) as pool:
            pending: dict[Future[CellResult], tuple[str, ...]] = {
                pool.submit(run_cell, index, levels, cell, seed): levels for index, levels, cell in unique}
            while pending:
                ready, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in sorted(ready, key=lambda f: pending[f]):
                    levels = pending.pop(future)
                    error = future.exception()
                    if error is not None:
                        for other in pending:
                            other.cancel()
                        raise CellError(_describe(factors, levels), error) from error
                    done(future.result())
    return Matrix(scenario.name, scenario.path, seed,
                  tuple((f.name, tuple(level.name for level in f.levels)) for f in factors),
                  tuple((e.text, e.line) for e in scenario.expectations),
                  tuple(r for r in results if r is not None))


def _run_key(scenario: Scenario) -> tuple[Any, ...]:
    """Everything of a (factor-applied) scenario that `runner.run` and the cell's summary depend on."""
    uses_istioctl = any("istioctl" in step.command for step in scenario.steps)
    return (tuple(step.command for step in scenario.steps), tuple(sorted(scenario.file_overrides.items())),
            scenario.kubernetes, scenario.kubectl, scenario.istio if uses_istioctl else None, scenario.start,
            scenario.folder, tuple((e.text, e.step) for e in scenario.expectations))


class CellError(RuntimeError):
    """A cell's run failed inside meshrepro (an internal error, exit 3), naming the cell."""

    def __init__(self, cell: str, error: BaseException) -> None:
        super().__init__(f"cell {cell}: {type(error).__name__}: {error}")


def _describe(factors: Sequence[Factor], levels: tuple[str, ...]) -> str:
    return ", ".join(f"{f.name}={level}" for f, level in zip(factors, levels))


def run_cell(index: int, levels: tuple[str, ...], scenario: Scenario, seed: int) -> CellResult:
    """One cell: the scenario (factors already applied) run and reduced to what the table needs."""
    started = time.perf_counter()
    result = runner.run(scenario, seed)
    return CellResult(index, levels, tuple(e.passed for e in result.expectations),
                      tuple(e.actual for e in result.expectations), symptom(result),
                      round(time.perf_counter() - started, 3))


def symptom(result: RunResult) -> str:
    """One line: the first failed connection from a workload (outcome, where it was going, where it ended),
    else the first pod that is not Running or Completed (with its failing container's last line), else the
    first line of a failed step's error, else "ok"."""
    failed = [c for c in result.connections if c["outcome"] in FAILED_OUTCOMES]
    workload = [c for c in failed if not str(c.get("source_owner", "")).startswith(
        tuple(f"pod {ns}/" for ns in SYSTEM_NAMESPACES))]
    for connection in workload or failed:
        text = f"{connection['outcome']} from {connection['source_owner']} to {connection['destination']}"
        if connection["hops"]:
            hop = connection["hops"][-1]
            text += f", ended at {hop['component']}: {hop['action']}"
            if hop.get("detail"):
                text += f" ({hop['detail']})"
        return text
    for pod in result.pods:
        if pod.namespace in SYSTEM_NAMESPACES or pod.status in ("Running", "Completed"):
            continue
        text = f"pod {pod.namespace}/{pod.name} {pod.status}"
        restarts = pod.restarts.split(" ")[0]
        if restarts not in ("", "0"):
            text += f", {restarts} restarts"
        line = _last_failure_line(result, pod)
        return text + (f": {line}" if line else "")
    for step in result.steps:
        if step.exit_code != 0:
            lines = [s.strip() for s in (step.stderr or step.output).splitlines() if s.strip()]
            command = step.command.strip().splitlines()[0] if step.command.strip() else ""
            return f"`{command}` exited {step.exit_code}" + (f": {lines[0]}" if lines else "")
    return "ok"


def _last_failure_line(result: RunResult, pod: Any) -> str:
    """The last line a container of `pod` printed before it last failed."""
    for container in pod.containers:
        terminated = (container.get("lastState") or {}).get("terminated") or (container.get("state") or {}).get(
            "terminated") or {}
        if terminated.get("exitCode", 0) == 0:
            continue
        attempts = [log for log in result.logs if log.namespace == pod.namespace and log.pod == pod.name
                    and log.container == container["name"]]
        state = container.get("state") or {}
        finished = attempts if "terminated" in state else attempts[:-1]
        for log in reversed(finished):
            lines = [s.strip() for s in log.text.splitlines() if s.strip()]
            if lines:
                return f"{container['name']}: {lines[-1]}"
        return f"{container['name']} exited {terminated.get('exitCode')}"
    return ""
