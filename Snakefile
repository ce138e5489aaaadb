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

# Used only when asked for (--software-deployment-method apptainer); see docker/.
container: config.get("container", "docker://agcflow:0.1.0")
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
