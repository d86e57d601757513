# Hippograph API / worker image (docker-compose.yml runs it as `migrate`, `api` and `worker`).
#
#   docker build -t hippograph:0.1.0 .                      # CPU-only PyTorch (the default)
#   docker build --build-arg TORCH=cuda -t hippograph:0.1.0-cuda .   # PyPI's CUDA build
#
# Two stages: the first installs the project into a virtual environment exactly as the README
# does (`pip install -e .`, after choosing the PyTorch build); the second copies that environment
# and the source (same paths, so the editable install still resolves) into a slim image that
# runs as an unprivileged user. The embedder ships inside a PyPI package: the image needs no
# network at run time.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
# "cpu": PyTorch's CPU-only wheels (no CUDA libraries: a far smaller image, README "Deployment").
# "cuda": the PyPI default build with its NVIDIA libraries (for GPU hosts).
ARG TORCH=cpu
ARG TORCH_CPU_INDEX=https://download.pytorch.org/whl/cpu
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH
RUN python -m venv /opt/venv
WORKDIR /app
COPY pyproject.toml README.md ./
COPY service ./service
COPY migrations ./migrations
# torch is unpinned on purpose: the version sentence-transformers accepts, from the chosen index.
# hadolint ignore=DL3013
RUN if [ "$TORCH" = "cpu" ]; then pip install --index-url "$TORCH_CPU_INDEX" torch; \
    elif [ "$TORCH" != "cuda" ]; then echo "TORCH must be cpu or cuda, not $TORCH" >&2; exit 1; fi \
    && pip install -e .

FROM ${PYTHON_IMAGE}
# MALLOC_ARENA_MAX=2: glibc's per-thread heaps held ~150 MB more under load, for no measured
# throughput (docs/benchmarks.md, "Memory under load").
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    HIPPOGRAPH_DATA_DIR=/data \
    HIPPOGRAPH_HOST=0.0.0.0 \
    MALLOC_ARENA_MAX=2
RUN groupadd --system --gid 10001 hippograph \
    && useradd --system --uid 10001 --gid 10001 --home-dir /data hippograph \
    && mkdir -p /data \
    && chown hippograph /data
COPY --from=build /opt/venv /opt/venv
COPY --from=build /app /app
WORKDIR /app

USER 10001:10001
# 8000: the API; 9100: a worker's /metrics (HIPPOGRAPH_METRICS__WORKER_PORT).
EXPOSE 8000 9100
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=5 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=3)"]
CMD ["hippograph", "serve"]
