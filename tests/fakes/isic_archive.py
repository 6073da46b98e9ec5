"""A small, faithful local ISIC archive (API v2) for running the real `isic` client offline.

Written against **isic-cli 12.4.0** (pinned in requirements.lock and pyproject.toml). Every path, query parameter
and response shape below is taken from the installed package, not guessed:

- `isic_cli/cli/__init__.py`: `DOMAINS["dev"] = "http://127.0.0.1:8000"`, selected by the hidden
  `--dev` flag or `ISIC_DEV=1`. Host and port are hard-coded (no env var changes them), so this
  server binds exactly 127.0.0.1:8000 and raises `PortTaken` if it cannot (never another port).
  The API base is `{domain}/api/v2/` (`get_session`), OAuth under `{domain}/oauth` (only used
  when a token is stored under `$XDG_DATA_HOME`; guests make no OAuth call).
- `isic_cli/io/http.py`:
  - `get_num_images`: `GET images/search/?query=Q&collections=C&limit=1` -> `{"count": N, ...}`;
  - `get_size_images`: `GET images/search/size/?query=Q&collections=C` -> `{"size": BYTES}`
    (only for `--limit 0`);
  - `get_images`: `GET images/search/?query=Q&collections=C` (Q pasted *unencoded* into the URL),
    then follows the absolute URL in `"next"` until it is null; each page is
    `{"count", "next", "previous", "results": [image, ...]}`;
  - `download_image`: `GET image["files"]["full"]["url"]` without auth (S3 signed URLs in
    production; here the same server), extension taken from the URL path, skipped when
    `OUTDIR/<isic_id>.<ext>` exists with `image["files"]["full"]["size"]` bytes; written to a
    `.isic-partial.*` temp file and moved into place; an HTTP error is raised inside a thread pool
    whose results are never read, so a failed image is **silently missing**; connection drops /
    short reads (ChunkedEncodingError) are retried by tenacity (5 attempts, 3-10 s waits);
  - `get_license`: `GET zip-download/license-file/<license>/` -> plain text;
  - `get_collection`: `GET collections/<id>/` -> collection JSON, 404 when unknown.
- `isic_cli/cli/types.py` `SearchString`: `GET images/search/?query=Q&limit=1`; a 400 whose JSON
  `"message"` contains "query" is reported as an invalid search; `diagnosis:` is rejected locally.
- `isic_cli/session.py`: urllib3 `Retry(total=15, status_forcelist=[429, 500, 502, 503, 504],
  backoff_factor=5)` on every request: a 500 is retried (the first retry without sleeping).
- `isic_cli/cli/utils.py` `_extract_metadata`: an image is `{"isic_id", "attribution",
  "copyright_license", "metadata": {"acquisition": {...}, "clinical": {...}}, "files": ...}`;
  metadata.csv = isic_id, attribution, copyright_license + the sorted union of the acquisition and
  clinical keys (absent keys are empty cells).
- `isic_cli/cli/image.py` `download`: writes metadata.csv, attribution.txt, licenses/<lic>.txt.
- The package's shipped tests (`site-packages/tests/test_cli_image.py`, `test_cli_metadata.py`)
  mock the same image dict shape (`isic_id`, `copyright_license` "CC-0"/"CC-BY-NC",
  `attribution`, `metadata.acquisition`, `metadata.clinical`).

Content: by default the real dermoscopy that ships with the project, `samples/isic_uda1` (418
images of the ISIC Archive's UDA-1 collection, CC0, long side 512 px, `melanoma data import-v1`),
served as the archive serves that collection: each image's bytes exactly as stored in the folder (the
archive's own files are the larger originals, 722x542 to 3072x2304), and its metadata.csv row as the
image's JSON: `attribution` "Anonymous", `copyright_license` "CC-0",
`metadata.acquisition` = `image_type`, `metadata.clinical` = diagnosis_1..3, age_approx, sex,
melanocytic, diagnosis_confirm_type (which section a field sits in and its JSON type, boolean or
integer, come from `isic_metadata.FIELD_REGISTRY`, the archive's own field list shipped with
isic-cli). A field the sample leaves empty is absent from the JSON, as the archive leaves unknown
fields absent (two nevi have no diagnosis_2/3, about half the rows no age or sex), so isic-cli
writes empty cells for them. `ids` serves a subset, in the folder's order. Any folder in isic-cli's
layout can be served instead (`source_dir`).

What the sample lacks, and how the fake treats it:
- no lesion_id / patient_id: none is served, as for this collection in the archive; the tests then
  check that prepare says the split could not be grouped. There is no synthetic mode for grouping:
  grouped splits are tested on the synthetic generator's folders (tests/data/test_prepare.py).
- one collection, so one licence and one attribution, and no diagnosis below level 3: `relabel`
  (constructor argument or `set_relabel`) dresses the same real images as rows of other
  collections, for the one test that checks how isic-cli writes a multi-licence download
  (licenses/<licence>.txt per licence, attribution.txt ordered by count with "Anonymous" last,
  the union of columns): row i gets the licence CC-0 / CC-BY / CC-BY-NC and an attribution by
  i % 3, and every other row `diagnosis_4` (and `diagnosis_5` where the taxonomy goes that deep)
  below its real diagnosis_1..3, from the official hierarchy that isic-cli's dependency
  `isic_metadata` 4.12.0 ships (`diagnosis_hierarchical.DiagnosisEnum`). Those deeper levels are
  made up (UDA-1 never says which kind of nevus): never train or evaluate on a relabelled download.
- no Indeterminate rows and every image dermoscopic: every served image matches the project's
  default search; filtering is exercised with narrower searches on the real labels
  (`diagnosis_1:Malignant`).
- the archive's JSON also carries pixels_x/pixels_y and more acquisition fields of its original
  files; the sample keeps none, so none is served (isic-cli copies whatever fields arrive).

Search syntax (what the project sends, `melanoma_exp.data.isic.DEFAULT_SEARCH`): `field:value`,
`field:"quoted value"`, `field:*suffix`, `AND`, `OR`, `NOT`, parentheses; an unknown field or a
syntax error is a 400 `{"message": "Invalid search query: ..."}`.

Not taken from isic-cli (it never reads them, so they cannot change its behaviour): the image
fields `public` and `files.thumbnail_256`, the collection fields besides `locked`, the error bodies'
wording, the page size (isic-cli sends no `limit` when paging; here 10 by default so that paging
is exercised), the licence texts, and the order of search results (the folder's, by isic_id).

Failure knobs, constructor arguments: `missing_ids` (image URL -> 404), `truncated_ids` (the stored
object is short: the body is the first half of the JPEG with a matching Content-Length, while the
search result still announces the full size), `dropped` (`{isic_id: n}`: the n first requests send
the full Content-Length but only half the body, then close the connection: a network drop, which
isic-cli retries with tenacity, 5 attempts with 3-10 s waits), `fail_pages` (`{page_index: n}`:
the n first requests of that result page of `get_images` answer 500). Attributes: `stall_ids`
(send the headers and half the body, then wait until the event `release` is set or 30 s pass: a
transfer in flight, to interrupt a download; `stalled` counts the transfers that reached the wait),
`requests` (a Counter of requests by path), `log` ((path, query, status) in order).
"""

