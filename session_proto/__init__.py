"""Python code generated from ``protos/`` (``./dev gen``); the subpackages are not committed."""
