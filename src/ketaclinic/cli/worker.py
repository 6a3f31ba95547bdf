"""``ketaclinic worker``: the outbox worker alone (issue 13; design.md 4.9).

A group runs it on one or more machines next to ``ketaclinic serve --no-worker``; one clinic on one
machine needs nothing more than ``ketaclinic serve``, which starts the same loop in a thread.
``--once`` works through what is due now and exits, writing one JSON document of what it did.
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import Annotated

import typer

from ketaclinic.cli.io import emit


def worker(
    once: Annotated[bool, typer.Option(help="Send what is due now and bring the follow-up summaries up to date, "
                                             "then exit")] = False,
) -> None:
    """Send the outbox's messages (reminders, confirmations) and keep the follow-up summaries up to date, until
    stopped (SIGTERM / Ctrl-C)."""
    from ketaclinic.cli.database import open_migrated
    from ketaclinic.cli.records import _settings
    from ketaclinic.services import worker as outbox_worker

    settings = _settings()
    open_migrated(settings).dispose()  # refuse an old or empty database before the loop starts
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    counts: dict[str, int] = {}

    def tally(outcomes: list) -> None:
        for outcome in outcomes:
            counts[outcome.status] = counts.get(outcome.status, 0) + 1

    refreshed = [0]

    def add_refreshed(n: int) -> None:
        refreshed[0] += n

    handled = outbox_worker.run(settings, stop=stop, once=once, on_batch=tally, on_refresh=add_refreshed)
    emit({"handled": handled, "outcomes": counts, "smtp_configured": settings.smtp_url is not None,
          "follow_up_summaries_refreshed": refreshed[0]})


def register(app: typer.Typer) -> None:
    app.command("worker")(worker)
