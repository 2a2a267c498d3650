# MinIO community edition ships as source only: build the same pinned module
# version that `ecom stack up` builds with `go install` (stack/versions.py).
FROM golang:1.26-bookworm AS build
ARG MINIO_VERSION
RUN CGO_ENABLED=0 GOBIN=/out go install github.com/minio/minio@${MINIO_VERSION}

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/minio /usr/local/bin/minio
ENTRYPOINT ["/usr/local/bin/minio"]
