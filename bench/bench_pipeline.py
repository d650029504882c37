"""Benchmark of the whole pipeline: cold run, no-op rerun and incremental reruns (a script, not a test).

Each scenario runs the real ``snakemake`` command on the default ``config.yaml`` and the RouterBench
files of ``data/routerbench`` (see :data:`DATA`) in a working directory of its own (a copy of the cold run's,
so the scenarios never disturb each other):

* ``cold``: an empty working directory and an empty embedding cache; every job runs, embedding
  included. Per-stage times and peak memory come from the ``benchmarks/*.tsv`` files that Snakemake
  writes for every job (``benchmark:`` in each rule).
* ``noop``: the same command again with nothing to do (repeated; the best run is the least
  disturbed by other load), plus a breakdown of where that time goes.
* ``alphas``: only ``sweep.alphas`` changed; the jobs that rerun are listed (expected: sweep,
  baselines, summary, metrics, the plots and Table 3, and the exported routers' alpha choice, not
  their KMeans fits).
* ``source``: one source added. The "before" state is the cold run with that source removed from the
  config (ingest rerun) and its texts removed from the embedding cache; then the source is added
  back and the whole pipeline is timed. The embed log must show that only its new texts were embedded.

The MMLU-Pro study runs the same way, with its overlay and the folder of its zips::

    python bench/bench_pipeline.py --overlay config/mmlu-pro.yaml --data data/mmlu-pro \\
        --scenarios cold noop alphas --root bench/results/mmlu-pro --output bench/results/mmlu-pro.json

Usage::

    python bench/bench_pipeline.py [--root DIR] [--scenarios cold noop alphas source] [--cores 2]
    python bench/bench_pipeline.py --reuse-cold DIR --scenarios noop alphas source

Prints one table per scenario and writes JSON (default ``bench/results/pipeline.json``). The
helpers :func:`machine_info` and :func:`print_table` are shared with the other bench scripts.
"""

from __future__ import annotations

import argparse
import re
import resource
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from _common import DATA, REPO, RESULTS, load_average, machine_info, print_table, write_json

from avengers_pro.config import replace_emptied

# The Snakefile that is run: set by snapshot_workflow(), a private copy of the repository's, so that
# edits to the workflow during a long benchmark cannot trigger reruns through Snakemake's code trigger.
SNAKEFILE = REPO / "Snakefile"
# The stages that may run after a change of sweep.alphas only (first word of the rule names):
# the sweeps and baselines themselves, the aggregation, the plots and Table 3, and the exported
# routers (they pick their alpha on a validation sweep).
ALPHA_STAGES = {"sweep", "baselines", "summary", "metrics", "plot", "export", "all"}
# ...except these, which read nothing of the alpha grid (an export's KMeans fits).
NOT_ALPHA_RULES = {"export_clusters"}


# --------------------------------------------------------------------------- running snakemake


@dataclass
class SnakemakeRun:
    """One timed ``snakemake`` invocation."""

    seconds: float
    returncode: int
    cpu_s: float = 0.0  # user + system CPU of snakemake and every job it ran (less sensitive to load)
    jobs: dict[str, int] = field(default_factory=dict)  # rule -> count, from Snakemake's "Job stats"
    nothing_to_do: bool = False
    load_before: tuple[float, float, float] = (0.0, 0.0, 0.0)
    log: str = ""


def snakemake_executable() -> list[str]:
    """The ``snakemake`` of this interpreter's environment.

    Called directly rather than through a version-manager shim (pyenv's adds about 0.9 s per call),
    so the time is what a user in a virtual environment sees.
    """
    beside = Path(sys.executable).parent / "snakemake"
    return [str(beside)] if beside.is_file() else [sys.executable, "-m", "snakemake"]


_JOB_STATS = re.compile(r"Job stats:\n.*?\n-+\s+-+\n(?P<rows>.*?)\ntotal\s+\d+", re.DOTALL)


def parse_job_stats(output: str) -> dict[str, int]:
    """Rule -> number of jobs, from the first "Job stats:" table Snakemake printed (empty if none)."""
    match = _JOB_STATS.search(output)
    if not match:
        return {}
    jobs: dict[str, int] = {}
    for line in match["rows"].splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            jobs[parts[0]] = int(parts[1])
    return jobs


