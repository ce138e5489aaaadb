# agcflow: the AGC ttbar analysis as a Snakemake DAG. Each rule is one `agcflow <stage>` call;
# the package does the work. Compatible with Snakemake 7 (REANA) and 9.
#
#   snakemake --profile profiles/local                                  # the default analysis
#   snakemake --profile profiles/local --config agcflow_config=my.yaml  # another analysis config
import os

import yaml
from snakemake.utils import validate

AGC_CONFIG = config.get("agcflow_config", "configs/ttbar.yaml")
with open(AGC_CONFIG) as handle:
    CFG = yaml.safe_load(handle)
validate(CFG, "configs/schema/config.schema.json")

RESULTS = CFG["outputs"]["results_dir"]

# The image every rule runs in under REANA, or with --software-deployment-method apptainer:
# a registry path, best pinned by digest (--config container=REGISTRY/agcflow@sha256:...);
# README "Container image". "docker://" is added when no scheme is given.
CONTAINER = config.get("container", "docker.io/agcflow/agcflow:0.1.0")
container: CONTAINER if "://" in CONTAINER or CONTAINER.endswith(".sif") else f"docker://{CONTAINER}"
LOGS = f"{RESULTS}/logs"


include: "workflow/rules/common.smk"
include: "workflow/rules/delivery.smk"
include: "workflow/rules/processing.smk"
include: "workflow/rules/inference.smk"
include: "workflow/rules/benchmark.smk"
include: "workflow/rules/reinterpret.smk"
include: "workflow/rules/optimize.smk"


rule all:
    input:
        f"{RESULTS}/metrics/processing.json",
        f"{RESULTS}/workspace/workspace.json",
        fit_outputs(),
