# agcflow: the AGC ttbar analysis as a Snakemake DAG. Each rule is one `agcflow <stage>` call;
# the package does the work. Compatible with Snakemake 7 (REANA) and 9.
#
#   snakemake --profile profiles/local                                  # the default analysis
#   snakemake --profile profiles/local --config agcflow_config=my.yaml  # another analysis config
import os

import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate


include: "workflow/rules/common.smk"


STAGE_SETTINGS = load_package_module("config/stage_settings.py")  # each stage's settings; their digests
FIGURE_NAMES = load_package_module("util/figure_names.py")

AGC_CONFIG = config.get("agcflow_config", "configs/ttbar.yaml")
with open(AGC_CONFIG) as handle:
    CFG = yaml.safe_load(handle)
# Fills in the schema's defaults (set_default=True, also Snakemake 7's): every key below reads CFG
# without a fallback, and the settings digests are of the filled mapping, as the CLI's are
# (agcflow.config.source.fill_defaults).
validate(CFG, "configs/schema/config.schema.json", set_default=True)
UNSAFE_PATHS = STAGE_SETTINGS.path_problems({"agcflow_config": AGC_CONFIG}, ["agcflow_config"])
UNSAFE_PATHS += STAGE_SETTINGS.path_problems(CFG)
if UNSAFE_PATHS:  # before any rule is built: paths go into shell commands
    raise WorkflowError(f"{AGC_CONFIG}: invalid configuration: " + "; ".join(UNSAFE_PATHS))

RESULTS = CFG["outputs"]["results_dir"]
SIGNALS = [signal["name"] for signal in CFG["reinterpret"]["signals"]]  # reinterpret and optimize_limits

# The image every rule runs in under REANA, or with --software-deployment-method apptainer:
# a registry path, best pinned by digest (--config container=REGISTRY/agcflow@sha256:...);
# README "Container image". "docker://" is added when no scheme is given.
CONTAINER = config.get("container", "docker.io/agcflow/agcflow:0.1.0")
container: CONTAINER if "://" in CONTAINER or CONTAINER.endswith(".sif") else f"docker://{CONTAINER}"
LOGS = f"{RESULTS}/logs"


include: "workflow/rules/delivery.smk"
include: "workflow/rules/processing.smk"
include: "workflow/rules/inference.smk"
include: "workflow/rules/benchmark.smk"
include: "workflow/rules/reinterpret.smk"
include: "workflow/rules/optimize.smk"


report: "workflow/report/workflow.rst"  # snakemake --report report.html: the figures, with captions


rule all:
    input:
        f"{RESULTS}/metrics/processing.json",
        f"{RESULTS}/workspace/workspace.json",
        fit_outputs(),