def children_cpu_s() -> float:
    """User + system CPU seconds of every finished child process (and their children) so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_snakemake(
    workdir: Path, *args: str, cores: int = 2, log_name: str = "bench", snakefile: Path | None = None
) -> SnakemakeRun:
    """Run ``snakemake --snakefile <repo>/Snakefile --cores N [args]`` in ``workdir``, timed.

    Raises
    ------
    RuntimeError
        If Snakemake fails; the message names the log file that holds its output.
    """
    command = [*snakemake_executable(), "--snakefile", str(snakefile or SNAKEFILE), "--cores", str(cores), *args]
    load = load_average()
    cpu_before = children_cpu_s()
    start = time.perf_counter()
    done = subprocess.run(command, cwd=workdir, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    cpu_s = children_cpu_s() - cpu_before
    output = done.stdout + done.stderr
    log_path = workdir / f"{log_name}.log"
    log_path.write_text(output)
    if done.returncode != 0:
        raise RuntimeError(f"snakemake failed (exit {done.returncode}) in {workdir}; see {log_path}")
    return SnakemakeRun(
        seconds=seconds,
        returncode=done.returncode,
        cpu_s=cpu_s,
        jobs=parse_job_stats(output),
        nothing_to_do="Nothing to be done" in output,
        load_before=load,
        log=str(log_path),
    )


# --------------------------------------------------------------------------- working directories


def snapshot_workflow(target: Path) -> Path:
    """Copy Snakefile and workflow/ into ``target`` and return the copied Snakefile.

    Scripts are found relative to the Snakefile; the package itself is imported from the
    environment, as in any run.
    """
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    shutil.copy(REPO / "Snakefile", target / "Snakefile")
    shutil.copytree(REPO / "workflow", target / "workflow", ignore=shutil.ignore_patterns("__pycache__"))
    return target / "Snakefile"


def merged_config(config_path: Path, overlay: Path | None) -> dict[str, Any]:
    """``config_path`` with ``overlay`` read over it as the workflow reads a ``--configfile``: mappings
    are merged key by key, an empty mapping and anything else (lists included) replace."""

    def merge(base: Any, over: Any) -> Any:
        if isinstance(base, dict) and isinstance(over, dict):
            return {**base, **{key: merge(base.get(key), value) for key, value in over.items()}}
        return over

    config = yaml.safe_load(config_path.read_text()) or {}
    if overlay is None:
        return config
    layer = yaml.safe_load(overlay.read_text()) or {}
    return replace_emptied(merge(config, layer), layer)  # an empty mapping in the overlay empties, as in the Snakefile


def prepare_workdir(workdir: Path, data_dir: Path, config: dict[str, Any]) -> None:
    """A fresh working directory: ``config`` as its config.yaml, and each source's file copied from
    ``data_dir`` (found there by its file name) to the source's ``path``."""
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    for source in config.get("sources", []):
        found = data_dir / Path(source["path"]).name
        if found.is_file():
            target = workdir / source["path"]
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(found, target)
            target.chmod(0o644)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


def copy_workdir(source: Path, target: Path) -> None:
    """A copy that keeps modification times (Snakemake compares them) and the .snakemake metadata."""
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target, symlinks=True, ignore=shutil.ignore_patterns("locks", "incomplete"))


def edit_config(workdir: Path, change: dict[str, Any] | None = None, drop_source: str | None = None) -> dict:
    """Rewrite the working directory's config.yaml with a top-level change and/or a source removed."""
    path = workdir / "config.yaml"
    config = yaml.safe_load(path.read_text())
    for key, value in (change or {}).items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key].update(value)
        else:
            config[key] = value
    if drop_source is not None:
        config["sources"] = [source for source in config["sources"] if source["name"] != drop_source]
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return config


# --------------------------------------------------------------------------- reading the results


def stage_of(benchmark_file: Path, root: Path) -> str:
    """The stage of a benchmark file: its folder under benchmarks/ or its stem (ingest, summary...)."""
    parts = benchmark_file.relative_to(root).parts
    if len(parts) > 1:
        return parts[0]
    return benchmark_file.stem


