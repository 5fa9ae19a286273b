"""A local stand-in for the Weights & Biases HTTP API, for the W&B interoperability tests.

Serves what the wandb 0.19.0 SDK (Python side and the wandb-core service) uses to create,
update, stream to and finish a run, and what the public API (wandb.Api) uses to list runs with
MongoDB-style filters, load one run and name a project. Runs live in memory, keyed by
(entity, project, run name). Every request is appended to the --log file as one JSON line.

    python fake_wandb.py --port P --log LOG.jsonl [--api-key KEY] [--stale-after SECS]

Prints `READY <port>` once listening (--port 0 picks a free port). GET /_fake/runs returns every
stored run as JSON.
"""

import argparse
import base64
import datetime
import gzip
import json
import random
import re
import string
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class BadRequest(Exception):
    """A request the server refuses with 400; the message names the problem."""


# ---------------------------------------------------------------------------------------------
# GraphQL: a small, tolerant parser for the documents the SDK sends.
# ---------------------------------------------------------------------------------------------

_TOKEN = re.compile(
    r'"""(?:[^"\\]|\\.|"(?!""))*"""'  # block string
    r'|"(?:[^"\\\n]|\\.)*"'  # string
    r"|\.\.\."  # spread
    r"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?"  # number
    r"|[A-Za-z_][A-Za-z0-9_]*"  # name
    r"|[{}()\[\]:=!$@|&]"  # punctuation
)
_IGNORED = re.compile(r"(?:[\s,\ufeff]+|#[^\n]*)+")


def tokenize(text):
    tokens = []
    pos = 0
    while pos < len(text):
        m = _IGNORED.match(text, pos)
        if m:
            pos = m.end()
            continue
        m = _TOKEN.match(text, pos)
        if not m:
            raise BadRequest(f"graphql: unexpected character {text[pos]!r} at offset {pos}")
        tokens.append(m.group(0))
        pos = m.end()
    return tokens


class Var:
    """A `$name` reference inside an argument value."""

    def __init__(self, name):
        self.name = name


class Field:
    def __init__(self, alias, name, args, directives, selections):
        self.alias = alias
        self.name = name
        self.args = args
        self.directives = directives
        self.selections = selections


class Spread:
    def __init__(self, fragment, directives):
        self.fragment = fragment
        self.directives = directives


class Inline:
    def __init__(self, type_condition, directives, selections):
        self.type_condition = type_condition
        self.directives = directives
        self.selections = selections


class Operation:
    def __init__(self, kind, name, var_defaults, selections):
        self.kind = kind
        self.name = name
        self.var_defaults = var_defaults
        self.selections = selections


