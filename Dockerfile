# syntax=docker/dockerfile:1
# vitrine: a release build, then a small Debian runtime that runs it as a non-root user.
#
#   docker build -t vitrine .
#   docker run --rm -v vitrine-data:/var/lib/vitrine -e JWT_SECRET=… vitrine migrate up
#   docker run -d -p 8080:8080 -v vitrine-data:/var/lib/vitrine -v vitrine-logs:/var/log/vitrine \
#     -e JWT_SECRET=… vitrine
#
# With a binary built outside the image (a glibc build for Debian 12 at
# target/release/vitrine, `cargo build --release`), the Rust stage is skipped:
#   docker build --target runtime-prebuilt -t vitrine .
# Both images are the same but for where the binary was built.

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock clippy.toml ./
COPY .cargo .cargo
COPY migration migration
COPY src src
# the web app, embedded in the binary
COPY web web
# Cargo.toml names the test target and the benchmark's client, and cargo reads every
# target's path.
COPY tests tests
COPY bench/chat_fanout.rs bench/chat_fanout.rs
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin vitrine \
    && install -D target/release/vitrine /out/vitrine

FROM debian:bookworm-slim AS runtime-base
# ca-certificates for OAuth providers, SMTP and S3 over TLS; curl for the health check.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --uid 10001 --user-group --no-create-home \
        --home-dir /var/lib/vitrine --shell /usr/sbin/nologin vitrine \
    && install -d -o vitrine -g vitrine -m 0750 /var/lib/vitrine /var/log/vitrine \
    && install -d -m 0755 /etc/vitrine

# Production refuses to start without JWT_SECRET (≥ 32 bytes) or with pending migrations:
# run `vitrine migrate up` once per release before `serve` (docker-compose.yml does).
ENV VITRINE_ENV=production \
    VITRINE_ADDR=0.0.0.0:8080 \
    VITRINE_DATA_DIR=/var/lib/vitrine \
    VITRINE_LOG_DIR=/var/log/vitrine
# vitrine.toml and .env are read from the working directory: mount them here.
WORKDIR /etc/vitrine
USER 10001:10001
VOLUME ["/var/lib/vitrine", "/var/log/vitrine"]
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 \
    CMD ["curl", "--fail", "--silent", "--show-error", "--max-time", "2", "--output", "/dev/null", "http://127.0.0.1:8080/healthz"]
ENTRYPOINT ["vitrine"]
CMD ["serve"]

# A binary built outside the image: `--target runtime-prebuilt`.
FROM runtime-base AS runtime-prebuilt
COPY target/release/vitrine /usr/local/bin/vitrine

# The default target, last: the binary of the build stage.
FROM runtime-base AS runtime
COPY --from=build /out/vitrine /usr/local/bin/vitrine
