"""The gRPC face of the service: protobuf in and out, outcomes mapped to statuses and codes.

Nothing here holds session logic; it converts, maps and serves (the domain is
``session_service.domain``).
"""