from __future__ import annotations

import base64
import csv
import json
import re
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

HOST, PORT = "127.0.0.1", 8000  # isic_cli.cli.DOMAINS["dev"]; not configurable in isic-cli 12.4.0
BASE = f"http://{HOST}:{PORT}"
API = "/api/v2/"
# The real dermoscopy that ships with the project (samples/isic_uda1/README.md): served by default.
SAMPLE_DIR = Path(__file__).resolve().parents[2] / "samples" / "isic_uda1"
LICENSES = ("CC-0", "CC-BY", "CC-BY-NC")  # the archive's licences (zip-download/license-file/<licence>/)
# `relabel` only: attributions of other collections (the sample's own is "Anonymous")
ATTRIBUTIONS = ("Memorial Sloan Kettering Cancer Center", "Hospital Clinic de Barcelona", "Anonymous")
# Fields the archive has besides isic_metadata.FIELD_REGISTRY's: where they sit and their JSON type.
EXTRA_FIELDS = {"age_approx": ("clinical", int), "pixels_x": ("acquisition", int),
                "pixels_y": ("acquisition", int)}


class PortTaken(RuntimeError):
    """127.0.0.1:8000 is in use: isic-cli's dev mode can only talk to that address."""


class QueryError(ValueError):
    pass


# --- search query: a tiny recursive-descent parser for the subset of ISIC's DSL the project uses --
_TOKEN = re.compile(r'\s*(\(|\)|AND\b|OR\b|NOT\b|[A-Za-z_0-9]+:(?:"[^"]*"|[^\s()]+))')


def _tokens(query: str) -> list[str]:
    out, pos, query = [], 0, query.strip()
    while pos < len(query):
        m = _TOKEN.match(query, pos)
        if not m:
            raise QueryError(f"cannot parse {query[pos:]!r}")
        out.append(m.group(1))
        pos = m.end()
        while pos < len(query) and query[pos].isspace():
            pos += 1
    return out


