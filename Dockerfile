# The monitor worker image (production path: docker-compose.yml with Apache Kafka).
FROM python:3.11.7-slim-bookworm
WORKDIR /app
COPY pyproject.toml README.md ./
COPY monitor ./monitor
COPY producers ./producers
RUN pip install --no-cache-dir .
ENV TABMON_METRICS_HOST=0.0.0.0
ENTRYPOINT ["tabmon"]
CMD ["worker"]
