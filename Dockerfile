# syntax=docker/dockerfile:1.7
#
# Zouqin container image.
#
#   docker build -t zouqin .
#   docker run --rm -e DATABASE_URL=... -e ZOUQIN_JWT_SECRET=... -p 8080:8080 zouqin
#
# Needs BuildKit (the default builder since Docker 23): the build step uses
# cache mounts and the health-check script is written with a heredoc.

############################################################################
# Builder: Rust stable on Debian bookworm (same glibc as the runtime stage).
############################################################################
FROM rust:1-bookworm AS builder

WORKDIR /src

# Only what the `zouqin` binary needs to compile; everything else is kept out
# of the context by .dockerignore or simply not copied.
COPY Cargo.toml Cargo.lock ./
COPY entity/ entity/
COPY migration/ migration/
COPY src/ src/
# Embedded GraphiQL files and the SDL snapshot (include_str!/include_bytes!), and
# the web app (`/`, `/door`, `/staff`), embedded by rust-embed.
COPY assets/ assets/
COPY web/ web/
COPY schema.graphql ./

# The registry and target directories are BuildKit cache mounts, so rebuilds
# after a source change do not recompile every dependency. A cache mount is
# not part of the image, so the binary is copied out in the same step.
# SQLite is bundled (compiled with cc, statically linked) and no TLS library
# is linked, so the runtime stage only needs glibc and CA certificates.
RUN --mount=type=cache,id=zouqin-cargo-registry,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,id=zouqin-cargo-git,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,id=zouqin-target,target=/src/target,sharing=locked \
    cargo build --release --locked --bin zouqin \
 && install -D -m 0755 target/release/zouqin /out/zouqin

############################################################################
# Runtime: slim Debian, non-root.
############################################################################
FROM debian:bookworm-slim AS runtime

RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/*

# Fixed UID/GID so bind-mounted or named volumes can be chowned predictably.
RUN groupadd --system --gid 10001 zouqin \
 && useradd --system --uid 10001 --gid zouqin \
        --home-dir /var/lib/zouqin --no-create-home \
        --shell /usr/sbin/nologin zouqin \
 && install -d -o zouqin -g zouqin -m 0750 /var/lib/zouqin

# HTTP health probe without curl: bash's /dev/tcp, one request, exit 0 only
# on a 200. Usage: zouqin-healthcheck [PATH]  (default /healthz; use /readyz
# to also require the database). The port is taken from ZOUQIN_BIND.
COPY --chmod=0755 <<"EOF" /usr/local/bin/zouqin-healthcheck
#!/bin/bash
set -eu
path="${1:-/healthz}"
bind="${ZOUQIN_BIND:-0.0.0.0:8080}"
port="${bind##*:}"
exec 3<>"/dev/tcp/127.0.0.1/${port}"
printf 'GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: zouqin-healthcheck\r\nConnection: close\r\n\r\n' "$path" >&3
status=""
IFS= read -r -t 5 status <&3 || true
exec 3<&-
case "$status" in
    "HTTP/1."?" 200"[[:space:]]*) exit 0 ;;
esac
echo "zouqin-healthcheck: GET ${path}: ${status:-no response}" >&2
exit 1
EOF

COPY --from=builder /out/zouqin /usr/local/bin/zouqin

USER zouqin:zouqin
WORKDIR /var/lib/zouqin

ENV ZOUQIN_BIND=0.0.0.0:8080
EXPOSE 8080

# Liveness only by default: a standalone container must not be reported
# unhealthy just because its database is briefly unreachable. The compose
# file overrides this with /readyz for the load-balanced replicas.
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
    CMD ["zouqin-healthcheck", "/healthz"]

ENTRYPOINT ["zouqin"]
CMD ["serve"]
