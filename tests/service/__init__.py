"""End-to-end tests of the gRPC service against the real core."""
