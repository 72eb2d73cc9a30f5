"""The benchmark harness on tiny real subsets: it runs and its figures hang together.

How good or fast the learners are is the benchmark's business (docs/benchmarks.md), not the
suite's; these tests check the harness itself.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import TREE_LABELS as LABELS
from helpers import labelbot, write_tree

from benchmarks.addlabel import (
    CHOSEN_LABELS,
    addlabel_tables,
    chosen_labels,
    run_addlabels,
    summarize_addlabel,
)
from benchmarks.compare import JOINT, LEARNERS, forgetting, run_all, summarize
from benchmarks.data import EmbeddingCache, folder_split
from benchmarks.protocol import (
    STREAMS,
    RunResult,
    Split,
    fit_joint_ridge,
    make_stream,
    run_joint,
    run_learner,
)
from benchmarks.report import markdown_tables
from model_core.learners.analytic import AnalyticLearner


@pytest.fixture(scope="module")
def tiny_split(fashion) -> Split:
    """Four Fashion-MNIST labels of the session's real embeddings, 12 training photos each."""
    X, y, T, ty = fashion
    keep = [0, 1, 5, 8]
    index = {label: i for i, label in enumerate(keep)}
    train = np.isin(y, keep) & (np.arange(len(y)) % 30 < 12)  # 30 per label, in label blocks
    test = np.isin(ty, keep)
    return Split(
        X[train],
        np.array([index[v] for v in y[train]]),
        T[test],
        np.array([index[v] for v in ty[test]]),
        ["T-shirt", "Trouser", "Sandal", "Bag"],
    )


def test_every_learner_and_the_bounds_report_every_figure(tiny_split):
    learners = ["seed", "finetune", "ncm", "lda", "cgan", "analytic"]
    summary = summarize(run_all(tiny_split, learners, seeds=[0, 1], base=2))
    assert set(summary) == {*learners, "joint_ridge", "joint_logistic", JOINT}
    for name in learners:
        figures = summary[name]
        assert figures["labels_per_phase"] == [2, 3, 4]
        assert len(figures["accuracy_per_phase"]["mean"]) == 3
        assert figures["old_accuracy_per_phase"]["mean"][0] is None  # no old label yet
        assert figures["first_guess_accuracy"]["mean"] > 0.3  # four labels: chance is 0.25
        assert figures["first_guess_on_example_1"]["mean"] == 0  # no guess can name it
        assert 0 < figures["update_latency_p50_ms"]["mean"] < 500  # every update was timed
    for name in ("ncm", "lda", "cgan", "analytic"):  # these learn from the embeddings alone
        figures = summary[name]
        assert figures["first_guess_accuracy"]["mean"] > 0.75, name
        assert figures["new_label_accuracy_after_10"]["mean"] > 0.9, name
        assert figures["calibration_error"]["mean"] < 0.2, name
    gram = 1280 * 1280 * 8  # the exact heads keep a float64 matrix over the embedding
    assert summary["analytic"]["state_bytes"]["mean"] >= gram
    assert summary["lda"]["state_bytes"]["mean"] >= gram
    assert summary["ncm"]["state_bytes"]["mean"] < gram / 100  # only sums and counts
    # The logistic bound is fitted once, after the last phase, on every photo.
    logistic = summary["joint_logistic"]["accuracy_per_phase"]["mean"]
    assert logistic[:2] == [None, None] and 0.5 < logistic[2] <= 1
    assert summary[JOINT]["ratio_to_joint"]["mean"] == 1.0
    tables = markdown_tables(summary)
    assert "| analytic |" in tables and "| joint_logistic |" in tables and "ECE" in tables


def test_in_blocks_a_head_without_replay_forgets_and_the_ridge_does_not(tiny_split):
    """Real photos, 4 labels, each phase only its new label's photos."""
    runs = run_all(tiny_split, ["finetune", "analytic"], seeds=[0], base=2, stream="blocks")
    summary = summarize(runs)
    assert summary["finetune"]["old_accuracy_last_phase"]["mean"] < 0.5
    assert summary["analytic"]["old_accuracy_last_phase"]["mean"] > 0.8