class Parser:
    def __init__(self, text):
        self.tokens = tokenize(text)
        self.i = 0

    def peek(self, offset=0):
        j = self.i + offset
        return self.tokens[j] if j < len(self.tokens) else None

    def take(self, expected=None):
        tok = self.peek()
        if tok is None:
            raise BadRequest("graphql: unexpected end of document")
        if expected is not None and tok != expected:
            raise BadRequest(f"graphql: expected {expected!r}, found {tok!r}")
        self.i += 1
        return tok

    def name(self):
        tok = self.take()
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", tok):
            raise BadRequest(f"graphql: expected a name, found {tok!r}")
        return tok

    def document(self):
        operations, fragments = [], {}
        while self.peek() is not None:
            tok = self.peek()
            if tok == "{":
                operations.append(Operation("query", None, {}, self.selection_set()))
            elif tok in ("query", "mutation", "subscription"):
                operations.append(self.operation())
            elif tok == "fragment":
                self.take()
                name = self.name()
                self.take("on")
                self.name()
                self.directives()
                fragments[name] = self.selection_set()
            else:
                raise BadRequest(f"graphql: unexpected {tok!r} at top level")
        if not operations:
            raise BadRequest("graphql: document has no operation")
        return operations, fragments

    def operation(self):
        kind = self.take()
        name = None
        if self.peek() not in ("(", "{", "@"):
            name = self.name()
        defaults = {}
        if self.peek() == "(":
            self.take("(")
            while self.peek() != ")":
                self.take("$")
                var = self.name()
                self.take(":")
                self.type_ref()
                if self.peek() == "=":
                    self.take("=")
                    defaults[var] = self.value()
                self.directives()
            self.take(")")
        self.directives()
        return Operation(kind, name, defaults, self.selection_set())

    def type_ref(self):
        if self.peek() == "[":
            self.take("[")
            self.type_ref()
            self.take("]")
        else:
            self.name()
        if self.peek() == "!":
            self.take("!")

    def value(self):
        tok = self.take()
        if tok == "$":
            return Var(self.name())
        if tok == "[":
            items = []
            while self.peek() != "]":
                items.append(self.value())
            self.take("]")
            return items
        if tok == "{":
            obj = {}
            while self.peek() != "}":
                key = self.name()
                self.take(":")
                obj[key] = self.value()
            self.take("}")
            return obj
        if tok.startswith('"""'):
            return tok[3:-3]
        if tok.startswith('"'):
            return json.loads(tok)
        if tok in ("true", "false"):
            return tok == "true"
        if tok == "null":
            return None
        if re.fullmatch(r"-?\d+", tok):
            return int(tok)
        if re.fullmatch(r"-?\d.*", tok):
            return float(tok)
        return tok  # enum value

    def arguments(self):
        args = {}
        if self.peek() == "(":
            self.take("(")
            while self.peek() != ")":
                key = self.name()
                self.take(":")
                args[key] = self.value()
            self.take(")")
        return args

    def directives(self):
        found = []
        while self.peek() == "@":
            self.take("@")
            found.append((self.name(), self.arguments()))
        return found

    def selection_set(self):
        self.take("{")
        selections = []
        while self.peek() != "}":
            if self.peek() == "...":
                self.take("...")
                if self.peek() == "on":
                    self.take("on")
                    type_condition = self.name()
                    directives = self.directives()
                    selections.append(Inline(type_condition, directives, self.selection_set()))
                elif self.peek() in ("{", "@"):
                    directives = self.directives()
                    selections.append(Inline(None, directives, self.selection_set()))
                else:
                    name = self.name()
                    selections.append(Spread(name, self.directives()))
                continue
            alias = name = self.name()
            if self.peek() == ":":
                self.take(":")
                name = self.name()
            args = self.arguments()
            directives = self.directives()
            sub = self.selection_set() if self.peek() == "{" else None
            selections.append(Field(alias, name, args, directives, sub))
        self.take("}")
        return selections


def operation_name(query):
    """The operation name as written in the query text, or None."""
    m = re.search(r"\b(?:query|mutation|subscription)\s+([A-Za-z_][A-Za-z0-9_]*)", query or "")
    return m.group(1) if m else None


class Executor:
    """Projects resolved values onto a selection set.

    A resolved value is a plain JSON value, a dict of fields, a list, or a callable taking the
    field's arguments (with variables substituted) and returning one of those.
    """

    def __init__(self, fragments, variables):
        self.fragments = fragments
        self.variables = variables

    def arg_value(self, value):
        if isinstance(value, Var):
            return self.variables.get(value.name)
        if isinstance(value, list):
            return [self.arg_value(v) for v in value]
        if isinstance(value, dict):
            return {k: self.arg_value(v) for k, v in value.items()}
        return value

    def included(self, directives):
        for name, args in directives:
            flag = bool(self.arg_value(args.get("if")))
            if name == "include" and not flag:
                return False
            if name == "skip" and flag:
                return False
        return True

    def fields(self, selections):
        for sel in selections:
            if not self.included(sel.directives):
                continue
            if isinstance(sel, Field):
                yield sel
            elif isinstance(sel, Spread):
                yield from self.fields(self.fragments.get(sel.fragment, []))
            else:
                yield from self.fields(sel.selections)

    def project(self, value, selections):
        if isinstance(value, list):
            return [self.project(v, selections) for v in value]
        if not isinstance(value, dict):
            return value
        out = {}
        for field in self.fields(selections):
            if field.name == "__typename":
                out[field.alias] = value.get("__typename", "Object")
                continue
            item = value.get(field.name)
            if callable(item):
                item = item({k: self.arg_value(v) for k, v in field.args.items()})
            if field.selections is not None and item is not None:
                item = self.project(item, field.selections)
            elif isinstance(item, (dict, list)) and field.selections is None:
                item = json.loads(json.dumps(item))
            if field.alias in out and isinstance(out[field.alias], dict) and isinstance(item, dict):
                out[field.alias].update(item)
            else:
                out[field.alias] = item
        return out


