# Paths, threads and resources derived from the analysis config and the run; no physics here.
import importlib.util

from snakemake.exceptions import WorkflowError


def load_package_module(relative):
    """A standard-library-only module of the package, loaded by path: agcflow itself need not
    be installed where the Snakefile is parsed (REANA)."""
    path = os.path.join(workflow.basedir, "analysis", "agcflow", relative)
    spec = importlib.util.spec_from_file_location(f"agcflow_{os.path.basename(relative)[:-3]}", path)
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    return loaded


def input_fileset():
    """The fileset JSON the configured input source reads."""
    inputs = CFG["inputs"]
    if inputs["source"] == "generate":
        return f"{inputs['generate']['directory']}/fileset.json"
    return inputs["fileset"] if inputs["source"] == "fileset" else inputs["agc_list"]


def fit_outputs():
    """The files the fit rule writes."""
    names = ["fit_results.json", "yields_prefit.json", "yields_postfit.json"]
    if CFG["fit"]["ranking"]:
        names.append("ranking.json")
    return [f"{RESULTS}/fit/{name}" for name in names]


def fit_figures():
    """The figures a successful fit writes (agcflow.util.figure_names)."""
    labels = [region["label"] for region in CFG["analysis"]["regions"].values()]
    names = FIGURE_NAMES.fit_figures(labels, CFG["fit"]["ranking"])
    return [f"{RESULTS}/figures/{name}" for name in names]


def settings_digest(stage, overrides=None):
    """The digest of the settings `stage` depends on (agcflow.config.stage_settings), with a rule's
    result-relevant --set `overrides`: the same digest the CLI records. As a rule's params
    value it reruns the rule exactly when one of those settings changes."""
    return STAGE_SETTINGS.digest(CFG, stage, overrides)
def rule_threads():
    """Threads (= Dask workers) of the multi-core rules.

    The config value `threads` when given (reana.yaml sets it: REANA's Snakemake 7 engine runs
    with 1 core, its newer engine with none), else the cores Snakemake was given (`--cores`,
    the profiles), else 4. Never reads `workflow.cores` unguarded: it raises under Snakemake 8+
    when no core count was set.
    """
    if "threads" in config:
        return int(config["threads"])
    try:
        return workflow.cores
    except WorkflowError:
        return 4


THREADS = rule_threads()

# Memory (MB: fixed + per thread) and wall time (minutes) of every rule that runs a job, in one
# place for every executor: SLURM reads mem_mb, runtime and cpus_per_task (profiles/slurm),
# REANA's Kubernetes jobs read kubernetes_memory_limit and kubernetes_job_timeout (seconds).
# Site values (partition, account, QOS) live in the site profile, not here.
RULE_RESOURCES = {
    "generate": {"fixed_mb": 0, "per_thread_mb": 1000, "runtime": 30},
    "deliver": {"fixed_mb": 0, "per_thread_mb": 2000, "runtime": 120},
    "process": {"fixed_mb": 0, "per_thread_mb": 2500, "runtime": 240},
    "workspace": {"fixed_mb": 2000, "per_thread_mb": 0, "runtime": 15},
    "fit": {"fixed_mb": 4000, "per_thread_mb": 0, "runtime": 60},
    "benchmark_processing": {"fixed_mb": 0, "per_thread_mb": 2500, "runtime": 60},
    "benchmark_facility": {"fixed_mb": 0, "per_thread_mb": 2500, "runtime": 240},
    "optimize_delivery": {"fixed_mb": 0, "per_thread_mb": 2000, "runtime": 120},
    "optimize_grid": {"fixed_mb": 2000, "per_thread_mb": 2000, "runtime": 240},
    "optimize": {"fixed_mb": 6000, "per_thread_mb": 0, "runtime": 120},  # relaxed tables in JAX: ~4 GB
    "optimize_limit": {"fixed_mb": 6000, "per_thread_mb": 1000, "runtime": 180},  # grid or gradient, with a signal
    "reinterpret_signal": {"fixed_mb": 2000, "per_thread_mb": 2000, "runtime": 60},
    "reinterpret": {"fixed_mb": 1000, "per_thread_mb": 0, "runtime": 10},
    "reinterpret_family": {"fixed_mb": 2000, "per_thread_mb": 2000, "runtime": 240},  # a signal per point
}


def rule_resources(name):
    """The `resources:` of rule `name` for SLURM and REANA (Kubernetes), from RULE_RESOURCES."""
    if name not in RULE_RESOURCES:
        raise WorkflowError(f"{name!r}: no entry in RULE_RESOURCES (workflow/rules/common.smk); "
                            f"declared: {', '.join(RULE_RESOURCES)}")
    spec = RULE_RESOURCES[name]

    def mem_mb(wildcards, threads):
        return max(1000, spec["fixed_mb"] + spec["per_thread_mb"] * threads)

    return {
        "mem_mb": mem_mb,
        "runtime": spec["runtime"],
        "cpus_per_task": lambda wildcards, threads: threads,
        "kubernetes_memory_limit": lambda wildcards, threads: f"{mem_mb(wildcards, threads)}Mi",
        "kubernetes_job_timeout": spec["runtime"] * 60,
    }
