"""What `/metrics` reports, in Prometheus' text format (`prometheus_client`).

Counters are this process's own (each replica counts what it handled; Prometheus adds them up
by instance). What the store knows for everyone (the journal's lag, the review queue, the inbox)
is read when a scrape asks, by `observe`, so a gauge is never staler than the scrape. Each
application holds its own registry: two bots in one process (the tests) never share a count.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from bot.desk.desk import Desk
from bot.store import Store
from model_core.consensus import State

CONTENT_TYPE = CONTENT_TYPE_LATEST
# Webhook posts and health checks take milliseconds; a console page or a photo tens of them.
LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """The process's counters and the store's gauges, on a registry of their own."""

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        self.updates_received = Counter(
            "labelbot_updates_received", "updates kept in the inbox (redeliveries not counted)",
            registry=registry,
        )  # fmt: skip
        self.updates_handled = Counter(
            "labelbot_updates_handled", "updates whose handlers have run", registry=registry
        )
        self.photos_answered = Counter(
            "labelbot_photos_answered", "photos answered with the model's guesses",
            registry=registry,
        )  # fmt: skip
        self.votes = Counter(
            "labelbot_votes", "answers to a photo, by action (vote, skip, undo) and channel",
            ["action", "via"], registry=registry,
        )  # fmt: skip
        self.requests = Histogram(
            "labelbot_http_request_duration_seconds", "time to answer an HTTP request, by route",
            ["route", "method"], buckets=LATENCY_BUCKETS, registry=registry,
        )  # fmt: skip
        self.model_version = Gauge(
            "labelbot_model_version", "the model version answering photos", registry=registry
        )
        self.journal_lag = Gauge(
            "labelbot_journal_lag_events", "committed events the model has not applied yet",
            registry=registry,
        )  # fmt: skip
        self.journal_stalled = Gauge(
            "labelbot_journal_stalled", "1 if the model stopped at an event it cannot apply",
            registry=registry,
        )  # fmt: skip
        self.photos = Gauge(
            "labelbot_photos", "photos by standing (waiting: the review queue; imports settled)",
            ["standing"], registry=registry,
        )  # fmt: skip
        self.inbox_open = Gauge(
            "labelbot_inbox_open_updates", "updates received and not yet handled",
            registry=registry,
        )  # fmt: skip
        self.scraped_at = Gauge(
            "labelbot_scrape_timestamp_seconds", "when these gauges were read from the store",
            registry=registry,
        )  # fmt: skip

    async def observe(self, desk: Desk) -> bytes:
        """Reads the store's gauges, then renders every metric."""
        model = desk.service
        return await self.observe_store(
            desk.store, desk.snapshot.version, model.last_event_id, desk.journal.stall is not None
        )

    async def observe_store(self, store: Store, version: int, applied: int, stalled: bool) -> bytes:
        """`observe` given the model's version, its last applied event and whether it stalled
        (what `labelbot bench --console` times on a large store without a model)."""
        self.model_version.set(version)
        self.journal_lag.set((await store.events.waiting(applied))[0])
        self.journal_stalled.set(int(stalled))
        standings = await store.consensus.standings()
        for state in State:
            self.photos.labels(standing=state.name.lower()).set(standings.get(state, 0))
        self.inbox_open.set((await store.inbox.open_since())[0])
        self.scraped_at.set(time.time())
        return generate_latest(self.registry)
