# Container images of stockwire's commands: one build stage, one target each.
#
#   docker build --target hub    -t stockwire-hub .
#   docker build --target agent  -t stockwire-agent .
#   docker build --target woosim -t stockwire-woosim .
#
# compose.yaml builds all three. The hub image has no PostgreSQL of its own:
# give it --database-url (or DATABASE_URL).

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags=-s -o /out/ ./hub/cmd/hub ./agent/cmd/agent ./shared/cmd/woosim

# The hub: HTTP API, agent link and /metrics on one address, which must be
# 0.0.0.0 inside a container.
FROM gcr.io/distroless/static-debian12:nonroot AS hub
COPY --from=build /out/hub /usr/local/bin/hub
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/hub"]
CMD ["serve", "--listen", "0.0.0.0:8080"]

# The agent keeps its outbox and credential in /data (a volume). Debian
# slim rather than distroless: real stores are HTTPS (ca-certificates), and
# compose.yaml reads the enrolment token with a shell.
FROM debian:bookworm-slim AS agent
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /data --create-home stockwire
COPY --from=build /out/agent /usr/local/bin/agent
USER stockwire
ENV STOCKWIRE_DATA_DIR=/data
VOLUME /data
EXPOSE 8090 9464
ENTRYPOINT ["/usr/local/bin/agent"]

# woosim, the WooCommerce simulator, for the demo only.
FROM gcr.io/distroless/static-debian12:nonroot AS woosim
COPY --from=build /out/woosim /usr/local/bin/woosim
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/woosim"]
