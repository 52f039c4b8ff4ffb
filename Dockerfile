# syntax=docker/dockerfile:1
#
# graft's container image: a release build of the `graft` binary on distroless.
#
#   docker build -t graft:0.1.0 .
#   docker run --rm -p 8080:8080 -v "$PWD/schemas/examples:/schemas:ro" \
#     graft:0.1.0 serve /schemas/<schema>.graphql --listen 0.0.0.0:8080
#
# Not built in this repository's CI: its machines have no container engine. Check it by
# reading, and build it wherever Docker or another BuildKit front end is available.
#
# Build stage: Debian bookworm with the Rust toolchain. The workspace needs no system
# libraries (TLS is rustls; aws-lc-sys builds with the image's gcc). Cargo.lock is used as
# is (--locked). The cache mounts need BuildKit (the default builder of Docker 23+).
ARG RUST_VERSION=1
FROM rust:${RUST_VERSION}-slim-bookworm AS build
WORKDIR /src
COPY . .
# The target directory is a cache mount, so the binary is copied out in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release -p graft --locked \
 && install -D -m 0755 target/release/graft /out/graft

# Runtime stage: glibc, CA certificates and tzdata, no shell, no package manager.
# Debian 12, like the build stage, so the binary's glibc matches. `nonroot` is uid/gid
# 65532; k8s/base/deployment.yaml runs it with the same numeric ids.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/graft /usr/local/bin/graft
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/graft"]
CMD ["--help"]
