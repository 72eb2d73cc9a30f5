"""An exact streaming ridge-regression head (recursive least squares) that picks its own lambda.

It keeps P = (Phi^T Phi + lambda I)^-1 and W = P Phi^T Y, updated one sample at a time with the
Sherman-Morrison identity, so after any sequence of updates W equals the ridge solution fitted
on all samples at once, in any order (ACIL; RanPAC's head). A sample is unlearned exactly by the
same update with weight -1, and a new class is a zero column: the ridge solution for a class no
sample has is zero.

Lambda: P's eigendecomposition gives the ridge solution for every lambda at once, and with it
generalised cross-validation (GCV) scores each lambda on the head's own data, no held-out set
needed. The head re-chooses lambda whenever its data has grown by a quarter, so the eigensolver
(a few hundred ms for 1281 features) runs about forty times over the first ten thousand answers.

Read-out: ridge shrinks a rare label's scores toward zero (fitted on its own examples they
average h_k << 1), so a new label rarely wins a guess until it has many examples. Each label's
scores are divided by h_k ** (m / (m + n_k)): fully rescaled while it has few examples, the
plain ridge scores as it grows (m = `low_shot_examples`).

Few-shot read-out: even rescaled, ridge learns a label from a handful of examples along the
directions the other labels' photos leave unexplained, which are mostly those photos' own
quirks; a label added mid-campaign stayed unrecognised for tens of examples (`labelbot bench
--stream addlabel`). A class mean generalises from few examples far better. So each label's
read-out blends in a nearest-mean score, (x - s g) . (mu_k - s g) / |mu_k - s g|^2 (1 on its
own mean; g the mean of all examples, s = `centring`), with weight (r N / (r N + n_k))^2:
N is the mean examples per label, r = `few_shot_share`. A label with 1 example of 60 per
label reads mostly by its mean, one with as many as the others almost purely by ridge.

Every part of the read-out is a function of the learned state (W, the class sums and weights),
so it is as exact as W: the same in any order, after unlearning, and through a checkpoint.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from scipy.linalg.blas import dger
from threadpoolctl import threadpool_limits

from model_core.learners.base import FeatureMap, IncrementalLearner


class AnalyticLearner(IncrementalLearner):
    """Streaming ridge classifier on L2-normalised (optionally randomly projected) embeddings.

    Parameters
    ----------
    alpha : ridge regularisation strength (lambda), or "gcv" to let the head choose it.
    low_shot_examples : m above: how long a label's scores are rescaled by its own fit; 0 never.
    few_shot_share : r above: how long a label's read-out leans on its class mean; 0 never.
    centring : s above: 0 compares raw means (like cosine), 1 means centred on all examples.
    projection_dim : width of RanPAC's fixed random ReLU projection; 0 keeps the embedding.
    temperature : softmax temperature that turns ridge scores (about 0..1) into probabilities.
    random_state : seed of the projection.
    """

    name = "analytic"

    def __init__(
        self,
        *,
        alpha: float | str = "gcv",
        low_shot_examples: float = 30.0,
        few_shot_share: float = 0.15,
        centring: float = 0.5,
        projection_dim: int = 0,
        temperature: float = 0.1,
        random_state: int = 0,
    ) -> None:
        if alpha != "gcv" and not (isinstance(alpha, int | float) and alpha > 0):
            raise ValueError(f'alpha must be positive or "gcv"; got alpha={alpha!r}')
        if low_shot_examples < 0:
            raise ValueError(f"low_shot_examples must be 0 or more; got {low_shot_examples}")
        if few_shot_share < 0:
            raise ValueError(f"few_shot_share must be 0 or more; got {few_shot_share}")
        if not 0 <= centring < 1:
            raise ValueError(f"centring must be at least 0 and below 1; got {centring}")
        if projection_dim < 0:
            raise ValueError(
                f"projection_dim must be 0 or more; got projection_dim={projection_dim}"
            )
        if temperature <= 0:
            raise ValueError(f"temperature must be positive; got temperature={temperature}")
        self.alpha = alpha
        self.low_shot_examples = low_shot_examples
        self.few_shot_share = few_shot_share
        self.centring = centring
        self.projection_dim = projection_dim
        self.temperature = temperature
        self.random_state = random_state

    def get_config(self) -> dict[str, Any]:
        return {
            "alpha": self.alpha,
            "low_shot_examples": self.low_shot_examples,
            "few_shot_share": self.few_shot_share,
            "centring": self.centring,
            "projection_dim": self.projection_dim,
            "temperature": self.temperature,
            "random_state": self.random_state,
        }

    def _features(self) -> FeatureMap:
        return self._feature_map

    def _temperature(self) -> float:
        return self.temperature

    def _initialize(self, n_features: int) -> None:
        self.n_features_ = n_features
        self._build_feature_map()
        width = self._feature_map(np.ones((1, n_features), np.float32)).shape[1]
        self.alpha_ = INITIAL_ALPHA if self.alpha == "gcv" else float(self.alpha)
        self.precision_ = np.eye(width) / self.alpha_  # P: the inverse regularised Gram matrix
        self.coef_ = np.zeros((width, self.n_classes_))
        self.class_sums_ = np.zeros((width, self.n_classes_))  # Phi^T (weight * Y)
        self.class_weights_ = np.zeros(self.n_classes_)
        self.updates_ = 0
        self.next_tune_ = FIRST_TUNE

    def _build_feature_map(self) -> None:
        projection = None
        if self.projection_dim:
            rng = np.random.default_rng(self.random_state)
            shape = (self.n_features_, self.projection_dim)
            projection = rng.standard_normal(shape).astype(np.float32)
        self._feature_map = FeatureMap(projection, bias_feature=True)

    def _grow(self, n: int) -> None:
        width = self.coef_.shape[0]
        self.coef_ = np.hstack([self.coef_, np.zeros((width, n))])
        self.class_sums_ = np.hstack([self.class_sums_, np.zeros((width, n))])
        self.class_weights_ = np.concatenate([self.class_weights_, np.zeros(n)])

    def _learn_one(self, x: np.ndarray, label: int, weight: float) -> None:
        self._update(x, label, weight)
        self.updates_ += 1
        if self.alpha == "gcv" and self.updates_ >= self.next_tune_:
            self.retune()
            self.next_tune_ = max(self.updates_ + 1, round(self.updates_ * TUNE_GROWTH))

    def _update(self, x: np.ndarray, label: int, weight: float) -> None:
        phi = self._feature_map(x[None])[0].astype(np.float64)
        p_phi = self.precision_ @ phi
        gain = p_phi / (1.0 / weight + phi @ p_phi)
        target = np.zeros(self.n_classes_)
        target[label] = 1.0
        self.coef_ += np.outer(gain, target - phi @ self.coef_)
        # P -= gain p_phi^T in place (BLAS rank-1 update; P is symmetric, so its transpose is
        # the Fortran-ordered view BLAS wants): 1 ms instead of 5 ms for a temporary outer().
        self.precision_ = dger(-1.0, gain, p_phi, a=self.precision_.T, overwrite_a=True).T
        self.class_sums_[:, label] += weight * phi
        self.class_weights_[label] += weight

    def settle(self) -> AnalyticLearner:
        """Lambda chosen by GCV on all the data now (with a fixed alpha, nothing to choose)."""
        if self.alpha == "gcv" and self.is_initialized:
            self.retune()
        return self

    def retune(self) -> None:
        """Re-chooses lambda by GCV and moves P and W to it: exactly the ridge solution on the
        same data at the new lambda. Unlike the rank-1 updates, the eigendecomposition and
        the products are compute-bound: every core helps (0.22 s against 0.40 s on two)."""
        with threadpool_limits(len(os.sched_getaffinity(0)), user_api="blas"):
            spectrum, basis = _gram_spectrum(self.precision_, self.alpha_)
            projected = (spectrum + self.alpha_)[:, None] * (basis.T @ self.coef_)  # V^T Φ^T Y
            self.alpha_ = gcv_alpha(spectrum, projected, self.class_weights_.sum())
            shrink = 1.0 / (spectrum + self.alpha_)
            self.precision_ = (basis * shrink) @ basis.T
            self.coef_ = basis @ (shrink[:, None] * projected)

    def _linear(self) -> tuple[np.ndarray, np.ndarray]:
        ridge = self.coef_ / self._low_shot_scale()
        share = self._few_shot_weight()
        if not share.any():
            return ridge, np.zeros(self.n_classes_)
        mean_kernel, mean_bias = self._class_mean_read_out()
        return (1 - share) * ridge + share * mean_kernel, share * mean_bias

    def _few_shot_weight(self) -> np.ndarray:
        """(r N / (r N + n_k))^2 per class: how much its read-out is its class mean's."""
        weights = np.maximum(self.class_weights_, 0)
        taught = self.counts_ > 0  # a fully unlearned class may keep a rounding residue
        if not self.few_shot_share or not taught.any():
            return np.zeros_like(weights)
        horizon = self.few_shot_share * weights[taught].mean()
        return np.where(taught, (horizon / (horizon + weights)) ** 2, 0.0)

    def _class_mean_read_out(self) -> tuple[np.ndarray, np.ndarray]:
        """Kernel and bias scoring (x - s g) . d_k / |d_k|^2 with d_k = mu_k - s g."""
        weights, taught = self.class_weights_, self.counts_ > 0
        means = self.class_sums_ / np.where(taught, weights, 1.0)
        # Over taught classes only: a label added, not yet taught, changes no bit of the sum.
        centre = self.centring * self.class_sums_[:, taught].sum(axis=1) / weights[taught].sum()
        directions = means - centre[:, None]
        kernel = directions / np.maximum((directions**2).sum(axis=0), 1e-12)
        # Column by column (not a BLAS product, whose rounding depends on the column count).
        return kernel, -(centre[:, None] * kernel).sum(axis=0)

    def _low_shot_scale(self) -> np.ndarray:
        """h_k ** (m / (m + n_k)) per class: 1 for a class without examples."""
        weights = self.class_weights_
        if not self.low_shot_examples:
            return np.ones_like(weights)
        fitted = np.einsum("ij,ij->j", self.class_sums_, self.coef_)
        own_fit = np.where(weights > 0, fitted / np.where(weights > 0, weights, 1.0), 1.0)
        exponent = self.low_shot_examples / (self.low_shot_examples + np.maximum(weights, 0))
        return np.maximum(own_fit, MIN_OWN_FIT) ** exponent

    def _get_learned_state(self) -> dict[str, np.ndarray]:
        return {
            "precision_": self.precision_,
            "coef_": self.coef_,
            "class_sums_": self.class_sums_,
            "class_weights_": self.class_weights_,
            "alpha_": np.array(self.alpha_),
            "updates_": np.array(self.updates_),
            "next_tune_": np.array(self.next_tune_),
        }

    def _set_learned_state(self, state: dict[str, np.ndarray]) -> None:
        self.precision_ = np.array(state["precision_"], np.float64)
        self.coef_ = np.array(state["coef_"], np.float64)
        self._build_feature_map()
        if "class_sums_" not in state:  # saved before lambda was chosen: alpha was fixed
            self._recover_sums(float(self.alpha if self.alpha != "gcv" else 1.0))
            return
        self.class_sums_ = np.array(state["class_sums_"], np.float64)
        self.class_weights_ = np.array(state["class_weights_"], np.float64)
        self.alpha_ = float(state["alpha_"])
        self.updates_ = int(state["updates_"])
        self.next_tune_ = int(state["next_tune_"])

    def _recover_sums(self, alpha: float) -> None:
        """Phi^T Y = P^-1 W, for a head saved by a version that did not keep it."""
        self.alpha_ = alpha
        self.class_sums_ = np.linalg.solve(self.precision_, self.coef_)
        self.class_weights_ = self.counts_.astype(np.float64)
        self.updates_ = int(self.counts_.sum())
        self.next_tune_ = self.updates_ + 1


