"""Checked by mypy in the test command (scripts/test.sh), never run: both ways of building a
desk satisfy the seams it declares (`bot.desk.ports`)."""

from __future__ import annotations

from bot.desk.ports import JournalPort, ModelPort
from bot.heads import FollowedModel
from bot.journal import Journal, RemoteJournal
from model_core.service import ModelService


def one_process(service: ModelService, journal: Journal) -> tuple[ModelPort, JournalPort]:
    return service, journal


def replica(model: FollowedModel, journal: RemoteJournal) -> tuple[ModelPort, JournalPort]:
    return model, journal
