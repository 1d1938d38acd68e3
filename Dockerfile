# syntax=docker/dockerfile:1
#
# brisk on Fly.io (or any container host), serving a site that was
# precompressed when the image was built, so that a machine starting from
# the image serves brotli from its first request and compresses nothing.
#
#   docker build -t brisk .                                          # the embedded demo
#   docker build --build-context site=../my-app/target/site -t my-app .   # your build
#
# The second form replaces the "site" stage below with your directory
# (cargo-leptos target/site, Trunk dist/, wasm-pack output).

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# A static, stripped binary: the final image has no libc.
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/brisk ./cmd/brisk

# The site to serve. By default the demo app from this repository.
FROM scratch AS site
COPY site/dist/ /

# brotli 11, zstd and gzip 9 at build time, with every core of the builder:
# a machine's root filesystem is fresh at each start, so anything
# compressed at runtime would be paid again after every stop.
FROM build AS precompress
COPY --from=site / /site
# Deltas for returning visitors against the site deployed now, if given:
#   fly deploy --build-arg BRISK_PREVIOUS_URL=https://my-app.fly.dev
# (brisk reads it as --previous-url; a site it cannot reach is a warning).
ARG BRISK_PREVIOUS_URL
RUN /out/brisk precompress /site

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/brisk /brisk
# Owned by root, read-only to the server: brisk never writes beside the site.
COPY --from=precompress /site /site
USER nonroot:nonroot
EXPOSE 8080
ENV BRISK_ADDR=:8080
# The site in an image never changes: no file watching, so a cold start
# sets up no inotify watches and does not walk the site a second time.
ENV BRISK_WATCH=false
ENTRYPOINT ["/brisk", "serve"]
CMD ["/site"]
