# syntax=docker/dockerfile:1
# GreenPulse service image: multi-stage, non-root.
FROM python:3.11-slim AS build
WORKDIR /src
RUN python -m venv /opt/greenpulse
COPY pyproject.toml README.md ./
COPY app ./app
COPY ingest ./ingest
COPY simulator ./simulator
COPY migrations ./migrations
RUN /opt/greenpulse/bin/pip install --no-cache-dir .

FROM python:3.11-slim AS runtime
RUN useradd --system --uid 10001 --home-dir /var/lib/greenpulse --create-home greenpulse
COPY --from=build /opt/greenpulse /opt/greenpulse
ENV PATH=/opt/greenpulse/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    GREENPULSE_HOST=0.0.0.0 \
    GREENPULSE_PORT=8000
USER greenpulse
WORKDIR /var/lib/greenpulse
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)" || exit 1
# `greenpulse serve` runs the API; run `greenpulse ingest` from the same image for the ingester.
CMD ["greenpulse", "serve"]
