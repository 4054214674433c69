# nbo API (and, with `nbo learner` as the command, a learner process).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    NBO_DATA_DIR=/data

WORKDIR /opt/nbo
COPY pyproject.toml README.md ./
COPY app ./app
COPY decisioning ./decisioning
COPY models ./models
COPY feature_store ./feature_store
RUN pip install . \
    && useradd --system --uid 10001 --home-dir /data --create-home nbo

USER 10001
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=2).status == 200 else 1)"]
CMD ["nbo", "serve", "--host", "0.0.0.0", "--port", "8000"]
