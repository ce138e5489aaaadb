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
    threads: THREADS
    resources:
        **rule_resources("process"),
    shell:
        "agcflow -v process --config {params.config} --set cluster.workers={threads} --manifest {input} "
        "--output {output.histograms} --metrics {output.metrics} --no-progress > {log} 2>&1"
