# Build: docker build -t tsunagu .
# Run:   docker run -p 8080:8080 -e TSUNAGU_ENV=production -e TSUNAGU_DATABASE_URL=postgres://… \
#          -e TSUNAGU_REDIS_URL=redis://… -e TSUNAGU_SECRET_KEY=… -e SHOPIFY_API_KEY=… -e SHOPIFY_API_SECRET=… \
#          -e TSUNAGU_OPS_TOKEN=… -e TSUNAGU_BASE_URL=https://tsunagu.example.com tsunagu
# The binary is the production build (-tags prod): it has no embedded Redis.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -tags prod -trimpath -ldflags="-s -w" -o /out/tsunagu ./cmd/tsunagu
# The data folder, empty, owned by distroless's nonroot user (65532) so the
# app can write its SQLite database and files there when no volume is mounted.
RUN mkdir -p /out/data && chmod 0700 /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/tsunagu /usr/local/bin/tsunagu
COPY --from=build --chown=65532:65532 /out/data /var/lib/tsunagu
# Time zone data for quiet hours comes from Go's embedded tzdata (see cmd/tsunagu).
USER 65532:65532
WORKDIR /var/lib/tsunagu
ENV TSUNAGU_ADDR=:8080 TSUNAGU_DATA_DIR=/var/lib/tsunagu
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/tsunagu"]
CMD ["serve"]
