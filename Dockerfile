# Portcullis: build the binary, then run it on a slim Debian image.
FROM rust:1.95-bookworm AS build
WORKDIR /src
RUN apt-get update && apt-get install -y --no-install-recommends pkg-config libssl-dev \
    && rm -rf /var/lib/apt/lists/*
COPY . .
RUN cargo build --release --locked --bin portcullis

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates libssl3 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home-dir /var/lib/portcullis --create-home portcullis \
    && mkdir /var/lib/portcullis/data && chown portcullis /var/lib/portcullis/data
COPY --from=build /src/target/release/portcullis /usr/local/bin/portcullis
USER portcullis
WORKDIR /var/lib/portcullis
EXPOSE 8443 8444
ENTRYPOINT ["portcullis"]
CMD ["serve"]
