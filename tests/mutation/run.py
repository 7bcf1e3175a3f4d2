"""Mutation testing of the scientific core with mutmut (`make mutation`, docs/testing.md).

    python tests/mutation/run.py [PATH ...] [--keep] [--workdir DIR] [--max-children N]

Mutates the core listed in tests/mutation/config.toml (or only the part of it under the PATHs
given: a file or a folder, e.g. src/inr_bench/metrics/psnr.py), runs the tests listed there
against every mutant, and prints per-module and total scores, the surviving mutants (with
their diffs) and, on the last line, the total score.

mutmut 3 works in a `mutants/` folder beside the code it mutates. So that nothing is written
into the repository, the runner copies src/, tests/ and pyproject.toml into a temporary folder
outside it, writes the [tool.mutmut] settings into the copy's pyproject.toml, and runs mutmut
there; the folder is removed at the end unless --keep (or --workdir) is given. mutmut 3.8.1 can
restrict mutation to files (only_mutate) and to lines matching a pattern, not to functions: for a
core file restricted to some functions, the runner adds `# pragma: no mutate block` to the
header of every other function in the copy (the repository's source carries no pragma).

torch's OpenMP pool hangs in forked children unless OMP_NUM_THREADS=1 and MKL_NUM_THREADS=1,
and mutmut forks a worker per mutant: the runner sets both (as the Makefile target does),
INR_BENCH_FUSED=0 (tiny tests gain nothing from compiling kernels) and the shared data folder.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[2]
CONFIG = Path(__file__).resolve().with_name("config.toml")
PRAGMA = "# pragma: no mutate block"

# mutmut's exit-code meaning (mutmut/stats.py, 3.8.1); anything else is "suspicious".
STATUS = {
    1: "killed",
    3: "killed",
    0: "survived",
    5: "no tests",
    33: "no tests",
    34: "skipped",
    36: "timeout",
    37: "caught by type check",
    -24: "timeout",
    24: "timeout",
    152: "timeout",
    255: "timeout",
    -11: "segfault",
    -9: "segfault",
    None: "not checked",
}
DETECTED = ("killed", "timeout", "caught by type check")  # mutmut's own score counts these


def load_config() -> dict:
    with open(CONFIG, "rb") as handle:
        return tomllib.load(handle)


def select_core(core: dict, paths: list[str]) -> dict:
    """The part of `core` under `paths` (files or folders, relative to the repository or absolute);
    a .py file outside the core is mutated whole."""
    if not paths:
        return dict(core)
    selected = {}
    for raw in paths:
        path = Path(raw).resolve()
        if not path.exists() and not Path(raw).is_absolute():
            path = (REPO / raw).resolve()  # relative to the repository, from anywhere
        if not path.exists():
            sys.exit(f"mutation: {raw} does not exist")
        try:
            relative = path.relative_to(REPO).as_posix()
        except ValueError:
            sys.exit(f"mutation: {raw} is not inside the repository {REPO}")
        matched = {
            f: spec for f, spec in core.items() if f == relative or f.startswith(relative.rstrip("/") + "/")
        }
        if not matched and path.is_file() and path.suffix == ".py":
            print(
                f"note: {relative} is not in the scientific core (tests/mutation/config.toml): mutated whole"
            )
            matched = {relative: "all"}
        if not matched:
            sys.exit(f"mutation: no file of the scientific core is under {raw}")
        selected.update(matched)
    return selected


# ------------------------------------------------------------------ the temporary copy


def restrict_to_functions(path: Path, keep: list[str]) -> list[str]:
    """Mark every function and method of `path` not named in `keep` ("name", "Class.method" or
    "Class") `# pragma: no mutate block`; returns the names of `keep` not found in the file."""
    import libcst as cst

    keep = set(keep)
    found: set[str] = set()

    def mark(node):
        body = node.body
        if not isinstance(body, cst.IndentedBlock):
            return node
        return node.with_changes(
            body=body.with_changes(
                header=body.header.with_changes(
                    whitespace=cst.SimpleWhitespace("  "), comment=cst.Comment(PRAGMA)
                )
            )
        )

    class Marker(cst.CSTTransformer):
        def __init__(self) -> None:
            self.classes: list[str] = []
            self.depth = 0

        def visit_ClassDef(self, node) -> bool:
            self.classes.append(node.name.value)
            return True

        def leave_ClassDef(self, original, updated):
            name = self.classes.pop()
            if name in keep:
                found.add(name)
            return updated

        def visit_FunctionDef(self, node) -> bool:
            self.depth += 1
            return self.depth == 1  # nested functions belong to their enclosing one

        def leave_FunctionDef(self, original, updated):
            self.depth -= 1
            if self.depth:
                return updated
            qualified = ".".join([*self.classes, original.name.value])
            if qualified in keep:
                found.add(qualified)
                return updated
            if self.classes and self.classes[0] in keep:
                return updated
            return mark(updated)

    module = cst.parse_module(path.read_text())
    path.write_text(module.visit(Marker()).code)
    return sorted(keep - found)


def toml_value(value) -> str:
    return json.dumps(value)  # strings, numbers, booleans and lists of strings read alike in TOML


def prepare_copy(workdir: Path, core: dict, config: dict) -> list[str]:
    """Copy the repository's code and tests into `workdir`, restrict mutation to the core's
    functions there, and write the mutmut settings. Returns the test files used."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".hypothesis", "mutants", "*.egg-info")
    shutil.copytree(REPO / "src", workdir / "src", ignore=ignore)
    shutil.copytree(REPO / "tests", workdir / "tests", ignore=ignore)
    for path, spec in core.items():
        if spec == "all":
            continue
        missing = restrict_to_functions(workdir / path, list(spec))
        if missing:
            print(f"warning: {path} has no {', '.join(missing)} (tests/mutation/config.toml is out of date)")

    tests = []
    for test in config["tests"]["files"]:
        if (REPO / test).is_file():
            tests.append(test)
        else:
            print(f"note: {test} does not exist; left out of the mutation tests")
    selection = [*tests]
    for nodeid in config["tests"].get("deselect", []):
        selection += ["--deselect", nodeid]

    pyproject = (REPO / "pyproject.toml").read_text()
    head, marker, _ = pyproject.partition("[tool.mutmut]")
    if marker:  # a [tool.mutmut] of the repository's own: replaced (it must be the last table)
        pyproject = head
    settings = {
        "source_paths": ["src"],
        "only_mutate": sorted(core),
        "pytest_add_cli_args_test_selection": selection,
        "pytest_add_cli_args": ["-p", "no:cacheprovider", "-W", "ignore::DeprecationWarning"],
        **config.get("mutmut", {}),
    }
    lines = ["", "[tool.mutmut]", *(f"{key} = {toml_value(value)}" for key, value in settings.items())]
    (workdir / "pyproject.toml").write_text(pyproject.rstrip() + "\n" + "\n".join(lines) + "\n")
    return tests


