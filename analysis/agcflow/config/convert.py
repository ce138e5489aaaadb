"""One generic converter from a validated configuration mapping to the frozen settings.

:func:`build` reads a dataclass' fields and type hints and converts each value to its hint:
nested dataclasses, tuples from lists (of dataclasses too), fixed-length tuples, ``Path`` and
``Path | None``, floats from ints where the hint says ``float`` (ints from integral floats where
it says ``int``), ``dict[str, float]``, and a mapping given for a tuple of pairs as its items
sorted by key. A key absent from the mapping leaves the dataclass' default.

The few fields that do not map one to one onto a key say so in their metadata, made with
:func:`spec`: a dotted ``key`` elsewhere in the mapping, a default taken from another field, a
mapping of named items, the keys no other field claims, or a value only the caller gives.

A field default given as JSON (the schema's, wrapped in :class:`Default`) becomes a value of the
field's type with :func:`typed_defaults`, applied below ``@dataclass``.
"""

from __future__ import annotations

import copy
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
SPEC = "agcflow.config"  # the metadata key of a field's Spec


@dataclass(frozen=True)
class Spec:
    """How a dataclass field is read from its mapping when not simply by its name.

    Attributes:
        key: The dotted key of the value in the mapping (default: the field's name).
        default_from: A field whose value this field takes when its key is absent or null.
        keyed: For a tuple of dataclasses given as a mapping of name -> item: the item field
            that receives each key.
        rest: The field collects every key of the mapping that no other field claims.
        given: The value is never read from the mapping; the caller passes it to :func:`build`
            (or the field keeps its default).
    """

    key: str | None = None
    default_from: str | None = None
    keyed: str | None = None
    rest: bool = False
    given: bool = False


@dataclass(frozen=True)
class Default:
    """A field default as JSON gives it (e.g. a schema's ``default``), to be made a value of the
    field's type by :func:`typed_defaults`."""

    value: Any


def typed_defaults(cls: type[T]) -> type[T]:
    """Make every :class:`Default` field default of the class ``cls`` a value of the field's type
    hint (as :func:`convert` makes a value of the mapping); apply it below ``@dataclass``.

    Args:
        cls: A class about to become a dataclass, its annotations resolvable where it is defined.

    Returns:
        ``cls``, each ``Default`` replaced by the typed value (a mutable one by a ``field`` whose
        ``default_factory`` copies it).

    Raises:
        TypeError: ``cls`` is a dataclass already (its ``__init__`` holds the untyped defaults).
    """
    if is_dataclass(cls):
        raise TypeError(f"{cls.__name__}: apply typed_defaults below @dataclass, not above it")
    hints = typing.get_type_hints(cls)
    for name in cls.__dict__.get("__annotations__", {}):
        given = cls.__dict__.get(name)
        if isinstance(given, Default):
            typed = convert(hints[name], given.value)
            hashable = type(typed).__hash__ is not None
            setattr(cls, name, typed if hashable else field(default_factory=lambda typed=typed: copy.deepcopy(typed)))
    return cls


def spec(**options: Any) -> dict[str, Spec]:
    """Field metadata with a :class:`Spec`, for ``dataclasses.field(metadata=...)``.

    Args:
        **options: The :class:`Spec` attributes.

    Returns:
        The metadata mapping.
    """
    return {SPEC: Spec(**options)}


def build(cls: type[T], values: Mapping[str, Any], /, **given: Any) -> T:
    """The dataclass ``cls`` from a validated mapping.

    Args:
        cls: A dataclass whose fields name the mapping's keys (or say otherwise in a :class:`Spec`).
        values: The validated mapping (a configuration section).
        **given: Field values used as they are, not read from ``values`` (e.g. what a plugin built).

    Returns:
        The instance, every value converted to its field's type hint.
    """
    hints = typing.get_type_hints(cls)
    claimed = keys(cls)
    kwargs: dict[str, Any] = {}
    for f in fields(cls):
        field_spec = f.metadata.get(SPEC, Spec())
        if f.name in given:
            kwargs[f.name] = given[f.name]
        elif field_spec.given:
            continue
        elif field_spec.rest:
            kwargs[f.name] = convert(hints[f.name], {k: v for k, v in values.items() if k not in claimed})
        else:
            found, value = lookup(values, field_spec.key or f.name)
            if field_spec.default_from is not None and value is None:  # absent or null: a field before this one
                kwargs[f.name] = kwargs[field_spec.default_from]
            elif found:
                if field_spec.keyed and isinstance(value, Mapping):
                    value = [{field_spec.keyed: name, **item} for name, item in value.items()]
                kwargs[f.name] = convert(hints[f.name], value)
    return cls(**kwargs)


def keys(cls: type) -> set[str]:
    """The keys of a mapping that :func:`build` reads for ``cls`` (the first part of a dotted key).

    Args:
        cls: A dataclass.

    Returns:
        The keys its fields claim; a ``rest`` field collects every other key.
    """
    specs = {f.name: f.metadata.get(SPEC, Spec()) for f in fields(cls)}
    return {(s.key or name).split(".")[0] for name, s in specs.items() if not (s.rest or s.given)}


def lookup(values: Mapping[str, Any], dotted: str) -> tuple[bool, Any]:
    """The value at a dotted key of nested mappings.

    Args:
        values: The mapping.
        dotted: Keys joined by dots, e.g. ``pseudodata.average``.

    Returns:
        Whether the key is there, and its value (None when it is not).
    """
    node: Any = values
    for key in dotted.split("."):
        if not isinstance(node, Mapping) or key not in node:
            return False, None
        node = node[key]
    return True, node


def convert(hint: Any, value: Any) -> Any:
    """``value`` (validated, as YAML or JSON gives it) converted to the type ``hint``.

    Args:
        hint: A resolved type hint: a dataclass, ``tuple[...]``, ``dict[...]``, ``X | None``,
            ``Path``, ``float``, ``int``, or anything else (the value is kept as it is).
        value: The value.

    Returns:
        The converted value.
    """
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None or (value == "" and Path in args):  # an empty path means none
            return None
        arms = [arm for arm in args if arm is not type(None)]
        return convert(arms[0] if len(arms) == 1 else Any, value)
    if is_dataclass(hint):
        return build(hint, value)
    if origin is tuple:
        return _tuple(args, value)
    if origin is dict:
        return {key: convert(args[1], item) for key, item in value.items()}
    if hint is Path:
        return Path(value)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is int and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _tuple(args: tuple[Any, ...], value: Any) -> tuple[Any, ...]:
    """A tuple of the element types ``args`` (``(X, ...)`` or fixed) from a list or mapping."""
    if isinstance(value, Mapping):  # a tuple of (key, value) pairs, sorted by key
        value = sorted(value.items())
    if len(args) == 2 and args[1] is Ellipsis:
        return tuple(convert(args[0], item) for item in value)
    return tuple(convert(arg, item) for arg, item in zip(args, value, strict=True))
