"""Options and settings loading shared by every ``agcflow`` command."""

from __future__ import annotations

from pathlib import Path

import click

from agcflow import config as config_module
from agcflow.config import stage_settings

CONFIG = click.option(
    "--config", "config_path", type=click.Path(path_type=Path), default=Path("configs/ttbar.yaml"),
    show_default=True, help="Analysis configuration (YAML).",
)
OVERRIDES = click.option(
    "--set", "overrides", multiple=True, metavar="KEY=VALUE",
    help="Override a config value, e.g. --set cluster.workers=1 (value parsed as YAML).",
)
PROGRESS = click.option("--progress/--no-progress", default=True, help="Show progress bars.")

BKG_ONLY = "bkg_only.json"  # the preserved background-only workspace, beside workspace.json


def load_settings(config_path: Path, overrides: tuple[str, ...]) -> config_module.Settings:
    """Validate the configuration once, with ``--set`` overrides applied; check the digest the
    workflow expects (``agcflow --expect-settings STAGE=DIGEST``) when it gave one."""
    from agcflow.config.source import parse_override

    settings = config_module.load(config_path, dict(parse_override(item) for item in overrides))
    context = click.get_current_context(silent=True)
    expected = context.find_root().params.get("expect_settings") if context else None
    if expected:
        stage, _, digest = expected.partition("=")
        if stage not in stage_settings.STAGE_SETTINGS:
            raise config_module.ConfigError(f"--expect-settings {expected}: unknown stage {stage!r}; "
                                            f"valid: {', '.join(stage_settings.STAGE_SETTINGS)}")
        computed = settings.stage_record(stage)["digest"]  # an unknown stage fails there, naming the valid ones
        if digest != computed:
            raise config_module.ConfigError(
                f"--expect-settings {expected}: agcflow computes {computed} for the {stage} settings of "
                f"{config_path}; the workflow and the package disagree on them (rerun with matching versions)")
    return settings



def _adaptive_defaults():
    from agcflow.scan.adaptive import MIN_BATCH, AdaptiveSettings

    return AdaptiveSettings(), MIN_BATCH


_LOOP, _MIN_BATCH = _adaptive_defaults()
ADAPTIVE_OPTION_LIST = [
    click.option("--budget", type=float, default=_LOOP.budget, show_default=True,
                 help="--adaptive: the largest fraction of the grid fitted."),
    click.option("--initial-fraction", type=float, default=_LOOP.initial_fraction, show_default=True,
                 help="--adaptive: the fraction of the grid in the space-filling first round."),
    click.option("--tolerance", type=float, default=_LOOP.tolerance, show_default=True,
                 help="--adaptive: stop once no unfitted point is on the wrong side of CLs = 0.05 with a larger "
                      "probability."),
    click.option("--batch", type=int, default=_LOOP.batch,
                 help=f"--adaptive: points per round (default: max({_MIN_BATCH}, 4 x workers) for a scan, "
                      f"{_MIN_BATCH} for a signal family)."),
    click.option("--seed", type=int, default=_LOOP.seed, show_default=True, help="--adaptive: seed of the initial design."),
]


def ADAPTIVE_OPTIONS(command):  # noqa: N802  (a decorator, named like the other option constants)
    """The active-learning loop's options (:class:`agcflow.scan.adaptive.AdaptiveSettings`, whose
    defaults they show)."""
    for option in reversed(ADAPTIVE_OPTION_LIST):
        command = option(command)
    return command


def adaptive_settings(budget: float, initial_fraction: float, tolerance: float, batch: int | None, seed: int):
    """The loop's settings from the options, checked before any compute (a bad value names its option)."""
    from agcflow.scan.adaptive import AdaptiveSettings

    settings = AdaptiveSettings(initial_fraction=initial_fraction, budget=budget, batch=batch, tolerance=tolerance,
                                seed=seed)
    settings.check()
    return settings
