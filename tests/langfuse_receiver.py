"""A local stand-in for LangFuse's endpoints, for tests: it receives what the real SDK sends and
decodes it.

No LangFuse server can run here (it needs Postgres, ClickHouse, Redis and S3), so this small HTTP
server (built on the benchmark's ``AcceptAll``) answers:

- ``POST /api/public/otel/v1/traces``: OTLP/HTTP protobuf (gzip or not), one span per observation.
- ``POST /api/public/ingestion``: JSON event batches; langfuse 4.x sends scores here (``score-create``).
- ``POST /api/public/scores``: one JSON score; where later SDKs send scores.
- the REST calls of datasets and experiments: ``GET``/``POST /api/public/v2/datasets[/{name}]``,
  ``GET``/``POST /api/public/dataset-items``, ``POST /api/public/dataset-run-items``, (``get_dataset``,
  which a run with ``--dataset`` calls, is the ``GET``s: the dataset by its URL-encoded name, then its
  items page by page, by ``datasetName``),
  ``GET``/``POST /api/public/score-configs``, ``GET /api/public/projects``.

Every request body is validated against the SDK's own request model (``langfuse.api.*``: required
fields, types, and no field the model does not know), every answer is built as the model the SDK
parses it with, and every score event against ``IngestionEvent_ScoreCreate`` and ``ScoreBody``. What fails lands in ``invalid``
(and the SDK gets a 400), so a test asserts ``receiver.invalid == []``.

Spans are kept as plain dicts: ids in hex, ``attributes`` as Python values.
"""

import json
import threading
import uuid
from datetime import datetime, timezone
from urllib.parse import unquote

from langfuse import api as lf
from langfuse.api.core.pydantic_utilities import parse_obj_as

from observability.sinks import INGESTION_PATH, OTLP_PATH, AcceptAll, BlackHole, otlp_request, refused_url

__all__ = ["LangfuseReceiver", "BlackHole", "refused_url", "metadata", "decode_spans"]

SCORES_PATH = "/api/public/scores"
DATASETS_PATH = "/api/public/v2/datasets"
ITEMS_PATH = "/api/public/dataset-items"
RUN_ITEMS_PATH = "/api/public/dataset-run-items"
SCORE_CONFIGS_PATH = "/api/public/score-configs"
PROJECTS_PATH = "/api/public/projects"
PROJECT_ID = "lmcache-lab-test-project"
# The query of ``GET /api/public/dataset-items``, as the SDK's ``dataset_items.list`` sends it.
ITEMS_QUERY = {"datasetName", "sourceTraceId", "sourceObservationId", "version", "page", "limit"}


class Invalid(Exception):
    """A request the real LangFuse API would refuse."""


def wire_names(model) -> set[str]:
    """The JSON names of a Fern model's fields (``FieldMetadata`` aliases, else the field name)."""
    names = set()
    for name, f in model.model_fields.items():
        alias = next((m.alias for m in f.metadata if getattr(m, "alias", None)), None)
        names.add(alias or name)
    return names


def validated(model, body: dict):
    """``body`` parsed as the SDK's ``model``; Invalid on a missing, mistyped or unknown field."""
    if not isinstance(body, dict):
        raise Invalid(f"{model.__name__}: body is {type(body).__name__}, not an object")
    unknown = set(body) - wire_names(model)
    if unknown:
        raise Invalid(f"{model.__name__}: unknown fields {sorted(unknown)}")
    try:
        return parse_obj_as(model, body)
    except Exception as err:
        raise Invalid(f"{model.__name__}: {err}") from None


def now() -> str:
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


def any_value(v):
    """An OTLP AnyValue as a Python value."""
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [any_value(x) for x in v.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in v.kvlist_value.values}
    return getattr(v, kind) if kind else None


def decode_spans(body: bytes) -> list[dict]:
    spans = []
    for rs in otlp_request(body).resource_spans:
        for ss in rs.scope_spans:
            for s in ss.spans:
                spans.append({
                    "trace_id": s.trace_id.hex(),
                    "span_id": s.span_id.hex(),
                    "parent_span_id": s.parent_span_id.hex() or None,
                    "name": s.name,
                    "start_ns": s.start_time_unix_nano,
                    "end_ns": s.end_time_unix_nano,
                    "scope": ss.scope.name,
                    "attributes": {a.key: any_value(a.value) for a in s.attributes},
                })  # fmt: skip
    return spans