# ---------------------------------------------------------------------------------------------
# Run filters (MongoDB style, as the public API sends them).
# ---------------------------------------------------------------------------------------------

_MISSING = object()


def _dig(value, parts):
    for part in parts:
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return _MISSING
    return value


def run_field(run, path):
    """The value of a filter/order path for one run, or _MISSING."""
    parts = path.split(".")
    head, rest = parts[0], parts[1:]
    if head == "config":
        if not rest:
            return {k: v.get("value") for k, v in run.config.items()}
        entry = run.config.get(rest[0])
        if entry is None:
            return _MISSING
        # "config.<key>.value" (the stored form's path) names the value itself.
        value = entry["value"]
        if rest[1:] == ["value"] and not (isinstance(value, dict) and "value" in value):
            return value
        return _dig(entry["value"], rest[1:])
    if head in ("summary_metrics", "summaryMetrics", "summary"):
        return _dig(run.summary, rest)
    if rest:
        return _MISSING
    simple = {
        "state": run.effective_state(),
        "display_name": run.display_name,
        "displayName": run.display_name,
        "name": run.name,
        "id": run.name,
        "createdAt": run.created_iso(),
        "created_at": run.created_iso(),
        "heartbeatAt": run.heartbeat_iso(),
        "heartbeat_at": run.heartbeat_iso(),
        "tags": run.tags,
        "group": run.group,
        "jobType": run.job_type,
        "job_type": run.job_type,
        "entity": run.entity,
        "project": run.project,
    }
    value = simple.get(head, _MISSING)
    return _MISSING if value is None else value


def _same(a, b):
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    return a == b


def _equal(actual, expected):
    if actual is _MISSING:
        return expected is None
    if _same(actual, expected):
        return True
    if isinstance(actual, list) and not isinstance(expected, list):
        return any(_same(item, expected) for item in actual)
    return False


def _compare(actual, expected, op):
    if actual is _MISSING or actual is None or expected is None:
        return False
    try:
        if op == "$gt":
            return actual > expected
        if op == "$gte":
            return actual >= expected
        if op == "$lt":
            return actual < expected
        return actual <= expected
    except TypeError:
        return False


def _field_matches(actual, condition):
    is_operator_dict = (
        isinstance(condition, dict) and condition and all(k.startswith("$") for k in condition)
    )
    if not is_operator_dict:
        return _equal(actual, condition)
    for op, arg in condition.items():
        if op == "$eq":
            ok = _equal(actual, arg)
        elif op == "$ne":
            ok = not _equal(actual, arg)
        elif op == "$in":
            if not isinstance(arg, list):
                raise BadRequest("filters: $in needs a list")
            ok = any(_equal(actual, v) for v in arg)
        elif op == "$nin":
            if not isinstance(arg, list):
                raise BadRequest("filters: $nin needs a list")
            ok = not any(_equal(actual, v) for v in arg)
        elif op == "$exists":
            ok = (actual is not _MISSING) == bool(arg)
        elif op in ("$gt", "$gte", "$lt", "$lte"):
            ok = _compare(actual, arg, op)
        elif op == "$regex":
            ok = isinstance(actual, str) and re.search(str(arg), actual) is not None
        elif op == "$not":
            ok = not _field_matches(actual, arg)
        else:
            raise BadRequest(f"filters: unsupported operator {op}")
        if not ok:
            return False
    return True


def matches(run, flt):
    if flt is None:
        return True
    if not isinstance(flt, dict):
        raise BadRequest("filters: a filter must be a JSON object")
    for key, cond in flt.items():
        if key in ("$and", "$or", "$nor"):
            if not isinstance(cond, list):
                raise BadRequest(f"filters: {key} needs a list")
            results = [matches(run, sub) for sub in cond]
            ok = {"$and": all, "$or": any, "$nor": lambda r: not any(r)}[key](results)
        elif key.startswith("$"):
            raise BadRequest(f"filters: unsupported operator {key}")
        else:
            ok = _field_matches(run_field(run, key), cond)
        if not ok:
            return False
    return True


