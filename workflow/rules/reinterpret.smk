# RECAST: `snakemake --profile profiles/local reinterpret` runs every signal of
# reinterpret.signals through the preserved analysis (backgrounds are not reprocessed);
# `snakemake --profile profiles/local reinterpret_families` every family of reinterpret.families,
# by active learning (`--config family_loop=dense`: every grid point).
FAMILIES = [family["name"] for family in CFG["reinterpret"]["families"]]
FAMILY_LOOPS = {"adaptive": "--adaptive", "dense": ""}
FAMILY_LOOP = config.get("family_loop", "adaptive")
if FAMILY_LOOP not in FAMILY_LOOPS:
    raise WorkflowError(f"--config family_loop={FAMILY_LOOP!r}: expected one of {', '.join(FAMILY_LOOPS)}")


rule reinterpret_signal:
    input:
        workspace=f"{RESULTS}/workspace/bkg_only.json",
    output:  # result.json first: its folder is the output directory; with the signal's pallet beside it
        f"{RESULTS}/reinterpret/{{signal}}/result.json",
        f"{RESULTS}/reinterpret/{{signal}}/BkgOnly.json",
        f"{RESULTS}/reinterpret/{{signal}}/patchset.json",
    log:
        f"{LOGS}/reinterpret_{{signal}}.log",
    params:
        config=AGC_CONFIG,
        settings=settings_digest("reinterpret"),
        output_dir=lambda wildcards, output: os.path.dirname(output[0]),
    threads: THREADS
    resources:
        **rule_resources("reinterpret_signal"),
    shell:
        "agcflow -v --expect-settings reinterpret={params.settings} reinterpret --config '{params.config}' --set cluster.workers={threads} --name '{wildcards.signal}' "
        "--workspace '{input.workspace}' --output-dir '{params.output_dir}' > '{log}' 2>&1"


rule reinterpret:
    input:
        expand(f"{RESULTS}/reinterpret/{{signal}}/result.json", signal=SIGNALS),
    output:
        report(f"{RESULTS}/reinterpret/limits.png", caption="../report/reinterpret.rst", category="Reinterpretation"),
    log:
        f"{LOGS}/limit_plot.log",
    resources:
        **rule_resources("reinterpret"),
    shell:
        "agcflow limit-plot {input:q} --output '{output}' > '{log}' 2>&1"


rule reinterpret_family:
    input:
        workspace=f"{RESULTS}/workspace/bkg_only.json",
    output:  # family.json first: its folder is the output directory; the signals' pallets under points/
        f"{RESULTS}/reinterpret/{{family}}/family.json",
        report(f"{RESULTS}/reinterpret/{{family}}/excluded.png", caption="../report/reinterpret_family.rst",
               category="Reinterpretation"),
    wildcard_constraints:
        family="|".join(FAMILIES) or "no-family-configured",
    log:
        f"{LOGS}/reinterpret_family_{{family}}.log",
    params:
        config=AGC_CONFIG,
        settings=settings_digest("reinterpret"),
        loop=FAMILY_LOOPS[FAMILY_LOOP],
        output_dir=lambda wildcards, output: os.path.dirname(output[0]),
    threads: THREADS
    resources:
        **rule_resources("reinterpret_family"),
    shell:
        "agcflow -v --expect-settings reinterpret={params.settings} reinterpret --config '{params.config}' --set cluster.workers={threads} "
        "--family '{wildcards.family}' {params.loop} --workspace '{input.workspace}' --output-dir '{params.output_dir}' > '{log}' 2>&1"


rule reinterpret_families:
    input:
        expand(f"{RESULTS}/reinterpret/{{family}}/family.json", family=FAMILIES),