def stage_table(workdir: Path, since: float = 0.0) -> pd.DataFrame:
    """Per-stage jobs, total and longest wall seconds, CPU seconds and peak RSS (MiB).

    Only benchmark files written after ``since`` (a Unix time) count, so that an incremental run is
    not credited with the jobs of the run it was copied from.
    """
    root = workdir / "benchmarks"
    rows = []
    for path in sorted(root.rglob("*.tsv")):
        if path.stat().st_mtime < since:
            continue
        record = pd.read_csv(path, sep="\t").iloc[-1]
        rows.append(
            {
                "stage": stage_of(path, root),
                "s": float(record["s"]),
                "cpu_s": float(record["cpu_time"]),
                "max_rss_mib": float(record["max_rss"]),
            }
        )
    if not rows:
        return pd.DataFrame(columns=["stage", "jobs", "total_s", "max_job_s", "cpu_s", "max_rss_mib"])
    frame = pd.DataFrame(rows)
    order = [
        "ingest",
        "embed",
        "split",
        "cluster",
        "sweep",
        "baselines",
        "summary",
        "metrics",
        "plot",
        "export_clusters",
        "export",
    ]
    table = (
        frame.groupby("stage", sort=False)
        .agg(
            jobs=("s", "size"),
            total_s=("s", "sum"),
            max_job_s=("s", "max"),
            cpu_s=("cpu_s", "sum"),
            max_rss_mib=("max_rss_mib", "max"),
        )
        .reset_index()
    )
    table["rank"] = table["stage"].map({name: i for i, name in enumerate(order)}).fillna(len(order))
    return table.sort_values(["rank", "stage"]).drop(columns="rank").reset_index(drop=True)


_EMBED_COUNTS = re.compile(
    r"(?P<texts>\d+) texts, (?P<distinct>\d+) distinct, \d+ cut to max_tokens, (?P<cached>\d+) cached, "
    r"(?P<to_embed>\d+) to embed"
)
_EMBED_RATE = re.compile(r"embedded (?P<n>\d+) texts in (?P<seconds>[\d.]+) s")


def embed_counts(workdir: Path) -> dict[str, float]:
    """Texts, distinct texts, cache hits and texts embedded, from the embed job's log (empty if none)."""
    counts: dict[str, float] = {}
    for log in sorted((workdir / "logs" / "embed").glob("*.log")):
        text = log.read_text(errors="replace")
        match = _EMBED_COUNTS.search(text)
        if match:
            counts.update({key: int(value) for key, value in match.groupdict().items()})
        rate = _EMBED_RATE.search(text)
        if rate:
            counts["embedding_s"] = float(rate["seconds"])
            counts["texts_per_s"] = int(rate["n"]) / max(float(rate["seconds"]), 1e-9)
    return counts


def cache_entries(workdir: Path) -> int:
    """Vectors in the working directory's embedding cache (0 when there is none)."""
    config = yaml.safe_load((workdir / "config.yaml").read_text())
    path = workdir / config.get("embedding", {}).get("cache", "data/cache/embeddings.sqlite")
    if not path.is_file():
        return 0
    with sqlite3.connect(path) as db:
        return int(db.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0])


# --------------------------------------------------------------------------- scenarios


def scenario_cold(workdir: Path, data_dir: Path, config: dict[str, Any], cores: int) -> dict[str, Any]:
    prepare_workdir(workdir, data_dir, config)
    since = time.time() - 1
    run = run_snakemake(workdir, cores=cores, log_name="bench_cold")
    stages = stage_table(workdir, since)
    print_table(
        stages,
        f"cold run: {run.seconds:.1f} s wall, {run.cpu_s:.0f} CPU s, {sum(run.jobs.values())} jobs "
        f"(load before {run.load_before[0]:.2f})",
    )
    return {
        "wall_s": run.seconds,
        "cpu_s": run.cpu_s,
        "load_before": run.load_before,
        "jobs": run.jobs,
        "embed": embed_counts(workdir),
        "cache_entries": cache_entries(workdir),
        "stages": stages.to_dict(orient="records"),
    }


