"""What the session core and the session service share: time, JSON values, the access-token
format, logging, tracing, configuration loading and the distribution's version.

Imports neither ``session_core`` nor ``session_service``: both build on it.
"""
