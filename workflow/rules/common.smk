# Paths derived from the analysis config; no physics here.
import importlib.util


def load_package_module(relative):
    """A standard-library-only module of the package, loaded by path: agcflow itself need not
    be installed where the Snakefile is parsed (REANA)."""
    path = os.path.join(workflow.basedir, "analysis", "agcflow", relative)
    spec = importlib.util.spec_from_file_location(f"agcflow_{os.path.basename(relative)[:-3]}", path)
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    return loaded


def input_fileset():
    """The fileset JSON the configured input source reads."""
    inputs = CFG["inputs"]
    if inputs["source"] == "generate":
        return f"{inputs.get('generate', {}).get('directory', 'data/generated')}/fileset.json"
    return inputs["fileset"] if inputs["source"] == "fileset" else inputs["agc_list"]


def fit_outputs():
    """The files the fit rule writes."""
    names = ["fit_results.json", "yields_prefit.json", "yields_postfit.json"]
    if CFG.get("fit", {}).get("ranking", True):
        names.append("ranking.json")
    return [f"{RESULTS}/fit/{name}" for name in names]


def fit_figures():
    """The figures a successful fit writes (agcflow.stats.figure_names)."""
    labels = [region["label"] for region in CFG["analysis"]["regions"].values()]
    names = FIGURE_NAMES.fit_figures(labels, CFG.get("fit", {}).get("ranking", True))
    return [f"{RESULTS}/figures/{name}" for name in names]


def settings_digest(stage, overrides=None):
    """The digest of the settings `stage` depends on (agcflow.stage_settings), with a rule's
    result-relevant --set `overrides`: the same digest the CLI records. As a rule's params
    value it reruns the rule exactly when one of those settings changes."""
    return STAGE_SETTINGS.digest(CFG, stage, overrides)
