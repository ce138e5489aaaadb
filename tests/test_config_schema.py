"""The configuration's JSON schema documents itself: every property has a description, and a
closed choice's description says what each choice means."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from agcflow import config


def properties(node: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any], bool]]:
    """Every property below ``node``: its dotted path ("*" for an item or a mapping's value), its
    schema and whether its object requires it; ``$defs`` included."""
    for name, sub in node.get("$defs", {}).items():
        yield from properties(sub, f"$defs.{name}")
    required = set(node.get("required", ()))
    for name, sub in node.get("properties", {}).items():
        dotted = f"{path}.{name}" if path else name
        yield dotted, sub, name in required
        yield from properties(sub, dotted)
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            yield from properties(node[key], f"{path}.*")


ALL = list(properties(config.schema()))  # the generic keys and the default plugin's (cms_ttbar)


def test_the_walk_finds_every_section():
    found = {dotted for dotted, _, _ in ALL}
    assert {"analysis.kind", "cluster.gateway.auth", "$defs.systematic.up", "reinterpret.signals.*.label",
            "analysis.objects.electron.pt_min", "delivery.preselection.lepton_pt_min", "$defs.region.max_btags"} <= found
    assert len(found) > 130


@pytest.mark.parametrize(("dotted", "node", "required"), ALL, ids=[dotted for dotted, _, _ in ALL])
def test_every_property_has_a_description(dotted, node, required):
    text = node.get("description")
    assert isinstance(text, str) and text.strip() and "\n" not in text, f"{dotted} has no one-line description"
    for choice in node.get("enum", ()):
        if dotted != "$defs.region.observable":  # the plugin's observables (Analysis.observables)
            assert ("null" if choice is None else str(choice)) in text, f"{dotted}: the description omits {choice!r}"
