"""Reading a configuration: the YAML file, ``--set`` overrides, the schema's defaults, and
JSON-schema validation whose messages name the key (never dump the whole configuration).

The schema's defaults are filled in exactly as the Snakefile's ``snakemake.utils.validate``
fills them (its ``set_default=True``, the same in Snakemake 7 and 9): at every ``properties``
keyword the validator reaches in an object, each absent key with a ``default`` is set to it
before the keys are validated, so a section defaulted to ``{}`` gets its own keys' defaults and
a key below an absent section without a default stays absent. The stages' settings digests are
computed from the filled mapping on both sides, so they agree.

Every mistake here raises ``ConfigError`` naming the file or the ``--set`` item: a path that is
a directory or not UTF-8 text, YAML that does not parse or that refers to itself through an
alias, an override that indexes into a scalar, and non-finite numbers (``.nan``, ``.inf``)
wherever the schema asks for a number.
"""

from __future__ import annotations

import copy
import json
import math
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from agcflow.config import stage_settings
from agcflow.errors import ConfigError

SHOWN_VALUE_CHARS = 80  # a value longer than this is shown cut, not whole, in a message


def read_yaml(source: Path) -> dict[str, Any]:
    """The mapping of sections in a YAML configuration file."""
    try:
        raw = yaml.safe_load(source.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise ConfigError(f"{source}: configuration file not found") from err
    except IsADirectoryError as err:
        raise ConfigError(f"{source}: is a directory; expected a YAML configuration file") from err
    except UnicodeDecodeError as err:
        raise ConfigError(f"{source}: not UTF-8 text ({err.reason} at byte {err.start}); expected a YAML file") from err
    except OSError as err:
        raise ConfigError(f"{source}: cannot read the configuration file ({err.strerror})") from err
    except yaml.YAMLError as err:
        raise ConfigError(f"{source}: not valid YAML ({_one_line(err)})") from err
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping of sections, got {type(raw).__name__}")
    _check_not_recursive(raw, str(source))
    return raw


def parse_override(item: str) -> tuple[str, Any]:
    """``KEY=VALUE`` of a ``--set`` option, the value parsed as YAML."""
    key, sep, text = item.partition("=")
    if not sep or not key:
        raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. cluster.workers=2")
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"--set {item!r}: the value is not valid YAML ({_one_line(err)}); quote a string") from err
    _check_not_recursive(value, f"--set {item!r}")
    return key, value


def set_dotted(raw: dict[str, Any], dotted: str, value: Any) -> None:
    """``stage_settings.set_dotted`` for a ``--set`` item, its mistakes as a ConfigError."""
    try:
        stage_settings.set_dotted(raw, dotted, value)
    except ValueError as err:
        raise ConfigError(f"--set {dotted}: {err}") from err


def fill_defaults(raw: dict[str, Any], schema: dict[str, Any]) -> None:
    """Set every absent key of ``raw`` that has a ``default`` in ``schema`` to (a copy of) it, in
    place, as the Snakefile's ``validate`` does (see the module's docstring). Problems are left
    to :func:`validate_schema`."""
    for _ in _validator(fill=True)(schema).iter_errors(raw):
        pass


def validate_schema(raw: dict[str, Any], schema: dict[str, Any], source: Path, fill: bool = False) -> None:
    """Check ``raw`` against ``schema``; numbers must be finite. Lists at most ten problems.

    Args:
        raw: The configuration mapping.
        schema: Its JSON schema.
        source: Where it came from, named in errors.
        fill: Fill in the schema's defaults while validating, as :func:`fill_defaults` does.

    Raises:
        ConfigError: One line per problem (at most ten), each naming its key.
    """
    validator = _validator(fill)(schema)
    errors = sorted(validator.iter_errors(raw), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [_describe(error) for error in errors[:10]]
        raise ConfigError(f"{source}: invalid configuration:\n  " + "\n  ".join(lines))


@cache
def _validator(fill: bool) -> Any:
    """Draft 2020-12, except that NaN and +-infinity are not of type ``number``; with ``fill``,
    its ``properties`` keyword first sets the absent keys' defaults, as the jsonschema FAQ's
    ``extend_with_default`` that ``snakemake.utils.validate`` uses (a copy of the default, not
    the schema's own object, and nothing set in a value that is not a mapping)."""
    import jsonschema

    base = jsonschema.Draft202012Validator
    checker = base.TYPE_CHECKER.redefine(
        "number", lambda checker, value: base.TYPE_CHECKER.is_type(value, "number") and math.isfinite(value))
    if not fill:
        return jsonschema.validators.extend(base, type_checker=checker)
    validate_properties = base.VALIDATORS["properties"]

    def set_defaults(validator: Any, properties: dict[str, Any], instance: Any, schema: dict[str, Any]) -> Any:
        if isinstance(instance, dict):
            for name, subschema in properties.items():
                if "default" in subschema and name not in instance:
                    instance[name] = copy.deepcopy(subschema["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(base, {"properties": set_defaults}, type_checker=checker)


def _describe(error: Any) -> str:
    key = ".".join(str(part) for part in error.absolute_path) or "<top level>"
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        return f"{key}: {error.message}; allowed keys: {', '.join(allowed)}"
    if error.validator == "required":
        missing = [name for name in error.validator_value if name not in error.instance]
        return f"{key}: missing required key{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing))}"
    if error.validator in ("oneOf", "anyOf") and "$comment" in error.schema:  # the rule, not the whole value
        return f"{key}: {error.schema['$comment']}"
    if error.validator == "enum":
        return f"{key} = {_shown(error.instance)}: unknown; valid: {', '.join(map(str, error.validator_value))}"
    if isinstance(error.instance, float) and not math.isfinite(error.instance):
        return f"{key} = {error.instance}: must be a finite number"
    message = error.message if len(error.message) <= 2 * SHOWN_VALUE_CHARS else f"fails '{error.validator}'"
    return f"{key} = {_shown(error.instance)}: {message}"


def _shown(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= SHOWN_VALUE_CHARS else text[: SHOWN_VALUE_CHARS - 3] + "..."


def _check_not_recursive(value: Any, where: str) -> None:
    try:
        json.dumps(value, default=str)
    except ValueError as err:  # "Circular reference detected"
        raise ConfigError(f"{where}: a YAML alias refers to its own anchor (e.g. a: &x [*x]); "
                          "expected plain values") from err


def _one_line(err: Exception) -> str:
    return " ".join(str(err).split())