# ---------------------------------------------------------------------------------------------
# Storage.
# ---------------------------------------------------------------------------------------------


def iso(ts):
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


def new_run_name():
    alphabet = string.ascii_lowercase + string.digits
    return "".join(random.choice(alphabet) for _ in range(8))


def stored_config(raw):
    """W&B's stored form: {key: {"value": v, "desc": d}}."""
    out = {}
    for key, entry in raw.items():
        if isinstance(entry, dict) and "value" in entry:
            out[key] = {"value": entry["value"], "desc": entry.get("desc")}
        else:
            out[key] = {"value": entry, "desc": None}
    return out


class Run:
    _seq = 0

    def __init__(self, store, entity, project, name):
        Run._seq += 1
        self.store = store
        self.seq = Run._seq
        self.entity = entity
        self.project = project
        self.name = name
        self.display_name = name
        self.description = None
        self.notes = None
        self.group = None
        self.job_type = None
        self.host = None
        self.program = None
        self.commit = None
        self.sweep_name = None
        self.tags = []
        self.config = {}
        self.summary = {}
        self.history_keys = {}
        self.history_lines = 0
        self.events_lines = 0
        self.log_lines = 0
        self.history_tail = []
        self.state = "running"
        self.exitcode = None
        self.created = time.time()
        self.heartbeat = self.created
        self.files = {}

    def storage_id(self):
        raw = f"Run:v1:{self.name}:{self.project}:{self.entity}"
        return base64.b64encode(raw.encode()).decode()

    def created_iso(self):
        return iso(self.created)

    def heartbeat_iso(self):
        return iso(self.heartbeat)

    def effective_state(self):
        if self.state == "running" and time.time() - self.heartbeat > self.store.stale_after:
            return "crashed"
        return self.state

    def beat(self, resume=False):
        """A sign of life: a running (or stale) run is running again; with resume, any run is."""
        self.heartbeat = time.time()
        if resume or self.state in ("running", "crashed"):
            self.state = "running"
            self.exitcode = None

    def wandb_config(self, args):
        """The SDK's own `_wandb` config entries named by args["keys"], as a JSON string."""
        internal = (self.config.get("_wandb") or {}).get("value")
        internal = internal if isinstance(internal, dict) else {}
        return json.dumps({k: internal[k] for k in (args.get("keys") or []) if k in internal})

    def config_json(self):
        return json.dumps(self.config)

    def graph(self):
        """This run as a GraphQL object (the Run / Bucket type)."""
        project = self.store.project_graph(self.entity, self.project)
        return {
            "__typename": "Run",
            "id": self.storage_id(),
            "name": self.name,
            "displayName": self.display_name,
            "description": self.description,
            "notes": self.notes,
            "group": self.group,
            "jobType": self.job_type,
            "host": self.host,
            "program": self.program,
            "commit": self.commit,
            "sweepName": self.sweep_name,
            "tags": list(self.tags),
            "state": self.effective_state(),
            "config": self.config_json(),
            "readOnly": False,
            "createdAt": self.created_iso(),
            "heartbeatAt": self.heartbeat_iso(),
            "updatedAt": self.heartbeat_iso(),
            "systemMetrics": "{}",
            "summaryMetrics": json.dumps(self.summary),
            "historyLineCount": self.history_lines,
            "eventsLineCount": self.events_lines,
            "logLineCount": self.log_lines,
            "historyTail": json.dumps(self.history_tail[-10:]),
            "eventsTail": "[]",
            "historyKeys": {"keys": self.history_keys, "lastStep": self.history_lines - 1},
            "wandbConfig": self.wandb_config,
            "user": {"__typename": "User", "id": "VXNlcjox", "name": "tester", "username": "tester"},
            "project": project,
            "stopped": False,
            "exitcode": self.exitcode,
            "runInfo": None,
            "sweep": None,
            "files": {"edges": [], "pageInfo": {"endCursor": None, "hasNextPage": False}},
        }

    def summary_json(self):
        return {
            "entity": self.entity,
            "project": self.project,
            "name": self.name,
            "id": self.storage_id(),
            "displayName": self.display_name,
            "state": self.effective_state(),
            "stored_state": self.state,
            "exitcode": self.exitcode,
            "createdAt": self.created_iso(),
            "heartbeatAt": self.heartbeat_iso(),
            "config": self.config,
            "summaryMetrics": self.summary,
            "historyLineCount": self.history_lines,
            "tags": self.tags,
            "files": sorted(self.files),
        }


