"""Core package of the likelihood replication suite.

Modules, each named for what it holds:

- ``repro``: seeding, determinism, device selection, environment facts;
- ``config``: the per-paper configuration loader (Hydra compose, one file per profile);
- ``ledger``: the claims ledger, its JSON schema and the artefacts it writes;
- ``plotting``: the suite's one plotting style;
- ``densities``: closed-form log-densities and scores (Gaussian, Gaussian mixtures);
- ``validation``: argument checks with one message format;
- ``stats``: statistics that claim checks call (rank correlation, power-law fits, coverage);
- ``clustering``, ``metrics``, ``nn``, ``mcmc``: models and tools shared by notebooks;
- ``hmm``: forward-backward and Viterbi over any emission log-likelihood matrix;
- ``ssm``: linear-Gaussian state-space models (Kalman, RTS), particle filters, conditional
  SMC, PaRIS and particle Gibbs;
- ``cmb``, ``fisher``: CMB spectra (camb), noise, Gaussian and exact low-l likelihoods;
  finite-difference Fisher forecasts;
- ``evidence``: nested sampling (dynesty) with counted likelihood calls, surrogate switch;
- ``moe``: Gaussian mixture of experts with softmax gates, Voronoi losses;
- ``lm``: a tiny causal transformer, token / sequence log-likelihoods, sampling, MLE training;
- ``preference``: preference losses (DPO, IPO, SLiC, ORPO, ASFT, PRO, SPPO), the KL-regularised
  optimal policy, RSO's rejection sampler, exact win rates, Nash solutions of preference games;
- ``languages``: synthetic languages with known likelihoods and rewards.
"""

__version__ = "0.1.0"
