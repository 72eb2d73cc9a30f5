"""Both learners on real Fashion-MNIST embeddings, plus the edge cases the bot runs into."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import weighted_ridge

from model_core.learners import make_learner
from model_core.learners.analytic import AnalyticLearner

LEARNERS = ["analytic", pytest.param("cgan", marks=pytest.mark.slow)]  # cgan needs TensorFlow


def class_incremental(learner, X, y, seed=0):
    """Two base labels, then one new label at a time, samples one by one in random order."""
    rng = np.random.default_rng(seed)
    learner.add_classes(2)
    learner.partial_fit(*shuffled(X, y, np.flatnonzero(y < 2), rng))
    for label in range(2, int(y.max()) + 1):
        learner.add_classes(1)
        learner.partial_fit(*shuffled(X, y, np.flatnonzero(y == label), rng))
    return learner


def shuffled(X, y, indices, rng):
    order = rng.permutation(indices)
    return X[order], y[order]


@pytest.fixture(scope="module", params=LEARNERS)
def trained(request, fashion):
    X, y, _, _ = fashion
    return class_incremental(make_learner(request.param), X, y)


def test_learns_real_photos_label_by_label_without_forgetting(trained, fashion):
    _, _, T, ty = fashion
    predicted = trained.predict(T)
    old = ty < 9
    assert (predicted == ty).mean() > 0.7
    assert (predicted[old] == ty[old]).mean() > 0.65  # the first labels are still known


def test_cgan_keeps_old_labels_better_than_plain_finetuning(fashion):
    X, y, T, ty = fashion
    subset, test = (y < 6) & (np.arange(len(y)) % 2 == 0), ty < 6  # kept small: CGAN is slow
    X, y, T, ty = X[subset], y[subset], T[test], ty[test]
    cgan = class_incremental(make_learner("cgan"), X, y)
    finetune = class_incremental(make_learner("cgan", replay_per_class=0), X, y)
    old = ty < 5
    assert (cgan.predict(T)[old] == ty[old]).mean() > (finetune.predict(T)[old] == ty[old]).mean()


@pytest.mark.parametrize("name", LEARNERS)
def test_a_new_label_changes_no_prediction_until_its_first_example(name, fashion):
    X, y, T, _ = fashion
    learner = make_learner(name).add_classes(3)
    learner.partial_fit(X[y < 3][::3], y[y < 3][::3])
    before = learner.predict_proba(T)
    learner.add_classes(1)
    after = learner.predict_proba(T)
    assert np.array_equal(after[:, :3], before)
    assert (after[:, 3] == 0).all()
    assert learner.n_classes_ == 4


@pytest.mark.parametrize("name", LEARNERS)
def test_one_example_makes_a_label_predictable(name, fashion):
    X, y, _, _ = fashion
    learner = make_learner(name).add_classes(3)
    learner.partial_fit(X[y < 2], y[y < 2])
    first_bag = np.flatnonzero(y == 8)[0]
    learner.partial_fit(X[[first_bag]], [2])
    assert learner.predict(X[[first_bag]])[0] == 2


@pytest.mark.parametrize("name", LEARNERS)
def test_no_label_is_predicted_before_any_example(name, fashion):
    X, _, _, _ = fashion
    learner = make_learner(name).add_classes(2)
    assert (learner.predict_proba(X[:4]) == 0).all()
    assert (learner.predict(X[:4]) == -1).all()


@pytest.mark.parametrize("name", LEARNERS)
def test_a_retired_label_is_never_predicted_and_keeps_its_unit(name, fashion):
    X, y, T, ty = fashion
    learner = make_learner(name).add_classes(3)
    learner.partial_fit(X[y < 3], y[y < 3])
    learner.retire_class(1)
    assert learner.n_classes_ == 3
    probabilities = learner.predict_proba(T[ty < 3])
    assert (probabilities[:, 1] == 0).all()
    assert 1 not in learner.predict(T)
    with pytest.raises(ValueError, match="retired"):
        learner.partial_fit(X[:1], [1])


@pytest.mark.parametrize("name", LEARNERS)
def test_strong_imbalance_still_finds_the_rare_label(name, fashion):
    X, y, T, ty = fashion
    common, rare = np.flatnonzero(y == 0), np.flatnonzero(y == 1)[:3]  # 30 shirts, 3 trousers
    learner = make_learner(name).add_classes(2)
    order = np.random.default_rng(1).permutation(np.concatenate([common, rare]))
    learner.partial_fit(X[order], y[order])
    predicted = learner.predict(T[ty < 2])
    assert (predicted[ty[ty < 2] == 1] == 1).mean() >= 0.5
    assert (predicted[ty[ty < 2] == 0] == 0).mean() >= 0.5


@pytest.mark.parametrize("name", LEARNERS)
def test_two_hundred_labels(name):
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((200, 64)).astype(np.float32)
    y = np.repeat(np.arange(200), 2)
    X = centres[y] + 0.3 * rng.standard_normal((400, 64)).astype(np.float32)
    learner = make_learner(name).add_classes(200)
    learner.partial_fit(X, y)
    tests = centres + 0.3 * rng.standard_normal((200, 64)).astype(np.float32)
    assert (learner.predict(tests) == np.arange(200)).mean() > 0.9


@pytest.mark.parametrize("name", LEARNERS)
def test_state_round_trip_predicts_identically(name, fashion):
    X, y, T, _ = fashion
    learner = make_learner(name).add_classes(3)
    learner.partial_fit(X[y < 3][::2], y[y < 3][::2])
    learner.retire_class(2)
    clone = type(learner).from_state(learner.get_config(), learner.get_state())
    assert np.array_equal(clone.predict_proba(T), learner.predict_proba(T))
    clone.add_classes(1)  # and it keeps learning
    clone.partial_fit(X[:1], [3])
    assert clone.counts_[3] == 1


@pytest.mark.parametrize("name", LEARNERS)
def test_bad_input_is_refused_with_the_value(name):
    learner = make_learner(name).add_classes(2)
    with pytest.raises(ValueError, match="unknown class id 5"):
        learner.partial_fit(np.ones((1, 8)), [5])
    learner.partial_fit(np.ones((1, 8)), [0])
    with pytest.raises(ValueError, match="X has 9 features, but the learner was fitted with 8"):
        learner.predict(np.ones((1, 9)))
    with pytest.raises(ValueError, match="NaN"):
        learner.partial_fit(np.full((1, 8), np.nan), [0])


# ---- analytic: exactness ---------------------------------------------------------------------


@pytest.mark.parametrize("projection_dim", [0, 256])
def test_analytic_equals_joint_ridge_in_any_order(fashion, projection_dim):
    X, y, _, _ = fashion
    forward = AnalyticLearner(projection_dim=projection_dim).add_classes(10).partial_fit(X, y)
    order = np.random.default_rng(3).permutation(len(y))
    shuffled_learner = AnalyticLearner(projection_dim=projection_dim).add_classes(10)
    shuffled_learner.partial_fit(X[order], y[order])
    expected = weighted_ridge(forward, X, y)
    np.testing.assert_allclose(forward.coef_, expected, atol=1e-8)
    np.testing.assert_allclose(shuffled_learner.coef_, expected, atol=1e-8)


def test_analytic_with_labels_added_midway_still_equals_joint_ridge(fashion):
    X, y, _, _ = fashion
    learner = class_incremental(AnalyticLearner(), X, y)
    np.testing.assert_allclose(learner.coef_, weighted_ridge(learner, X, y), atol=1e-8)


def test_analytic_unlearning_is_exact(fashion):
    X, y, _, _ = fashion
    learner = AnalyticLearner().add_classes(10).partial_fit(X, y)
    learner.partial_fit(X[:5], y[:5], sample_weight=-1)
    np.testing.assert_allclose(learner.coef_, weighted_ridge(learner, X[5:], y[5:]), atol=1e-8)
    assert learner.counts_.sum() == len(y) - 5


def test_analytic_follows_a_changing_consensus_exactly():
    """Photos taught with weights, then corrected at random (another label, another weight,
    withdrawn): the head equals the weighted ridge solution on what each photo holds now."""
    from model_core.model import LabelModel

    rng = np.random.default_rng(7)
    X = rng.standard_normal((60, 32)).astype(np.float32)
    model = LabelModel.new("analytic")
    for name in "abcd":
        model.add_label(name)
    held: dict[int, tuple[int, float] | None] = {}
    for n, x in enumerate(X):  # each photo's first vote trains it at once, weighted
        held[n] = (int(rng.integers(4)), float(rng.uniform(0.3, 1.0)))
        model.reinforce(x, held[n][0], weight=held[n][1])
    for _ in range(150):  # later votes, trust re-estimated, undos, bans
        n = int(rng.integers(len(X)))
        new = None if rng.random() < 0.2 else (int(rng.integers(4)), float(rng.uniform(0.1, 1)))
        if held[n] is not None:  # a correction: take back what the photo taught, teach anew
            model.unlearn(X[n], held[n][0], weight=held[n][1])
        if new is not None:
            model.reinforce(X[n], new[0], weight=new[1])
        held[n] = new
    kept = [n for n in held if held[n] is not None]
    y = np.array([held[n][0] for n in kept])
    w = np.array([held[n][1] for n in kept])
    learner = model.learner
    expected = weighted_ridge(learner, X[kept], y, w)
    np.testing.assert_allclose(learner.coef_, expected, atol=1e-8)
    assert learner.counts_.tolist() == np.bincount(y, minlength=4).tolist()


# ---- analytic: lambda by GCV, the low-shot read-out, old checkpoints ---------------------------


def brute_force_gcv(learner: AnalyticLearner, X, y) -> float:
    """GCV from its definition, through the hat matrix H of ridge at each lambda of the grid."""
    from model_core.learners.analytic import ALPHA_GRID

    phi = learner._features()(X).astype(np.float64)
    Y = np.eye(learner.n_classes_)[y]
    scores = []
    for alpha in ALPHA_GRID:
        hat = phi @ np.linalg.solve(phi.T @ phi + alpha * np.eye(phi.shape[1]), phi.T)
        residual = Y - hat @ Y
        scores.append(len(y) * (residual**2).sum() / (len(y) - np.trace(hat)) ** 2)
    return float(ALPHA_GRID[int(np.argmin(scores))])


def test_lambda_is_the_one_gcv_picks_and_the_head_is_ridge_at_it():
    rng = np.random.default_rng(5)
    centres = rng.standard_normal((4, 24))
    y = rng.integers(4, size=120)
    X = (centres[y] + 2.5 * rng.standard_normal((120, 24))).astype(np.float32)
    forward = AnalyticLearner().add_classes(4).partial_fit(X, y)
    order = rng.permutation(len(y))
    shuffled = AnalyticLearner().add_classes(4).partial_fit(X[order], y[order])
    for learner in (forward, shuffled):
        np.testing.assert_allclose(learner.coef_, weighted_ridge(learner, X, y), atol=1e-8)
        learner.retune()  # on all the data now: the same choice in any order
        assert learner.alpha_ == brute_force_gcv(learner, X, y)
        np.testing.assert_allclose(learner.coef_, weighted_ridge(learner, X, y), atol=1e-8)
    assert forward.alpha_ == shuffled.alpha_ != 1.0  # chosen, not the starting value
    np.testing.assert_allclose(forward.coef_, shuffled.coef_, atol=1e-8)


def test_a_fixed_alpha_is_never_retuned(fashion):
    X, y, _, _ = fashion
    learner = AnalyticLearner(alpha=2.0).add_classes(10).partial_fit(X, y)
    assert learner.alpha_ == 2.0
    np.testing.assert_allclose(learner.coef_, weighted_ridge(learner, X, y), atol=1e-8)


def read_out_as(learner: AnalyticLearner, **params) -> AnalyticLearner:
    """The same learned state read out with other read-out parameters (they change no W)."""
    return AnalyticLearner.from_state({**learner.get_config(), **params}, learner.get_state())


def test_a_new_label_with_few_examples_is_recognised_sooner(fashion):
    """Ridge shrinks a rare label's scores; the low-shot read-out undoes it while it is rare."""
    X, y, T, ty = fashion
    rare = 9
    keep = (y != rare) | (np.cumsum(y == rare) <= 3)  # three examples of the new label
    learner = AnalyticLearner().add_classes(10).partial_fit(X[keep], y[keep])
    np.testing.assert_allclose(learner.coef_, weighted_ridge(learner, X[keep], y[keep]), atol=1e-8)
    recognised = {
        m: (read_out_as(learner, low_shot_examples=m).predict(T[ty == rare]) == rare).mean()
        for m in (0.0, 30.0)
    }
    assert recognised[30.0] > recognised[0.0] + 0.2


