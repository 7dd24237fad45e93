# The receiver (gunicorn + SQLite on a volume).
#   docker build -t session-buddy-ci .
#   docker run -p 8080:8080 -v sbci-data:/data session-buddy-ci
# Without SESSION_BUDDY_CI_API_TOKENS the first start writes a token to
# /data/api-token (mode 0600): docker exec <container> cat /data/api-token
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    SESSION_BUDDY_CI_DATA_DIR=/data \
    SESSION_BUDDY_CI_HOST=0.0.0.0 \
    SESSION_BUDDY_CI_PORT=8080 \
    HF_HUB_OFFLINE=1

RUN groupadd --system --gid 10001 sbci \
    && useradd --system --uid 10001 --gid sbci --home-dir /data --no-create-home --shell /usr/sbin/nologin sbci \
    && mkdir -p /data \
    && chown sbci:sbci /data

WORKDIR /app
# Only what the package needs (see .dockerignore); runtime dependencies
# only, no test or embedding extras.
COPY pyproject.toml README.md ./
COPY tracker ./tracker
COPY receiver ./receiver
# The build fails here, not at the first start, if serve's worker cannot load.
RUN pip install --no-compile . \
    && session-buddy-ci --help > /dev/null \
    && python -c "import gunicorn.workers.ggevent, receiver.gunicorn_main"

USER 10001:10001
VOLUME ["/data"]
EXPOSE 8080

HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('SESSION_BUDDY_CI_PORT', '8080'), timeout=4)"]

# serve migrates the database once, then runs gunicorn (receiver.wsgi's app).
CMD ["session-buddy-ci", "serve"]
