"""Core package of the likelihood replication suite.

Modules, each named for what it holds:

- ``repro``: seeding, determinism, device selection, environment facts;
- ``config``: the per-paper configuration loader (Hydra compose, one file per profile);
- ``ledger``: the claims ledger, its JSON schema and the artefacts it writes;
- ``plotting``: the suite's one plotting style;
- ``densities``: closed-form log-densities and scores (Gaussian, Gaussian mixtures);
- ``clustering``, ``metrics``, ``nn``, ``mcmc``: models and tools shared by notebooks.
"""

__version__ = "0.1.0"