class Store:
    def __init__(self, stale_after, base_url):
        self.lock = threading.Lock()
        self.runs = {}
        self.stale_after = stale_after
        self.base_url = base_url

    def find(self, entity, project, name):
        return self.runs.get((entity, project, name))

    def get_or_create(self, entity, project, name):
        run = self.find(entity, project, name)
        created = run is None
        if created:
            run = Run(self, entity, project, name)
            self.runs[(entity, project, name)] = run
        return run, created

    def project_runs(self, entity, project):
        return [r for (e, p, _), r in self.runs.items() if e == entity and p == project]

    def project_graph(self, entity, project):
        def runs_query(args):
            return self.runs_connection(entity, project, args)

        def run_count(args):
            return len(self.filtered(entity, project, args.get("filters")))

        def one_run(args):
            run = self.find(entity, project, args.get("name"))
            return run.graph() if run else None

        entity_obj = {"__typename": "Entity", "id": _gid("Entity", entity), "name": entity}
        return {
            "__typename": "Project",
            "id": _gid("Project", f"{entity}/{project}"),
            "name": project,
            "entityName": entity,
            "entity": entity_obj,
            "description": None,
            "access": "PRIVATE",
            "views": "{}",
            "readOnly": False,
            "isBenchmark": False,
            "createdAt": iso(0),
            "user": {"id": "VXNlcjox", "name": "tester", "username": "tester"},
            "runCount": run_count,
            "runs": runs_query,
            "run": one_run,
            "bucket": one_run,
            "sweep": None,
        }

    def filtered(self, entity, project, filters):
        if isinstance(filters, str):
            try:
                filters = json.loads(filters) if filters else {}
            except json.JSONDecodeError as exc:
                raise BadRequest(f"filters: not valid JSON: {exc}") from exc
        return [r for r in self.project_runs(entity, project) if matches(r, filters)]

    def runs_connection(self, entity, project, args):
        runs = self.filtered(entity, project, args.get("filters"))
        order = args.get("order") or "-created_at"
        descending = not order.startswith("+")
        key_path = order.lstrip("+-")
        key_path = {"created_at": "createdAt", "heartbeat_at": "heartbeatAt"}.get(key_path, key_path)

        def sort_key(run):
            value = run_field(run, key_path)
            if key_path == "createdAt":
                return (0, run.created, run.seq)
            if value is _MISSING or value is None:
                return (1, "", run.seq)
            if not isinstance(value, (int, float, str)):
                value = json.dumps(value)
            return (0, value, run.seq)

        try:
            runs.sort(key=sort_key, reverse=descending)
        except TypeError:
            runs.sort(key=lambda r: r.seq, reverse=descending)
        start = 0
        cursor = args.get("after")
        if cursor:
            try:
                start = int(base64.b64decode(cursor).decode().split(":")[-1]) + 1
            except (ValueError, UnicodeDecodeError):
                raise BadRequest(f"runs: bad cursor {cursor!r}") from None
        first = args.get("first")
        first = 50 if not isinstance(first, int) or first <= 0 else first
        page = runs[start : start + first]
        edges = [
            {"node": run.graph(), "cursor": _gid("cursor", start + i)}
            for i, run in enumerate(page)
        ]
        return {
            "edges": edges,
            "totalCount": len(runs),
            "pageInfo": {
                "endCursor": edges[-1]["cursor"] if edges else None,
                "hasNextPage": start + first < len(runs),
                "startCursor": edges[0]["cursor"] if edges else None,
                "hasPreviousPage": start > 0,
            },
        }


def _gid(kind, raw):
    return base64.b64encode(f"{kind}:{raw}".encode()).decode()


def _decode_storage_id(storage_id):
    try:
        parts = base64.b64decode(storage_id).decode().split(":")
    except (ValueError, UnicodeDecodeError):
        return None
    if len(parts) == 5 and parts[0] == "Run":
        return parts[4], parts[3], parts[2]
    return None


