# Monaco server image.
#
#   docker build -t monaco-server .
#   docker run -d -p 8080:8080 \
#     -v /var/run/docker.sock:/var/run/docker.sock \
#     --group-add "$(stat -c %g /var/run/docker.sock)" \
#     monaco-server
#
# The server starts one sandbox container per execution, so it needs the
# Docker socket. Whoever holds that socket controls the host's Docker engine
# (and through it, the host): give it to this container only, never to a
# sandbox (Monaco never does), and prefer rootless Docker or userns-remap.
# The server itself runs as an unprivileged user.

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
# The playground page: Debian's nodejs and npm, `npm ci` from the lockfile.
RUN agent="$(scripts/build-agent.sh)" \
 && scripts/build-web.sh \
 && cargo build --release --locked -p monaco-server \
 && mkdir -p /out \
 && cp target/release/monaco-server "$agent" languages.toml /out/ \
 && cp -r web/dist /out/web

FROM debian:bookworm-slim AS runtime
RUN useradd --uid 10001 --no-create-home --shell /usr/sbin/nologin monaco
COPY --from=build /out/monaco-server /out/monaco-agent /usr/local/bin/
COPY --from=build /out/languages.toml /etc/monaco/languages.toml
COPY --from=build /out/web /usr/share/monaco/web
ENV MONACO_LANGUAGES=/etc/monaco/languages.toml \
    MONACO_WEB_DIR=/usr/share/monaco/web \
    MONACO_AGENT=/usr/local/bin/monaco-agent \
    PORT=8080
USER monaco
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/monaco-server"]
