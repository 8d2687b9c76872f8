# orecart as a container: Motherlode's drop-in (see examples/motherlode/docker-compose.yaml
# and docs/migrating-from-motherlode.md). Build it with scripts/build-image, which gathers
# orecart's wheel and those of its dependencies into the build context first, so nothing
# here reaches a package index:
#   scripts/build-image                              # base: a Python made on this machine
#   scripts/build-image --base python:3.11-slim      # where that image can be pulled
ARG BASE=python:3.11-slim
FROM ${BASE}
ARG EXTRAS=docker,neo4j,postgres
COPY wheels/ /tmp/wheels/
# empty unless the base is a Python imported from the build machine: then the libraries the
# wheels' extension modules link to, from that machine (scripts/image-libs.py)
COPY libs/ /
# pip runs from its own wheel, so the base needs only a python3 and a /bin/sh.
RUN pip=$(echo /tmp/wheels/pip-*.whl) \
    && PIP_BREAK_SYSTEM_PACKAGES=1 python3 "$pip/pip" install --quiet \
        --no-index --find-links /tmp/wheels --no-cache-dir --root-user-action=ignore \
        --disable-pip-version-check "orecart[${EXTRAS}]" \
    && rm -rf /tmp/wheels
# Motherlode's layout: the pipeline at /data/pipeline.yaml, its variables in /data/.env,
# state, run logs and artifacts under /log (mount ./log there), the host's daemon through
# the mounted /var/run/docker.sock. Bind mounts of /log folders into member containers are
# mapped back to the host's ./log (orecart reads its own mounts through the socket).
ENV ORECART_HOME=/log \
    ORECART_LOG_DIR=/log \
    PYTHONUNBUFFERED=1
WORKDIR /data
ENTRYPOINT ["orecart"]
CMD ["run", "/data/pipeline.yaml"]