def compile_query(query: str, fields: set[str]):
    """`query` -> predicate(record dict of strings). Raises QueryError (unknown field, syntax)."""
    toks = _tokens(query or "")
    if not toks:
        return lambda rec: True
    pos = 0

    def peek():
        return toks[pos] if pos < len(toks) else None

    def take():
        nonlocal pos
        pos += 1
        return toks[pos - 1]

    def term():
        tok = take() if peek() else None
        if tok is None:
            raise QueryError("unexpected end of query")
        if tok == "NOT":
            inner = term()
            return lambda rec: not inner(rec)
        if tok == "(":
            inner = disjunction()
            if peek() != ")":
                raise QueryError("missing ')'")
            take()
            return inner
        if tok in (")", "AND", "OR"):
            raise QueryError(f"unexpected {tok!r}")
        name, value = tok.split(":", 1)
        if name not in fields:
            raise QueryError(f"unknown field {name!r}")
        value = value.strip('"')
        if value.startswith("*"):
            return lambda rec: rec.get(name, "").endswith(value[1:])
        return lambda rec: rec.get(name, "") == value

    def conjunction():
        parts = [term()]
        while peek() == "AND":
            take()
            parts.append(term())
        return lambda rec: all(p(rec) for p in parts)

    def disjunction():
        parts = [conjunction()]
        while peek() == "OR":
            take()
            parts.append(conjunction())
        return lambda rec: any(p(rec) for p in parts)

    pred = disjunction()
    if peek() is not None:
        raise QueryError(f"unexpected {peek()!r}")
    return pred


def archive_fields() -> dict[str, tuple[str, type]]:
    """field -> (JSON section "acquisition" | "clinical", JSON type), from the archive's own field
    list (`isic_metadata.FIELD_REGISTRY`, shipped with isic-cli) plus EXTRA_FIELDS."""
    from isic_metadata import FIELD_REGISTRY

    types = {"boolean": bool, "float": float}
    fields = {name: (f.type or "clinical",
                     types.get(f.search.es_property.get("type"), str) if f.search else str)
              for name, f in FIELD_REGISTRY.items()}
    return {**fields, **EXTRA_FIELDS}


def _json_value(value: str, kind: type):
    """A metadata.csv cell -> the archive's JSON value (isic-cli's csv writer turns it back)."""
    if kind is bool and value in ("True", "False"):
        return value == "True"
    if kind is int and value.lstrip("-").isdigit():
        return int(value)
    if kind is float:
        try:
            return float(value)
        except ValueError:
            return value
    return value


def _deeper_diagnosis(row: dict[str, str], k: int) -> dict[str, str]:
    """diagnosis_4 (and _5 where the taxonomy has one) below the row's diagnosis_1..3, from the
    official hierarchy shipped with isic-cli (`isic_metadata.diagnosis_hierarchical`)."""
    from isic_metadata.diagnosis_hierarchical import DiagnosisEnum

    prefix = ":".join(row.get(f"diagnosis_{n}", "") for n in (1, 2, 3)) + ":"
    deeper = sorted(v.value for v in DiagnosisEnum if v.value.startswith(prefix))
    if not deeper or prefix.startswith(":"):
        return {}
    five = [d for d in deeper if d.count(":") == 4]
    pool = five if five and k % 2 == 0 else deeper  # reach diagnosis_5 wherever it exists
    levels = pool[k % len(pool)].split(":")
    return {f"diagnosis_{n}": levels[n - 1] for n in range(4, len(levels) + 1)}


# --- the archive ---------------------------------------------------------------------------------
def _cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o={offset}".encode()).decode()


def _offset(cursor: str) -> int:
    return int(base64.urlsafe_b64decode(cursor.encode()).decode().split("=", 1)[1])


