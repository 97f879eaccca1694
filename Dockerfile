# syntax=docker/dockerfile:1
# One image for the service (the default command) and the core (`session-core serve`):
#   docker build -t session-service:0.1.0 .
# The base image is pinned by version; bump both stages together (and rebuild for fixes).

# -- build: install the project into a virtual environment ----------------------------------
# The package build (setup.py) generates the gRPC code from protos/ with grpcio-tools, a
# build requirement that pip installs in its isolated build environment, not in /opt/venv.
FROM python:3.11.13-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY protos/ protos/
COPY session_proto/ session_proto/
COPY session_common/ session_common/
COPY session_core/ session_core/
COPY session_service/ session_service/
RUN python -m venv /opt/venv && /opt/venv/bin/pip install ".[tracing]"

# -- runtime: the virtual environment and nothing else -----------------------------------
FROM python:3.11.13-slim-bookworm AS runtime
RUN groupadd --system --gid 10001 session \
    && useradd --system --uid 10001 --gid session --home-dir /data --shell /usr/sbin/nologin session \
    && mkdir /data && chown session:session /data
COPY --from=build /opt/venv /opt/venv
# Listening on every interface, callers need an API key: the service reads '<key> <scope>'
# lines from SESSION_SERVICE_API_KEYS_FILE (where Docker and Compose mount a secret named
# api-keys) and does not start without that file (docs/operations.md#container-image).
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    SESSION_SERVICE_HOST=0.0.0.0 \
    SESSION_SERVICE_PORT=50051 \
    SESSION_SERVICE_METRICS_HOST=0.0.0.0 \
    SESSION_SERVICE_METRICS_PORT=9464 \
    SESSION_SERVICE_DATA_DIR=/data \
    SESSION_CORE_DATA_DIR=/data \
    SESSION_SERVICE_API_KEYS_FILE=/run/secrets/api-keys
WORKDIR /data
USER 10001:10001
# gRPC, and Prometheus /metrics (the core, when run from this image, listens on 3567).
EXPOSE 50051 9464
# grpc.health.v1 Check on SESSION_SERVICE_PORT; exit 0 only when SERVING.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["session-service-healthcheck"]
CMD ["session-service", "serve"]
