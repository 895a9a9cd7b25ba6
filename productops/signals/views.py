"""The lead's CSV import: upload, confirm the column mapping, see what imported and fix the rest.

The parsing, validation and upsert live in csv_import; these views only carry the file between steps.
The uploaded file waits under VAR_DIR/imports/ between the upload and the mapping step, named by a
random token that only the uploader's session knows.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from productops.accounts.roles import lead_required

from .csv_import import (
    CsvImportError,
    check_mapping,
    get_kind,
    max_bytes,
    read_csv,
    save_mapping,
    suggest_mapping,
)
from .forms import MappingForm, UploadForm
from .imports import queue_import, resume
from .models import ImportJob

SESSION_KEY = "csv_imports"
PREVIEW_ROWS = 5


KEEP_FILES_SECONDS = 24 * 3600


def _dir() -> Path:
    path = Path(settings.VAR_DIR) / "imports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _forget_old_files() -> None:
    """Uploads never confirmed and bad-rows files are only useful for a day; drop older ones."""
    cutoff = time.time() - KEEP_FILES_SECONDS
    for old in _dir().glob("*.csv"):
        if old.stat().st_mtime < cutoff:
            old.unlink(missing_ok=True)


def _pending(request: HttpRequest, token: uuid.UUID) -> dict[str, Any]:
    pending = request.session.get(SESSION_KEY, {}).get(token.hex)
    if pending is None:
        raise Http404("No such import in this session; upload the file again.")
    return dict(pending)


def _remember(request: HttpRequest, token: str, state: dict[str, Any]) -> None:
    imports = request.session.get(SESSION_KEY, {})
    imports[token] = state
    request.session[SESSION_KEY] = imports


@lead_required
def import_upload(request: HttpRequest) -> HttpResponse:
    form = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data["file"].read()
        try:
            read_csv(data)  # refuse an unreadable file now, not after the mapping step
        except CsvImportError as exc:
            form.add_error("file", exc.message)
        else:
            _forget_old_files()
            token = uuid.uuid4()
            (_dir() / f"{token.hex}.csv").write_bytes(data)
            product = form.cleaned_data["product"]
            _remember(
                request,
                token.hex,
                {
                    "kind": form.cleaned_data["kind"],
                    "product_id": product.pk if product else None,
                    "filename": form.cleaned_data["file"].name,
                },
            )
            return redirect("signals:import_map", token=token)
    return render(
        request, "signals/import_upload.html", {"form": form, "max_mb": max_bytes() // (1024 * 1024)}
    )


@lead_required
def import_map(request: HttpRequest, token: uuid.UUID) -> HttpResponse:
    pending = _pending(request, token)
    if ImportJob.objects.filter(token=token).exists():
        return redirect("signals:import_result", token=token)
    path = _dir() / f"{token.hex}.csv"
    if not path.exists():
        raise Http404("This upload was already imported; upload the file again to re-import it.")
    data = path.read_bytes()
    kind = get_kind(pending["kind"])
    try:
        csv_file = read_csv(data)
    except CsvImportError as exc:  # the file was checked at upload; only a changed limit gets here
        context = {"form": UploadForm(), "error": exc.message, "max_mb": max_bytes() // (1024 * 1024)}
        return render(request, "signals/import_upload.html", context)
    form = MappingForm(
        request.POST or None,
        kind=kind.key,
        headers=csv_file.headers,
        suggested=suggest_mapping(csv_file.headers, kind.key),
    )
    error = ""
    if request.method == "POST" and form.is_valid():
        mapping = form.mapping()
        try:
            check_mapping(mapping, csv_file.headers, kind.key)
        except CsvImportError as exc:
            error = exc.message
        else:
            if form.cleaned_data["save_mapping"]:
                save_mapping(kind.key, mapping, request.user)
            # A worker imports the file (productops.signals.imports): the result page shows its progress.
            queue_import(token, kind.key, pending["filename"], mapping, pending["product_id"], request.user)
            return redirect("signals:import_result", token=token)
    preview = csv_file.frame.head(PREVIEW_ROWS)
    return render(
        request,
        "signals/import_map.html",
        {
            "form": form,
            "kind": kind,
            "pending": pending,
            "encoding": csv_file.encoding,
            "row_count": len(csv_file.frame),
            "headers": csv_file.headers,
            "preview": [list(r) for r in preview.itertuples(index=False)],
            "error": error,
        },
    )


@lead_required
def import_result(request: HttpRequest, token: uuid.UUID) -> HttpResponse:
    pending = _pending(request, token)
    job = ImportJob.objects.filter(token=token).first()
    if job is None:
        return redirect("signals:import_map", token=token)
    return render(
        request,
        "signals/import_result.html",
        {"pending": pending, "job": job, "kind": get_kind(pending["kind"]), "token": token},
    )


@lead_required
@require_POST
def import_resume(request: HttpRequest, token: uuid.UUID) -> HttpResponse:
    """Queue a job that stopped part-way again; it continues after its committed batches."""
    _pending(request, token)
    job = ImportJob.objects.filter(token=token).first()
    if job is None:
        raise Http404("No such import.")
    if not resume(job):
        messages.error(
            request, "This import can't be resumed (it finished, or its file is gone); upload it again."
        )
    return redirect("signals:import_result", token=token)


@lead_required
def import_bad_rows(request: HttpRequest, token: uuid.UUID) -> HttpResponse:
    pending = _pending(request, token)
    path = _dir() / f"{token.hex}.bad.csv"
    if not path.exists():
        raise Http404("This import had no bad rows.")
    stem = Path(pending.get("filename") or "import.csv").stem
    response = HttpResponse(path.read_bytes(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{_safe(stem)}-bad-rows.csv"'
    return response


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:80] or "import"
