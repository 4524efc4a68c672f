# Sourced by run.sh and test.sh: make .venv hold exactly what pyproject.toml pins.
# A second call reuses the environment unless pyproject.toml changed since it was built.
set -euo pipefail
PYTHON=${PYTHON:-python3}
stamp=.venv/.installed-from
want=$(sha256sum pyproject.toml | cut -c1-16)
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setting up .venv (Python: $($PYTHON --version 2>&1))" >&2
  "$PYTHON" -m venv .venv
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e '.[test]'
  echo "$want" > "$stamp"
fi
