"""One evaluation cycle through the generated Python client (openapi-python-client), with
API keys only, against a live server holding the shipped plan (``load_plan``).

Usage: python clients/drive_cycle.py BASE_URL   with DXAPI_SECRETARIAT_KEY and DXAPI_EDITOR_KEY
(an editor key of kikaku-shinko) in the environment, and the generated package
``dxapi_client`` importable. Every answer is parsed by the client into the type the schema
gives; an unexpected status or type stops the run.
"""

import datetime
import io
import os
import sys
import zipfile

from dxapi_client import AuthenticatedClient, Client
from dxapi_client.api.aggregates import (
    aggregates_ratings,
    aggregates_transitions,
    aggregates_trend,
)
from dxapi_client.api.evaluations import (
    evaluations_approve_create,
    evaluations_list,
    evaluations_partial_update,
    evaluations_retrieve,
    evaluations_return_create,
    evaluations_submit_create,
)
from dxapi_client.api.kpi_actuals import kpi_actuals_create
from dxapi_client.api.kpis import kpis_list
from dxapi_client.api.plans import plans_list, plans_partial_update
from dxapi_client.api.reports import reports_yearly
from dxapi_client.api.rounds import rounds_close_create, rounds_create, rounds_publish_create
from dxapi_client.api.templates import templates_progress_retrieve
from dxapi_client.models import (
    CommentRequest,
    EvaluationDetail,
    EvaluationStatusEnum,
    KPIActual,
    KPIActualWriteRequest,
    PaginatedEvaluationListList,
    PaginatedKPIProgressList,
    PaginatedPlanList,
    PatchedEvaluationUpdateRequest,
    PatchedPlanWriteRequest,
    Plan,
    RatingCountsResponse,
    RatingEnum,
    Report,
    Round,
    RoundOpenRequest,
    RoundStatusEnum,
    TransitionsResponse,
    TrendResponse,
)
from dxapi_client.types import File

PLAN, DEPARTMENT, YEAR = "akita-dx", "kikaku-shinko", "R7"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def parsed(response, expected_type, status: int = 200):
    """The client's parsed answer, checked to be ``expected_type``."""
    if response.status_code != status or not isinstance(response.parsed, expected_type):
        sys.exit(
            f"expected {status} {expected_type}, got {response.status_code} "
            f"{type(response.parsed).__name__}: {response.content[:500]!r}"
        )
    return response.parsed


def evaluations(client, **filters) -> list:
    found, page = [], 1
    while True:
        answer = evaluations_list.sync_detailed(
            client=client, plan=PLAN, fiscal_year=YEAR, page=page, page_size=200, **filters
        )
        listing = parsed(answer, PaginatedEvaluationListList)
        found += listing.results
        if not listing.next_:
            return found
        page += 1


def etag(client, evaluation_id: int) -> str:
    answer = evaluations_retrieve.sync_detailed(evaluation_id, client=client)
    parsed(answer, EvaluationDetail)
    return answer.headers["ETag"]


def fill_and_submit(client, evaluation_id: int, rating: RatingEnum) -> str:
    body = PatchedEvaluationUpdateRequest(
        rating=rating,
        rating_reason="Generated client check.",
        plan_text="計画どおり進めた。",
        progress_text="進捗の記述。",
        next_actions="次年度の取組。",
    )
    answer = evaluations_partial_update.sync_detailed(
        evaluation_id, client=client, body=body, if_match=etag(client, evaluation_id)
    )
    assert parsed(answer, EvaluationDetail).rating == rating
    answer = evaluations_submit_create.sync_detailed(
        evaluation_id, client=client, if_match=answer.headers["ETag"]
    )
    assert parsed(answer, EvaluationDetail).status == EvaluationStatusEnum.SUBMITTED
    return answer.headers["ETag"]


def approve(client, evaluation_id: int, tag: str) -> None:
    answer = evaluations_approve_create.sync_detailed(evaluation_id, client=client, if_match=tag)
    assert parsed(answer, EvaluationDetail).status == EvaluationStatusEnum.APPROVED


def raw(client, module, **kwargs):
    """openapi-python-client parses the first media type of a response only (the report's
    JSON): the other formats are fetched with the operation's own request and checked
    against the media type and type the schema gives them."""
    return client.get_httpx_client().request(**module._get_kwargs(**kwargs))


