rule workspace:
    input:
        f"{RESULTS}/histograms/histograms.root",
    output:
        f"{RESULTS}/workspace/workspace.settings.json",  # the settings it was built with (the fit checks them)
        workspace=f"{RESULTS}/workspace/workspace.json",
        bkg_only=f"{RESULTS}/workspace/bkg_only.json",
    log:
        f"{LOGS}/workspace.log",
    params:
        config=AGC_CONFIG,
        settings=settings_digest("workspace"),
    resources:
        **rule_resources("workspace"),
    shell:
        "agcflow -v workspace --config {params.config:q} --histograms {input:q} --output {output.workspace:q} "
        "--bkg-only {output.bkg_only:q} > {log:q} 2>&1"


rule fit:
    input:
        f"{RESULTS}/workspace/workspace.json",
    output:
        fit_outputs(),
        [report(figure, caption="../report/fit.rst", category="Fit") for figure in fit_figures()],
    log:
        f"{LOGS}/fit.log",
    params:
        config=AGC_CONFIG,
        settings=settings_digest("fit"),
        output_dir=lambda wildcards, output: os.path.dirname(output[0]),
        figures_dir=lambda wildcards, output: os.path.join(os.path.dirname(os.path.dirname(output[0])), "figures"),
    threads: THREADS
    resources:
        **rule_resources("fit"),
    shell:
        "agcflow -v fit --config {params.config:q} --set cluster.workers={threads} --workspace {input:q} "
        "--output-dir {params.output_dir:q} --figures-dir {params.figures_dir:q} > {log:q} 2>&1"
