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
        "agcflow -v process --config {params.config:q} --set cluster.workers={threads} --manifest {input:q} "
        "--output {output.histograms:q} --metrics {output.metrics:q} --no-progress > {log:q} 2>&1"