def main(base_url: str) -> None:
    keys = os.environ["DXAPI_SECRETARIAT_KEY"], os.environ["DXAPI_EDITOR_KEY"]
    secretariat, editor = (
        AuthenticatedClient(base_url, token=key, prefix="Api-Key", raise_on_unexpected_status=True)
        for key in keys
    )
    public = Client(base_url, raise_on_unexpected_status=True)  # the public reads: no key

    plans = parsed(plans_list.sync_detailed(client=public), PaginatedPlanList).results
    plan = next(p for p in plans if p.code == PLAN)
    answer = plans_partial_update.sync_detailed(
        plan.id, client=secretariat, body=PatchedPlanWriteRequest(end_year=2025)
    )
    assert parsed(answer, Plan).end_year == 2025
    round_ = parsed(
        rounds_create.sync_detailed(
            client=secretariat, body=RoundOpenRequest(plan=plan.id, fiscal_year=YEAR)
        ),
        Round,
        201,
    )
    print(f"opened {YEAR}: round {round_.id}")

    # The department fills in its drafts, one KPI actual, and submits.
    own = evaluations(
        editor, department=DEPARTMENT, status=evaluations_list.EvaluationsListStatus.DRAFT
    )
    assert own, "the department has no drafts"
    tags = {}
    for number, item in enumerate(own):
        if number == 0:
            answer = kpis_list.sync_detailed(client=editor, initiative=item.initiative.id)
            kpis = parsed(answer, PaginatedKPIProgressList).results
            if kpis:
                body = KPIActualWriteRequest(
                    evaluation=item.id, kpi=kpis[0].id, value="1", as_of=datetime.date(2025, 9, 30)
                )
                actual = kpi_actuals_create.sync_detailed(client=editor, body=body)
                print(f"KPI actual {parsed(actual, KPIActual, 201).id} posted")
        tags[item.id] = fill_and_submit(editor, item.id, RatingEnum.B)
    print(f"{DEPARTMENT}: {len(own)} evaluations submitted")

    # The secretariat returns one, approves the rest; the department resubmits.
    returned_id = own[0].id
    answer = evaluations_return_create.sync_detailed(
        returned_id,
        client=secretariat,
        body=CommentRequest(comment="根拠を補ってください。"),
        if_match=tags.pop(returned_id),
    )
    assert parsed(answer, EvaluationDetail).status == EvaluationStatusEnum.RETURNED
    for evaluation_id, tag in tags.items():
        approve(secretariat, evaluation_id, tag)
    approve(secretariat, returned_id, fill_and_submit(editor, returned_id, RatingEnum.A))

    # Every other evaluation of R7: the secretariat edits, submits and approves it.
    others = [e for e in evaluations(secretariat) if e.status != EvaluationStatusEnum.APPROVED]
    for item in others:
        approve(secretariat, item.id, fill_and_submit(secretariat, item.id, RatingEnum.B))
    print(f"other departments: {len(others)} evaluations approved")

    assert parsed(rounds_close_create.sync_detailed(round_.id, client=secretariat), Round)
    published = parsed(rounds_publish_create.sync_detailed(round_.id, client=secretariat), Round)
    assert published.status == RoundStatusEnum.PUBLISHED

    # What the public reads, parsed by the client.
    ratings = parsed(
        aggregates_ratings.sync_detailed(client=public, plan=PLAN, fiscal_year=YEAR),
        RatingCountsResponse,
    )
    parsed(
        aggregates_transitions.sync_detailed(client=public, plan=PLAN, to_year=YEAR),
        TransitionsResponse,
    )
    parsed(aggregates_trend.sync_detailed(client=public, plan=PLAN), TrendResponse)
    report = parsed(
        reports_yearly.sync_detailed(client=public, plan=PLAN, fiscal_year=YEAR), Report
    )
    assert report.round_status == RoundStatusEnum.PUBLISHED and report.plan.code == PLAN
    formats = reports_yearly.ReportsYearlyFormat
    for fmt, media_type, kind in (
        (formats.HTML, "text/html", str),
        (formats.CSV, "text/csv", str),
        (formats.XLSX, XLSX, bytes),
    ):
        answer = raw(public, reports_yearly, plan=PLAN, fiscal_year=YEAR, format_=fmt)
        assert answer.status_code == 200, answer.text[:500]
        assert answer.headers["Content-Type"].startswith(media_type), answer.headers
        body = answer.text if kind is str else answer.content
        assert isinstance(body, kind) and body
    assert zipfile.is_zipfile(io.BytesIO(answer.content))

    template = templates_progress_retrieve.sync_detailed(
        client=secretariat, plan=PLAN, fiscal_year=YEAR, department=DEPARTMENT
    )
    sheet = parsed(template, (File, bytes, str))
    print(f"template: {type(sheet).__name__}")
    print(f"published {YEAR}: {ratings.to_dict()}")
    print("cycle through the generated client: OK")


if __name__ == "__main__":
    main(sys.argv[1])
