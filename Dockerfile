# One image recipe for all three services; pick one with build arguments:
#
#   docker build --build-arg SERVICE=order-service        --build-arg PORT=8080 -t saga/order-service:dev .
#   docker build --build-arg SERVICE=billing-service      --build-arg PORT=8081 -t saga/billing-service:dev .
#   docker build --build-arg SERVICE=notification-service --build-arg PORT=8082 -t saga/notification-service:dev .
#
# In minikube, build straight into the cluster's runtime with `minikube image build`
# (same arguments: `minikube image build --build-opt=build-arg=SERVICE=... -t ... .`) or
# after `eval $(minikube docker-env)`. k8s/README.md has the walkthrough.
ARG SERVICE=order-service

FROM rust:1-bookworm AS builder
ARG SERVICE
WORKDIR /build

# Dependency layer: only the manifests and the lock file, with stub sources, so
# editing a .rs file does not rebuild the ~300 crates (rdkafka's bundled
# librdkafka is the slow one; rust:1-bookworm already has make, gcc, zlib1g-dev
# and libssl-dev, which rdkafka's TLS/SASL and sqlx's TLS link).
COPY Cargo.toml Cargo.lock ./
COPY contract/Cargo.toml contract/
COPY common/Cargo.toml common/
COPY order-service/Cargo.toml order-service/
COPY billing-service/Cargo.toml billing-service/
COPY notification-service/Cargo.toml notification-service/
# The workspace's other members (operator CLI, load generator, e2e tests) only
# need to exist for cargo to load the workspace: they stay stubs.
COPY sagactl/Cargo.toml sagactl/
COPY loadgen/Cargo.toml loadgen/
COPY e2e/Cargo.toml e2e/
RUN set -eux; \
    for crate in contract common order-service billing-service notification-service sagactl loadgen e2e; do \
        mkdir -p "$crate/src"; : >"$crate/src/lib.rs"; \
    done; \
    for bin in order-service billing-service notification-service sagactl loadgen; do \
        echo 'fn main() {}' >"$bin/src/main.rs"; \
    done; \
    cargo build --release --locked --bin "$SERVICE"; \
    # Drop the stubs' own artefacts: the real sources copied below can be older
    # than the stubs, and cargo's mtime check would then keep the empty build.
    cargo clean --release --locked -p contract -p common -p order-service -p billing-service -p notification-service; \
    rm -rf contract/src common/src order-service/src billing-service/src notification-service/src

# Sources. Migrations are embedded at compile time (sqlx::migrate!) from
# <service>/migrations and common/migrations, and contract includes the topic
# catalogue, the ACL table and the event schemas (include_str!), so all of these
# must be in the build context.
COPY contract contract
COPY common common
COPY order-service order-service
COPY billing-service billing-service
COPY notification-service notification-service
COPY kafka-setup/topics.conf kafka-setup/acls.conf kafka-setup/
COPY contracts/schemas contracts/schemas
# build_info{revision}: pass --build-arg GIT_REVISION=$(git rev-parse --short=12 HEAD).
ARG GIT_REVISION=unknown
ENV GIT_REVISION=$GIT_REVISION
RUN cargo build --release --locked --bin "$SERVICE" \
    && cp "target/release/$SERVICE" /build/service

FROM debian:bookworm-slim
ARG SERVICE
ARG PORT=8080
# ca-certificates and OpenSSL (TLS and SASL to Kafka, TLS to Postgres); the
# binary's other libraries (libc, libgcc_s, libz) are part of bookworm-slim.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates libssl3 \
    && rm -rf /var/lib/apt/lists/*
# A fixed path lets the exec-form ENTRYPOINT (no shell, so SIGTERM reaches the
# service itself and its graceful shutdown runs) serve every SERVICE.
COPY --from=builder /build/service /usr/local/bin/service
LABEL org.opencontainers.image.title="$SERVICE"
# Numeric, so Kubernetes' runAsNonRoot can verify it without an /etc/passwd entry.
USER 10001:10001
# The services bind 127.0.0.1 by default; a container must listen on all interfaces.
ENV HTTP_HOST=0.0.0.0
EXPOSE $PORT
ENTRYPOINT ["/usr/local/bin/service"]
