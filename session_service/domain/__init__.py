"""Session domain layer: token verification, signing-key cache, core client, session logic.

Nothing here imports grpc. The public API is ``session_service.domain.api``.
"""
