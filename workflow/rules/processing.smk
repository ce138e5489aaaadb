rule process:
    input:
        f"{RESULTS}/delivery/manifest.json",
    output:
        histograms=f"{RESULTS}/histograms/histograms.root",
        metrics=f"{RESULTS}/metrics/processing.json",
    log:
        f"{LOGS}/process.log",
    params:
        config=AGC_CONFIG,
        settings=settings_digest("process"),
    threads: THREADS
    resources:
        **rule_resources("process"),
    shell:
        "agcflow -v --expect-settings process={params.settings} process --config '{params.config}' --set cluster.workers={threads} --manifest '{input}' "
        "--output '{output.histograms}' --metrics '{output.metrics}' --no-progress > '{log}' 2>&1"
