"""The service fixtures of tests/service (real core, real service) reused."""

from tests.service.conftest import clock, core, make_service, service

__all__ = ["clock", "core", "make_service", "service"]