# ---------------------------------------------------------------------------------------------
# GraphQL resolvers.
# ---------------------------------------------------------------------------------------------

VIEWER = {
    "__typename": "User",
    "id": "VXNlcjox",
    "entity": "tester",
    "username": "tester",
    "name": "tester",
    "email": "tester@example.invalid",
    "admin": False,
    "flags": "{}",
    "photoUrl": None,
    "apiKeys": {"edges": []},
    "teams": {"edges": [{"node": {"name": "neuralinternet"}}]},
    "defaultFramework": None,
    "userInfo": None,
}


def _json_arg(value, what):
    if value is None or isinstance(value, (dict, list)):
        return value
    if not isinstance(value, str):
        raise BadRequest(f"{what}: expected a JSON string")
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise BadRequest(f"{what}: not valid JSON: {exc}") from exc


def resolve_upsert_bucket(store, args):
    data = args.get("input") or {}
    entity = data.get("entityName") or VIEWER["entity"]
    project = data.get("modelName") or "uncategorized"
    name = data.get("name")
    if not name and data.get("id"):
        decoded = _decode_storage_id(data["id"])
        if decoded is None or store.find(*decoded) is None:
            raise BadRequest(f"upsertBucket: no run with id {data['id']!r}")
        entity, project, name = decoded
    name = name or new_run_name()
    run, inserted = store.get_or_create(entity, project, name)
    config = _json_arg(data.get("config"), "upsertBucket config")
    if config is not None:
        if not isinstance(config, dict):
            raise BadRequest("upsertBucket config: expected a JSON object")
        run.config = stored_config(config)
    summary = _json_arg(data.get("summaryMetrics"), "upsertBucket summaryMetrics")
    if isinstance(summary, dict):
        run.summary.update(summary)
    for var, attr in (
        ("displayName", "display_name"),
        ("description", "description"),
        ("notes", "notes"),
        ("groupName", "group"),
        ("jobType", "job_type"),
        ("host", "host"),
        ("jobProgram", "program"),
        ("commit", "commit"),
        ("sweep", "sweep_name"),
    ):
        if data.get(var) is not None:
            setattr(run, attr, data[var])
    if data.get("tags") is not None:
        run.tags = list(data["tags"])
    # An upsert naming the run comes from the run's own client (a new run, a resumed one, or
    # an update), so the run is running unless the call names a state. The public API's
    # Run.update() names the run by storage id only and leaves state and heartbeat alone.
    if data.get("name"):
        run.beat(resume=True)
    if data.get("state"):
        run.state = data["state"]
    return {"bucket": run.graph(), "inserted": inserted}


def resolve_create_run_files(store, args):
    data = args.get("input") or {}
    entity = data.get("entityName") or VIEWER["entity"]
    project = data.get("projectName") or "uncategorized"
    name = data.get("runName") or ""
    run, _ = store.get_or_create(entity, project, name)
    files = []
    for fname in data.get("files") or []:
        url = f"{store.base_url}/_fake/upload/{entity}/{project}/{name}/{fname}"
        files.append({"name": fname, "uploadUrl": url, "url": url, "id": _gid("File", fname)})
    return {"runID": run.storage_id(), "uploadHeaders": [], "files": files}


TYPE_FIELDS = {
    "Query": ["viewer", "serverInfo", "project", "model", "entity"],
    "Mutation": ["upsertBucket", "createRunFiles", "upsertModel", "deleteRun"],
    "ServerInfo": ["cliVersionInfo", "latestLocalVersionInfo"],
}


def resolve_type(args):
    """Introspection (`__type`): the fields this server answers for the root types."""
    name = args.get("name")
    return {
        "__typename": "__Type",
        "name": name,
        "kind": "OBJECT",
        "fields": [{"name": f, "args": [], "type": None} for f in TYPE_FIELDS.get(name, [])],
        "inputFields": [],
    }


def query_root(store):
    def project(args):
        return store.project_graph(args.get("entityName") or VIEWER["entity"], args.get("name"))

    return {
        "__typename": "Query",
        "viewer": VIEWER,
        "serverInfo": {
            "cliVersionInfo": {"max_cli_version": "0.99.0"},
            "latestLocalVersionInfo": None,
            "features": [],
            "availableBucketProviders": [],
            "exposesExplicitRunQueueAckPath": False,
            "frontendHost": None,
        },
        "project": project,
        "model": project,
        "entity": lambda args: {"id": _gid("Entity", args.get("name")), "name": args.get("name"),
                                "isTeam": True, "organization": None},
        "__type": resolve_type,
        "__schema": {
            "types": [],
            "queryType": {"name": "Query"},
            "mutationType": {"name": "Mutation"},
        },
    }


