rule generate:
    output:
        input_fileset() if CFG["inputs"]["source"] == "generate" else "data/generated/.unused",
    log:
        f"{LOGS}/generate.log",
    params:
        config=AGC_CONFIG,
    threads: THREADS
    resources:
        **rule_resources("generate"),
    shell:
        "agcflow -v generate --config {params.config} --set cluster.workers={threads} --no-progress > {log} 2>&1"


rule deliver:
    input:
        input_fileset(),
    output:
        f"{RESULTS}/delivery/manifest.json",
    log:
        f"{LOGS}/deliver.log",
    params:
        config=AGC_CONFIG,
    threads: THREADS
    resources:
        **rule_resources("deliver"),
    shell:
        "agcflow -v deliver --config {params.config} --set cluster.workers={threads} "
        "--output {output} --no-progress > {log} 2>&1"