class FakeIsicArchive:
    """The archive: records + image bytes from a folder in isic-cli's layout (by default the real
    sample, `SAMPLE_DIR`), knobs, request counters.

    Use as a context manager (`with FakeIsicArchive() as archive:`) or call start()/stop().
    """

    def __init__(self, source_dir: Path = SAMPLE_DIR, ids=None, page_size: int = 10, missing_ids=(),
                 truncated_ids=(), dropped: dict[str, int] | None = None,
                 fail_pages: dict[int, int] | None = None, relabel: bool = False):
        self.source_dir = Path(source_dir)
        self.page_size = page_size
        self.missing_ids, self.truncated_ids = set(missing_ids), set(truncated_ids)
        self.dropped = dict(dropped or {})
        self.fail_pages = dict(fail_pages or {})
        self.stall_ids: set[str] = set()
        self.release = threading.Event()
        self.stalled = 0
        self.requests: Counter[str] = Counter()
        self.log: list[tuple[str, str, int]] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        with (self.source_dir / "metadata.csv").open(newline="", encoding="utf8") as f:
            rows = list(csv.DictReader(f))
        if ids is not None:
            wanted = set(ids)
            unknown = wanted - {r["isic_id"] for r in rows}
            if unknown:
                raise ValueError(f"not in {self.source_dir / 'metadata.csv'}: {', '.join(sorted(unknown))}")
            rows = [r for r in rows if r["isic_id"] in wanted]
        # a field left empty is absent from the archive's JSON (isic-cli writes an empty cell)
        self.real_records = [{k: v for k, v in r.items() if v != ""} for r in rows]
        self.relabelled_records = []
        for i, row in enumerate(self.real_records):
            row = dict(row, copyright_license=LICENSES[i % len(LICENSES)],
                       attribution=ATTRIBUTIONS[i % len(ATTRIBUTIONS)])
            if i % 2 == 0:
                row.update(_deeper_diagnosis(row, i // 2))
            self.relabelled_records.append(row)
        self.field_kinds = archive_fields()
        self.records = self.real_records
        self.set_relabel(relabel)
        # searchable: the archive's fields, and whatever the served rows hold
        self.fields = set().union(*(r.keys() for r in self.relabelled_records)) | set(self.field_kinds)

    def set_relabel(self, on: bool) -> None:
        """Serve the real rows (False) or the same images as rows of other collections (True:
        licences, attributions, made-up diagnosis_4/5; see the module docstring)."""
        with self._lock:
            self.records = self.relabelled_records if on else self.real_records

    # what a test asks about
    def image_path(self, isic_id: str) -> Path:
        return self.source_dir / f"{isic_id}.jpg"

    def image_bytes(self, isic_id: str) -> bytes:
        return self.image_path(isic_id).read_bytes()

    def matching_ids(self, query: str) -> list[str]:
        pred = compile_query(query, self.fields)
        return [r["isic_id"] for r in self.records if pred(r)]

    def image_requests(self, isic_id: str) -> int:
        return self.requests[f"/images/{isic_id}.jpg"]

    def reset_counts(self) -> None:
        with self._lock:
            self.requests.clear()
            self.log.clear()

    # the API's JSON
    def image_json(self, rec: dict[str, str]) -> dict:
        meta = {"acquisition": {}, "clinical": {}}
        for key, value in rec.items():
            if key in ("isic_id", "attribution", "copyright_license"):
                continue
            part, kind = self.field_kinds.get(key, ("clinical", str))
            meta[part][key] = _json_value(value, kind)
        isic_id = rec["isic_id"]
        size = self.image_path(isic_id).stat().st_size
        return {
            "isic_id": isic_id,
            "public": True,
            "copyright_license": rec["copyright_license"],
            "attribution": rec["attribution"],
            "metadata": meta,
            "files": {
                "full": {"url": f"{BASE}/images/{isic_id}.jpg?X-Amz-Signature=fake", "size": size},
                "thumbnail_256": {"url": f"{BASE}/images/{isic_id}.jpg?thumb=1", "size": size},
            },
        }

    # lifecycle
    def start(self) -> FakeIsicArchive:
        archive = self

        class Handler(_Handler):
            pass

        Handler.archive = archive
        try:
            self._server = ThreadingHTTPServer((HOST, PORT), Handler)
        except OSError as exc:
            raise PortTaken(
                f"cannot bind {HOST}:{PORT} ({exc}): isic-cli's --dev mode is hard-wired to "
                f"{BASE} (isic_cli/cli/__init__.py DOMAINS), so the fake ISIC archive needs exactly "
                "this port. Stop whatever listens there (e.g. `make serve`) and re-run."
            ) from exc
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-isic", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> FakeIsicArchive:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class _Handler(BaseHTTPRequestHandler):
    archive: FakeIsicArchive
    protocol_version = "HTTP/1.0"  # one request per connection: a dropped body ends with the socket

    def log_message(self, format, *args):  # noqa: A002 - keep pytest output quiet
        pass

    def _send(self, status: int, body: bytes, content_type: str = "application/json",
              length: int | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):  # the client is gone (killed download)
            pass
        with self.archive._lock:
            self.archive.log.append((self._path, self._query, status))

    def _json(self, status: int, obj) -> None:
        self._send(status, json.dumps(obj).encode())

    def do_GET(self):  # noqa: N802 - http.server's naming
        parts = urlsplit(self.path)
        self._path, self._query = parts.path, parts.query
        arch = self.archive
        with arch._lock:
            arch.requests[parts.path] += 1
        params = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        path = parts.path
        if path.startswith("/images/") and path.endswith(".jpg"):
            return self._image(path[len("/images/"):-len(".jpg")])
        if not path.startswith(API):
            return self._json(404, {"detail": "Not Found"})
        route = path[len(API):]
        if route == "images/search/":
            return self._search(params)
        if route == "images/search/size/":
            ids = self._matching(params)
            if ids is None:
                return None
            size = sum(arch.image_path(i).stat().st_size for i in ids)
            return self._json(200, {"size": size})
        m = re.fullmatch(r"zip-download/license-file/([A-Za-z0-9-]+)/", route)
        if m:
            if m.group(1) not in LICENSES:
                return self._json(404, {"detail": "Not Found"})
            return self._send(200, f"{m.group(1)} licence text (fake ISIC archive)\n".encode(),
                              "text/plain; charset=utf-8")
        m = re.fullmatch(r"collections/(\d+)/", route)
        if m:
            if m.group(1) != "1":
                return self._json(404, {"detail": "Not found."})
            return self._json(200, {"id": 1, "name": "Fake collection", "public": True,
                                    "pinned": True, "locked": True, "doi": None})
        if route == "users/me/":
            return self._json(401, {"detail": "Authentication credentials were not provided."})
        return self._json(404, {"detail": "Not Found"})

    def _matching(self, params) -> list[str] | None:
        try:
            ids = self.archive.matching_ids(params.get("query", ""))
        except QueryError as exc:
            self._json(400, {"message": f"Invalid search query: {exc}"})
            return None
        collections = params.get("collections", "")
        if collections and collections.split(",") != ["1"]:
            ids = []  # only collection 1 exists, and it holds every image
        return ids

    def _search(self, params) -> None:
        arch = self.archive
        ids = self._matching(params)
        if ids is None:
            return None
        offset = _offset(params["cursor"]) if params.get("cursor") else 0
        limit = int(params.get("limit") or arch.page_size)
        page = offset // arch.page_size if "limit" not in params else -1
        with arch._lock:
            fail = arch.fail_pages.get(page, 0) > 0
            if fail:
                arch.fail_pages[page] -= 1
        if fail:
            return self._send(500, b"<h1>Server Error (500)</h1>", "text/html")
        chunk = ids[offset:offset + limit]
        by_id = {r["isic_id"]: r for r in arch.records}

        def link(off: int) -> str:
            query = {"cursor": _cursor(off), "query": params.get("query", ""),
                     "collections": params.get("collections", "")}
            if "limit" in params:
                query["limit"] = limit
            return f"{BASE}{API}images/search/?{urlencode(query)}"

        return self._json(200, {
            "count": len(ids),
            "next": link(offset + limit) if offset + limit < len(ids) else None,
            "previous": link(max(0, offset - limit)) if offset > 0 else None,
            "results": [arch.image_json(by_id[i]) for i in chunk],
        })

    def _image(self, isic_id: str) -> None:
        arch = self.archive
        path = arch.image_path(isic_id)
        served = {r["isic_id"] for r in arch.records}
        if isic_id in arch.missing_ids or isic_id not in served or not path.is_file():
            return self._send(404, b"<Error><Code>NoSuchKey</Code></Error>", "application/xml")
        data = path.read_bytes()
        if isic_id in arch.truncated_ids:
            return self._send(200, data[: len(data) // 2], "image/jpeg")
        with arch._lock:
            drop = arch.dropped.get(isic_id, 0) > 0
            if drop:
                arch.dropped[isic_id] -= 1
        if isic_id in arch.stall_ids:
            return self._stall(data)
        if drop:
            self._send(200, data[: len(data) // 2], "image/jpeg", length=len(data))
            self.close_connection = True
            return None
        return self._send(200, data, "image/jpeg")

    def _stall(self, data: bytes) -> None:
        arch = self.archive
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        try:
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            with arch._lock:
                arch.stalled += 1
            arch.release.wait(timeout=30)
            self.wfile.write(data[len(data) // 2:])
        except (BrokenPipeError, ConnectionResetError):
            pass
        with arch._lock:
            arch.log.append((self._path, self._query, 200))
