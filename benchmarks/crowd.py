"""`labelbot bench --crowd`: a simulated crowd labels a real data set; what reaches the model?

Contributors of three kinds vote on the training photos: careful ones (right 95% of the time),
random ones (any label) and adversaries (always one fixed wrong label). Each photo gets 1, 2
or 3 votes from distinct contributors, as the review queue hands photos to people who have not
voted on them. Then each aggregation policy turns the votes into what the `analytic` head
learns, and the head is tested on the held-out photos:

- `every-vote`: each vote trains the photo with its label (what the bot did before consensus);
- `majority`: each photo once, with its most-voted label (ties: no label);
- `ours`: the bot's consensus (`model_core.consensus`): reliabilities estimated by EM over all
  votes, each photo once with its verdict's label, weighted by its confidence;
- `clean`: each photo once with its true label, the bound a crowd can reach.

Beside those fixed budgets, the `adaptive` policy is the bot's own: votes are handed out as
the review queue does, one more to every photo still waiting (the fewest votes first), in
rounds; after each round the reliabilities are re-estimated over all votes so far (the bot
does so every 25 votes) and each photo judged again; a photo stops when settled (its label's
posterior reaches the confidence target with at least `settle_after` agreeing votes) or is
disputed at `max_votes`. Its cost is the mean votes per photo.

The analytic head is exact in any order, so training order does not matter and one pass over
the photos is the model the bot would hold.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.protocol import Split
from model_core.consensus import Ballot, Crowd, Judgement, State, estimate_reliability
from model_core.learners.analytic import AnalyticLearner, limit_blas_threads
from model_core.progress import Progress, ProgressFactory, no_progress

POLICIES = ("every-vote", "majority", "ours")
CONFIDENCE_TARGETS = (0.9, 0.95, 0.98, 0.99)
SETTLE_AFTER = (1, 2)
DEFAULT_ADAPTIVE = {"confidence": 0.98, "settle_after": 2}  # the bot's defaults
MAX_VOTES = 5


@dataclass(frozen=True)
class CrowdMix:
    """Who votes: shares of careful, random and adversarial contributors."""

    contributors: int = 20
    careful: float = 0.7
    random: float = 0.2  # the rest are adversaries
    careful_accuracy: float = 0.95
    drifting: int = 0  # careful voters who turn careless (random) halfway through the photos

    def kinds(self) -> list[str]:
        careful = round(self.contributors * self.careful)
        random = round(self.contributors * self.random)
        adversaries = self.contributors - careful - random
        return ["careful"] * careful + ["random"] * random + ["adversary"] * adversaries


def simulate_votes(
    y: np.ndarray, labels: int, votes_per_photo: int, mix: CrowdMix, seed: int = 0
) -> list[tuple[int, int, int]]:
    """(photo, contributor, label) votes on photos whose true labels are `y`."""
    rng = np.random.default_rng(seed)
    voter = _Voters(mix, labels, rng)
    votes = []
    for photo, truth in enumerate(y):
        for person in rng.choice(len(voter.kinds), votes_per_photo, replace=False):
            label = voter.vote(int(person), int(truth), photo >= len(y) / 2)
            votes.append((photo, int(person), label))
    return votes


class _Voters:
    """The simulated contributors: who each is, and what each names for a photo."""

    def __init__(self, mix: CrowdMix, labels: int, rng: np.random.Generator) -> None:
        self.kinds, self.mix, self.labels, self.rng = mix.kinds(), mix, labels, rng
        self.fixed_wrong = rng.integers(labels, size=len(self.kinds))  # each adversary's label

    def vote(self, person: int, truth: int, second_half: bool) -> int:
        kind, rng = self.kinds[person], self.rng
        if kind == "careful" and second_half and person < self.mix.drifting:
            kind = "random"  # a careful voter who has stopped caring
        if kind == "careful":
            right = rng.random() < self.mix.careful_accuracy
            return truth if right else int(rng.integers(self.labels))
        if kind == "random":
            return int(rng.integers(self.labels))
        return int(self.fixed_wrong[person])


def simulate_adaptive(
    y: np.ndarray, labels: int, mix: CrowdMix, confidence: float, settle_after: int,
    max_votes: int = MAX_VOTES, seed: int = 0,
) -> tuple[list[tuple[int, int, int]], list[Judgement]]:  # fmt: skip
    """Votes as the bot's queue asks for them (see the module docstring), and each photo's
    final judgement."""
    rng = np.random.default_rng(seed)
    voter = _Voters(mix, labels, rng)
    ballots: list[list[Ballot]] = [[] for _ in y]
    votes: list[tuple[int, int, int]] = []
    waiting = list(range(len(y)))
    while waiting:
        for photo in waiting:
            voted = {b.user_id for b in ballots[photo]}
            person = int(rng.choice([p for p in range(len(voter.kinds)) if p not in voted]))
            label = voter.vote(person, int(y[photo]), photo >= len(y) / 2)
            ballots[photo].append(Ballot(person, label))
            votes.append((photo, person, label))
        crowd = Crowd(
            labels=labels, reliability=estimate_reliability(votes, labels),
            settle_after=settle_after, confidence=confidence, max_votes=max_votes,
        )  # fmt: skip
        judged = [crowd.judge(b) for b in ballots]
        waiting = [p for p, j in enumerate(judged) if j.state is State.WAITING]
    return votes, judged


def aggregate(policy: str, votes, photos: int, labels: int) -> list[tuple[int, int, float]]:
    """(photo, label, weight) to train, as `policy` turns the votes into training samples."""
    if policy == "every-vote":
        return [(photo, label, 1.0) for photo, _, label in votes]
    by_photo: dict[int, list[Ballot]] = {}
    for photo, person, label in votes:
        by_photo.setdefault(photo, []).append(Ballot(person, label))
    if policy == "majority":
        taught = []
        for photo, ballots in by_photo.items():
            ranked = Counter(b.label_id for b in ballots).most_common(2)
            if len(ranked) == 1 or ranked[0][1] > ranked[1][1]:
                taught.append((photo, ranked[0][0], 1.0))
        return taught
    crowd = Crowd(labels=labels, reliability=estimate_reliability(votes, labels))
    decided = ((photo, crowd.decide(ballots)) for photo, ballots in by_photo.items())
    return [(photo, v.label_id, v.confidence) for photo, v in decided if v is not None]


def final_accuracy(
    split: Split, taught: list[tuple[int, int, float]], done: Progress = lambda n: None
) -> float:
    """The analytic head trained on `taught`, one sample at a time as in the bot, tested on
    the held-out photos."""
    learner = AnalyticLearner().add_classes(len(split.names))
    for photo, label, weight in taught:
        learner.partial_fit(split.X[photo][None], [label], weight)
        done(1)
    return float(np.mean(learner.predict(split.T) == split.ty))


def label_accuracy(split: Split, taught: list[tuple[int, int, float]]) -> float:
    """The share of training photos whose label (one per photo) is right; none is wrong."""
    right = {photo for photo, label, _ in taught if label == split.y[photo]}
    return len(right) / len(split.y)


def measure_crowd(
    split: Split,
    votes_per_photo: tuple[int, ...] = (1, 2, 3, 4, 5),
    mix: CrowdMix = CrowdMix(),
    progress: ProgressFactory = no_progress,
    adaptive: tuple[tuple[float, int], ...] = tuple(
        (c, s) for c in CONFIDENCE_TARGETS for s in SETTLE_AFTER
    ),
    ordering: bool = True,
) -> dict:
    """Label and final accuracy of each policy at each number of votes, the adaptive policy at
    each (confidence target, fewest agreeing votes), and the clean bound."""
    limit_blas_threads()
    labels = len(split.names)
    clean = [(photo, int(label), 1.0) for photo, label in enumerate(split.y)]
    done = progress("clean labels", len(clean))
    figures = {"clean": {"final_accuracy": final_accuracy(split, clean, done)}, "by_votes": {}}
    for k in votes_per_photo:
        votes = simulate_votes(split.y, labels, k, mix)
        row = {}
        for policy in POLICIES:
            taught = aggregate(policy, votes, len(split.y), labels)
            done = progress(f"{k} votes a photo, {policy}", len(taught))
            row[policy] = {
                "final_accuracy": final_accuracy(split, taught, done),
                # every-vote teaches several labels per photo: no single label to score
                "label_accuracy": None if policy == "every-vote" else label_accuracy(split, taught),
            }
        figures["by_votes"][str(k)] = row
    figures |= costs(split, mix)
    default = "3" if "3" in figures["by_votes"] else str(max(votes_per_photo))
    figures |= {policy: figures["by_votes"][default][policy] for policy in POLICIES}
    figures["curve"] = [
        {"policy": "fixed", "votes": int(k), "votes_per_photo": float(k), "disputed": 0.0,
         "label_accuracy": row["ours"]["label_accuracy"],
         "final_accuracy": row["ours"]["final_accuracy"]}
        for k, row in figures["by_votes"].items()
    ] + [_adaptive(split, mix, c, s, progress) for c, s in adaptive]  # fmt: skip
    chosen = [r for r in figures["curve"] if r["policy"] == "adaptive"
              and r["confidence"] == DEFAULT_ADAPTIVE["confidence"]
              and r["settle_after"] == DEFAULT_ADAPTIVE["settle_after"]]  # fmt: skip
    if chosen:
        figures["adaptive"] = chosen[0]
    if ordering:
        figures["ordering"] = measure_ordering(split)
    figures["mix"] = {"contributors": mix.contributors, "careful": mix.careful,
                      "random": mix.random, "careful_accuracy": mix.careful_accuracy,
                      "drifting": mix.drifting}  # fmt: skip
    return {"crowd": figures}


def _adaptive(
    split: Split, mix: CrowdMix, confidence: float, settle_after: int, progress: ProgressFactory
) -> dict:
    labels = len(split.names)
    votes, judged = simulate_adaptive(split.y, labels, mix, confidence, settle_after)
    taught = [(photo, j.verdict.label_id, j.verdict.confidence)
              for photo, j in enumerate(judged) if j.verdict is not None]  # fmt: skip
    done = progress(f"adaptive, {confidence} sure after {settle_after}", len(taught))
    return {
        "policy": "adaptive", "confidence": confidence, "settle_after": settle_after,
        "votes_per_photo": len(votes) / len(split.y),
        "disputed": sum(j.state is State.DISPUTED for j in judged) / len(split.y),
        "label_accuracy": label_accuracy(split, taught),
        "final_accuracy": final_accuracy(split, taught, done),
    }  # fmt: skip


def measure_ordering(split: Split, steps: int = 10, seed: int = 0) -> dict:
    """Does handing reviewers the photos the model is least sure of first teach it sooner?
    The training photos are labeled (their true labels, to isolate the order from the crowd's
    noise) a tenth of the budget at a time, either in arrival order or, after the first
    tenth, the photos with the smallest margin between the model's first two guesses first;
    the head is tested after each tenth. Returns both curves and the share of the budget each
    needs to reach 0.98 of the clean model's accuracy."""
    rng = np.random.default_rng(seed)
    arrival = rng.permutation(len(split.y))
    chunk = -(-len(arrival) // steps)
    curves = {}
    for order in ("arrival", "uncertainty"):
        learner = AnalyticLearner().add_classes(len(split.names))
        left, curve = list(arrival), []
        for _ in range(steps):
            if order == "uncertainty" and learner.is_initialized:
                p = np.sort(learner.predict_proba(split.X[left]), axis=1)
                left = [left[i] for i in np.argsort(p[:, -1] - p[:, -2], kind="stable")]
            taken, left = left[:chunk], left[chunk:]
            learner.partial_fit(split.X[taken], split.y[taken])
            curve.append(float(np.mean(learner.predict(split.T) == split.ty)))
        curves[order] = curve
    target = 0.98 * curves["arrival"][-1]
    reach = {order: next(((n + 1) / steps for n, a in enumerate(c) if a >= target), None)
             for order, c in curves.items()}  # fmt: skip
    return {"steps": steps, "curves": curves, "budget_to_reach_0.98_clean": reach}


def costs(split: Split, mix: CrowdMix, updates: int = 200) -> dict:
    """What following the crowd costs: re-estimating reliabilities over 100,000 votes, and a
    correction (an unlearn and a learn) against one ordinary update, p50 in ms."""
    rng = np.random.default_rng(1)
    many = simulate_votes(rng.integers(len(split.names), size=34_000), len(split.names), 3, mix)
    started = time.perf_counter()
    estimate_reliability(many[:100_000], len(split.names))
    estimate_seconds = time.perf_counter() - started
    learner = AnalyticLearner().add_classes(len(split.names)).partial_fit(split.X, split.y)
    update, correction = [], []
    for n in rng.integers(len(split.y), size=updates):
        x, label = split.X[n][None], [int(split.y[n])]
        started = time.perf_counter()
        learner.partial_fit(x, label, 0.9)
        update.append(time.perf_counter() - started)
        started = time.perf_counter()
        learner.partial_fit(x, label, -0.9)  # the correction: take back, teach anew
        learner.partial_fit(x, label, 0.7)
        correction.append(time.perf_counter() - started)
        learner.partial_fit(x, label, -0.7)
    return {
        "reestimate_100k_votes_seconds": round(estimate_seconds, 3),
        "update_p50_ms": round(float(np.median(update)) * 1e3, 3),
        "correction_p50_ms": round(float(np.median(correction)) * 1e3, 3),
    }


def crowd_table(figures: dict) -> str:
    crowd = figures["crowd"]
    rows = [
        "| votes per photo | policy | label accuracy | final accuracy | ÷ clean |",
        "|---|---|---|---|---|",
    ]
    clean = crowd["clean"]["final_accuracy"]
    for k, by_policy in crowd["by_votes"].items():
        for policy, f in by_policy.items():
            labels = "–" if f["label_accuracy"] is None else f"{f['label_accuracy']:.3f}"
            rows.append(
                f"| {k} | {policy} | {labels} | {f['final_accuracy']:.3f} | "
                f"{f['final_accuracy'] / clean:.3f} |"
            )
    rows.append(f"| – | clean labels | 1.000 | {clean:.3f} | 1.000 |")
    rows += [
        "\nVotes where they are needed: fixed votes a photo against the bot's adaptive policy\n",
        "| policy | confidence target | fewest agreeing | votes per photo | disputed | "
        "label accuracy | final accuracy |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in crowd.get("curve", []):
        fixed = r["policy"] == "fixed"
        target = "–" if fixed else f"{r['confidence']:.2f}"
        least = "–" if fixed else str(r["settle_after"])
        rows.append(
            f"| {'fixed ' + str(r['votes']) if fixed else 'adaptive'} | {target} | {least} | "
            f"{r['votes_per_photo']:.2f} | {r['disputed']:.3f} | {r['label_accuracy']:.3f} | "
            f"{r['final_accuracy']:.3f} |"
        )
    if "ordering" in crowd:
        o = crowd["ordering"]
        rows += [
            "\nThe queue's order for the model: test accuracy after each tenth of the votes "
            "(true labels), arrival order against the least sure first\n",
            "| order | " + " | ".join(f"{(n + 1) * 10}%" for n in range(o["steps"])) + " |",
            "|---|" + "---|" * o["steps"],
        ]
        rows += [f"| {order} | " + " | ".join(f"{a:.3f}" for a in curve) + " |"
                 for order, curve in o["curves"].items()]  # fmt: skip
        reach = o["budget_to_reach_0.98_clean"]
        rows.append(
            "\nvotes needed to reach 0.98 of the clean model: "
            + ", ".join(f"{order} {'–' if r is None else f'{r:.0%}'}" for order, r in reach.items())
        )
    rows.append(
        f"\nre-estimating reliabilities over 100,000 votes: "
        f"{crowd['reestimate_100k_votes_seconds']:.2f} s; a correction "
        f"{crowd['correction_p50_ms']:.2f} ms p50 against {crowd['update_p50_ms']:.2f} ms for "
        "one update"
    )
    return "\n".join(rows)


def write_crowd_chart(path: Path, figures: dict, title: str) -> None:
    """Labels right against votes spent per photo: fixed budgets, and the adaptive policy at
    each confidence target (one line per fewest-agreeing setting)."""
    from benchmarks.report import new_chart, save_chart

    curve = figures["crowd"]["curve"]
    lines = {"fixed votes a photo": [r for r in curve if r["policy"] == "fixed"]}
    for least in sorted({r["settle_after"] for r in curve if r["policy"] == "adaptive"}):
        lines[f"adaptive, at least {least} agreeing"] = [
            r for r in curve if r["policy"] == "adaptive" and r["settle_after"] == least
        ]
    figure, axes = new_chart()
    for name, runs in lines.items():
        runs = sorted(runs, key=lambda r: r["votes_per_photo"])
        x = [r["votes_per_photo"] for r in runs]
        axes.plot(x, [r["label_accuracy"] for r in runs], marker="o", label=name)
        for r in runs:
            note = str(r["votes"]) if r["policy"] == "fixed" else f"{r['confidence']:.2f}"
            axes.annotate(note, (r["votes_per_photo"], r["label_accuracy"]), fontsize=7,
                          textcoords="offset points", xytext=(4, -10))  # fmt: skip
    axes.set(xlabel="votes per photo (mean)", ylabel="photos labeled right")
    save_chart(figure, axes, path, title, legend="lower right")