class LangfuseReceiver(AcceptAll):
    """``with LangfuseReceiver() as r:`` serves on a free local port at ``r.url`` until the block ends."""

    def __init__(self):
        super().__init__()
        self.spans: list[dict] = []
        self.scores: list[dict] = []  # score bodies, from either endpoint
        self.events: list[dict] = []  # every ingestion event, scores included
        self.invalid: list[str] = []  # requests the real API would refuse
        self.rest: list[tuple[str, str, dict | None]] = []  # (method, path, body) of every REST call
        self.datasets: dict[str, dict] = {}  # name -> Dataset
        self.items: dict[str, dict] = {}  # id -> DatasetItem
        self.runs: dict[tuple[str, str], dict] = {}  # (dataset id, run name) -> run (id, name, metadata, ...)
        self.run_items: list[dict] = []  # DatasetRunItem answers
        self.score_configs: dict[str, dict] = {}  # name -> ScoreConfig
        self._rest_lock = threading.Lock()

    def answer(self, method, path, query, body):
        rest = path.startswith(("/api/public/v2/", "/api/public/dataset", SCORE_CONFIGS_PATH, PROJECTS_PATH))
        if rest:
            data = json.loads(body) if body else None
            with self._lock:
                self.rest.append((method, path, data))
            try:
                with self._rest_lock:
                    status, answer = self._rest(method, path, {k: v[0] for k, v in query.items()}, data)
            except Invalid as err:
                with self._lock:
                    self.invalid.append(f"{method} {path}: {err}")
                status, answer = 400, {"message": str(err)}
            return status, json.dumps(answer).encode(), "application/json"
        if method == "POST" and path == OTLP_PATH:
            spans = decode_spans(body)
            with self._lock:
                self.spans.extend(spans)
        elif method == "POST" and path == INGESTION_PATH:
            batch = json.loads(body).get("batch", [])
            for event in batch:
                try:
                    if event.get("type") == "score-create":
                        validated(lf.IngestionEvent_ScoreCreate, event)
                        validated(lf.ScoreBody, event["body"])
                except Invalid as err:
                    with self._lock:
                        self.invalid.append(f"ingestion {event.get('type')}: {err}")
            with self._lock:
                self.events.extend(batch)
                self.scores.extend(e["body"] for e in batch if e.get("type") == "score-create")
        elif method == "POST" and path == SCORES_PATH:
            score = json.loads(body)
            with self._lock:
                self.scores.append(score)
            return 200, json.dumps({"id": score.get("id", "")}).encode(), "application/json"
        return super().answer(method, path, query, body)

    def _rest(self, method: str, path: str, query: dict, body):
        """(status, answer) of one REST call; the answer is checked as the model the SDK parses."""

        def answer(model, obj, status=200):
            parse_obj_as(model, obj)  # a stand-in must answer what the SDK can read
            return status, obj

        if method == "POST" and path == DATASETS_PATH:
            req = validated(lf.CreateDatasetRequest, body)
            ds = self.datasets.get(req.name) or {"id": str(uuid.uuid4()), "name": req.name, "projectId": PROJECT_ID,
                                                 "createdAt": now()}  # fmt: skip
            ds.update({"description": req.description, "metadata": req.metadata, "updatedAt": now()})
            self.datasets[req.name] = ds
            return answer(lf.Dataset, ds)
        if method == "GET" and path.startswith(DATASETS_PATH + "/"):
            name = unquote(path[len(DATASETS_PATH) + 1 :])
            if name not in self.datasets:
                return 404, {"message": f"Dataset {name} not found"}
            return answer(lf.Dataset, self.datasets[name])
        if method == "POST" and path == ITEMS_PATH:
            req = validated(lf.CreateDatasetItemRequest, body)
            ds = self.datasets.get(req.dataset_name)
            if ds is None:
                return 404, {"message": f"Dataset {req.dataset_name} not found"}
            item_id = req.id or str(uuid.uuid4())
            other = self.items.get(item_id)
            if other and other["datasetId"] != ds["id"]:
                raise Invalid(f"dataset item id {item_id} is already used in dataset {other['datasetName']}")
            item = {"id": item_id, "status": "ACTIVE", "input": req.input, "expectedOutput": req.expected_output,
                    "metadata": req.metadata, "sourceTraceId": None, "sourceObservationId": None,
                    "datasetId": ds["id"], "datasetName": ds["name"], "createdAt": now(), "updatedAt": now(),
                    "mediaReferences": []}  # fmt: skip
            self.items[item_id] = item
            return answer(lf.DatasetItem, item)
        if method == "GET" and path == ITEMS_PATH:
            unknown = set(query) - ITEMS_QUERY
            if unknown or "datasetName" not in query:
                raise Invalid(f"GET {ITEMS_PATH}: query {sorted(query)}; it takes datasetName and {sorted(ITEMS_QUERY - {'datasetName'})}")
            name = query.get("datasetName")
            ds = self.datasets.get(name)
            items = [i for i in self.items.values() if ds and i["datasetId"] == ds["id"]]
            page, limit = int(query.get("page", 1)), int(query.get("limit", 50))
            chunk = items[(page - 1) * limit : page * limit]
            pages = max(1, -(-len(items) // limit))
            return answer(lf.PaginatedDatasetItems, {"data": chunk, "meta": {"page": page, "limit": limit,
                          "totalItems": len(items), "totalPages": pages}})  # fmt: skip
        if method == "POST" and path == RUN_ITEMS_PATH:
            req = validated(lf.CreateDatasetRunItemRequest, body)
            item = self.items.get(req.dataset_item_id)
            if item is None:
                return 404, {"message": f"Dataset item {req.dataset_item_id} not found"}
            if not req.trace_id:
                raise Invalid("a dataset run item needs the traceId of the call it links")
            key = (item["datasetId"], req.run_name)
            run = self.runs.setdefault(key, {"id": str(uuid.uuid4()), "name": req.run_name, "datasetId": item["datasetId"],
                                             "metadata": req.metadata, "description": req.run_description})  # fmt: skip
            run_item = {"id": str(uuid.uuid4()), "datasetRunId": run["id"], "datasetRunName": run["name"],
                        "datasetItemId": item["id"], "traceId": req.trace_id, "observationId": req.observation_id,
                        "createdAt": now(), "updatedAt": now()}  # fmt: skip
            self.run_items.append(run_item)
            return answer(lf.DatasetRunItem, run_item)
        if method == "GET" and path == SCORE_CONFIGS_PATH:
            configs = list(self.score_configs.values())
            return answer(lf.ScoreConfigs, {"data": configs, "meta": {"page": 1, "limit": 100,
                          "totalItems": len(configs), "totalPages": 1}})  # fmt: skip
        if method == "POST" and path == SCORE_CONFIGS_PATH:
            req = validated(lf.CreateScoreConfigRequest, body)
            if req.name in self.score_configs:
                raise Invalid(f"a score config named {req.name} exists already")
            config = {"id": str(uuid.uuid4()), "name": req.name, "createdAt": now(), "updatedAt": now(),
                      "projectId": PROJECT_ID, "dataType": req.data_type, "isArchived": False,
                      "minValue": req.min_value, "maxValue": req.max_value, "description": req.description,
                      "categories": [c.dict() for c in req.categories] if req.categories else None}  # fmt: skip
            self.score_configs[req.name] = config
            return answer(lf.ScoreConfig, config)
        if method == "GET" and path == PROJECTS_PATH:
            return answer(lf.Projects, {"data": [{"id": PROJECT_ID, "name": "test", "metadata": {},
                                                  "organization": {"id": "org", "name": "org"}}]})  # fmt: skip
        return 404, {"message": f"{method} {path} is not served here"}

    # Views on what arrived, for assertions.

    def traces(self) -> dict[str, list[dict]]:
        """Spans grouped by trace id."""
        with self._lock:
            spans = list(self.spans)
        grouped: dict[str, list[dict]] = {}
        for s in spans:
            grouped.setdefault(s["trace_id"], []).append(s)
        return grouped


def metadata(span: dict, prefix: str = "langfuse.observation.metadata.") -> dict:
    """The span's LangFuse metadata (observation level by default), values JSON-decoded."""
    out = {}
    for key, value in span["attributes"].items():
        if key.startswith(prefix):
            try:
                out[key[len(prefix) :]] = json.loads(value)
            except (TypeError, ValueError):
                out[key[len(prefix) :]] = value
    return out
