"""Incremental learners behind one interface; the one registry of their names.

Each learner module imports its own dependencies (the CGAN needs TensorFlow, the analytic head
only numpy), so choosing `analytic` never pays for TensorFlow's start-up here.
"""

from __future__ import annotations

from typing import Any

from model_core.learners.base import IncrementalLearner

LEARNER_NAMES = ("analytic", "cgan")
DEFAULT_LEARNER = "analytic"


def learner_class(name: str) -> type[IncrementalLearner]:
    if name == "analytic":
        from model_core.learners.analytic import AnalyticLearner

        return AnalyticLearner
    if name == "cgan":
        from model_core.learners.cgan import CGANLearner

        return CGANLearner
    raise ValueError(f"unknown learner {name!r}; choose one of {', '.join(LEARNER_NAMES)}")


def make_learner(name: str, **params: Any) -> IncrementalLearner:
    return learner_class(name)(**params)
