# Analysis optimisation: `snakemake --profile profiles/local optimize` scans the analysis' cuts
# (cms_ttbar: the jet pt and b-tag thresholds) by a grid of hard-cut fits and by gradient descent through the relaxed
# analysis, both on cached columns delivered with a preselection loose enough for the whole
# range of every cut (per plugin: stage_settings.OPTIMIZE_PRESELECTION, e.g. cms_ttbar's
# b-tag; none for an analysis without cuts to optimise, e.g. atlas_hzz, whose optimize job then
# says so). The grid is the analysis' default (its cut parameters);
# `--config optimize_points=N` gives every cut N points. `snakemake ... optimize_limits` does the
# same for the expected limit on each signal of reinterpret.signals (generated when missing).
OPTIMIZE_OVERRIDES = STAGE_SETTINGS.optimize_overrides(CFG)  # in the settings digests too
OPTIMIZE_SET = " ".join(f"--set {key}={value}" for key, value in OPTIMIZE_OVERRIDES.items())
OPTIMIZE_GRID = f"--points {config['optimize_points']}" if "optimize_points" in config else ""


rule optimize_delivery:
    input:
        input_fileset(),
    output:
        f"{RESULTS}/optimize/manifest.json",
    log:
        f"{LOGS}/optimize_delivery.log",
    params:
        config=AGC_CONFIG,
        settings=settings_digest("deliver", OPTIMIZE_OVERRIDES),
        loose=OPTIMIZE_SET,
    threads: THREADS
    resources:
        **rule_resources("optimize_delivery"),
    shell:
        "agcflow -v --expect-settings deliver={params.settings} deliver --config '{params.config}' {params.loose} --set cluster.workers={threads} "
        "--no-progress --output '{output}' > '{log}' 2>&1"


rule optimize_grid:
    input:
        f"{RESULTS}/optimize/manifest.json",
    output:
        f"{RESULTS}/optimize/grid.json",
    log:
        f"{LOGS}/optimize_grid.log",
    params:
        config=AGC_CONFIG,
        settings=settings_digest("optimize", OPTIMIZE_OVERRIDES),
        loose=OPTIMIZE_SET,
        grid=OPTIMIZE_GRID,
        output_dir=lambda wildcards, output: os.path.dirname(output[0]),
    threads: THREADS
    resources:
        **rule_resources("optimize_grid"),
    shell:
        "agcflow -v --expect-settings optimize={params.settings} optimize --strategy grid --config '{params.config}' {params.loose} --set cluster.workers={threads} "
        "{params.grid} --manifest '{input}' --output-dir '{params.output_dir}' > '{log}' 2>&1"


rule optimize:
    input:
        manifest=f"{RESULTS}/optimize/manifest.json",
        grid=f"{RESULTS}/optimize/grid.json",
    output:
        f"{RESULTS}/optimize/gradient.json",
        report(f"{RESULTS}/optimize/landscape.png", caption="../report/optimize.rst", category="Optimisation"),
        report(f"{RESULTS}/optimize/objective_vs_iteration.png", caption="../report/optimize.rst", category="Optimisation"),
    log:
        f"{LOGS}/optimize_gradient.log",
    params:
        config=AGC_CONFIG,
        settings=settings_digest("optimize", OPTIMIZE_OVERRIDES),
        loose=OPTIMIZE_SET,
        grid=OPTIMIZE_GRID,
        output_dir=lambda wildcards, output: os.path.dirname(output[0]),
    resources:
        **rule_resources("optimize"),
    shell:
        "agcflow -v --expect-settings optimize={params.settings} optimize --strategy gradient --config '{params.config}' {params.loose} "
        "{params.grid} --manifest '{input.manifest}' --output-dir '{params.output_dir}' > '{log}' 2>&1"


rule optimize_limit:
    input:
        manifest=f"{RESULTS}/optimize/manifest.json",
        # the gradient's landscape figure draws the same objective's grid: run first
        grid=lambda wildcards: [f"{RESULTS}/optimize/grid-expected-limit-{wildcards.signal}.json"] if wildcards.strategy == "gradient" else [],
    output:
        f"{RESULTS}/optimize/{{strategy}}-expected-limit-{{signal}}.json",
    wildcard_constraints:
        strategy="grid|gradient",
        signal="|".join(SIGNALS) or "no-signal-configured",
    log:
        f"{LOGS}/optimize_{{strategy}}_expected_limit_{{signal}}.log",
    params:
        config=AGC_CONFIG,
        settings=settings_digest("optimize_limit", OPTIMIZE_OVERRIDES),
        loose=OPTIMIZE_SET,
        grid=OPTIMIZE_GRID,
        output_dir=lambda wildcards, output: os.path.dirname(output[0]),
    threads: THREADS
    resources:
        **rule_resources("optimize_limit"),
    shell:
        "agcflow -v --expect-settings optimize_limit={params.settings} optimize --strategy {wildcards.strategy} "
        "--objective expected-limit --signal '{wildcards.signal}' --generate-signal --config '{params.config}' {params.loose} "
        "--set cluster.workers={threads} {params.grid} --manifest '{input.manifest}' --output-dir '{params.output_dir}' > '{log}' 2>&1"


rule optimize_limits:
    input:
        expand(f"{RESULTS}/optimize/{{strategy}}-expected-limit-{{signal}}.json", strategy=("grid", "gradient"), signal=SIGNALS),
