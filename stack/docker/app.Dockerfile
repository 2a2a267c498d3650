# The pipeline's Python side: the `ecom` CLI, generator and stream apps.
FROM python:3.11-slim-bookworm
WORKDIR /app
COPY pyproject.toml README.md ./
COPY common ./common
COPY schemas ./schemas
COPY stack ./stack
COPY connectors ./connectors
COPY generator ./generator
COPY stream_apps ./stream_apps
COPY compaction ./compaction
COPY ecom ./ecom
RUN pip install --no-cache-dir .
ENTRYPOINT ["ecom"]