def test_a_label_added_mid_campaign_is_recognised_from_a_few_examples(fashion):
    """The class-mean read-out: three examples of a new label next to thirty of each other
    label, and its photos are named far more often, with the others' accuracy kept (each
    label in turn the new one)."""
    X, y, T, ty = fashion
    recall, others = {0.0: [], 0.15: []}, {0.0: [], 0.15: []}
    for rare in range(10):
        keep = (y != rare) | (np.cumsum(y == rare) <= 3)
        learner = AnalyticLearner(alpha=0.5).add_classes(10).partial_fit(X[keep], y[keep])
        for share in recall:
            guesses = read_out_as(learner, few_shot_share=share).predict(T)
            recall[share].append((guesses[ty == rare] == rare).mean())
            others[share].append((guesses[ty != rare] == ty[ty != rare]).mean())
    assert np.mean(recall[0.15]) >= np.mean(recall[0.0]) + 0.15
    assert np.mean(others[0.15]) >= np.mean(others[0.0]) - 0.02


def test_a_label_read_by_its_mean_alone_is_the_centred_nearest_mean():
    """With the class-mean read-out's share near 1 for every label, guesses are those of the
    nearest-mean rule written out by hand: argmax (x - s g) . d_k / |d_k|^2."""
    rng = np.random.default_rng(2)
    X = rng.standard_normal((90, 16)).astype(np.float32) + 3 * rng.random(16).astype(np.float32)
    y = np.repeat(np.arange(3), 30)
    X += 0.8 * np.eye(16, dtype=np.float32)[y]
    learner = AnalyticLearner(few_shot_share=1e9, centring=0.5).add_classes(3).partial_fit(X, y)
    phi = learner._features()(X)
    centre = 0.5 * phi.mean(axis=0)
    directions = np.stack([phi[y == k].mean(axis=0) for k in range(3)], axis=1) - centre[:, None]
    by_hand = ((phi - centre) @ directions) / (directions**2).sum(axis=0)
    np.testing.assert_allclose(learner.decision_function(X), by_hand, atol=1e-6)


