# One image for every streamml role; the role is the command (see docker-compose.yml).
# Pin the base by digest where a registry is reachable: docker buildx imagetools inspect
# python:3.11.11-slim-bookworm, then FROM python:3.11.11-slim-bookworm@sha256:<digest>.
FROM python:3.11.11-slim-bookworm AS build
WORKDIR /src
# The build backend comes from the hashed lock, not from an unpinned build environment.
COPY requirements-runtime.lock ./
RUN pip install --no-cache-dir --require-hashes -r requirements-runtime.lock
COPY pyproject.toml README.md ./
COPY contracts contracts
COPY producers producers
COPY scorer scorer
COPY stream_processors stream_processors
COPY monitor monitor
COPY retrainer retrainer
COPY streamml streamml
RUN pip wheel --no-cache-dir --no-deps --no-build-isolation --wheel-dir /wheels .

FROM python:3.11.11-slim-bookworm
RUN useradd --create-home --uid 10001 streamml
COPY requirements-runtime.lock /tmp/
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --require-hashes -r /tmp/requirements-runtime.lock \
 && pip install --no-cache-dir --no-deps /wheels/*.whl && rm -rf /wheels /tmp/requirements-runtime.lock
USER streamml
WORKDIR /home/streamml
ENTRYPOINT ["streamml"]
CMD ["--help"]