def mutation_root(store):
    def upsert_model(args):
        data = args.get("input") or {}
        entity = data.get("entityName") or VIEWER["entity"]
        proj = store.project_graph(entity, data.get("name"))
        return {"project": proj, "model": proj, "inserted": True}

    def delete_run(args):
        decoded = _decode_storage_id((args.get("input") or {}).get("id") or "")
        if decoded is None or store.runs.pop(decoded, None) is None:
            raise BadRequest("deleteRun: no such run")
        return {"clientMutationId": None}

    return {
        "__typename": "Mutation",
        "deleteRun": delete_run,
        "upsertBucket": lambda args: resolve_upsert_bucket(store, args),
        "createRunFiles": lambda args: resolve_create_run_files(store, args),
        "upsertModel": upsert_model,
    }


def execute_graphql(store, payload):
    if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
        raise BadRequest("graphql: body must be a JSON object with a string 'query'")
    variables = payload.get("variables") or {}
    if not isinstance(variables, dict):
        raise BadRequest("graphql: 'variables' must be a JSON object")
    operations, fragments = Parser(payload["query"]).document()
    wanted = payload.get("operationName")
    op = next((o for o in operations if o.name == wanted), operations[0])
    merged = dict(op.var_defaults)
    merged.update(variables)
    executor = Executor(fragments, merged)
    root = mutation_root(store) if op.kind == "mutation" else query_root(store)
    with store.lock:
        return executor.project(root, op.selections)


# ---------------------------------------------------------------------------------------------
# file_stream.
# ---------------------------------------------------------------------------------------------


def apply_file_stream(store, entity, project, name, body):
    if not isinstance(body, dict):
        raise BadRequest("file_stream: body must be a JSON object")
    with store.lock:
        run, _ = store.get_or_create(entity, project, name)
        files = body.get("files") or {}
        if not isinstance(files, dict):
            raise BadRequest("file_stream: 'files' must be a JSON object")
        for fname, chunk in files.items():
            content = chunk.get("content") if isinstance(chunk, dict) else None
            if not isinstance(content, list):
                continue
            if fname == "wandb-history.jsonl":
                for line in content:
                    try:
                        row = json.loads(line)
                    except (TypeError, json.JSONDecodeError):
                        continue
                    run.history_tail.append(line)
                    run.history_lines += 1
                    if isinstance(row, dict):
                        for key, value in row.items():
                            kind = type(value).__name__
                            run.history_keys[key] = {"typeCounts": [{"type": kind, "count": 1}]}
            elif fname == "wandb-summary.json":
                for line in content:
                    try:
                        summary = json.loads(line)
                    except (TypeError, json.JSONDecodeError):
                        continue
                    if isinstance(summary, dict):
                        run.summary = summary
            elif fname == "wandb-events.jsonl":
                run.events_lines += len(content)
            elif fname == "output.log":
                run.log_lines += len(content)
        if body.get("complete"):
            code = body.get("exitcode")
            run.heartbeat = time.time()
            run.exitcode = code
            run.state = "finished" if code == 0 else "failed"
        else:
            run.beat()
        return {"exitcode": None, "limits": {}}


