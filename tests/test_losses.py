"""The formulas of notebook 01: each derived gradient against autograd and finite differences, BCE at
extreme logits, gradient descent against scikit-learn, softmax cross-entropy, perplexity."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest

from llmkit.core.errors import LlmkitError
from llmkit.losses import gradcheck, kd, language, logistic, multiclass


@pytest.fixture(scope="module")
def cancer() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_breast_cancer
    from sklearn.preprocessing import StandardScaler

    data = load_breast_cancer()
    return StandardScaler().fit_transform(data.data), data.target.astype(np.float64)


# ------------------------------------------------------------------------------------------ binary


def test_sigmoid_is_stable_and_symmetric():
    z = np.array([-1000.0, -40.0, 0.0, 40.0, 1000.0])
    s = logistic.sigmoid(z)
    assert np.all(np.isfinite(s)) and s[2] == 0.5
    np.testing.assert_allclose(s + logistic.sigmoid(-z), 1.0)
    np.testing.assert_allclose(logistic.sigmoid([1.0]), 1 / (1 + np.exp(-1.0)))


def test_bce_with_logits_matches_textbook_formula_at_moderate_logits():
    rng = np.random.default_rng(0)
    z, y = rng.normal(scale=3, size=100), rng.integers(0, 2, size=100).astype(float)
    assert logistic.bce_with_logits(z, y) == pytest.approx(
        logistic.bce_from_probs(logistic.sigmoid(z), y), rel=1e-12
    )


@pytest.mark.parametrize("z", [-1000.0, -40.0, 40.0, 1000.0])
def test_bce_is_exact_at_extreme_logits_where_the_textbook_formula_breaks(z):
    wrong = float(z < 0)  # confidently wrong: the loss is log(1 + e^|z|) = |z| to double precision
    right = 1.0 - wrong  # confidently right: the loss is log(1 + e^-|z|), tiny but not negative
    assert logistic.bce_with_logits([z], [wrong]) == pytest.approx(abs(z), rel=1e-12)
    assert 0.0 <= logistic.bce_with_logits([z], [right]) < 1e-16
    if z != -40.0:  # sigmoid(40) rounds to 1.0 and sigmoid(-1000) to 0.0: the textbook form takes log(0)
        assert not np.isfinite(logistic.bce_from_probs(logistic.sigmoid([z]), [wrong]))


def test_bce_gradient_is_prediction_minus_label_over_n():
    z, y = np.array([0.0, 2.0, -1.0, 5.0]), np.array([1.0, 0.0, 0.0, 1.0])
    np.testing.assert_allclose(logistic.bce_gradient(z, y), (logistic.sigmoid(z) - y) / 4)
    fd = gradcheck.numerical_gradient(lambda t: logistic.bce_with_logits(t, y), z)
    assert gradcheck.relative_error(logistic.bce_gradient(z, y), fd) < 1e-8


@pytest.mark.parametrize("C", [None, 1.0, 0.05])
def test_logistic_gradient_matches_autograd_and_finite_differences(cancer, C):
    X, y = cancer
    theta = np.random.default_rng(1).normal(scale=0.5, size=X.shape[1] + 1)
    ours = logistic.logistic_gradient(theta, X, y, C)
    autograd = gradcheck.autograd_gradient(lambda t: gradcheck.torch_logistic_objective(t, X, y, C), theta)
    fd = gradcheck.numerical_gradient(partial(logistic.logistic_objective, X=X, y=y, C=C), theta)
    assert gradcheck.relative_error(ours, autograd) < 1e-12
    assert gradcheck.relative_error(ours, fd) < 1e-6
    assert logistic.logistic_objective(theta, X, y, C) == pytest.approx(
        float(gradcheck.torch_logistic_objective(__import__("torch").tensor(theta), X, y, C)), rel=1e-12
    )


def test_logistic_objective_has_sklearns_minimizer(cancer):
    """Our objective is sklearn's divided by C n: its gradient vanishes at sklearn's solution."""
    from sklearn.linear_model import LogisticRegression

    X, y = cancer
    for C in (1.0, 0.1):
        sk = LogisticRegression(C=C, tol=1e-12, max_iter=10_000).fit(X, y)
        theta = np.append(sk.coef_[0], sk.intercept_[0])
        assert np.abs(logistic.logistic_gradient(theta, X, y, C)).max() < 1e-6
        # ... and not the minimizer of a penalized intercept or an unpenalized objective
        assert np.abs(logistic.logistic_gradient(theta, X, y, None)).max() > 1e-4


def test_logistic_lipschitz_bounds_the_hessian(cancer):
    X, y = cancer
    C, n = 1.0, X.shape[0]
    L = logistic.logistic_lipschitz(X, C)
    X1 = np.hstack([X, np.ones((n, 1))])
    hessian_at_zero = X1.T @ X1 / (4 * n) + np.diag(np.r_[np.ones(X.shape[1]), 0.0]) / (C * n)
    top = np.linalg.eigvalsh(hessian_at_zero)[-1]
    assert top <= L + 1e-12 and top == pytest.approx(L, rel=1e-3)  # attained at theta = 0


def test_shape_mismatch_names_both_shapes():
    with pytest.raises(LlmkitError, match=r"X \[3, 2\] and y \[4\]"):
        logistic.logistic_objective(np.zeros(3), np.zeros((3, 2)), np.zeros(4))


# -------------------------------------------------------------------------------- gradient descent


def test_gradient_descent_reaches_sklearns_objective_within_1pct(cancer):
    from sklearn.linear_model import LogisticRegression

    X, y = cancer
    C = 1.0
    objective = partial(logistic.logistic_objective, X=X, y=y, C=C)
    gradient = partial(logistic.logistic_gradient, X=X, y=y, C=C)
    L = logistic.logistic_lipschitz(X, C)
    run = logistic.gradient_descent(
        objective, gradient, np.zeros(X.shape[1] + 1), learning_rate=1 / L, steps=1500
    )
    sk = LogisticRegression(C=C, tol=1e-10, max_iter=10_000).fit(X, y)
    best = objective(np.append(sk.coef_[0], sk.intercept_[0]))
    assert abs(run.losses[-1] - best) / best <= 0.01
    assert run.losses.shape == (1501,) and not run.diverged
    assert np.diff(run.losses).max() <= 1e-12  # the descent lemma: step 1/L never goes uphill


def test_gradient_descent_on_a_quadratic_and_its_divergence():
    A = np.diag([1.0, 10.0])  # curvature L = 10
    loss, grad = (lambda t: 0.5 * t @ A @ t), (lambda t: A @ t)
    theta0 = np.array([1.0, 1.0])
    ok = logistic.gradient_descent(loss, grad, theta0, learning_rate=0.1, steps=200, keep_path=True)
    assert ok.losses[-1] < 1e-15 and ok.path.shape == (201, 2)
    np.testing.assert_array_equal(theta0, [1.0, 1.0])  # the caller's array is untouched
    with np.errstate(over="ignore", invalid="ignore"):
        bad = logistic.gradient_descent(loss, grad, theta0, learning_rate=0.25, steps=5000)  # > 2/L
    assert bad.diverged and bad.losses.size < 5001
    with pytest.raises(LlmkitError, match="learning_rate"):
        logistic.gradient_descent(loss, grad, theta0, learning_rate=0.0, steps=1)


# ---------------------------------------------------------------------------- softmax cross-entropy


def test_softmax_is_stable_and_normalized():
    z = np.array([[1000.0, 0.0, -1000.0], [1.0, 2.0, 3.0]])
    p = multiclass.softmax(z)
    assert np.all(np.isfinite(p))
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    np.testing.assert_allclose(p[0], [1.0, 0.0, 0.0])
    np.testing.assert_allclose(multiclass.softmax(z + 123.0), p)


def test_softmax_cross_entropy_gradient_is_p_minus_onehot():
    rng = np.random.default_rng(2)
    logits, labels = rng.normal(scale=3, size=(20, 7)), rng.integers(0, 7, size=20)
    ours = multiclass.softmax_cross_entropy_gradient(logits, labels)
    np.testing.assert_allclose(ours, (multiclass.softmax(logits) - multiclass.one_hot(labels, 7)) / 20)
    autograd = gradcheck.autograd_gradient(lambda t: gradcheck.torch_softmax_cross_entropy(t, labels), logits)
    fd = gradcheck.numerical_gradient(lambda t: multiclass.softmax_cross_entropy(t, labels), logits)
    assert gradcheck.relative_error(ours, autograd) < 1e-12
    assert gradcheck.relative_error(ours, fd) < 1e-6
    assert multiclass.softmax_cross_entropy(logits, labels) == pytest.approx(
        float(gradcheck.torch_softmax_cross_entropy(__import__("torch").tensor(logits), labels)), rel=1e-12
    )


def test_two_class_softmax_cross_entropy_is_bce():
    rng = np.random.default_rng(3)
    z, y = rng.normal(scale=5, size=50), rng.integers(0, 2, size=50)
    two = multiclass.softmax_cross_entropy(np.stack([np.zeros_like(z), z], axis=1), y)
    assert two == pytest.approx(logistic.bce_with_logits(z, y), abs=1e-12)


def test_softmax_regression_gradient_and_lipschitz():
    rng = np.random.default_rng(4)
    X, y, K = rng.normal(size=(30, 4)), rng.integers(0, 3, size=30), 3
    theta = rng.normal(size=(4 + 1) * K)
    for C in (None, 0.5):
        f = partial(multiclass.softmax_regression_objective, X=X, y=y, num_classes=K, C=C)
        g = multiclass.softmax_regression_gradient(theta, X, y, K, C)
        assert gradcheck.relative_error(g, gradcheck.numerical_gradient(f, theta)) < 1e-6
    run = logistic.gradient_descent(
        partial(multiclass.softmax_regression_objective, X=X, y=y, num_classes=K, C=1.0),
        partial(multiclass.softmax_regression_gradient, X=X, y=y, num_classes=K, C=1.0),
        np.zeros((4 + 1) * K),
        learning_rate=1 / multiclass.softmax_lipschitz(X, 1.0),
        steps=300,
    )
    assert np.diff(run.losses).max() <= 1e-12
    with pytest.raises(LlmkitError, match="theta of shape"):
        multiclass.softmax_regression_objective(np.zeros(3), X, y, K)


def test_one_hot_rejects_out_of_range_labels():
    np.testing.assert_array_equal(multiclass.one_hot([0, 2], 3), [[1, 0, 0], [0, 0, 1]])
    with pytest.raises(LlmkitError, match="0..2"):
        multiclass.one_hot([3], 3)


# ---------------------------------------------------------------------- next-token loss, perplexity


@pytest.mark.parametrize("V", [2, 65, 30_522])
def test_uniform_model_perplexity_is_the_vocabulary_size(V):
    targets = np.random.default_rng(V).integers(0, V, size=1000)
    ppl = language.perplexity(language.next_token_nll(language.uniform_log_probs(V), targets))
    assert abs(ppl - V) / V < 1e-9


def test_next_token_nll_per_position_and_unigram():
    log_probs = np.log(np.array([[0.5, 0.5], [0.25, 0.75]]))  # [T=2, V=2]
    assert language.next_token_nll(log_probs, [0, 1]) == pytest.approx(-(np.log(0.5) + np.log(0.75)) / 2)
    unigram = language.unigram_log_probs([0, 0, 0, 1], vocab_size=3, smoothing=1.0)  # counts 4, 2, 1
    np.testing.assert_allclose(np.exp(unigram), [4 / 7, 2 / 7, 1 / 7])
    text = np.array([0, 0, 1, 0, 2, 0, 0, 1])
    assert language.perplexity(language.next_token_nll(language.unigram_log_probs(text, 3), text)) < 3


# ------------------------------------------------------------------------- checks and landscapes


def test_relative_error_and_numerical_gradient():
    assert gradcheck.relative_error([1.0, 2.0], [1.0, 2.0]) == 0.0
    assert gradcheck.relative_error([0.0], [0.0]) == 0.0
    assert gradcheck.relative_error([1.0, 2.0], [1.0, 2.2]) == pytest.approx(0.2 / 2.2)
    with pytest.raises(LlmkitError, match="shapes differ"):
        gradcheck.relative_error([1.0], [1.0, 2.0])
    grad = gradcheck.numerical_gradient(lambda t: float(np.sum(t**3)), np.array([[1.0, 2.0], [3.0, -1.0]]))
    np.testing.assert_allclose(grad, 3 * np.array([[1.0, 4.0], [9.0, 1.0]]), rtol=1e-8)


def test_landscape_and_trajectory_plane():
    loss = lambda t: float(t @ t)  # noqa: E731
    alphas, betas, grid = gradcheck.landscape_2d(
        loss, np.zeros(3), np.eye(3)[0], np.eye(3)[1], span=2.0, num=5
    )
    assert grid.shape == (5, 5) and grid[2, 2] == 0.0 and grid[0, 4] == pytest.approx(8.0)
    path = np.array([[2.0, 1.0, 0.0], [1.0, 0.5, 0.0], [0.5, 0.1, 0.0]])
    d1, d2, xy, explained = gradcheck.trajectory_plane(path, np.zeros(3))
    assert explained == pytest.approx(1.0) and xy.shape == (3, 2)
    np.testing.assert_allclose(xy @ np.stack([d1, d2]), path, atol=1e-12)  # the path lies in the plane


# ----------------------------------------------------------------- knowledge distillation (notebook 05)


@pytest.fixture(scope="module")
def kd_logits() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(5)
    student, teacher = rng.normal(scale=3, size=(12, 10)), rng.normal(scale=3, size=(12, 10))
    return student, teacher, rng.integers(0, 10, size=12)


def test_softened_softmax_flattens_with_temperature():
    z = np.array([[3.0, 1.0, -2.0]])
    np.testing.assert_allclose(kd.softened_softmax(z, 1.0), multiclass.softmax(z))
    np.testing.assert_allclose(kd.softened_softmax(z, 2.0), multiclass.softmax(z / 2))
    top = [kd.softened_softmax(z, T)[0, 0] for T in (0.5, 1.0, 4.0, 1e6)]
    assert np.all(np.diff(top) < 0) and top[-1] == pytest.approx(1 / 3, rel=1e-5)  # -> uniform
    assert np.all(np.isfinite(kd.softened_softmax([[1e4, 0.0]], 0.01)))


@pytest.mark.parametrize("T", [0.0, -1.0, float("nan"), float("inf")])
def test_kd_rejects_a_bad_temperature(T):
    z = np.zeros((2, 3))
    for f in (kd.softened_softmax, lambda *a: kd.kd_kl(z, *a)):
        with pytest.raises(LlmkitError, match="temperature: expected a finite T > 0"):
            f(z, T)


@pytest.mark.parametrize("alpha", [-0.1, 1.5])
def test_kd_rejects_alpha_outside_0_1(alpha):
    z = np.zeros((2, 3))
    with pytest.raises(LlmkitError, match=r"alpha: expected a weight in \[0, 1\]"):
        kd.kd_loss(z, z, [0, 1], 2.0, alpha)
    with pytest.raises(LlmkitError, match="alpha"):
        kd.torch_kd_loss(__import__("torch").zeros(2, 3), z, [0, 1], 2.0, alpha)


def test_kd_rejects_mismatched_logits():
    with pytest.raises(LlmkitError, match=r"student \[2, 3\] and teacher \[2, 4\]"):
        kd.kd_kl(np.zeros((2, 3)), np.zeros((2, 4)), 2.0)


def test_kd_kl_is_nonnegative_and_zero_when_the_logits_match(kd_logits):
    student, teacher, _ = kd_logits
    for T in (0.5, 1.0, 4.0, 20.0):
        assert kd.kd_kl(student, teacher, T) > 0
        assert kd.kd_kl(teacher, teacher, T) == pytest.approx(0.0, abs=1e-12)
        assert kd.kd_kl(teacher + 7.0, teacher, T) == pytest.approx(0.0, abs=1e-12)  # shift-invariant
    rng = np.random.default_rng(6)
    assert min(kd.kd_kl(rng.normal(size=(4, 5)), rng.normal(size=(4, 5)), 3.0) for _ in range(50)) >= 0


def test_soft_cross_entropy_is_kl_plus_the_teachers_entropy(kd_logits):
    student, teacher, _ = kd_logits
    for T in (1.0, 4.0):
        entropy = kd.mean_entropy(kd.softened_softmax(teacher, T))
        assert kd.kd_soft_cross_entropy(student, teacher, T) == pytest.approx(
            kd.kd_kl(student, teacher, T) + T**2 * entropy, rel=1e-12
        )
        # the constant has no gradient: both forms give T (p_s - p_t) / n
        fd = gradcheck.numerical_gradient(lambda z, T=T: kd.kd_soft_cross_entropy(z, teacher, T), student)
        assert gradcheck.relative_error(kd.kd_soft_gradient(student, teacher, T), fd) < 1e-6
    assert kd.mean_entropy([[0.5, 0.5, 0.0]]) == pytest.approx(np.log(2))


@pytest.mark.parametrize("T,alpha", [(1.0, 0.5), (4.0, 0.9), (20.0, 1.0), (2.0, 0.0)])
def test_kd_gradient_matches_autograd_and_finite_differences(kd_logits, T, alpha):
    student, teacher, labels = kd_logits
    ours = kd.kd_gradient(student, teacher, labels, T, alpha)
    autograd = gradcheck.autograd_gradient(
        lambda z: kd.torch_kd_loss(z, teacher, labels, T, alpha), student
    )  # float64 end to end
    fd = gradcheck.numerical_gradient(lambda z: kd.kd_loss(z, teacher, labels, T, alpha), student)
    assert gradcheck.relative_error(ours, autograd) < 1e-6
    assert gradcheck.relative_error(ours, fd) < 1e-6
    assert kd.kd_loss(student, teacher, labels, T, alpha) == pytest.approx(
        float(kd.torch_kd_loss(__import__("torch").tensor(student), teacher, labels, T, alpha)), rel=1e-12
    )


def test_kd_soft_gradient_is_T_times_p_student_minus_p_teacher(kd_logits):
    student, teacher, _ = kd_logits
    n, T = student.shape[0], 4.0
    ps, pt = kd.softened_softmax(student, T), kd.softened_softmax(teacher, T)
    np.testing.assert_allclose(kd.kd_soft_gradient(student, teacher, T), T * (ps - pt) / n)
    # before the T^2 factor the same gradient is (p_s - p_t) / (T n)
    unscaled = gradcheck.numerical_gradient(lambda z: kd.kd_kl(z, teacher, T) / T**2, student)
    assert gradcheck.relative_error(unscaled, (ps - pt) / (T * n)) < 1e-6


def test_alpha_zero_is_pure_cross_entropy_and_alpha_one_pure_soft(kd_logits):
    student, teacher, labels = kd_logits
    assert kd.kd_loss(student, teacher, labels, 3.0, 0.0) == multiclass.softmax_cross_entropy(student, labels)
    np.testing.assert_array_equal(
        kd.kd_gradient(student, teacher, labels, 3.0, 0.0),
        multiclass.softmax_cross_entropy_gradient(student, labels),
    )
    assert kd.kd_loss(student, teacher, labels, 3.0, 1.0) == kd.kd_kl(student, teacher, 3.0)


def test_high_temperature_limit_is_hintons_logit_matching(kd_logits):
    """What is tested: for T >> |z|, T (p_s(T) - p_t(T)) / n -> (c(z_s) - c(z_t)) / (K n) with c(z) the
    row-centred logits, the relative error falling like 1/T; for zero-mean logits that is (z_s - z_t) / (K n),
    i.e. Hinton's eq. 4, 1 / (K T^2) (z_s - z_t), once the T^2 factor is put back."""
    student, teacher, _ = kd_logits
    limit = kd.logit_matching_gradient(student, teacher)
    errors = [
        gradcheck.relative_error(kd.kd_soft_gradient(student, teacher, T), limit) for T in (10, 100, 1000)
    ]
    assert errors[1] < 0.05 and errors[2] < 0.005
    assert errors[1] < errors[0] / 5 and errors[2] < errors[1] / 5  # O(1/T)
    zs, zt = student - student.mean(1, keepdims=True), teacher - teacher.mean(1, keepdims=True)
    n, K, T = zs.shape[0], zs.shape[1], 1000.0
    hinton = (zs - zt) / (K * T**2)  # per example, unscaled soft CE
    assert gradcheck.relative_error(kd.kd_soft_gradient(zs, zt, T) * n / T**2, hinton) < 0.005
    # the T^2 factor keeps the gradient's size fixed as T grows; without it the gradient shrinks like 1/T^2
    sizes = [np.abs(kd.kd_soft_gradient(student, teacher, T)).max() for T in (100, 1000)]
    assert sizes[1] == pytest.approx(sizes[0], rel=0.05)
