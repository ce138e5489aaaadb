"""Transient read errors are retried within a budget, and only they; a short read is caught by
event counts: the fileset's declared entries when delivering, the skims' when processing."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import threading
import time

import pytest

from agcflow.analyses.cms_ttbar.query import DeliveryQuery
from agcflow.delivery.local import READ_RETRIES, deliver_file
from agcflow.delivery.manifest_types import Manifest
from agcflow.errors import InputFileError
from agcflow.processing import run as processing

from .conftest import fault_settings

pytestmark = pytest.mark.faults

FAST = dataclasses.replace(READ_RETRIES, attempts=5, backoff_s=0.1)  # waits 0.1, 0.2, 0.4, 0.8 s


@pytest.fixture()
def query(settings) -> DeliveryQuery:
    return DeliveryQuery(settings.delivery.preselection, settings.analysis.options.cuts)


def retries_logged(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if "transient error" in r.getMessage()]


def appear_later(source, target, delay_s: float) -> threading.Thread:
    """Copy ``source`` next to ``target`` now, rename it onto ``target`` after ``delay_s``."""
    staged = target.with_name(f".{target.name}.staged")
    shutil.copyfile(source, staged)
    mover = threading.Thread(target=lambda: (time.sleep(delay_s), os.replace(staged, target)))
    mover.start()
    return mover


def test_a_file_that_appears_late_is_read_after_retries(wjets_file, query, tmp_path, caplog):
    late = tmp_path / "late.root"
    expected = deliver_file(str(wjets_file), "Events", query, str(tmp_path / "reference"), None)
    mover = appear_later(wjets_file, late, delay_s=0.25)
    with caplog.at_level(logging.WARNING, logger="agcflow"):
        record = deliver_file(str(late), "Events", query, str(tmp_path / "cache"), expected.nevts_in, budget=FAST)
    mover.join()
    assert (record.nevts_in, record.nevts_out, record.cached) == (expected.nevts_in, expected.nevts_out, False)
    assert 1 <= len(retries_logged(caplog)) < FAST.attempts
    assert all(str(late) in line for line in retries_logged(caplog))


def test_a_spent_budget_fails_naming_the_file_and_the_attempts(query, tmp_path, caplog):
    never = tmp_path / "never.root"
    with caplog.at_level(logging.WARNING, logger="agcflow"), pytest.raises(InputFileError) as err:
        deliver_file(str(never), "Events", query, str(tmp_path), None, budget=FAST)
    assert str(err.value) == f"{never}: input file not found (gave up after {FAST.attempts} attempts)"
    assert len(retries_logged(caplog)) == FAST.attempts - 1


def test_corrupt_and_short_files_are_not_retried(wjets_file, query, tmp_path, caplog):
    corrupt = tmp_path / "corrupt.root"
    corrupt.write_bytes(wjets_file.read_bytes()[:2000] + b"\0" * 5000)
    nevts = json.loads((wjets_file.parents[1] / "fileset.json").read_text())["wjets"]["nominal"]["files"][0]["nevts"]
    start = time.perf_counter()
    with caplog.at_level(logging.WARNING, logger="agcflow"):
        with pytest.raises(InputFileError, match=f"{corrupt}: cannot read tree 'Events'"):
            deliver_file(str(corrupt), "Events", query, str(tmp_path), None, budget=FAST)
        with pytest.raises(InputFileError, match=f"{nevts} entries, but the fileset says {nevts + 7}"):
            deliver_file(str(wjets_file), "Events", query, str(tmp_path), nevts + 7, budget=FAST)
    assert retries_logged(caplog) == [] and time.perf_counter() - start < FAST.backoff_s * 5


def test_a_skim_short_of_its_manifest_count_fails_processing(fault_manifest, fault_base, dask_client):
    data = json.loads(fault_manifest.read_text())
    data["samples"]["ttbar__nominal"]["skim"]["nevts"] += 30  # the manifest promises 30 events the skim does not hold
    manifest = Manifest.from_json(data, fault_manifest)
    settings = fault_settings(fault_base)
    delivered = manifest.events_out
    expected = f"processed {delivered} events, but the skims of .* hold {delivered + 30}"
    with pytest.raises(InputFileError, match=expected):
        processing.run_samples(manifest, settings.analysis, settings.processing, dask_client, progress=False)
