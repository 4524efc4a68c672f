import itertools

import numpy as np
import pytest
from hmmlearn import hmm as hmmlearn_hmm
from hypothesis import given, settings, strategies as st
from scipy import stats as sps

from shared.hmm import forward_backward, log_likelihood, viterbi


def _gaussian_model(seed=0, n_states=3):
    rng = np.random.default_rng(seed)
    start = rng.dirichlet(np.ones(n_states))
    trans = rng.dirichlet(np.ones(n_states) * 2, size=n_states)
    means = np.linspace(-2, 2, n_states)
    sds = np.linspace(0.5, 1.0, n_states)
    model = hmmlearn_hmm.GaussianHMM(n_components=n_states, covariance_type="diag", init_params="", params="")
    model.startprob_, model.transmat_ = start, trans
    model.means_, model.covars_ = means[:, None], (sds ** 2)[:, None]
    y, _ = model.sample(200, random_state=seed)
    log_em = sps.norm.logpdf(y, means[None, :], sds[None, :])
    return model, y, log_em, np.log(start), np.log(trans)


def test_matches_hmmlearn_gaussian_hmm():
    model, y, log_em, log_start, log_trans = _gaussian_model()
    post = forward_backward(log_em, log_start, log_trans)
    assert post.log_likelihood == pytest.approx(model.score(y), rel=1e-10)
    np.testing.assert_allclose(post.state_probs, model.predict_proba(y), atol=1e-8)
    ref_logprob, ref_path = model.decode(y, algorithm="viterbi")
    path, logprob = viterbi(log_em, log_start, log_trans)
    np.testing.assert_array_equal(path, ref_path)
    assert logprob == pytest.approx(ref_logprob, rel=1e-10)


def test_expected_transitions_match_hmmlearn_em_step():
    # one Baum-Welch step of hmmlearn re-estimates transmat from the same expected counts
    model, y, log_em, log_start, log_trans = _gaussian_model(seed=3)
    post = forward_backward(log_em, log_start, log_trans)
    step = hmmlearn_hmm.GaussianHMM(n_components=3, covariance_type="diag", init_params="", params="t",
                                    n_iter=1, tol=0.0)
    step.startprob_, step.transmat_, step.means_ = model.startprob_, model.transmat_, model.means_
    step.covars_ = np.diagonal(model.covars_, axis1=1, axis2=2)  # the property returns full matrices
    step.fit(y)
    ours = post.transition_counts / post.transition_counts.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(ours, step.transmat_, atol=1e-8)


def _brute_force(log_em, log_start, log_trans):
    n_steps, n_states = log_em.shape
    joint = {}
    for path in itertools.product(range(n_states), repeat=n_steps):
        lp = log_start[path[0]] + log_em[0, path[0]]
        for t in range(1, n_steps):
            lp += log_trans[path[t - 1], path[t]] + log_em[t, path[t]]
        joint[path] = lp
    logs = np.array(list(joint.values()))
    total = np.logaddexp.reduce(logs)
    gamma = np.zeros((n_steps, n_states))
    counts = np.zeros((n_states, n_states))
    for path, lp in joint.items():
        w = np.exp(lp - total)
        gamma[np.arange(n_steps), path] += w
        for t in range(n_steps - 1):
            counts[path[t], path[t + 1]] += w
    best = max(joint, key=joint.get)
    return total, gamma, counts, np.array(best), joint[best]


@given(st.integers(0, 10_000), st.integers(1, 5), st.integers(1, 3), st.booleans())
@settings(max_examples=40, deadline=None)
def test_equals_brute_force_enumeration(seed, n_steps, n_states, with_prior):
    rng = np.random.default_rng(seed)
    log_em = rng.normal(0, 3, size=(n_steps, n_states))
    log_start = np.log(rng.dirichlet(np.ones(n_states)))
    log_trans = np.log(rng.dirichlet(np.ones(n_states), size=n_states))
    log_prior = np.log(rng.uniform(0.05, 1, size=(n_steps, n_states))) if with_prior else None
    total, gamma, counts, best, best_lp = _brute_force(log_em + (0 if log_prior is None else log_prior),
                                                       log_start, log_trans)
    post = forward_backward(log_em, log_start, log_trans, log_prior)
    assert post.log_likelihood == pytest.approx(total, rel=1e-9, abs=1e-9)
    np.testing.assert_allclose(post.state_probs, gamma, atol=1e-9)
    np.testing.assert_allclose(post.transition_counts, counts, atol=1e-9)
    path, lp = viterbi(log_em, log_start, log_trans, log_prior)
    assert lp == pytest.approx(best_lp, rel=1e-9, abs=1e-9)


def test_left_to_right_chain_with_zero_transitions():
    with np.errstate(divide="ignore"):
        log_trans = np.log(np.array([[0.9, 0.1, 0.0], [0.0, 0.8, 0.2], [0.0, 0.0, 1.0]]))
        log_start = np.log(np.array([1.0, 0.0, 0.0]))
    rng = np.random.default_rng(0)
    log_em = rng.normal(size=(30, 3))
    with np.errstate(divide="ignore"):
        post = forward_backward(log_em, log_start, log_trans)
        path, _ = viterbi(log_em, log_start, log_trans)
    assert np.all(np.diff(path) >= 0) and path[0] == 0
    assert np.allclose(np.tril(post.transition_counts, -1), 0)
    assert log_likelihood(log_em, log_start, log_trans) == pytest.approx(post.log_likelihood)


def test_uniform_prior_shifts_loglik_only():
    _, _, log_em, log_start, log_trans = _gaussian_model()
    plain = forward_backward(log_em, log_start, log_trans)
    flat = forward_backward(log_em, log_start, log_trans, np.full(log_em.shape, np.log(0.5)))
    assert flat.log_likelihood == pytest.approx(plain.log_likelihood + len(log_em) * np.log(0.5))
    np.testing.assert_allclose(flat.state_probs, plain.state_probs, atol=1e-12)


@pytest.mark.parametrize("kwargs, match", [
    ({"log_emission": np.zeros(3)}, "shape \\(T, K\\)"),
    ({"log_startprob": np.zeros(3)}, "log_startprob"),
    ({"log_transmat": np.zeros((2, 3))}, "log_transmat"),
    ({"log_prior": np.zeros((4, 3))}, "log_prior"),
    ({"log_emission": np.full((5, 2), np.nan)}, "NaN"),
])
def test_bad_shapes(kwargs, match):
    args = {"log_emission": np.zeros((5, 2)), "log_startprob": np.log([0.5, 0.5]),
            "log_transmat": np.log(np.full((2, 2), 0.5))} | kwargs
    with pytest.raises(ValueError, match=match):
        forward_backward(**args)
