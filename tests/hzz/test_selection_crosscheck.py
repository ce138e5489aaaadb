"""The H->ZZ*->4l selection, m4l and event weights against an independent implementation of the
AGC's cuts in plain awkward + vector (as the AGC notebook reads the files with uproot), on the
same generated files: the plugin's results through the real local delivery, its ``fill_flat``
(the cached passes' path) and the coffea processing (its ``fill``)."""

from __future__ import annotations

import json

import awkward as ak
import numpy as np
import pytest
import uproot
import vector

from agcflow.delivery.local import read_columns
from agcflow.processing.processor import chunk_of
from agcflow.processing.run import entry_metadata

vector.register_awkward()

SCALE_FACTORS = ("scaleFactor_ELE", "scaleFactor_MUON", "scaleFactor_LepTRIGGER", "scaleFactor_PILEUP")
LEPTON = ("pt", "eta", "phi", "E", "charge", "type")


def read_sample(paths: list[str], tree: str) -> ak.Array:
    """Every event of the files, as the notebook reads them: the ntuple's own branch names."""
    branches = ["lep_n", *(f"lep_{f}" for f in LEPTON), "mcWeight", *SCALE_FACTORS]
    return ak.concatenate([uproot.open(path)[tree].arrays(branches) for path in paths])


def agc_cuts(events: ak.Array) -> dict[str, ak.Array]:
    """The AGC's cuts, one by one: exactly four leptons, total charge 0, 4e / 2e2mu / 4mu."""
    four = events[events.lep_n == 4]
    neutral = four[ak.sum(four.lep_charge, axis=1) == 0]
    type_sum = ak.sum(neutral.lep_type, axis=1)
    selected = neutral[(type_sum == 44) | (type_sum == 48) | (type_sum == 52)]
    return {"all": events, "four": four, "neutral": neutral, "selected": selected}


def agc_m4l(events: ak.Array) -> np.ndarray:
    """m4l [GeV] as the notebook computes it: the sum of the four leptons' four-vectors (vector)."""
    leptons = ak.zip({name: ak.values_astype(events[f"lep_{field}"], np.float64)
                      for name, field in (("pt", "pt"), ("eta", "eta"), ("phi", "phi"), ("energy", "E"))},
                     with_name="Momentum4D")
    return ak.to_numpy((leptons[:, 0] + leptons[:, 1] + leptons[:, 2] + leptons[:, 3]).mass) / 1000.0


def agc_weights(events: ak.Array, sample, lumi_pb: float, n_generated: int, filter_efficiency: float) -> np.ndarray:
    """mcWeight x the four scale factors x xsec x lumi x filter efficiency (the generated
    fileset's) / generated events."""
    weight = ak.to_numpy(events.mcWeight).astype(np.float64)
    for name in SCALE_FACTORS:
        weight = weight * ak.to_numpy(events[name])
    return weight * sample.xsec_pb * lumi_pb * filter_efficiency / n_generated


@pytest.fixture(scope="module")
def reference(hzz_settings, hzz_fileset):
    """Per sample key: the independent implementation's cut flow, m4l and weights."""
    fileset = json.loads(hzz_fileset.read_text())
    analysis = hzz_settings.analysis
    out = {}
    for sample in analysis.samples:
        entry = fileset[sample.name]["nominal"]
        flow = agc_cuts(read_sample([f["path"] for f in entry["files"]], analysis.tree))
        selected = flow["selected"]
        weights = None if sample.data else agc_weights(selected, sample, analysis.lumi_pb, entry["nevts_total"],
                                                           entry["filter_efficiency"])
        out[f"{sample.name}__nominal"] = {
            "flow": {step: len(events) for step, events in flow.items()},
            "m4l": agc_m4l(selected),
            "weight": weights,
            "scale_factor": None if sample.data else np.prod([ak.to_numpy(selected[n]).astype(np.float64)
                                                               for n in SCALE_FACTORS], axis=0),
            "mc_weight": ak.to_numpy(selected.mcWeight).astype(np.float64),
        }
    return out


@pytest.fixture(scope="module")
def plugin_fill_flat(hzz_settings, hzz_manifest):
    """Per sample key: what AtlasHzz.fill_flat gives on the merged delivered columns."""
    analysis = hzz_settings.analysis
    out = {}
    for key, entry in hzz_manifest.samples.items():
        chunk = chunk_of(entry_metadata(key, entry, analysis), analysis, hzz_settings.processing.seed)
        out[key] = (analysis.plugin.fill_flat(read_columns(entry.skim.columns), chunk), chunk)
    return out


