# Production image: dependencies built in one stage, the service run as a non-root user in a
# slim one. It migrates the database, then serves.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
COPY app ./app
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir -c constraints.txt . \
    && /opt/venv/bin/pip uninstall -y ketamine-monitor

FROM python:3.11-slim
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    APP_ENV=production \
    APP_HOST=0.0.0.0 \
    APP_PORT=8000
RUN useradd --system --uid 10001 --home-dir /srv/app ketamine
COPY --from=build /opt/venv /opt/venv
WORKDIR /srv/app
COPY pyproject.toml README.md alembic.ini ./
COPY app ./app
COPY migrations ./migrations
COPY protocols ./protocols
# Editable install: the package finds alembic.ini and migrations/ beside app/.
RUN pip install --no-cache-dir --no-deps -e . && chown -R ketamine /srv/app
USER ketamine
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s \
    CMD python -c "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz').status != 200)"
# Set APP_DATABASE_URL and APP_SECRET_KEY; serve refuses to start without a real secret.
CMD ["sh", "-c", "ketamine-monitor migrate && exec ketamine-monitor serve"]
