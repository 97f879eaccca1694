"""The service fixtures of tests/service (real core, real service) reused."""

from tests.service.conftest import clock, core, core_url, make_service

__all__ = ["clock", "core", "core_url", "make_service"]
