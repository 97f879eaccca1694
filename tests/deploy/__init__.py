"""The Dockerfile, docker-compose.yml and deploy/kubernetes/ are checked by reading them (no
container engine or cluster runs on these machines): image stages, user, ports, probes,
that every setting they name is one the service or the core really reads, and that the
service in each requires callers to authenticate (API keys from a file; health stays open:
tests/service/test_operations.py runs the health check against the keys file the
Compose deployment mounts).
"""
