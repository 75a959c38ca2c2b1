"""Schemathesis hooks for the fuzz run (``SCHEMATHESIS_HOOKS``): what the role under test may
do and see, checked on every response, beside schemathesis' own checks.

The driver (``.ci/schemathesis``) runs schemathesis once per role with ``FUZZ_ROLE`` set and
``FUZZ_CONTEXT`` naming the JSON file that ``setup_data.py`` wrote (ids of the R7 round's
evaluations, those of the department the department roles belong to, and the marker texts
seeded into them).

- ``role_may_not_write``: a 2xx answer to a write the role may not make (README's table: the
  public, read keys and viewers write no plan data; department editors and read-write keys
  write evaluations and KPI actuals of their own departments only; the secretariat writes
  all; every signed-in caller may set its own notification preferences and make export
  files as jobs; people, signed in or not, send opinions, API keys do not).
- ``unpublished_data_hidden``: a 2xx answer that shows an R7 (open round) evaluation, rating,
  KPI actual or count that the role may not read (the public sees published rounds only;
  department roles see their own departments' evaluations in any state).
- ``before_call``: steers half of the writes to records of the open round, with
  ``If-Match: *`` (see there).
- ``filter_failure``: drops the one false positive of form encodings (see there).
"""

import hashlib
import json
import os
import re

import schemathesis

ROLE = os.environ.get("FUZZ_ROLE", "anonymous")
with open(os.environ["FUZZ_CONTEXT"], encoding="utf-8") as context_file:
    CONTEXT = json.load(context_file)

R7_EVALUATIONS = frozenset(CONTEXT["r7_evaluations"])
OWN_EVALUATIONS = frozenset(CONTEXT["own_r7_evaluations"])
UNPUBLISHED_YEARS = frozenset(CONTEXT["unpublished_years"])
MARKERS = CONTEXT["markers"]  # {"own": "...", "other": "..."}

PUBLIC_ROLES = {"anonymous", "read_key"}
DEPARTMENT_ROLES = {"viewer", "editor", "bound_key"}
READ_ONLY_ROLES = PUBLIC_ROLES | {"viewer"}

# The writes of a department's editor (and of a read-write key): its evaluations and their
# KPI actuals, in an open round; and the progress import that writes the same.
EDITOR_WRITES = {
    ("PUT", "/api/v1/evaluations/{id}/"),
    ("PATCH", "/api/v1/evaluations/{id}/"),
    ("POST", "/api/v1/evaluations/{id}/submit/"),
    ("POST", "/api/v1/kpi-actuals/"),
    ("PUT", "/api/v1/kpi-actuals/{id}/"),
    ("PATCH", "/api/v1/kpi-actuals/{id}/"),
    ("DELETE", "/api/v1/kpi-actuals/{id}/"),
    ("POST", "/api/v1/imports/progress/"),
}
# Writes that change no plan data, open to every caller who is signed in or has a key: one's
# own notification preferences (users; keys get 403), export files made as jobs.
OWN_WRITES = {
    ("PUT", "/api/v1/me/notifications/"),
    ("POST", "/api/v1/exports/plans/{code}/document/jobs/"),
    ("POST", "/api/v1/exports/plans/{code}/tables/{table}/jobs/"),
}
# Writes open to people, signed in or not, but to no API key: sending an opinion.
PEOPLES_WRITES = {("POST", "/api/v1/opinions/")}
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def _json(response):
    if "json" not in response.headers.get("Content-Type", ""):
        return None
    try:
        return response.json()
    except ValueError:
        return None


def _as_int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def may_read_evaluation(evaluation_id: int) -> bool:
    if evaluation_id not in R7_EVALUATIONS:
        return True  # published rounds are public
    if ROLE in PUBLIC_ROLES:
        return False
    if ROLE in DEPARTMENT_ROLES:
        return evaluation_id in OWN_EVALUATIONS
    return True  # read-write key (every department of the plan) and secretariat