# ------------------------------------------------------------------ running and reporting


def run_mutmut(workdir: Path, max_children: int) -> int:
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", INR_BENCH_FUSED="0")
    env.setdefault("INR_BENCH_DATA", str((REPO / ".." / "shared" / "data").resolve()))
    env.setdefault("WANDB_MODE", "offline")
    env.pop("PYTHONPATH", None)  # the mutated copy must be the one imported
    mutmut = Path(sys.executable).with_name("mutmut")
    command = [str(mutmut) if mutmut.exists() else "mutmut", "run", "--max-children", str(max_children)]
    process = subprocess.Popen(
        command, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    for raw in process.stdout:  # mutmut redraws spinners with \r: print each line's final state
        line = raw.decode(errors="replace").rstrip("\n").split("\r")[-1].rstrip()
        if line:
            print(line, flush=True)
    return process.wait()


def read_results(workdir: Path, core: dict) -> dict[str, dict[str, str]]:
    """{core file: {mutant name: status}} from mutmut's meta files."""
    results = {}
    for path in sorted(core):
        meta = workdir / "mutants" / (path + ".meta")
        codes = json.loads(meta.read_text())["exit_code_by_key"] if meta.is_file() else {}
        results[path] = {name: STATUS.get(code, "suspicious") for name, code in codes.items()}
    return results


def mutant_diffs(workdir: Path, names: list[str]) -> dict[str, str]:
    """The diff of each mutant, from mutmut itself (empty where it cannot say)."""
    if not names:
        return {}
    here = os.getcwd()
    os.chdir(workdir)
    diffs = {}
    try:
        from mutmut.__main__ import find_mutant, get_diff_for_mutant

        for name in names:
            try:
                diffs[name] = get_diff_for_mutant(name, path=find_mutant(name).path)
            except Exception as error:  # noqa: BLE001 - a report line, not a failure
                diffs[name] = f"(no diff: {type(error).__name__}: {error})"
    except ImportError:
        pass
    finally:
        os.chdir(here)
    return diffs


def score(counts: Counter) -> tuple[int, int, float]:
    tested = sum(counts.values()) - counts["skipped"]
    detected = sum(counts[s] for s in DETECTED)
    return detected, tested, 100.0 * detected / tested if tested else 0.0


def report(results: dict, equivalent: dict, diffs: dict, seconds: float) -> float:
    print("\n== mutation score per module (killed / mutants) ==")
    total = Counter()
    for path, statuses in results.items():
        counts = Counter(statuses.values())
        total += counts
        detected, tested, percent = score(counts)
        others = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()) if s not in ("killed",))
        print(f"{path:45s} {detected:5d} / {tested:5d}  {percent:6.1f}%  {others}")
    survivors = [
        (path, name, status)
        for path, statuses in results.items()
        for name, status in statuses.items()
        if status not in DETECTED and status != "skipped"
    ]
    print(f"\n== {len(survivors)} mutants not killed ==")
    for _, name, status in survivors:
        why = equivalent.get(name)
        print(f"--- {name}: {status}" + (f"  [judged equivalent: {why}]" if why else ""))
        diff = diffs.get(name, "").strip()
        if diff:
            changed = [
                line for line in diff.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")
            ]
            print("\n".join(changed))
    detected, tested, percent = score(total)
    judged = sum(1 for _, name, _ in survivors if name in equivalent)
    if judged:
        print(
            f"\n{judged} of the survivors are judged equivalent (docs/testing.md); without them: "
            f"{100.0 * detected / (tested - judged):.1f}%"
        )
    print(f"mutmut took {seconds / 60:.1f} min")
    print(f"mutation score: {percent:.1f}% ({detected} of {tested} mutants killed) on the scientific core")
    return percent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", help="narrow the core to these files or folders")
    parser.add_argument("--max-children", type=int, default=1, help="mutmut workers (default 1)")
    parser.add_argument("--workdir", type=Path, help="work here (kept) instead of a temporary folder")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)

    config = load_config()
    core = select_core(config["core"], args.paths)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="inr_bench_mutation_"))
    if args.workdir and workdir.exists():
        shutil.rmtree(workdir)
    workdir = workdir.resolve()
    if workdir == REPO or REPO in workdir.parents:
        sys.exit("mutation: the work folder must be outside the repository")
    print(f"mutating {len(core)} file(s) of the scientific core in {workdir}")
    start = time.monotonic()
    try:
        prepare_copy(workdir, core, config)
        code = run_mutmut(workdir, args.max_children)
        seconds = time.monotonic() - start
        results = read_results(workdir, core)
        if not any(results.values()):
            print(f"mutation: mutmut produced no results (exit code {code})")
            return 1
        survivors = [n for s in results.values() for n, st in s.items() if st not in DETECTED]
        if args.keep or args.workdir:
            print(f"(mutmut's folder is kept: {workdir}; `cd {workdir} && mutmut show NAME`)")
        report(results, config.get("equivalent", {}), mutant_diffs(workdir, survivors), seconds)
    finally:
        if not (args.keep or args.workdir):
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