def test_every_cut_removes_events_so_the_comparison_can_fail(reference):
    total = {step: sum(r["flow"][step] for r in reference.values()) for step in ("all", "four", "neutral", "selected")}
    assert total["all"] > total["four"] > total["neutral"] > total["selected"] > 0, total
    assert all(r["flow"]["selected"] > 50 for r in reference.values()), {k: r["flow"] for k, r in reference.items()}


def test_delivery_keeps_exactly_the_four_lepton_events(reference, hzz_manifest):
    for key, entry in hzz_manifest.samples.items():
        assert entry.nevts_total == reference[key]["flow"]["all"], key
        assert entry.skim.nevts == reference[key]["flow"]["four"], key


def test_fill_flat_selects_the_same_events_with_the_same_m4l(reference, plugin_fill_flat, hzz_settings):
    regions = [r.name for r in hzz_settings.analysis.regions]
    for key, (filled, _) in plugin_fill_flat.items():
        expected = reference[key]["m4l"]
        for region in regions:  # every region histograms m4l of the same events
            mass, _ = filled[region, "nominal"]
            assert mass.size == expected.size, key
            np.testing.assert_allclose(mass, expected, rtol=1e-12, atol=0, err_msg=key)
        assert 80 < np.median(expected) < 400, key


def test_fill_flat_weights_are_the_agc_weights(reference, plugin_fill_flat, hzz_settings):
    variations = hzz_settings.analysis.options.variations
    for key, (filled, chunk) in plugin_fill_flat.items():
        ref = reference[key]
        mass, nominal = filled["4l", "nominal"]
        if chunk.data:
            assert np.array_equal(nominal, np.ones(mass.size)), key
            assert set(filled) == {(r.name, "nominal") for r in hzz_settings.analysis.regions}, key
            continue
        # the delivered scale factor is the float32 product (as func_adl_uproot computes it): 1e-6
        np.testing.assert_allclose(nominal, ref["weight"], rtol=1e-6, err_msg=key)
        assert not np.allclose(nominal, nominal.mean(), rtol=1e-3), key  # per-event weights, not a constant
        unscaled = ref["weight"] / ref["scale_factor"]
        for name, factor in (("sf_up", 1 + variations.scale_factor), ("sf_down", 1 - variations.scale_factor)):
            varied_mass, varied = filled["4l", name]
            assert np.array_equal(varied_mass, mass), (key, name)
            np.testing.assert_allclose(varied, unscaled * ref["scale_factor"] * factor, rtol=1e-6, err_msg=(key, name))
        for name, sign in (("m4l_up", 1.0), ("m4l_down", -1.0)):
            shifted, weights = filled["4l", name]
            np.testing.assert_allclose(shifted, ref["m4l"] * (1 + sign * variations.m4l_scale), rtol=1e-12,
                                       err_msg=(key, name))
            assert np.array_equal(weights, nominal), (key, name)


def test_processing_histograms_are_the_independent_ones(reference, hzz_settings, hzz_manifest, hzz_histograms):
    analysis = hzz_settings.analysis
    hists, metrics, _ = hzz_histograms
    assert metrics["entries"] == sum(entry.skim.nevts for entry in hzz_manifest.samples.values())
    axis = analysis.histogram
    edges = np.linspace(axis.low, axis.high, axis.bins + 1)
    for key, ref in reference.items():
        process = key.removesuffix("__nominal")
        weights = np.ones(ref["m4l"].size) if ref["weight"] is None else ref["weight"]
        expected, _ = np.histogram(ref["m4l"], bins=edges, weights=weights)
        variances, _ = np.histogram(ref["m4l"], bins=edges, weights=weights**2)
        for region in (r.name for r in analysis.regions):
            histogram = hists[f"{region}_{process}"]
            np.testing.assert_allclose(histogram.values(), expected, rtol=1e-6, atol=1e-12, err_msg=key)
            np.testing.assert_allclose(histogram.variances(), variances, rtol=2e-6, atol=1e-15, err_msg=key)
        in_range = (ref["m4l"] >= axis.low) & (ref["m4l"] < axis.high)
        assert hists[f"4l_{process}"].values().sum() == pytest.approx(weights[in_range].sum(), rel=1e-6), key
