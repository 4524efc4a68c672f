"""The batch driver of the suite: catalogue, configs, papermill runner, scorecard, CLI."""
