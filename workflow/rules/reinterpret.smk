# RECAST: `snakemake --profile profiles/local reinterpret` runs every signal of
# reinterpret.signals through the preserved analysis (backgrounds are not reprocessed).
SIGNALS = [signal["name"] for signal in CFG.get("reinterpret", {}).get("signals", [])]


rule reinterpret_signal:
    input:
        workspace=f"{RESULTS}/workspace/bkg_only.json",
    output:
        f"{RESULTS}/reinterpret/{{signal}}/result.json",
    log:
        f"{LOGS}/reinterpret_{{signal}}.log",
    params:
        config=AGC_CONFIG,
        output_dir=lambda wildcards, output: os.path.dirname(output[0]),
    threads: workflow.cores
    shell:
        "agcflow -v reinterpret --config {params.config} --set cluster.workers={threads} --name {wildcards.signal} "
        "--workspace {input.workspace} --output-dir {params.output_dir} > {log} 2>&1"


rule reinterpret:
    input:
        expand(f"{RESULTS}/reinterpret/{{signal}}/result.json", signal=SIGNALS),
    output:
        f"{RESULTS}/reinterpret/limits.png",
    log:
        f"{LOGS}/limit_plot.log",
    shell:
        "agcflow limit-plot {input} --output {output} > {log} 2>&1"
