"""Review pages: the incident reviews in the data dir and one review's final and team reports, rendered.

A review is a directory holding ``INCIDENT_ANALYSIS_FINAL.md`` under the data dir (searched a few levels
deep); the run ids of the review graph's checkpoints (graphs.review_runner.list_runs) are listed too.
Markdown is rendered by markdown-it with raw HTML disabled (any ``<tag>`` in a report shows as text) and
unsafe link schemes refused; plots are served only from inside the review's own directory.
Failure contract: an unknown review is a 404 page; a path outside the review directory is a 404.
"""
from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse
from markdown_it import MarkdownIt
from markupsafe import Markup

from warden.desk.approval_pages import run_of_review, run_view
from warden.desk.base import Desk

FINAL = "INCIDENT_ANALYSIS_FINAL.md"
DEPTH = 4
RUNS_DETAILED = 30          # the newest runs listed with their status and pending count
IMAGES = {".png": "image/png", ".svg": "image/svg+xml", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}


def render_markdown(text: str) -> Markup:
    """Markdown to HTML with raw HTML escaped (never passed through) and javascript:/data: links refused."""
    return Markup(MarkdownIt("commonmark", {"html": False}).enable("table").render(text))  # noqa: S704 - html off


def reviews(data_dir: Path) -> dict[str, Path]:
    """Review id (its directory relative to the data dir) -> directory."""
    found: dict[str, Path] = {}
    frontier = [data_dir]
    for _ in range(DEPTH + 1):
        nxt = []
        for d in frontier:
            try:
                kids = sorted(d.iterdir())
            except OSError:
                continue
            if (d / FINAL).is_file():
                found[str(d.relative_to(data_dir)) or "."] = d
            nxt += [k for k in kids if k.is_dir() and not k.is_symlink() and k.name not in ("training",
                                                                                              "history_snapshots")]
        frontier = nxt
    return found


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        return f"(unreadable: {exc})"


def router(desk: Desk) -> APIRouter:
    r = APIRouter()

    def _dir(rid: str) -> Path:
        found = reviews(desk.data_dir)
        if rid not in found:
            raise HTTPException(404, f"no review {rid!r} under this data dir")
        return found[rid]

    @r.get("/reviews", response_class=HTMLResponse)
    def listing(request: Request) -> HTMLResponse:
        from graphs.review_runner import list_runs

        ids = list_runs(desk.data_dir)
        recent = set(ids[-RUNS_DETAILED:])      # run ids start with their time: the newest last
        runs = [run_view(desk, rid) if rid in recent else None for rid in ids]
        return desk.render(request, "reviews.html", reviews=sorted(reviews(desk.data_dir)),
                           runs=[v or {"run_id": rid} for rid, v in zip(ids, runs, strict=True)][::-1])

    @r.get("/reviews/{rid:path}/file/{name:path}", response_model=None)
    def review_file(request: Request, rid: str, name: str) -> FileResponse | HTMLResponse:
        """A plot, or a linked report (``teams/x.md``) rendered; only from inside the review's directory."""
        root = _dir(rid).resolve()
        target = (root / name).resolve()
        suffix = target.suffix.lower()
        if not target.is_relative_to(root) or not target.is_file() or suffix not in (*IMAGES, ".md"):
            raise HTTPException(404, f"no plot or report {name!r} in review {rid!r}")
        if suffix == ".md":
            return desk.render(request, "review.html", rid=rid, final=render_markdown(_read(target)), teams=[],
                               plots=[])
        return FileResponse(target, media_type=IMAGES[suffix],
                            headers={"Content-Security-Policy": "script-src 'none'"})

    @r.get("/reviews/{rid:path}", response_class=HTMLResponse)
    def review(request: Request, rid: str) -> HTMLResponse:
        d = _dir(rid)
        teams = sorted((d / "teams").glob("*.md")) if (d / "teams").is_dir() else []
        plots = sorted(str(p.relative_to(d)) for p in d.rglob("*") if p.suffix.lower() in IMAGES and p.is_file())
        run_id = run_of_review(d)
        return desk.render(request, "review.html", rid=rid, final=render_markdown(_read(d / FINAL)),
                           teams=[(t.stem, render_markdown(_read(t))) for t in teams], plots=plots[:50],
                           run=run_view(desk, run_id) if run_id else None)

    return r
