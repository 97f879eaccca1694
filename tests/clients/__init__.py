"""Tests of the Python client package (clients/python): sync client, HTTP helpers, stubs."""
