"""The test suite (a package, so that mypy and pytest agree on module names)."""
