rule generate:
    output:
        input_fileset() if CFG["inputs"]["source"] == "generate" else "data/generated/.unused",
    log:
        f"{LOGS}/generate.log",
    params:
        config=AGC_CONFIG,
        settings=settings_digest("generate"),
    threads: THREADS
    resources:
        **rule_resources("generate"),
    shell:
        "agcflow -v generate --config {params.config:q} --set cluster.workers={threads} --no-progress > {log:q} 2>&1"


rule deliver:
    input:
        input_fileset(),
    output:
        f"{RESULTS}/delivery/manifest.json",
    log:
        f"{LOGS}/deliver.log",
    params:
        config=AGC_CONFIG,
        settings=settings_digest("deliver"),
    threads: THREADS
    resources:
        **rule_resources("deliver"),
    shell:
        "agcflow -v deliver --config {params.config:q} --set cluster.workers={threads} "
        "--output {output:q} --no-progress > {log:q} 2>&1"