def test_the_whole_read_out_is_the_same_in_any_order_and_after_unlearning(fashion):
    """Kernel and bias (ridge, its rescaling and the class-mean part) are functions of what
    was learned, not of when: any order, and a sample taken back as if never taught."""
    X, y, _, _ = fashion
    keep = (y != 7) | (np.cumsum(y == 7) <= 2)  # one label with two examples: its mean counts
    X, y = X[keep], y[keep]
    order = np.random.default_rng(4).permutation(len(y))
    forward = AnalyticLearner(alpha=0.5).add_classes(10).partial_fit(X, y)
    shuffled = AnalyticLearner(alpha=0.5).add_classes(10).partial_fit(X[order], y[order])
    extra = AnalyticLearner(alpha=0.5).add_classes(10).partial_fit(X, y)
    extra.partial_fit(X[:6], (y[:6] + 1) % 10)
    extra.partial_fit(X[:6], (y[:6] + 1) % 10, sample_weight=-1)
    want = forward.snapshot()
    for learner in (shuffled, extra):
        got = learner.snapshot()
        np.testing.assert_allclose(got.kernel, want.kernel, atol=1e-8)
        np.testing.assert_allclose(got.bias, want.bias, atol=1e-8)


def test_a_head_saved_before_lambda_was_chosen_loads_and_keeps_learning(fashion):
    """Checkpoints of earlier versions hold only P and W (and alpha 1 in their config)."""
    X, y, _, _ = fashion
    learner = AnalyticLearner(alpha=1.0).add_classes(10).partial_fit(X[:200], y[:200])
    state = learner.get_state()
    old = {k: state[k] for k in ("counts_", "retired_", "n_features_", "precision_", "coef_")}
    loaded = AnalyticLearner.from_state(learner.get_config(), old)
    np.testing.assert_allclose(loaded.class_sums_, learner.class_sums_, atol=1e-6)
    np.testing.assert_array_equal(loaded.class_weights_, learner.class_weights_)
    loaded.partial_fit(X[200:], y[200:])
    np.testing.assert_allclose(loaded.coef_, weighted_ridge(loaded, X, y), atol=1e-8)