def time_command(command: Sequence[str], cwd: Path, repeats: int) -> tuple[float, float]:
    """Best wall time and best CPU time (user + system) of ``repeats`` runs of a command."""
    best, best_cpu = float("inf"), float("inf")
    for _ in range(repeats):
        cpu_before = children_cpu_s()
        start = time.perf_counter()
        subprocess.run(list(command), cwd=cwd, capture_output=True, check=True)
        best = min(best, time.perf_counter() - start)
        best_cpu = min(best_cpu, children_cpu_s() - cpu_before)
    return best, best_cpu


def noop_breakdown(workdir: Path, cores: int, repeats: int) -> pd.DataFrame:
    """Where the time of a no-op run goes: interpreter start, imports, Snakefile parsing, DAG."""
    python = sys.executable
    steps = [
        ("python start (python -c pass)", [python, "-c", "pass"]),
        ("import snakemake.api + plugin discovery", [python, "-c", "import snakemake.api"]),
        (
            "imports of the Snakefile (avengers_pro.config, .embeddings)",
            [python, "-c", "import avengers_pro.config, avengers_pro.embeddings"],
        ),
        (
            "config check alone (load + validate_config, once)",
            [
                python,
                "-c",
                (
                    "import yaml; from avengers_pro.config import validate_config; "
                    "c = yaml.safe_load(open('config.yaml')); "
                    f"validate_config(c, '{SNAKEFILE.parent}/workflow/schemas/config.schema.yaml', source='config')"
                ),
            ],
        ),
        ("snakemake --version", [*snakemake_executable(), "--version"]),
        (
            "snakemake --dry-run (parse + DAG, no scheduling)",
            [*snakemake_executable(), "--snakefile", str(SNAKEFILE), "--cores", str(cores), "--dry-run", "--quiet"],
        ),
        (
            "snakemake (the no-op itself)",
            [*snakemake_executable(), "--snakefile", str(SNAKEFILE), "--cores", str(cores)],
        ),
    ]
    rows = []
    for name, command in steps:
        wall, cpu = time_command(command, workdir, repeats)
        rows.append({"step": name, "best_wall_s": wall, "best_cpu_s": cpu})
    return pd.DataFrame(rows)


# A one-rule workflow: what a no-op costs in Snakemake itself on this machine (start-up, plugin
# discovery, parsing, the params check that imports pandas), whatever the workflow.
MINIMAL_SNAKEFILE = """\
rule all:
    input:
        "done.txt",


rule touch:
    output:
        "done.txt",
    params:
        setting=1,
    shell:
        "touch {output}"
"""


def scenario_noop(cold: Path, workdir: Path, cores: int, repeats: int) -> dict[str, Any]:
    copy_workdir(cold, workdir)
    minimal = workdir.parent / "noop_minimal"
    shutil.rmtree(minimal, ignore_errors=True)
    minimal.mkdir(parents=True)
    (minimal / "Snakefile").write_text(MINIMAL_SNAKEFILE)
    run_snakemake(minimal, cores=cores, log_name="bench_build", snakefile=minimal / "Snakefile")
    # Interleaved, so that both see the same load.
    runs, floor = [], []
    for i in range(repeats):
        runs.append(run_snakemake(workdir, cores=cores, log_name=f"bench_noop{i}"))
        floor.append(run_snakemake(minimal, cores=cores, log_name=f"bench_noop{i}", snakefile=minimal / "Snakefile"))
    if not all(run.nothing_to_do for run in runs + floor):
        jobs = next(run.jobs for run in runs + floor if not run.nothing_to_do)
        raise RuntimeError(f"a no-op rerun had work to do: {jobs} (see {runs[0].log})")
    breakdown = noop_breakdown(workdir, cores, min(repeats, 3))
    seconds = [run.seconds for run in runs]
    floor_seconds = [run.seconds for run in floor]
    print_table(
        pd.DataFrame(
            {
                "run": range(1, repeats + 1),
                "wall_s": seconds,
                "cpu_s": [run.cpu_s for run in runs],
                "one_rule_workflow_wall_s": floor_seconds,
                "load_before": [run.load_before[0] for run in runs],
            }
        ),
        f"no-op rerun: best {min(seconds):.2f} s, median {np.median(seconds):.2f} s (target <= 3 s); "
        f"a one-rule workflow: best {min(floor_seconds):.2f} s, median {np.median(floor_seconds):.2f} s",
    )
    print_table(breakdown, "where the no-op time goes (best of each, separate processes)")
    return {
        "wall_s": seconds,
        "best_s": min(seconds),
        "median_s": float(np.median(seconds)),
        "cpu_s": [run.cpu_s for run in runs],
        "load_before": [run.load_before for run in runs],
        "one_rule_workflow_wall_s": floor_seconds,
        "one_rule_workflow_best_s": min(floor_seconds),
        "one_rule_workflow_median_s": float(np.median(floor_seconds)),
        "breakdown": breakdown.to_dict(orient="records"),
    }