@pytest.mark.slow
@pytest.mark.parametrize("kind", STREAMS)
def test_every_photo_arrives_once_and_never_before_its_label(tiny_split, kind):
    stream = make_stream(tiny_split.y, 4, base=2, seed=1, kind=kind)
    arrived = np.concatenate([photos for _, photos in stream.phases])
    assert sorted(arrived) == list(range(len(tiny_split.y)))
    known: set[int] = set()
    for labels, photos in stream.phases:
        known |= {int(label) for label in labels}
        assert set(tiny_split.y[photos].tolist()) <= known
    later = set(tiny_split.y[stream.phases[-1][1]].tolist())
    assert (len(later) > 1) == (kind == "mixed")  # mixed: old labels keep arriving


def test_the_harness_sees_that_streaming_ridge_is_the_joint_ridge(tiny_split):
    """At a fixed lambda and with the plain read-out, `analytic` after each phase is the ridge
    fitted at once on every photo that has arrived: the harness must measure them equal."""
    stream = make_stream(tiny_split.y, 4, base=2, seed=0, kind="mixed")
    streamed = run_learner(
        lambda: AnalyticLearner(alpha=0.5, low_shot_examples=0), tiny_split, stream
    )
    joint = run_joint(lambda X, y, n: fit_joint_ridge(X, y, n, alpha=0.5), tiny_split, stream)
    assert streamed.accuracy == joint.accuracy


def test_a_label_added_to_a_model_that_knows_the_others_is_measured_by_its_examples(tiny_split):
    learners = {name: LEARNERS[name] for name in ("ncm", "analytic")}
    runs = run_addlabels(learners, tiny_split, seeds=[0, 1])
    assert len(runs["analytic"]) == 4 * 2  # each of the 4 labels added last, two seeds
    again = run_addlabels({"analytic": LEARNERS["analytic"]}, tiny_split, seeds=[0])["analytic"]
    assert again[0].recall == runs["analytic"][0].recall  # the same label and seed: the same
    summary = summarize_addlabel(runs)
    for name in learners:
        figures = summary[name]
        assert figures["new_label_recall_after_20"]["mean"] is None  # 12 photos a label
        assert figures["new_label_recall_after_10"]["mean"] >= 0.8, name
        assert figures["overall_accuracy_after_10"]["mean"] >= 0.8, name
        assert 0 <= figures["sure_but_wrong_after_1"]["mean"] <= 1
        assert figures["final_accuracy"]["mean"] >= figures["overall_accuracy_after_1"]["mean"]
    assert "| analytic |" in addlabel_tables(summary)


def test_the_labels_added_last_are_a_fixed_sample():
    assert chosen_labels(4) == [0, 1, 2, 3]
    sample = chosen_labels(43)
    assert len(set(sample)) == CHOSEN_LABELS and sample == chosen_labels(43) == sorted(sample)


def test_the_default_is_held_against_the_best_other_learner_column_by_column():
    from benchmarks.targets import standings, targets_table

    def figures(recall_1, overall_5, final):
        values = {"new_label_recall_after_1": recall_1, "overall_accuracy_after_5": overall_5,
                  "final_accuracy": final}  # fmt: skip
        return {key: {"mean": value, "std": 0.0} for key, value in values.items()}

    summary = {
        "seed": figures(1.0, 0.03, 0.03),  # names the newcomer for everything: left out
        "cgan": figures(0.80, 0.70, 0.70),
        "lda": figures(0.10, 0.815, 0.82),
        "analytic": figures(0.75, 0.81, 0.83),
    }
    rows = {row.column: row for row in standings(summary, addlabel=True)}
    assert rows["new_label_recall_after_1"].best == "cgan"
    assert not rows["new_label_recall_after_1"].met  # 5 points behind
    assert rows["overall_accuracy_after_5"].met and rows["final_accuracy"].met  # within 0.01
    assert rows["overall_accuracy_after_5"].gap == pytest.approx(-0.005)
    assert "| new_label_recall_after_1 | 0.750 | cgan 0.800 | -0.050 | no |" in targets_table(
        summary, addlabel=True
    )


def test_forgetting_is_the_drop_from_each_labels_best():
    run = RunResult(per_label_accuracy=[{0: 0.9, 1: 0.8}, {0: 0.5, 1: 0.8, 2: 1.0}])
    assert forgetting(run) == pytest.approx((0.4 + 0.0) / 2)


