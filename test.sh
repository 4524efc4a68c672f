#!/usr/bin/env bash
# Set up (first time) and run the whole test suite on every core: unit tests, the
# driver end to end, and nbval over notebooks/ (each notebook kept on one worker).
cd "$(dirname "$0")"
source scripts/bootstrap.sh
exec .venv/bin/python -m pytest -n "${PYTEST_WORKERS:-auto}" --dist loadfile --nbval-lax tests notebooks "$@"
