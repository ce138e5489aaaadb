rule workspace:
    input:
        f"{RESULTS}/histograms/histograms.root",
    output:
        workspace=f"{RESULTS}/workspace/workspace.json",
        bkg_only=f"{RESULTS}/workspace/bkg_only.json",
    log:
        f"{LOGS}/workspace.log",
    params:
        config=AGC_CONFIG,
    shell:
        "agcflow -v workspace --config {params.config} --histograms {input} --output {output.workspace} "
        "--bkg-only {output.bkg_only} > {log} 2>&1"


rule fit:
    input:
        f"{RESULTS}/workspace/workspace.json",
    output:
        fit_outputs(),
    log:
        f"{LOGS}/fit.log",
    params:
        config=AGC_CONFIG,
        output_dir=lambda wildcards, output: os.path.dirname(output[0]),
        figures_dir=lambda wildcards, output: os.path.join(os.path.dirname(os.path.dirname(output[0])), "figures"),
    threads: workflow.cores
    shell:
        "agcflow -v fit --config {params.config} --set cluster.workers={threads} --workspace {input} --output-dir {params.output_dir} "
        "--figures-dir {params.figures_dir} > {log} 2>&1"
