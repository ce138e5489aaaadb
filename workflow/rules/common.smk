# Paths derived from the analysis config; no physics here.


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
