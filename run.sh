#!/usr/bin/env bash
# Set up (first time) and run every notebook through the driver at the quick profile.
# Arguments go to `replicate run`: ./run.sh profile=full, ./run.sh ila_sdp --jobs 2, ...
cd "$(dirname "$0")"
source scripts/bootstrap.sh
exec .venv/bin/replicate run "$@"
