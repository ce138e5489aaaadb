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
        "agcflow -v --expect-settings workspace={params.settings} workspace --config '{params.config}' --histograms '{input}' --output '{output.workspace}' "
        "--bkg-only '{output.bkg_only}' > '{log}' 2>&1"


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
        "agcflow -v --expect-settings fit={params.settings} fit --config '{params.config}' --set cluster.workers={threads} --workspace '{input}' "
        "--output-dir '{params.output_dir}' --figures-dir '{params.figures_dir}' > '{log}' 2>&1"
