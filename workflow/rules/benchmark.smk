# Not part of `all`: `snakemake --profile profiles/local benchmark`.
rule benchmark:
    input:
        input_fileset(),
    output:
        f"{RESULTS}/benchmark/processing.json",
    log:
        f"{LOGS}/benchmark.log",
    params:
        config=AGC_CONFIG,
    threads: workflow.cores
    shell:
        "agcflow -v bench processing --config {params.config} --set cluster.workers={threads} "
        "--output {output} > {log} 2>&1"
