"""The generic converter from a validated mapping to the settings dataclasses, and the schema's
agreement with them: every key the schema allows is a key a dataclass reads, and back, and the
dataclasses' defaults are the schema's."""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from agcflow import config
from agcflow.config import settings as s
from agcflow.config.convert import SPEC, Default, Spec, build, convert, keys, spec, typed_defaults


@dataclass(frozen=True)
class Item:
    name: str
    label: str = field(metadata=spec(default_from="name"))
    rest: dict[str, Any] = field(default_factory=dict, metadata=spec(rest=True))


@dataclass(frozen=True)
class Example:
    ratio: float
    count: int = 0
    flag: bool = False
    bounds: tuple[float, float] = (0.0, 1.0)
    edges: tuple[float, ...] = ()
    where: Path = Path("here")
    maybe: Path | None = None
    pairs: tuple[tuple[str, int], ...] = ()
    weights: dict[str, float] = field(default_factory=dict)
    items: tuple[Item, ...] = field(default=(), metadata=spec(keyed="name"))
    listed: tuple[Item, ...] = ()
    deep: str = field(default="", metadata=spec(key="nested.deep"))
    given: Any = field(default=None, metadata=spec(given=True))


def test_values_follow_the_type_hints():
    built = build(Example, {
        "ratio": 2, "count": 3.0, "flag": True, "bounds": [0, 5], "edges": [1, 2.5], "where": "a/b", "maybe": "c",
        "pairs": {"b": 2, "a": 1}, "weights": {"x": 1}, "items": {"one": {"cut": 3}, "two": {"label": "Two"}},
        "listed": [{"name": "three"}], "nested": {"deep": "yes"}, "given": "ignored"})
    assert built == Example(
        ratio=2.0, count=3, flag=True, bounds=(0.0, 5.0), edges=(1.0, 2.5), where=Path("a/b"), maybe=Path("c"),
        pairs=(("a", 1), ("b", 2)), weights={"x": 1.0}, items=(Item("one", "one", {"cut": 3}), Item("two", "Two")),
        listed=(Item("three", "three"),), deep="yes", given=None)
    assert type(built.ratio) is float and type(built.count) is int and type(built.bounds[0]) is float
    assert type(built.weights["x"]) is float and built.flag is True


def test_absent_keys_keep_the_defaults_and_given_values_are_used_as_they_are():
    assert build(Example, {"ratio": 1.5}) == Example(ratio=1.5)
    assert build(Example, {"ratio": 1.5, "maybe": ""}).maybe is None  # an empty path means none
    assert build(Example, {"ratio": 1.5}, given=[1], count=7) == Example(ratio=1.5, count=7, given=[1])


def test_a_missing_required_key_is_an_error():
    with pytest.raises(TypeError, match="ratio"):
        build(Example, {})


SECTIONS = {
    ("properties", "analysis"): s.AnalysisSettings,
    ("$defs", "sample"): s.Sample,
    ("$defs", "region"): s.Region,
    ("$defs", "systematic"): s.Systematic,
    ("properties", "analysis", "properties", "histogram"): s.HistogramAxis,
    ("properties", "inputs"): s.InputSettings,
    ("properties", "inputs", "properties", "generate"): s.GenerateSettings,
    ("properties", "delivery"): s.DeliverySettings,
    ("properties", "delivery", "properties", "servicex"): s.ServiceXSettings,
    ("properties", "cluster"): s.ClusterSettings,
    ("properties", "cluster", "properties", "gateway"): s.GatewaySettings,
    ("properties", "cluster", "properties", "tls"): s.TlsSettings,
    ("properties", "processing"): s.ProcessingSettings,
    ("properties", "fit"): s.FitSettings,
    ("properties", "reinterpret"): s.ReinterpretSettings,
    ("properties", "reinterpret", "properties", "signals", "items"): s.SignalSettings,
    ("properties", "benchmark"): s.BenchmarkSettings,
    (): s.Settings,
}
GIVEN = {s.DeliverySettings: {"preselection"}}  # the plugin builds it from its own schema
KEYED = {s.Sample: {"name"}, s.Region: {"name"}}  # the key of the mapping the item is in


@pytest.mark.parametrize("path", SECTIONS, ids=lambda path: "/".join(path) or "top")
def test_the_schema_allows_exactly_the_keys_the_settings_read(path):
    node = config.base_schema()
    for part in path:
        node = node[part]
    cls = SECTIONS[path]
    allowed = set(node["properties"]) - GIVEN.get(cls, set())
    assert allowed == keys(cls) - KEYED.get(cls, set())


@pytest.mark.parametrize("path", SECTIONS, ids=lambda path: "/".join(path) or "top")
def test_the_dataclass_defaults_are_the_schema_defaults(path):
    """Settings made in code (ClusterSettings(workers=2)) get what a configuration file gets."""
    node = config.base_schema()
    for part in path:
        node = node[part]
    cls = SECTIONS[path]
    hints = typing.get_type_hints(cls)
    by_key = {f.metadata.get(SPEC, Spec()).key or f.name: f for f in dataclasses.fields(cls)}
    for key, sub in node["properties"].items():
        if key in node.get("required", ()) or key not in by_key or key in GIVEN.get(cls, set()):
            continue
        f = by_key[key]
        if f.metadata.get(SPEC, Spec()).default_from:  # the schema's null: another field's value
            assert sub["default"] is None, key
            continue
        assert f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING, key
        value = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        assert value == convert(hints[f.name], sub["default"]), key


def test_typed_defaults_give_json_defaults_the_fields_types():
    @dataclass(frozen=True)
    @typed_defaults
    class Typed:
        where: Path = Default("a/b")
        edges: tuple[float, ...] = Default([1, 2])
        item: Item = Default({"name": "x"})
        weights: dict[str, float] = Default({"w": 1})
        plain: int = 3

    first, second = Typed(), Typed()
    assert first == Typed(Path("a/b"), (1.0, 2.0), Item("x", "x"), {"w": 1.0}, 3)
    assert first.weights is not second.weights  # a mutable default is copied for each instance
    with pytest.raises(TypeError, match="below @dataclass"):
        typed_defaults(Example)
