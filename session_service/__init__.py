"""session-service: SuperTokens-compatible (CDI 2.21) session management over gRPC."""
