"""The Z' -> ttbar signal's width parameter: the generated resonance has the Breit-Wigner width
Gamma = width x mass, the default is the former fixed 3 %, and bad parameters name what is valid."""

from __future__ import annotations

import numpy as np
import pytest

from agcflow.analyses.cms_ttbar.generator.events import signal_process
from agcflow.analyses.cms_ttbar.generator.particles import ELECTRON, GLUON, MUON, TAU
from agcflow.analyses.cms_ttbar.generator.samples import TUNES
from agcflow.analyses.cms_ttbar.generator.top import ZPRIME_RELATIVE_WIDTH
from agcflow.errors import ConfigError

N_EVENTS = 20_000


def resonance_masses(parameters: dict[str, float]) -> np.ndarray:
    """The ttbar system's mass in the all-hadronic events (every decay product visible; the
    initial-state gluons left out)."""
    particles = signal_process("zprime", parameters)(np.random.default_rng(1), N_EVENTS, TUNES["nominal"])
    leptonic = np.zeros(N_EVENTS, bool)
    leptonic[particles.event[np.isin(particles.pdg, [ELECTRON, MUON, TAU])]] = True
    decay = particles.pdg != GLUON
    px, py = particles.pt * np.cos(particles.phi), particles.pt * np.sin(particles.phi)
    pz = particles.pt * np.sinh(particles.eta)
    energy = np.sqrt(px**2 + py**2 + pz**2 + particles.mass**2)
    e, x, y, z = (np.bincount(particles.event[decay], weights=v[decay], minlength=N_EVENTS) for v in (energy, px, py, pz))
    return np.sqrt(np.maximum(e**2 - x**2 - y**2 - z**2, 0.0))[~leptonic]


@pytest.mark.parametrize("width", [0.03, 0.15])
def test_the_resonance_has_the_breit_wigner_width(width):
    """A Breit-Wigner's interquartile range is its full width Gamma."""
    q1, median, q3 = np.percentile(resonance_masses({"mass": 1000, "width": width}), [25, 50, 75])
    assert median == pytest.approx(1000, rel=0.01)
    assert (q3 - q1) == pytest.approx(width * 1000, rel=0.15)


def test_the_default_width_is_three_percent():
    assert ZPRIME_RELATIVE_WIDTH == 0.03
    np.testing.assert_array_equal(resonance_masses({"mass": 750}), resonance_masses({"mass": 750, "width": 0.03}))


@pytest.mark.parametrize("parameters", [{"mass": 300}, {"mass": 1000, "width": 0}, {"mass": 1000, "width": 0.8},
                                        {"mass": 1000, "coupling": 1}, {"width": 0.1}])
def test_bad_parameters_name_what_is_valid(parameters):
    with pytest.raises(ConfigError, match=r"signal 'zprime': parameters .* needs \{mass: <GeV above 400>, "
                                          r"width: <Gamma/m in \(0, 0.5\], optional, default 0.03>\}"):
        signal_process("zprime", parameters)