def scenario_alphas(cold: Path, workdir: Path, cores: int, num: int) -> dict[str, Any]:
    copy_workdir(cold, workdir)
    config = yaml.safe_load((workdir / "config.yaml").read_text())
    alphas = dict(config["sweep"]["alphas"], num=num)
    edit_config(workdir, {"sweep": {"alphas": alphas}})
    since = time.time() - 1
    run = run_snakemake(workdir, cores=cores, log_name="bench_alphas")
    stages = stage_table(workdir, since)
    unexpected = sorted(rule for rule in run.jobs if rule.split("_")[0] not in ALPHA_STAGES or rule in NOT_ALPHA_RULES)
    print_table(
        stages,
        f"rerun after sweep.alphas num -> {num}: {run.seconds:.1f} s wall, {run.cpu_s:.0f} CPU s "
        f"(target <= 30 s), "
        f"jobs {run.jobs}, unexpected rules: {unexpected or 'none'} (load before {run.load_before[0]:.2f})",
    )
    return {
        "wall_s": run.seconds,
        "cpu_s": run.cpu_s,
        "load_before": run.load_before,
        "alphas": alphas,
        "jobs": run.jobs,
        "unexpected_rules": unexpected,
        "stages": stages.to_dict(orient="records"),
    }


def truncated_hashes(texts: list[str], embedding: dict[str, Any]) -> set[str]:
    """Cache keys of texts: the sha256 of each text as the embedder truncates it (no model is loaded)."""
    from avengers_pro.embeddings import make_embedder, text_hash

    embedder = make_embedder(embedding)
    return {text_hash(text) for text in embedder.truncate(texts)}