@schemathesis.check
def role_may_not_write(ctx, response, case):
    """A write the role is not allowed to make must not succeed."""
    method = case.method.upper()
    if method in SAFE_METHODS or not 200 <= response.status_code < 300:
        return None
    operation = (method, case.operation.path)
    if ROLE == "secretariat" or (ROLE != "anonymous" and operation in OWN_WRITES):
        return None
    if operation in PEOPLES_WRITES and not ROLE.endswith("_key"):
        return None
    if ROLE in READ_ONLY_ROLES or operation not in EDITOR_WRITES:
        raise AssertionError(
            f"Auth bypass: role {ROLE!r} may not make {method} {case.operation.path}, "
            f"got {response.status_code}"
        )
    # Editor roles: only evaluations of the open round that they are responsible for.
    allowed = OWN_EVALUATIONS if ROLE in DEPARTMENT_ROLES else R7_EVALUATIONS
    evaluation = None
    if case.operation.path.startswith("/api/v1/evaluations/"):
        evaluation = _as_int((case.path_parameters or {}).get("id"))
    elif case.operation.path.startswith("/api/v1/kpi-actuals/"):
        body = _json(response)
        if isinstance(body, dict):
            evaluation = _as_int(body.get("evaluation"))
    if evaluation is not None and evaluation not in allowed:
        raise AssertionError(
            f"Auth bypass: role {ROLE!r} changed evaluation {evaluation} "
            f"({method} {case.operation.path}), which is not one it may edit"
        )
    return None


COUNT_KEYS = ("a", "b", "c", "not_evaluated", "unrated", "improved", "unchanged", "worsened")


def _leaks(node, path="$", unpublished_year=None):
    """Yield (json path, why) for every piece of R7 data in ``node`` the role may not read.

    ``unpublished_year`` is set below an object about an unpublished fiscal year (an
    aggregate's counts sit in its ``overall`` and ``groups``)."""
    if isinstance(node, list):
        for index, item in enumerate(node):
            yield from _leaks(item, f"{path}[{index}]", unpublished_year)
        return
    if not isinstance(node, dict):
        return
    refs = []
    for key in ("evaluation_id", "evaluation"):
        if _as_int(node.get(key)) is not None:
            refs.append(_as_int(node[key]))
    if "round" in node and "initiative" in node and _as_int(node.get("id")) is not None:
        refs.append(_as_int(node["id"]))  # an evaluation itself
    for ref in refs:
        if not may_read_evaluation(ref):
            yield path, f"evaluation {ref} of the open R7 round"
    if ROLE in PUBLIC_ROLES:
        year = _as_int(node.get("fiscal_year"))
        if year in UNPUBLISHED_YEARS:
            unpublished_year = year
            if "opened_at" in node and node.get("status") != "published":
                yield path, f"round of {year} in status {node.get('status')!r}"
        for side in ("from", "to"):
            side_year = _as_int(node.get(f"{side}_year"))
            if side_year in UNPUBLISHED_YEARS:
                unpublished_year = side_year
                for index, cell in enumerate(node.get("matrix") or []):
                    if isinstance(cell, dict) and cell.get(f"{side}_rating") not in (None, "none"):
                        yield f"{path}.matrix[{index}]", f"ratings of unpublished {side}_year"
        if unpublished_year is not None:
            counts = {key: node.get(key) for key in COUNT_KEYS}
            if any(isinstance(count, int) and count > 0 for count in counts.values()):
                yield path, f"rating counts of the unpublished year {unpublished_year}"
    for key, value in node.items():
        if isinstance(value, (dict, list)):
            yield from _leaks(value, f"{path}.{key}", unpublished_year)


