"""The connectors UI. Leads configure; PMs see health and history read-only."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from productops.accounts.roles import Role, lead_required, pm_required, role_of

from . import selectors, services
from .base import REGISTRY, Connector, ConnectorError, by_family
from .forms import BackfillForm, DeleteForm, UploadForm, connection_form_class
from .models import Connection, SyncRun
from .webhooks import ensure_endpoint


def _is_lead(request: HttpRequest) -> bool:
    return role_of(request.user) == Role.LEAD


def _connector(kind: str) -> type[Connector]:
    cls = REGISTRY.get(kind)
    if cls is None:
        raise Http404("No connector of that kind is installed.")
    return cls


@pm_required
def connection_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "connectors/list.html",
        {"cards": selectors.connection_cards(), "is_lead": _is_lead(request), "gallery_size": len(REGISTRY)},
    )


@lead_required
def gallery(request: HttpRequest) -> HttpResponse:
    return render(request, "connectors/gallery.html", {"families": by_family()})


def _form_page(
    request: HttpRequest, connector: type[Connector], connection: Connection | None
) -> HttpResponse:
    form_class = connection_form_class(connector)
    form = form_class(request.POST or None, connector=connector, instance=connection)
    check = None
    if request.method == "POST" and form.is_valid():
        if request.POST.get("action") == "test":
            check = services.test_connection(connector, form.config_values(), form.secret_values())
        else:
            target = form.apply(connection or Connection(created_by_id=request.user.pk))
            target.save()
            first = connection is None and services.start_first_sync(target, connector)
            if connector.kind == "webhook":
                new_secret = ensure_endpoint(target)
                if new_secret:
                    # Rendered, not redirected: the secret is shown this once and stored nowhere in clear.
                    messages.success(request, f"“{target.name}” is saved. Copy its signing secret now.")
                    return _detail(request, target, new_secret=new_secret)
            if first:
                messages.success(request, f"“{target.name}” is saved, and its first sync is queued now.")
            else:
                messages.success(request, f"“{target.name}” is saved.")
            return redirect("connectors:detail", pk=target.pk)
    return render(
        request,
        "connectors/form.html",
        {"form": form, "connector": connector, "connection": connection, "check": check},
    )


@lead_required
def connection_create(request: HttpRequest, kind: str) -> HttpResponse:
    return _form_page(request, _connector(kind), None)


@lead_required
def connection_edit(request: HttpRequest, pk: int) -> HttpResponse:
    connection = get_object_or_404(Connection, pk=pk)
    return _form_page(request, _connector(connection.kind), connection)


@pm_required
def connection_detail(request: HttpRequest, pk: int) -> HttpResponse:
    connection = get_object_or_404(
        Connection.objects.select_related("periodic_task", "product", "team"), pk=pk
    )
    return _detail(request, connection)


def _detail(request: HttpRequest, connection: Connection, new_secret: str | None = None) -> HttpResponse:
    page = Paginator(selectors.runs_for(connection), 25).get_page(request.GET.get("page"))
    card = next(c for c in selectors.connection_cards() if c["connection"].pk == connection.pk)
    return render(
        request,
        "connectors/detail.html",
        {
            "card": card,
            "connection": connection,
            "page_obj": page,
            "is_lead": _is_lead(request),
            "new_secret": new_secret,
        },
    )


@pm_required
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(SyncRun.objects.select_related("connection"), pk=pk)
    from productops.signals.models import ImportJob

    job = ImportJob.objects.filter(run=run).first()
    return render(
        request, "connectors/run_detail.html", {"run": run, "job": job, "is_lead": _is_lead(request)}
    )


@lead_required
@require_POST
def connection_sync(request: HttpRequest, pk: int) -> HttpResponse:
    connection = get_object_or_404(Connection, pk=pk)
    if not connection.enabled:
        messages.error(request, f"“{connection.name}” is paused. Resume it first, then sync.")
        return redirect("connectors:detail", pk=pk)
    if getattr(REGISTRY.get(connection.kind), "import_kind", None):
        messages.error(request, f"“{connection.name}” imports the files you upload; it has nothing to sync.")
        return redirect("connectors:detail", pk=pk)
    run, outcome = services.sync_now(connection)
    name = connection.name
    if outcome == "queued":
        messages.success(request, f"Sync of “{name}” queued.")
    elif outcome == "took_over":
        messages.success(
            request,
            f"The worker running the last sync of “{name}” has stopped; a new sync took over and resumes "
            "from the last committed page.",
        )
    elif outcome == "nudged":
        messages.success(request, f"The queued sync of “{name}” was sent to the workers again, to run now.")
    elif outcome == "rate_limited" and run is not None and run.retry_at is not None:
        messages.info(
            request,
            f"“{name}” is waiting for the source's rate limit; its sync resumes at {run.retry_at:%H:%M} UTC. "
            "Syncing sooner would only be refused again.",
        )
    else:
        messages.info(request, f"A sync of “{name}” is already queued or running.")
    return redirect("connectors:detail", pk=pk)


@lead_required
@require_POST
def connection_pause(request: HttpRequest, pk: int) -> HttpResponse:
    connection = get_object_or_404(Connection, pk=pk)
    services.pause(connection, f"Paused by {request.user.get_username()}.")
    messages.success(request, f"“{connection.name}” is paused; it won't sync until resumed.")
    return redirect("connectors:detail", pk=pk)


@lead_required
@require_POST
def connection_resume(request: HttpRequest, pk: int) -> HttpResponse:
    connection = get_object_or_404(Connection, pk=pk)
    services.resume(connection)
    messages.success(request, f"“{connection.name}” is resumed.")
    return redirect("connectors:detail", pk=pk)


@lead_required
def connection_backfill(request: HttpRequest, pk: int) -> HttpResponse:
    connection = get_object_or_404(Connection, pk=pk)
    _connector(connection.kind)
    form = BackfillForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        run = services.backfill(connection, form.cleaned_data["since"])
        if run is None:
            messages.error(
                request, "A sync is queued or running; try the backfill again when it has finished."
            )
        else:
            messages.success(request, f"Backfill from {form.cleaned_data['since']:%Y-%m-%d} queued.")
        return redirect("connectors:detail", pk=pk)
    return render(request, "connectors/backfill.html", {"form": form, "connection": connection})


@lead_required
def connection_delete(request: HttpRequest, pk: int) -> HttpResponse:
    connection = get_object_or_404(Connection, pk=pk)
    form = DeleteForm(request.POST or None, connection=connection)
    if request.method == "POST" and form.is_valid():
        name = connection.name
        try:
            deleted = services.delete_connection(
                connection, purge=form.cleaned_data["keep_or_purge"] == "purge"
            )
        except ConnectorError as exc:
            messages.error(request, exc.message)
            return redirect("connectors:detail", pk=pk)
        rows = sum(deleted.values())
        messages.success(
            request, f"“{name}” is deleted" + (f", with {rows} rows of its data." if rows else ".")
        )
        return redirect("connectors:list")
    return render(request, "connectors/delete.html", {"form": form, "connection": connection})


@lead_required
@require_POST
def connection_upload(request: HttpRequest, pk: int) -> HttpResponse:
    """Store the file and queue its import; a worker imports it, and the run's page shows the progress."""
    from .uploads import queue_upload

    connection = get_object_or_404(Connection, pk=pk)
    form = UploadForm(request.POST, request.FILES)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, str(error))
        return redirect("connectors:detail", pk=pk)
    upload = form.cleaned_data["file"]
    try:
        run = queue_upload(connection, upload.read(), upload.name, request.user)
    except ConnectorError as exc:
        messages.error(request, exc.message)
        return redirect("connectors:detail", pk=pk)
    messages.success(request, f"{upload.name} is uploaded; a worker imports it now.")
    return redirect("connectors:run", pk=run.pk)


@lead_required
@require_POST
def upload_resume(request: HttpRequest, pk: int) -> HttpResponse:
    """Resume the import of a run that stopped part-way: a new run continues after the committed batches."""
    from productops.signals.imports import resume
    from productops.signals.models import ImportJob

    job = get_object_or_404(ImportJob, run_id=pk)
    try:
        resumed = resume(job)
    except ConnectorError as exc:
        messages.error(request, exc.message)
        return redirect("connectors:run", pk=pk)
    if not resumed:
        messages.error(
            request, "This import can't be resumed (it finished, or its file is gone); upload it again."
        )
        return redirect("connectors:run", pk=pk)
    job.refresh_from_db()
    messages.success(
        request, f"The import of {job.filename} resumes after its {job.rows_done:,} committed rows."
    )
    return redirect("connectors:run", pk=job.run_id)