INITIAL_ALPHA = 1.0  # before the first GCV choice
FIRST_TUNE = 16  # updates before lambda is first chosen
TUNE_GROWTH = 1.25  # lambda is re-chosen when the updates have grown by this factor
ALPHA_GRID = np.logspace(-3, 2, 41)  # the lambdas GCV chooses from
MIN_OWN_FIT = 1e-3  # floor of h_k, so a degenerate class cannot blow up its scores


def _gram_spectrum(precision: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues and eigenvectors of the Gram matrix Phi^T Phi, read off P = (G + a I)^-1."""
    inverse_spectrum, basis = np.linalg.eigh(precision)
    return np.maximum(1.0 / inverse_spectrum - alpha, 0.0), basis


def gcv_alpha(spectrum: np.ndarray, projected: np.ndarray, n: float) -> float:
    """The lambda of ALPHA_GRID with the smallest generalised cross-validation score.

    `spectrum` holds the Gram matrix's eigenvalues s_i, `projected` the rows of V^T Phi^T Y and
    `n` the total sample weight (|Y|^2 for one-hot targets). For ridge at lambda, with
    r_i = 1 / (s_i + lambda): the residual sum of squares is n - sum |c_i|^2 r_i (2 - s_i r_i)
    and the degrees of freedom sum s_i r_i; GCV = n RSS / (n - df)^2.
    """
    energy = (projected**2).sum(axis=1)
    shrink = 1.0 / (spectrum[None, :] + ALPHA_GRID[:, None])
    rss = n - (energy * shrink * (2.0 - spectrum * shrink)).sum(axis=1)
    dof = (spectrum * shrink).sum(axis=1)
    scores = n * rss / np.maximum(n - dof, 1e-9) ** 2
    return float(ALPHA_GRID[int(np.argmin(scores))])


def limit_blas_threads() -> None:
    """Pins BLAS to one thread for the whole process.

    A rank-1 update of a 1281x1281 matrix is memory-bound: BLAS threads only add hand-off
    cost (8 ms with two threads against 1 ms with one, on this machine). Call it once where
    the learner lives (the model service, the benchmark); TensorFlow keeps its own threads.
    """
    threadpool_limits(1, user_api="blas")
