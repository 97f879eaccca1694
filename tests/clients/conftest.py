"""The service fixtures of tests/service (real core, real service, real channel) reused."""

from tests.service.conftest import channel, client, clock, core, make_service, service

__all__ = ["channel", "client", "clock", "core", "make_service", "service"]