@schemathesis.check
def unpublished_data_hidden(ctx, response, case):
    """Nothing of the open round that the role may not read may be in a successful answer."""
    if not 200 <= response.status_code < 300:
        return None
    text = response.text if response.content else ""
    hidden = []
    if ROLE in PUBLIC_ROLES:
        hidden = [MARKERS["own"], MARKERS["other"]]
    elif ROLE in DEPARTMENT_ROLES:
        hidden = [MARKERS["other"]]
    for marker in hidden:
        if marker in text:
            raise AssertionError(
                f"Unpublished data visible to role {ROLE!r}: the response contains the text "
                f"{marker!r} seeded into an R7 evaluation it may not read"
            )
    if re.search(r"/evaluations/\{id\}/history/$", case.operation.path) and case.method == "GET":
        evaluation = _as_int((case.path_parameters or {}).get("id"))
        if evaluation is not None and not may_read_evaluation(evaluation):
            raise AssertionError(
                f"Unpublished data visible to role {ROLE!r}: history of evaluation {evaluation}"
            )
    body = _json(response)
    if body is not None:
        for path, why in _leaks(body):
            raise AssertionError(f"Unpublished data visible to role {ROLE!r} at {path}: {why}")
    return None


def _digest(case, salt: str) -> bytes:
    return hashlib.sha256(
        f"{salt}|{case.operation.path}|{case.path_parameters}|{case.body}|{case.headers}".encode(
            errors="surrogatepass"
        )
    ).digest()


def _pick(options, digest: bytes):
    return options[int.from_bytes(digest[1:5], "big") % len(options)] if options else None


# The records the writes are steered to: the R7 round's evaluations (the role's own
# department's first, those of other departments as well: the refusals matter too), their
# KPI actuals, and (evaluation, KPI) pairs of the same initiative for new actuals.
STEER_EVALUATIONS = sorted(OWN_EVALUATIONS) + sorted(R7_EVALUATIONS - OWN_EVALUATIONS)[:20]
STEER_ACTUALS = CONTEXT["r7_kpi_actuals"]
STEER_PAIRS = CONTEXT["r7_kpi_pairs"]


@schemathesis.hook
def before_call(context, case, kwargs):
    """Steer half of the writes to records that exist and can change.

    Generated ids rarely name an evaluation of the open round (the only ones that can still
    change), and a generated If-Match names no version: such requests end in 404, 409 or 412
    before the view validates anything. Half of them (chosen by a hash of the case, so runs
    repeat) get an R7 evaluation or KPI actual, a matching (evaluation, KPI) pair in the body,
    and ``If-Match: *``; the other half keep the generated values and test those refusals.
    The stateful phase is left alone: its chains use the records they created.
    """
    method = case.method.upper()
    if method in SAFE_METHODS:
        return
    meta = getattr(case, "meta", None)
    if meta is not None and str(meta.phase.name) == "stateful":
        return  # its steps pass on the ids they created: those must stay
    path = case.operation.path
    digest = _digest(case, "steer")
    if digest[0] % 2:
        return
    if case.headers and "If-Match" in case.headers:
        case.headers["If-Match"] = "*"
    parameters = case.path_parameters
    if parameters and "id" in parameters:
        if path.startswith("/api/v1/evaluations/{id}/"):
            parameters["id"] = _pick(STEER_EVALUATIONS, digest)
        elif path == "/api/v1/kpi-actuals/{id}/" and STEER_ACTUALS:
            parameters["id"] = _pick(STEER_ACTUALS, digest)
    if path == "/api/v1/kpi-actuals/" and method == "POST" and isinstance(case.body, dict):
        pair = _pick(STEER_PAIRS, digest)
        if pair is not None:
            case.body["evaluation"] = pair["evaluation"]
            case.body["kpi"] = pair["kpi"]


FORM_MEDIA_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


@schemathesis.hook
def filter_failure(context, failure, case, response):
    """Drop one false positive of ``negative_data_rejection``: a form field sent empty.

    Form encodings cannot send null, so an empty form field is how a form clears a nullable
    field (DRF reads it as null where the field allows null, or as blank where it allows
    blank, and refuses it otherwise). Schemathesis counts the empty string as breaking the
    field's `format` (a date) and expects a refusal. JSON bodies keep the check whole.
    """
    if getattr(failure, "code", None) != "ST201" or case.media_type not in FORM_MEDIA_TYPES:
        return True
    fields = re.findall(r"in body - (\w+):", failure.message or "")
    body = case.body if isinstance(case.body, dict) else {}
    return not (fields and all(body.get(name) == "" for name in fields))
