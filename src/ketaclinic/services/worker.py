"""The background worker that empties the outbox (issue 13): a plain loop over the database table.

Why a loop and not a task library (docs/decisions.md, "Reminders"): the outbox table already is the
durable queue (written in the booking's own transaction, once-only by its unique key, claimed with row
locks and leases), so huey or procrastinate would add a second queue to keep in step with it (a booking
committed but its task lost, or the other way round), procrastinate would tie the clinic to PostgreSQL,
and APScheduler would only be the timer this loop already is. The loop claims a batch, sends it, and
sleeps ``KETACLINIC_OUTBOX_POLL_S`` when nothing is due; any number of these run side by side.

``ketaclinic worker`` runs it alone (a group runs one or more per machine); ``ketaclinic serve`` starts it
in a thread next to the web server unless ``--no-worker``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from ketaclinic.records.db import Database
from ketaclinic.services import follow_up_summaries, mail, questionnaire_reminders, reminders
from ketaclinic.settings import Settings

log = logging.getLogger("ketaclinic.worker")


def run(settings: Settings, *, stop: threading.Event | None = None, once: bool = False,
        on_batch: Callable[[list[reminders.Outcome]], None] | None = None,
        on_refresh: Callable[[int], None] | None = None) -> int:
    """Work the outbox until ``stop`` is set (or until nothing is left with ``once``); the number of messages
    handled. Each pass also recomputes a batch of stale follow-up summaries (issue 17: the rows time has
    overtaken, and those the bulk demo loader left to compute), reported to ``on_refresh``.

    The loop goes straight on only while there is a backlog (messages sent, or a full batch of summaries);
    a few rows made stale by the clinic's own writes wait for the next poll. Going straight on after every
    recomputed row made the worker thread of each ``serve`` process spin under a steady stream of vitals (each
    write stales the patient's row again), taking the CPU from the requests: saturation throughput on
    PostgreSQL fell from 146/260 req/s (one/two workers) to 80/130 (benchmarks/results/scale.json)."""
    stop = stop or threading.Event()
    db = Database(settings.database_url, sqlite_busy_timeout_ms=settings.sqlite_busy_timeout_ms)
    worker = reminders.worker_name()
    handled = 0
    next_scan = 0.0  # questionnaire reminders: a scan at once, then every questionnaire_reminder_scan_s
    try:
        while not stop.is_set():
            if time.monotonic() >= next_scan:
                next_scan = time.monotonic() + settings.questionnaire_reminder_scan_s
                try:
                    questionnaire_reminders.queue_due(db, settings)
                except Exception:  # as below: log it, the outbox still goes out
                    log.exception("questionnaire reminder scan failed")
            try:
                outcomes = reminders.run_once(db, settings, mail.transports(settings), worker=worker)
            except Exception:  # the database went away for a moment: log it and try again after the pause
                log.exception("outbox pass failed")
                outcomes = []
            try:
                refreshed = follow_up_summaries.refresh_stale(db)
            except Exception:  # as above: the pages recompute what they show meanwhile
                log.exception("follow-up summary refresh failed")
                refreshed = 0
            if refreshed and on_refresh is not None:
                on_refresh(refreshed)
            handled += len(outcomes)
            if outcomes:
                for outcome in outcomes:
                    log.info("outbox message %s: %s %s", outcome.message_id, outcome.status, outcome.detail)
                if on_batch is not None:
                    on_batch(outcomes)
            if once:
                if not outcomes and not refreshed:
                    break
                continue
            if not outcomes and not follow_up_summaries.backlog_left(refreshed):
                stop.wait(settings.outbox_poll_s)
    finally:
        db.dispose()
    return handled


def start_in_thread(settings: Settings) -> tuple[threading.Thread, threading.Event]:
    """The worker as a daemon thread of this process (``ketaclinic serve``)."""
    stop = threading.Event()
    thread = threading.Thread(target=run, args=(settings,), kwargs={"stop": stop}, name="ketaclinic-outbox",
                              daemon=True)
    thread.start()
    return thread, stop
