# syntax=docker/dockerfile:1
# The one Maitre image. Its entrypoint is the `maitre` binary:
#   maitre serve <profile|assignment|tagging|notification|gateway>   one component (Kubernetes)
#   maitre migrate                                                   every service's migrations, then exit
# Build: docker build -t <registry>/maitre:<version> .   (see docs/kubernetes.md)

# ---- console: the staff console's static files (clients/console → dist), served at /console
FROM node:20-bookworm-slim AS console
WORKDIR /src/clients
COPY clients/ ./
RUN --mount=type=cache,target=/root/.npm,sharing=locked \
    npm ci --no-audit --no-fund && npm run build

# ---- build: the release binary, with the cargo registry and target dir cached between builds
FROM rust:1-slim-bookworm AS builder
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked -p maitre \
 && install -D -m 0755 target/release/maitre /out/maitre

# ---- runtime: glibc, libgcc and CA certificates only (same Debian 12 glibc as the builder);
# no shell, no package manager.
FROM gcr.io/distroless/cc-debian12 AS runtime
LABEL org.opencontainers.image.title="maitre" \
      org.opencontainers.image.description="Maitre customer backend: gRPC services and gateway in one binary" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=builder /out/maitre /usr/local/bin/maitre
COPY --from=console /src/clients/console/dist /usr/local/share/maitre/console
ENV MAITRE_CONSOLE_DIR=/usr/local/share/maitre/console
# Non-root, matching the chart's runAsUser; the process writes nothing to disk, so the root
# filesystem can be mounted read-only (the chart mounts an emptyDir at /tmp).
USER 10001:10001
# gRPC services, gateway (HTTP/gRPC-Web/gRPC), Prometheus metrics.
EXPOSE 50051 8080 9090
ENTRYPOINT ["maitre"]
CMD ["--help"]
