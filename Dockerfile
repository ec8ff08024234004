# One image for every streamml role; the role is the command (see docker-compose.yml).
FROM python:3.11.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY contracts contracts
COPY producers producers
COPY scorer scorer
COPY stream_processors stream_processors
COPY monitor monitor
COPY retrainer retrainer
COPY streamml streamml
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11.11-slim-bookworm
RUN useradd --create-home --uid 10001 streamml
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER streamml
WORKDIR /home/streamml
ENTRYPOINT ["streamml"]
CMD ["--help"]
