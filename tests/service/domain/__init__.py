"""Tests of the session service's domain layer (no gRPC), against the real core."""