def test_a_flat_tree_is_split_per_label_and_embeddings_are_cached(tmp_path):
    write_tree(tmp_path / "photos", "test", per_class=8)
    calls = []

    def embed(arrays):
        calls.append(len(arrays))
        return np.stack([a.mean(axis=(0, 1)) for a in arrays]).astype(np.float32)

    cache = EmbeddingCache(tmp_path / "bench-cache", "fake")
    first = folder_split(
        embed, cache, 32, tmp_path / "photos", train_per_class=None, test_per_class=None
    )
    again = folder_split(
        embed, cache, 32, tmp_path / "photos", train_per_class=None, test_per_class=None
    )
    assert first.names == sorted(LABELS.values())
    assert len(calls) == 2  # train and test once; the second split came from the cache
    np.testing.assert_array_equal(first.X, again.X)
    for label in range(len(first.names)):  # stratified: every label on both sides
        assert (first.y == label).sum() >= 1 and (first.ty == label).sum() >= 1


@pytest.mark.slow
def test_labelbot_bench_writes_table_json_and_chart(tmp_path):
    result = labelbot(
        "bench",
        "--train-per-class", "4",
        "--test-per-class", "2",
        "--seeds", "1",
        "--base", "8",
        "--learners", "ncm,analytic",
        "--stream", "blocks",
        "--out", "out/fm.json",
        cwd=tmp_path,
        LABELBOT_DATA_DIR=str(tmp_path / "data"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "| analytic |" in result.stdout and "| joint |" in result.stdout
    figures = json.loads((tmp_path / "out" / "fm.json").read_text())
    assert figures["meta"]["labels"] == 10 and figures["meta"]["train_samples"] == 40
    assert set(figures["learners"]) >= {"ncm", "analytic", "joint"}
    assert (tmp_path / "out" / "fm.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
def test_backbones_are_compared_on_the_same_photos_with_the_default_head(photos, backbone):
    """Lite0 and Lite1 on the same tiny real subset: each gets every figure, at its own size."""
    from helpers import encode

    from benchmarks.backbones import backbones_table, compare_backbones
    from model_core.backbone.loader import load_backbone
    from model_core.datasets import grey_to_rgb, load_fashion_mnist
    from model_core.embedder import ImageEmbedder

    train, y = load_fashion_mnist("train", per_class=6, seed=0)
    test, ty = load_fashion_mnist("test", per_class=3, seed=0)
    keep, keep_test = y < 3, ty < 3

    def load(name):
        reader = backbone if name == backbone.name else load_backbone(name)
        embed = lambda images: reader.embed(grey_to_rgb(images, reader.input_size))  # noqa: E731
        split = Split(embed(train[keep]), y[keep], embed(test[keep_test]), ty[keep_test],
                      ["T-shirt", "Trouser", "Pullover"])  # fmt: skip
        return split, ImageEmbedder(reader)

    jpegs = [encode(photo) for photo in photos.values()]
    names = ["efficientnet_lite0", "efficientnet_lite1"]
    figures = compare_backbones(names, load, (jpegs, list(photos)), seeds=[0], requests=4)
    assert list(figures) == names
    assert [figures[name]["input_size"] for name in names] == [224, 240]
    for row in figures.values():
        assert 0 < row["final_accuracy"] <= 1 and 0 < row["new_label_recall_after_5"] <= 1
        assert row["batched_per_second"] > 0 and row["one_at_a_time_ms"] > 0
    table = backbones_table(figures)
    assert "| efficientnet_lite1 | 240 px |" in table and "- efficientnet_lite0: 1.00x" in table


@pytest.mark.slow
def test_labelbot_bench_refuses_an_unknown_or_repeated_backbone(tmp_path):
    for raw in ("resnet9000", "efficientnet_lite0,efficientnet_lite0"):
        result = labelbot("bench", "--backbone", raw, cwd=tmp_path)
        assert result.returncode == 2, result.stderr
        assert "--backbone" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def test_labelbot_bench_refuses_an_unknown_learner(tmp_path):
    result = labelbot("bench", "--learners", "magic", cwd=tmp_path)
    assert result.returncode == 2
    assert "unknown learner" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def test_latency_compares_end_to_end_with_the_bare_backbone(backbone, photos):
    from helpers import encode

    from benchmarks.latency import measure_latency
    from benchmarks.run import latency_table
    from model_core.embedder import ImageEmbedder

    jpegs = [encode(photo) for photo in photos.values()]
    seen = []
    figures = measure_latency(
        ImageEmbedder(backbone), jpegs, list(photos), requests=6, in_flight=(1, 3),
        progress=lambda what, total: lambda done: seen.append((what, total)),
    )  # fmt: skip
    assert 1 < figures["bare_backbone_p50_ms"] < 2000  # Lite0 takes 25-36 ms here
    assert figures["bare_backbone_p50_ms"] < figures["end_to_end_p50_ms"] * 1.5  # + decoding
    assert 1 < figures["bare_batched_per_second"] < 2000
    assert [load["in_flight"] for load in figures["in_flight"]] == [1, 3]
    for load in figures["in_flight"]:
        assert load["ratio"] == pytest.approx(
            load["per_second"] / figures["bare_batched_per_second"], rel=0.01
        )
    assert seen.count(("bare backbone", 6)) == 6 and seen.count(("end to end", 6)) == 6
    assert seen.count(("3 in flight", 6)) == 6
    table = latency_table(figures)
    assert "| end to end, 3 in flight |" in table and "batches of 32" in table


@pytest.mark.slow
def test_flood_bench_measures_honest_waits_with_and_without_a_flood(backbone):
    from labelbot.cli.bench import flood_table
    from labelbot.settings import Settings
    from labelbot_testkit.flood import measure_flood

    figures = measure_flood(Settings(), backbone, None, contributors=3, photos_each=2)
    for run in ("calm", "flood"):
        assert figures[run]["honest_answered"] == figures[run]["honest_sent"] == 6
        assert 1 < figures[run]["p50_ms"] <= figures[run]["p99_ms"] < 60_000
        assert figures[run]["peak_rss_mb"] > 100
    assert figures["calm"]["hostile_sent"] == 0 and figures["flood"]["hostile_sent"] > 0
    assert figures["flood"]["hostile_replies"] > 0  # told or refused, never silence only
    assert "| flood | 6/6 |" in flood_table(figures)


def test_crowd_bench_compares_policies_on_real_embeddings(fashion):
    from benchmarks.crowd import crowd_table, measure_crowd
    from benchmarks.protocol import Split
    from model_core.datasets import FASHION_MNIST_LABELS

    X, y, T, ty = fashion
    split = Split(X, y, T, ty, list(FASHION_MNIST_LABELS))
    figures = measure_crowd(split, (1, 3), adaptive=((0.98, 2), (0.9, 1)), ordering=False)["crowd"]
    assert set(figures["by_votes"]) == {"1", "3"}
    ours, majority = figures["ours"], figures["majority"]  # the 3-vote figures
    assert ours["label_accuracy"] > majority["label_accuracy"]
    assert ours["final_accuracy"] >= figures["every-vote"]["final_accuracy"]
    assert figures["clean"]["final_accuracy"] >= ours["final_accuracy"] - 0.02
    table = crowd_table({"crowd": figures})
    assert "| 3 | ours |" in table and "| – | clean labels | 1.000 |" in table
    # Votes where they are needed: the default adaptive policy beats three fixed votes on
    # labels right while spending fewer than 3.2 a photo; a laxer target spends fewer still.
    adaptive = figures["adaptive"]
    assert (adaptive["confidence"], adaptive["settle_after"]) == (0.98, 2)
    assert adaptive["label_accuracy"] > ours["label_accuracy"]
    assert 1 < adaptive["votes_per_photo"] < 3.2 and 0 <= adaptive["disputed"] < 0.1
    lax = figures["curve"][-1]
    assert lax["votes_per_photo"] < adaptive["votes_per_photo"]
    assert [r["policy"] for r in figures["curve"]] == ["fixed", "fixed", "adaptive", "adaptive"]
    assert "| adaptive | 0.98 | 2 |" in table


def test_the_queue_order_for_the_model_is_measured_both_ways(fashion):
    from benchmarks.crowd import crowd_table, measure_ordering
    from benchmarks.protocol import Split
    from model_core.datasets import FASHION_MNIST_LABELS

    X, y, T, ty = fashion
    ordering = measure_ordering(Split(X, y, T, ty, list(FASHION_MNIST_LABELS)), steps=4)
    assert set(ordering["curves"]) == {"arrival", "uncertainty"}
    for curve in ordering["curves"].values():
        assert len(curve) == 4 and all(0.5 < a <= 1 for a in curve)
    # The last tenth holds every photo either way: the same model, in any order (exactness).
    assert ordering["curves"]["arrival"][-1] == pytest.approx(ordering["curves"]["uncertainty"][-1])
    assert ordering["budget_to_reach_0.98_clean"]["arrival"] is not None
    table = crowd_table({"crowd": {"by_votes": {}, "clean": {"final_accuracy": 1.0},
                                   "reestimate_100k_votes_seconds": 0, "correction_p50_ms": 0,
                                   "update_p50_ms": 0, "ordering": ordering}})  # fmt: skip
    assert "| arrival | " in table and "votes needed to reach 0.98 of the clean model" in table


@pytest.mark.slow
@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--mix", "1,2"], "--mix: expected three shares"),
        (["--mix", "0.5,0.2,0.1"], "add up to 1"),
        (["--latency"], "choose one of --latency, --flood, --crowd, --replicas, --store, --rest"),
    ],
)
def test_labelbot_bench_refuses_a_bad_crowd_at_once(tmp_path, arguments, message):
    result = labelbot("bench", "--crowd", *arguments, cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def test_store_bench_times_a_vote_in_the_store_and_in_sqlalchemys_engine():
    from labelbot_testkit.store_bench import measure_store, store_table

    seen, ticks = [], []

    def progress(what: str, total: int):
        seen.append((what, total))
        return ticks.append

    figures = measure_store(votes=6, rounds=2, progress=progress)
    assert seen == [("round 1: votes", 18), ("round 2: votes", 18)] and sum(ticks) == 36
    assert len(figures["rounds"]) == 2
    for key in ("vote_ms", "store_ms", "engine_ms"):
        assert 0.01 < figures[key] < 1000, key
    assert figures["store_ms"] < figures["vote_ms"]  # the vote includes the model's update
    assert 0 < figures["store_share"] < 1 and 0 < figures["engine_share"] < 1
    assert "SQLAlchemy's engine ÷ the store's connection" in store_table(figures)


def test_a_review_pick_is_timed_on_a_store_of_the_size_asked():
    from labelbot_testkit.store_bench import measure_review_pick, store_table

    pick = measure_review_pick(photos=400, votes=1200, picks=20)
    assert (pick["photos"], pick["votes"], pick["picks"]) == (400, 1200, 20)
    assert 0 < pick["sqlite"]["pick_p50_ms"] <= pick["sqlite"]["pick_max_ms"] < 1000
    assert "postgresql" not in pick  # no URL given
    figures = dict.fromkeys(("votes", "vote_ms", "store_ms", "store_share", "engine_ms",
                             "engine_share", "engine_over_store"), 1)  # fmt: skip
    figures |= {"rounds": [1], "review_pick": pick}
    table = store_table(figures)
    assert "One `/review` pick on a store of 400 photos and 1,200 votes" in table
    assert "| sqlite | " in table


def test_the_damage_check_is_timed_on_a_store_of_the_size_asked():
    from labelbot_testkit.restart import measure_quick_check

    figures = measure_quick_check(photos=300, votes=900)
    assert (figures["photos"], figures["votes"]) == (300, 900)
    assert 1.5 < figures["size_mb"] < 3  # 300 embeddings of 5 KB, and the rest
    assert 0 < figures["quick_check_s"] < 10 and 0 < figures["open_s"] < 10


@pytest.mark.slow
def test_restart_bench_answers_the_command_and_the_undo_before_the_photo(backbone, backbone_cache):
    from labelbot_testkit.restart import measure_restart, restart_table

    figures = measure_restart(backbone_cache, None, restarts=1, store_photos=(200,))
    (restart,) = figures["restarts"]
    assert restart["command_s"] < restart["photo_s"] and restart["undo_s"] < restart["photo_s"]
    assert restart["tensorflow_import_s"] > 1  # a fresh interpreter, timed in the same run
    assert figures["command_s"] == restart["command_s"]
    assert "| 200 | 600 |" in restart_table(figures)


def test_drifting_voters_turn_careless_halfway_through_the_photos():
    from benchmarks.crowd import CrowdMix, simulate_votes

    truth = np.full(2000, 3)
    votes = simulate_votes(truth, 10, 3, CrowdMix(drifting=14))  # every careful voter drifts
    careful = [(photo, label) for photo, person, label in votes if person < 14]
    first = np.mean([label == 3 for photo, label in careful if photo < 1000])
    second = np.mean([label == 3 for photo, label in careful if photo >= 1000])
    assert first > 0.9 and second < 0.3


@pytest.mark.slow
def test_a_review_pick_is_timed_on_postgresql_too(postgres):
    from labelbot_testkit.store_bench import measure_review_pick

    pick = measure_review_pick(
        photos=400, votes=1200, picks=20, postgres_url=postgres.new_database()
    )
    for engine in ("sqlite", "postgresql"):
        assert 0 < pick[engine]["pick_p50_ms"] <= pick[engine]["pick_max_ms"] < 1000
