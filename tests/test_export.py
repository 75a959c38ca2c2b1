"""Plan export: the dxapi-plan/1 document (round trip through the loader), CSV tables,
streaming, visibility, and the export_plan command."""

import csv
import io
import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.http import StreamingHttpResponse

from evaluations import services
from evaluations.exchange.exporter import TABLES, plan_document
from evaluations.plan_loader import SHIPPED_DOCUMENT, plan_document_load, read_document
from initiatives.access import Actor
from initiatives.models import (
    Plan,
)
from tests.conftest import PLAN_CODE
from tests.helpers import ACCESS_MODELS, PLAN_MODELS

SYSTEM = Actor(is_superuser=True)
DOCUMENT_URL = f"/api/v1/exports/plans/{PLAN_CODE}/document/"


def table_url(table: str) -> str:
    return f"/api/v1/exports/plans/{PLAN_CODE}/tables/{table}/"


def streamed_json(response) -> dict:
    assert isinstance(response, StreamingHttpResponse)
    return json.loads(b"".join(response.streaming_content))


def streamed_csv(response) -> list[list[str]]:
    assert isinstance(response, StreamingHttpResponse)
    text = b"".join(response.streaming_content).decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:])))


def wipe_everything() -> None:
    """An empty database (inside the test's transaction)."""
    for model in (*ACCESS_MODELS, *reversed(PLAN_MODELS)):
        model.objects.all().delete()


def test_export_load_export_round_trip_gives_the_same_document(staff_api) -> None:
    first = streamed_json(staff_api.get(DOCUMENT_URL))
    assert first["format"] == "dxapi-plan/1"
    wipe_everything()
    assert not Plan.objects.exists()
    plan_document_load(document=first)
    second = streamed_json(staff_api.get(DOCUMENT_URL))
    assert second == first


def test_export_holds_what_the_shipped_document_holds(plan) -> None:
    exported = plan_document(actor=SYSTEM, plan=plan)
    shipped = read_document(SHIPPED_DOCUMENT)
    assert exported["plan"]["code"] == shipped["plan"]["code"]
    assert exported["departments"] == shipped["departments"]
    assert exported["rounds"] == shipped["rounds"]
    initiatives = {
        i["number"]: i
        for p in exported["pillars"]
        for a in p["policy_areas"]
        for i in a["initiatives"]
    }
    assert len(initiatives) == 91
    assert [k["targets"][0]["value"] for k in initiatives[45]["kpis"]] == ["75", "174", "3700"]
    assert initiatives[13]["kpis"][0]["targets"][0] == {
        "fiscal_year": 2024,
        "value": None,
        "text": "希望する職員",
    }
    r5_36 = next(e for e in initiatives[36]["evaluations"] if e["fiscal_year"] == 2023)
    assert r5_36["rating"] is None
    assert {e["status"] for i in initiatives.values() for e in i["evaluations"]} == {"approved"}
    # The exported document loads into the database it came from without any change.
    summary = plan_document_load(document=exported)
    assert not summary.changed


def test_the_public_export_leaves_unpublished_rounds_out(plan, api, staff_api) -> None:
    plan.end_year = 2025
    plan.save(update_fields=["end_year"])
    services.round_open(actor=SYSTEM, plan=plan, fiscal_year=2025)
    public = streamed_json(api.get(DOCUMENT_URL))
    full = streamed_json(staff_api.get(DOCUMENT_URL))
    assert [r["fiscal_year"] for r in public["rounds"]] == [2023, 2024]
    assert [r["fiscal_year"] for r in full["rounds"]] == [2023, 2024, 2025]

    def years(document: dict) -> set[int]:
        return {
            e["fiscal_year"]
            for p in document["pillars"]
            for a in p["policy_areas"]
            for i in a["initiatives"]
            for e in i["evaluations"]
        }

    assert years(public) == {2023, 2024}
    assert years(full) == {2023, 2024, 2025}
    public_csv = streamed_csv(api.get(table_url("evaluations")))
    assert {row[0] for row in public_csv[1:]} == {"2023", "2024"}


@pytest.mark.parametrize("table", list(TABLES))
def test_every_table_exports_as_csv(staff_api, table: str) -> None:
    response = staff_api.get(table_url(table))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = streamed_csv(response)
    assert rows[0] == TABLES[table][0]
    assert len(rows) > 1


def test_kpi_actuals_table_has_the_reports_values(api) -> None:
    rows = streamed_csv(api.get(table_url("kpi_actuals")))
    header = rows[0]
    by_initiative = {row[1]: dict(zip(header, row, strict=True)) for row in rows[1:]}
    assert by_initiative["89"]["実績値"] == "1032"
    assert by_initiative["89"]["時点"] == "2025-03-31"


def test_unknown_plan_or_table_is_404(api) -> None:
    assert api.get("/api/v1/exports/plans/nothing/document/").status_code == 404
    assert api.get(table_url("secrets")).status_code == 404


def test_export_command_writes_the_document_and_tables(plan, tmp_path) -> None:
    target = tmp_path / "plan.json"
    call_command("export_plan", PLAN_CODE, "--output", str(target), stderr=StringIO())
    document = json.loads(target.read_text(encoding="utf-8"))
    assert document == plan_document(actor=SYSTEM, plan=plan)
    out = StringIO()
    call_command("export_plan", PLAN_CODE, "--table", "departments", stdout=out)
    assert out.getvalue().lstrip("\ufeff").splitlines()[1] == "kikaku-shinko,企画振興部,1"
