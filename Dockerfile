# criptopipe image: one image for the Dagster code server, webserver, daemon and the dashboard.
# Multi-stage: wheels are built with the toolchain, the runtime stage only installs them.
# Scale-out launchers add their library at build time, in the Dagster family's version line:
#   docker-compose build --build-arg EXTRA_PACKAGES=dagster-docker==0.29.27   (DockerRunLauncher)
#   docker build --build-arg EXTRA_PACKAGES=dagster-k8s==0.29.27 .            (Helm chart)
FROM python:3.11-slim AS build
ARG EXTRA_PACKAGES=""
WORKDIR /src
RUN pip install --no-cache-dir --upgrade pip build
COPY pyproject.toml README.md ./
COPY criptopipe ./criptopipe
# dependencies are pinned in pyproject.toml (the Dagster family together)
RUN pip wheel --no-cache-dir --wheel-dir /wheels '.[dashboard]' $EXTRA_PACKAGES

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
