rule generate:
    output:
        input_fileset() if CFG["inputs"]["source"] == "generate" else f"{RESULTS}/generate.unused",  # nothing to generate: a name no rule reads
    log:
        f"{LOGS}/generate.log",
    params:
        config=AGC_CONFIG,
        settings=settings_digest("generate"),
    threads: THREADS
    resources:
        **rule_resources("generate"),
    shell:
        "agcflow -v --expect-settings generate={params.settings} generate --config '{params.config}' --set cluster.workers={threads} --no-progress > '{log}' 2>&1"


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
        "agcflow -v --expect-settings deliver={params.settings} deliver --config '{params.config}' --set cluster.workers={threads} "
        "--output '{output}' --no-progress > '{log}' 2>&1"
