"""``mpgrade review OUT/``: a local web page to confirm or override scores, question by question.

Flask with Jinja templates and one plain script, all bundled (no CDN: it works offline).
Bound to 127.0.0.1 only; a POST needs the page's random token in a header and a Host of
this machine, so another web site open in the same browser can neither read the page
(same-origin policy) nor send decisions to it (the custom header needs a CORS preflight,
which this server never grants) nor reach it through DNS rebinding.
"""

from __future__ import annotations

import json
import secrets
import sys
import threading
import webbrowser
from pathlib import Path
from typing import Any

from flask import Flask, abort, jsonify, redirect, render_template, request, url_for
from werkzeug.exceptions import HTTPException

from mpgrade.review.session import Item, ReviewSession
from mpgrade.review.store import ReviewError
from mpgrade.wording import noun

HERE = Path(__file__).resolve().parent
TOKEN_HEADER = "X-Review-Token"


def create_app(session: ReviewSession, by: str | None = None, first: str | None = None) -> Flask:
    app = Flask(__name__, template_folder=str(HERE / "templates"), static_folder=str(HERE / "static"))
    app.add_template_filter(noun)
    token = secrets.token_urlsafe(24)
    lock = threading.Lock()  # one decision at a time: each rewrites the class's outputs

    @app.before_request
    def local_only() -> None:
        host = (request.host or "").rsplit(":", 1)[0].strip("[]")
        if host not in ("127.0.0.1", "localhost", "::1"):
            abort(403, description="this server answers only requests to 127.0.0.1 or localhost")

    @app.errorhandler(HTTPException)
    def api_error(exc: HTTPException) -> Any:
        """The page's script reads every answer of the API as JSON, errors included."""
        if request.path.startswith("/api/"):
            return jsonify(error=exc.description), exc.code or 500
        return exc

    @app.get("/favicon.ico")
    def favicon() -> Any:
        return "", 204

    @app.get("/")
    def index() -> Any:
        prose = [q for q in session.questions if q.kind == "prose"]
        start = first or (prose[0].id if prose else session.questions[0].id)
        return redirect(url_for("question", qid=start))

    @app.get("/q/<qid>")
    def question(qid: str) -> Any:
        try:
            q = session.question(qid)
            items = session.items(q.id)
        except ReviewError:
            abort(404)
        tabs = [(other, *session.progress(other.id)) for other in session.questions]
        done = sum(1 for i in items if i.reviewed)
        return render_template(
            "review.html", question=q, items=items, tabs=tabs, done=done, total=len(items),
            token=token, token_header=TOKEN_HEADER, outdir=str(session.outdir),
            todo=request.args.get("filter") == "todo",
        )

    @app.post("/api/decide")
    def decide() -> Any:
        if not secrets.compare_digest(request.headers.get(TOKEN_HEADER, ""), token):
            # each start draws a new token: the page was opened before a restart
            return jsonify(error="the review server was restarted since this page was opened: reload the page"), 403
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            return jsonify(error="expected a JSON object"), 400
        student, qid = str(data.get("student", "")), str(data.get("question", ""))
        raw, comment = data.get("score"), data.get("comment", "")
        try:
            score = _score(raw)
        except (ValueError, OverflowError):
            return jsonify(error=f"score must be a number, got {json.dumps(raw)}"), 400
        if not isinstance(comment, str):
            return jsonify(error=f"comment must be text, got {json.dumps(comment)}"), 400
        comment = comment[:2000]
        with lock:
            try:
                item, note = session.decide(student, qid, score, comment, by)
            except ReviewError as exc:
                return jsonify(error=str(exc)), 400
            reviewed, total = session.progress(item.question)
        return jsonify(item=_item_json(item), reviewed=reviewed, total=total, note=note)

    return app


def _score(raw: object) -> float | None:
    """The posted score: a number, or one as text (the form's field); None or "" accepts the
    automatic score. A boolean is refused: float(True) would store 1."""
    if raw is None or raw == "":
        return None
    if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
        raise ValueError(raw)
    return float(raw)


def _item_json(item: Item) -> dict[str, Any]:
    r = item.review
    return {
        "student": item.student,
        "question": item.question,
        "status": item.status,
        "score": item.score,
        "auto_score": item.auto_score,
        "max_score": item.max_score,
        "reviewed": item.reviewed,
        "stale": bool(r and r.stale),
        "by": r.by if r else "",
        "at": r.at if r else "",
        "comment": r.comment if r else "",
    }


def serve(session: ReviewSession, port: int = 0, open_browser: bool = True, by: str | None = None,
          first: str | None = None) -> int:
    """Serve until Ctrl-C; the address is printed first (a test or a script reads it)."""
    import errno
    import logging
    import socket

    from werkzeug.serving import LISTEN_QUEUE, make_server

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    app = create_app(session, by, first)
    try:  # bound here: Werkzeug would print two lines of its own and exit 1
        listener = socket.create_server(("127.0.0.1", port), backlog=LISTEN_QUEUE)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise ReviewError(f"port {port} is in use by another program; give another --port") from None
        raise ReviewError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}") from None
    with listener:  # the server serves a duplicate of this socket
        server = make_server("127.0.0.1", port, app, threaded=True, fd=listener.fileno())
    url = f"http://127.0.0.1:{server.port}/"
    print(f"mpgrade review: {url} (Ctrl-C to stop)", flush=True)
    if open_browser:
        webbrowser.open(url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("mpgrade review: stopped", file=sys.stderr)
    finally:
        server.server_close()
    return 0
