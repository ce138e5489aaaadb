"""Progress in logs when no bar is shown: bounded-rate lines with counts, rates and an ETA."""

from __future__ import annotations

import logging
import time

from agcflow.util.progress import LogProgress, progress, watch_scheduler


def test_log_progress_is_rate_bounded_and_ends_with_a_summary(caplog):
    caplog.set_level(logging.INFO, logger="agcflow.util.progress")
    bar = LogProgress(total=100, desc="deliver", unit="file", interval_s=0.05)
    for _ in range(50):
        bar.update(events=1000)
    time.sleep(0.06)
    bar.update(events=1000)  # past the interval: one line with an ETA
    for _ in range(49):
        bar.update(events=1000)  # the last one: the summary
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2, lines
    assert lines[0].startswith("deliver: 51/100 files (51%)") and "events/s" in lines[0] and "ETA" in lines[0]
    assert lines[1].startswith("deliver: 100/100 files (100%)") and "done in" in lines[1]


def test_progress_without_a_bar_logs(caplog):
    caplog.set_level(logging.INFO, logger="agcflow.util.progress")
    with progress(3, "generate", "file", bar=False, interval_s=3600) as shown:
        for _ in range(3):
            shown.update()
    assert [r.getMessage().split(",")[0] for r in caplog.records] == ["generate: 3/3 files (100%)"]


def test_watch_scheduler_logs_task_counts(dask_client, caplog):
    caplog.set_level(logging.INFO, logger="agcflow.util.progress")
    with watch_scheduler(dask_client, "process", interval_s=0.2):
        futures = dask_client.map(time.sleep, [0.05] * 20, pure=False)
        dask_client.gather(futures)
        time.sleep(0.5)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("process: ")]
    assert len(lines) >= 2, lines
    assert lines[-1].startswith("process: 20/20 tasks done"), lines
