# syntax=docker/dockerfile:1
# Multi-stage build: dependencies cached in their own layer (cargo-chef),
# a slim runtime, a non-root user, and a HEALTHCHECK through the binary.

FROM rust:1.95-bookworm AS chef
RUN cargo install cargo-chef --locked
WORKDIR /app

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
COPY --from=planner /app/recipe.json recipe.json
RUN cargo chef cook --release --recipe-path recipe.json --bin parley
COPY . .
RUN cargo build --release --bin parley

FROM debian:bookworm-slim AS runtime
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/parley --create-home parley \
    && install -d -o parley -g parley /var/lib/parley/parley-files
COPY --from=builder /app/target/release/parley /usr/local/bin/parley
USER 10001:10001
WORKDIR /var/lib/parley
ENV BIND_ADDR=0.0.0.0:8080 \
    DATABASE_URL=sqlite:///var/lib/parley/parley.db?mode=rwc \
    LOG_FORMAT=json
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/parley", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/parley"]
