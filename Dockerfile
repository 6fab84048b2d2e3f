# criptopipe image: one image for the Dagster code server, webserver, daemon and the dashboard.
# Multi-stage: wheels are built with the toolchain, the runtime stage only installs them.
# Scale-out launchers add their library at build time, in the Dagster family's version line:
#   docker-compose build --build-arg EXTRA_PACKAGES=dagster-docker==0.29.27   (DockerRunLauncher)
#   docker build --build-arg EXTRA_PACKAGES=dagster-k8s==0.29.27 .            (Helm chart)
FROM python:3.11-slim AS build
ARG EXTRA_PACKAGES=""
ARG UV_VERSION=0.13.9
WORKDIR /src
RUN pip install --no-cache-dir --upgrade pip "uv==${UV_VERSION}"
COPY pyproject.toml uv.lock README.md LICENSE ./
COPY criptopipe ./criptopipe
# The image holds exactly uv.lock's versions (the same lock `make run` installs from): the
# pipeline and the dashboard, no test or lint tools, no embedded servers. pip checks the hashes.
RUN uv export --frozen --no-default-groups --extra dashboard --no-emit-project \
        --format requirements-txt -o /tmp/requirements.txt \
 && uv export --frozen --no-default-groups --extra dashboard --no-emit-project --no-hashes \
        --format requirements-txt -o /tmp/constraints.txt \
 && pip wheel --no-cache-dir --wheel-dir /wheels -r /tmp/requirements.txt \
 && pip wheel --no-cache-dir --no-deps --wheel-dir /wheels . \
 && if [ -n "$EXTRA_PACKAGES" ]; then \
        pip wheel --no-cache-dir --wheel-dir /wheels -c /tmp/constraints.txt $EXTRA_PACKAGES; fi

FROM python:3.11-slim AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    DAGSTER_HOME=/opt/dagster/home APP_HOME=/opt/dagster/app \
    DAGSTER_MAX_CONCURRENT_RUNS=4
RUN useradd --create-home --uid 10001 dagster \
 && mkdir -p /opt/dagster/home/storage /opt/dagster/app/deploy \
 && chown -R dagster:dagster /opt/dagster
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index /wheels/*.whl && rm -rf /wheels
COPY deploy/dagster.yaml /opt/dagster/home/dagster.yaml
COPY deploy/workspace.yaml /opt/dagster/app/deploy/workspace.yaml
COPY criptopipe/dashboard/app.py /opt/dagster/app/dashboard.py
USER dagster
WORKDIR /opt/dagster/app
EXPOSE 3000 4000 8501
CMD ["dagster", "code-server", "start", "-h", "0.0.0.0", "-p", "4000", "-m", "criptopipe.definitions"]
