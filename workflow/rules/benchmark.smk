# Not part of `all`: `snakemake --profile profiles/local benchmark` runs every benchmark;
# `benchmark_facility` alone is the facility sweep (README: "Facility benchmark").
rule benchmark:
    input:
        f"{RESULTS}/benchmark/processing.json",
        f"{RESULTS}/benchmark/facility.json",


rule benchmark_processing:
    input:
        input_fileset(),
    output:
        f"{RESULTS}/benchmark/processing.json",
    log:
        f"{LOGS}/benchmark_processing.log",
    params:
        config=AGC_CONFIG,
    threads: THREADS
    resources:
        **rule_resources("benchmark_processing"),
    shell:
        "agcflow -v bench processing --config {params.config} --set cluster.workers={threads} "
        "--output {output} > {log} 2>&1"


rule benchmark_facility:
    input:
        input_fileset(),
    output:  # the JSON first: the command writes the CSV and the plots beside it, named after it
        f"{RESULTS}/benchmark/facility.json",
        f"{RESULTS}/benchmark/facility.csv",
        f"{RESULTS}/benchmark/facility_workers.png",
        f"{RESULTS}/benchmark/facility_chunk_size.png",
    log:
        f"{LOGS}/benchmark_facility.log",
    params:
        config=AGC_CONFIG,
        json=lambda wildcards, output: output[0],
    threads: THREADS
    resources:
        **rule_resources("benchmark_facility"),
    shell:
        "agcflow -v bench facility --config {params.config} --output {params.json} --no-progress > {log} 2>&1"
