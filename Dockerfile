# One image for web, worker and beat (docker-compose.yml picks the command).
FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends build-essential libpq5 \
    && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml README.md ./
COPY productops ./productops
COPY connectors ./connectors
COPY insights ./insights
RUN pip install .
COPY . .
RUN useradd --create-home productops && mkdir -p /app/var && chown -R productops /app/var
USER productops
# collectstatic needs settings but no secrets of value: use throwaway ones for the build step only.
RUN PRODUCTOPS_ENV=dev SECRET_KEY=build-only FERNET_KEYS=ZmFrZS1rZXktZm9yLWJ1aWxkLW9ubHktMDAwMDAwMDA= \
    python manage.py collectstatic --noinput
EXPOSE 8000
CMD ["gunicorn", "productops.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "4"]
