"""Typed asyncio client for ``session.v1.SessionService``."""