# ---------------------------------------------------------------------------------------------
# HTTP.
# ---------------------------------------------------------------------------------------------


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-wandb/1"

    def log_message(self, fmt, *args):
        pass

    def send_json(self, status, obj):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)

    def read_body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            parts = []
            while True:
                size_line = self.rfile.readline()
                try:
                    size = int(size_line.split(b";")[0].strip() or b"0", 16)
                except ValueError:
                    raise BadRequest("bad chunked encoding") from None
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                parts.append(self.rfile.read(size))
                self.rfile.readline()
            data = b"".join(parts)
        else:
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                raise BadRequest("bad Content-Length") from None
            data = self.rfile.read(length) if length > 0 else b""
        if (self.headers.get("Content-Encoding") or "").lower() == "gzip":
            try:
                data = gzip.decompress(data)
            except OSError as exc:
                raise BadRequest(f"bad gzip body: {exc}") from exc
        return data

    def auth_key(self):
        header = self.headers.get("Authorization") or ""
        if not header.lower().startswith("basic "):
            return None, None
        try:
            user, _, key = base64.b64decode(header[6:].strip()).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None, None
        return user, key

    def handle_any(self, method):
        entry = {
            "time": round(time.time(), 3),
            "method": method,
            "path": self.path,
            "op": None,
            "variables": None,
            "body": None,
            "user_agent": self.headers.get("User-Agent"),
        }
        status, reply = 500, {"errors": [{"message": "internal error"}]}
        try:
            raw = self.read_body()
            user, key = self.auth_key()
            entry["auth_user"] = user
            status, reply = self.route(method, raw, entry, key)
        except BadRequest as exc:
            status, reply = 400, {"errors": [{"message": str(exc)}]}
            self.close_connection = True
        except Exception as exc:  # a bug here must not take the server down
            status, reply = 500, {"errors": [{"message": f"{type(exc).__name__}: {exc}"}]}
        entry["status"] = status
        self.server.write_log(entry)
        if reply is None:
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self.send_json(status, reply)

    def route(self, method, raw, entry, key):
        path = self.path.split("?", 1)[0]
        store = self.server.store
        if method == "GET" and path == "/_fake/runs":
            with store.lock:
                return 200, {"runs": [r.summary_json() for r in store.runs.values()]}
        if method == "PUT" and path.startswith("/_fake/upload/"):
            parts = path[len("/_fake/upload/") :].split("/", 3)
            if len(parts) == 4:
                with store.lock:
                    run = store.find(parts[0], parts[1], parts[2])
                    if run is not None:
                        run.files[parts[3]] = len(raw)
            return 200, None
        required = self.server.api_key
        if required is not None and key != required:
            return 401, {"errors": [{"message": "invalid api key"}]}
        if method == "POST" and path == "/graphql":
            payload = self.parse_json(raw)
            if isinstance(payload, dict):
                query = payload.get("query")
                entry["op"] = payload.get("operationName") or (
                    operation_name(query) if isinstance(query, str) else None
                )
                entry["variables"] = payload.get("variables")
            data = execute_graphql(store, payload)
            return 200, {"data": data}
        m = re.fullmatch(r"/files/([^/]+)/([^/]+)/([^/]+)/file_stream", path)
        if method == "POST" and m:
            body = self.parse_json(raw)
            entry["body"] = body
            return 200, apply_file_stream(store, *m.groups(), body)
        if method == "POST" and raw:
            try:
                entry["body"] = json.loads(raw)
            except (ValueError, UnicodeDecodeError):
                pass
        return 404, {"errors": [{"message": f"not found: {method} {path}"}]}

    @staticmethod
    def parse_json(raw):
        try:
            return json.loads(raw)
        except UnicodeDecodeError:
            raise BadRequest("body is not UTF-8") from None
        except json.JSONDecodeError as exc:
            raise BadRequest(f"body is not valid JSON: {exc}") from exc

    def do_GET(self):
        self.handle_any("GET")

    def do_POST(self):
        self.handle_any("POST")

    def do_PUT(self):
        self.handle_any("PUT")

    def do_DELETE(self):
        self.handle_any("DELETE")

    def do_PATCH(self):
        self.handle_any("PATCH")

    def do_HEAD(self):
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port, log_path, api_key, stale_after):
        super().__init__(("127.0.0.1", port), Handler)
        self.api_key = api_key
        self.store = Store(stale_after, f"http://127.0.0.1:{self.server_address[1]}")
        self.log_lock = threading.Lock()
        self.log_file = open(log_path, "a", encoding="utf-8")

    def write_log(self, entry):
        with self.log_lock:
            self.log_file.write(json.dumps(entry) + "\n")
            self.log_file.flush()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--log", required=True)
    parser.add_argument("--api-key")
    parser.add_argument("--stale-after", type=float, default=300.0)
    args = parser.parse_args()
    server = Server(args.port, args.log, args.api_key, args.stale_after)
    print(f"READY {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
