# The hub's image: `ews` and its packages on Python 3.11, run as an unprivileged user.
# docker-compose.yml builds it and mounts the site config at /etc/ews/site.yaml and a volume at
# /var/lib/ews; without them it runs the Kazanlak example copied in below.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY hub ./hub
COPY adapters ./adapters
COPY rules ./rules
COPY dashboards ./dashboards
COPY firmware_sim ./firmware_sim
RUN pip install . \
    && rm -rf /src

COPY examples/kazanlak/site.yaml /etc/ews/site.yaml

# The data folder exists in the image owned by the hub's user, so that a named volume mounted on
# it starts out writable by that user.
RUN groupadd --system --gid 10001 ews \
    && useradd --system --uid 10001 --gid ews --home-dir /var/lib/ews --shell /usr/sbin/nologin ews \
    && mkdir -p /var/lib/ews \
    && chown ews:ews /var/lib/ews

USER ews
WORKDIR /var/lib/ews

ENTRYPOINT ["ews"]
CMD ["run", "-c", "/etc/ews/site.yaml", "--data-dir", "/var/lib/ews"]