def scenario_source(cold: Path, workdir: Path, cores: int, source_name: str) -> dict[str, Any]:
    copy_workdir(cold, workdir)
    full_config = yaml.safe_load((workdir / "config.yaml").read_text())
    all_texts = pd.read_parquet(workdir / "results" / "queries.parquet", columns=["query"])["query"].tolist()
    # Before: the config without the source, ingested; the cache without the texts only it has.
    edit_config(workdir, drop_source=source_name)
    run_snakemake(workdir, "results/queries.parquet", cores=cores, log_name="bench_source_before")
    kept_texts = pd.read_parquet(workdir / "results" / "queries.parquet", columns=["query"])["query"].tolist()
    embedding = full_config.get("embedding", {})
    new_hashes = truncated_hashes(all_texts, embedding) - truncated_hashes(kept_texts, embedding)
    cache_path = workdir / embedding.get("cache", "data/cache/embeddings.sqlite")
    with sqlite3.connect(cache_path) as db:
        db.executemany("DELETE FROM embeddings WHERE text_sha256 = ?", [(h,) for h in sorted(new_hashes)])
    entries_before = cache_entries(workdir)
    # After: the source added back; everything downstream of ingest reruns, embedding only new texts.
    (workdir / "config.yaml").write_text(yaml.safe_dump(full_config, sort_keys=False))
    since = time.time() - 1
    run = run_snakemake(workdir, cores=cores, log_name="bench_source")
    stages = stage_table(workdir, since)
    counts = embed_counts(workdir)
    only_new = counts.get("to_embed") == len(new_hashes)
    print_table(
        stages,
        f"rerun after adding source {source_name!r}: {run.seconds:.1f} s wall, {run.cpu_s:.0f} CPU s; "
        f"embed log: "
        f"{counts.get('to_embed')} embedded, {counts.get('cached')} from the cache; "
        f"{len(new_hashes)} texts are new -> only new texts embedded: {only_new} "
        f"(load before {run.load_before[0]:.2f})",
    )
    return {
        "wall_s": run.seconds,
        "cpu_s": run.cpu_s,
        "load_before": run.load_before,
        "source": source_name,
        "jobs": run.jobs,
        "new_texts": len(new_hashes),
        "cache_entries_before": entries_before,
        "cache_entries_after": cache_entries(workdir),
        "embed": counts,
        "only_new_texts_embedded": only_new,
        "stages": stages.to_dict(orient="records"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--root",
        type=Path,
        default=RESULTS / "pipeline_runs",
        help="parent folder of the working directories (one per scenario)",
    )
    parser.add_argument(
        "--scenarios",
        nargs="+",
        default=["cold", "noop", "alphas", "source"],
        choices=["cold", "noop", "alphas", "source"],
    )
    parser.add_argument(
        "--reuse-cold",
        type=Path,
        default=None,
        help="a finished cold-run working directory to copy instead of running 'cold' (read only)",
    )
    parser.add_argument("--data", type=Path, default=DATA, help="folder holding the sources' files (by file name)")
    parser.add_argument("--config", type=Path, default=REPO / "config.yaml")
    parser.add_argument(
        "--overlay",
        type=Path,
        default=None,
        help="a config overlay read over --config, as --configfile does (e.g. config/mmlu-pro.yaml)",
    )
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument(
        "--repeats",
        type=int,
        default=8,
        help="no-op reruns, each followed by one of a one-rule workflow (best and median reported)",
    )
    parser.add_argument("--alphas-num", type=int, default=51, help="sweep.alphas.num of the alphas scenario")
    parser.add_argument("--source", default="winograde_test", help="the source removed and added back")
    parser.add_argument("--output", type=Path, default=RESULTS / "pipeline.json")
    args = parser.parse_args()
    if not args.data.is_dir():
        print(f"data directory {args.data} not found", file=sys.stderr)
        return 1

    global SNAKEFILE
    snapshot = args.root.resolve() / "workflow_snapshot"
    if args.reuse_cold is not None and (args.reuse_cold.resolve().parent / "workflow_snapshot" / "Snakefile").is_file():
        # The workflow the cold run was built with: a newer one could rerun jobs through the code trigger.
        SNAKEFILE = args.reuse_cold.resolve().parent / "workflow_snapshot" / "Snakefile"
    else:
        SNAKEFILE = snapshot_workflow(snapshot)
    print(f"workflow: {SNAKEFILE.parent}")
    results: dict[str, Any] = {"machine": machine_info(), "cores": args.cores}
    print(f"machine: {results['machine']}")
    cold = args.reuse_cold.resolve() if args.reuse_cold else args.root.resolve() / "cold"
    if "cold" in args.scenarios and args.reuse_cold is None:
        results["cold"] = scenario_cold(cold, args.data, merged_config(args.config, args.overlay), args.cores)
    elif args.reuse_cold is not None:
        results["cold_reused_from"] = str(cold)
    if not (cold / "results" / "summary.csv").is_file() and set(args.scenarios) - {"cold"}:
        print(f"no finished cold run in {cold}: run the 'cold' scenario first", file=sys.stderr)
        return 1
    root = args.root.resolve()
    if "noop" in args.scenarios:
        results["noop"] = scenario_noop(cold, root / "noop", args.cores, args.repeats)
    if "alphas" in args.scenarios:
        results["alphas"] = scenario_alphas(cold, root / "alphas", args.cores, args.alphas_num)
    if "source" in args.scenarios:
        results["source"] = scenario_source(cold, root / "source", args.cores, args.source)
    results["load_average_after"] = load_average()
    write_json(results, args.output)
    print(f"\nwrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
