"""``agcflow <stage>``: the command group, logging set-up and the entry point.

Every command takes ``--config`` and any number of ``--set key.path=value`` overrides, and
exits non-zero with a one-line cause on failure. The commands live in sibling modules
(:mod:`~agcflow.cli.stages`, :mod:`~agcflow.cli.reinterpret`, :mod:`~agcflow.cli.bench`,
:mod:`~agcflow.cli.scan`, :mod:`~agcflow.cli.optimize`); this group adds them.
"""

from __future__ import annotations

import logging
import os
import platform
import sys

import click

from agcflow import __version__
from agcflow.cli import bench, optimize, reinterpret, scan, stages
from agcflow.errors import AgcflowError, redact

log = logging.getLogger("agcflow")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="agcflow",
                      message="%(prog)s %(version)s (python " + platform.python_version() + ")")
@click.option("-v", "--verbose", count=True,
              help="-v: agcflow's progress (INFO); -vv: agcflow's debug; -vvv: every library's debug.")
@click.option("--expect-settings", metavar="STAGE=DIGEST", default=None,
              help="Fail unless the settings STAGE depends on have this digest (Snakemake passes the one it reran for).")
def cli(verbose: int, expect_settings: str | None) -> None:
    """agcflow: an AGC analysis (a plugin, analysis.kind) from data delivery to a fitted result."""
    configure_logging(verbose)


class RedactingFormatter(logging.Formatter):
    """A log formatter that masks credentials in URLs (``agcflow.errors.redact``)."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def configure_logging(verbose: int) -> None:
    """Warnings only by default; ``-v`` and ``-vv`` raise agcflow's own logger to INFO and DEBUG
    while other libraries (matplotlib, distributed, ...) stay at WARNING; ``-vvv`` debugs all.
    Dask's ``distributed`` logs through handlers of its own, set from its configuration when it
    is imported (here and in worker processes): ``DASK_LOGGING__DISTRIBUTED`` sets that level."""
    os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "debug" if verbose >= 3 else "warning")
    handler = logging.StreamHandler()
    handler.setFormatter(RedactingFormatter("%(asctime)s %(name)s %(levelname)s: %(message)s"))
    logging.basicConfig(level=logging.DEBUG if verbose >= 3 else logging.WARNING, handlers=[handler], force=True)
    log.setLevel({0: logging.NOTSET, 1: logging.INFO}.get(verbose, logging.DEBUG))  # NOTSET: the root's WARNING
    if verbose < 3:
        logging.getLogger("cabinetry.histo").setLevel(logging.ERROR)  # one warning per empty template bin


def register_commands() -> None:
    """The group adds its subcommands (pyhf-style); no subcommand module imports this one."""
    for command in (*stages.COMMANDS, *reinterpret.COMMANDS, bench.bench, scan.scan, scan.contour, optimize.optimize):
        cli.add_command(command)


register_commands()


def main() -> None:
    """Entry point: run the CLI; an agcflow error becomes a one-line message and exit 1, an
    interrupt (Ctrl-C, SIGINT) a one-line notice and exit 130."""
    try:
        code = cli.main(standalone_mode=False)  # returns the code of a click Exit
    except click.ClickException as err:
        err.show()
        sys.exit(err.exit_code)
    except (click.exceptions.Abort, KeyboardInterrupt):
        log.warning("interrupted; files already written stay complete (outputs are written atomically)")
        sys.exit(130)
    except AgcflowError as err:
        message = str(err).replace("\n", " | ")
        click.echo(f"agcflow: error: {message}", err=True)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
