"""The yearly progress report: JSON, printable HTML with its chart, CSV and XLSX, matching the
source report's figures and table."""

import csv
import io
import json
import re
import shutil
import subprocess

import pytest
from openpyxl import load_workbook

from evaluations.plan_loader import SHIPPED_DOCUMENT
from tests.helpers import R7

REPORT = "/api/v1/reports/yearly/?plan=akita-dx&fiscal_year=R6"


def shipped_table() -> list[tuple]:
    """(pillar, policy area number, initiative number, title, R5, R6) as transcribed."""
    document = json.loads(SHIPPED_DOCUMENT.read_text(encoding="utf-8"))
    rows = []
    for pillar in document["pillars"]:
        for area in pillar["policy_areas"]:
            for item in area["initiatives"]:
                ratings = {e["fiscal_year"]: e["rating"] or None for e in item["evaluations"]}
                rows.append(
                    (
                        pillar["name"],
                        area["number"],
                        item["number"],
                        item["title"],
                        ratings[2023],
                        ratings[2024],
                    )
                )
    return rows


def test_summary_reproduces_the_published_figures(api) -> None:
    body = api.get(REPORT).json()

    assert body["title"] == "秋田県DX推進計画の進捗状況について（令和6年度）"
    summary = body["summary"]
    assert (summary["a"], summary["b"], summary["c"], summary["total"]) == (18, 68, 5, 91)
    assert (summary["a_percentage"], summary["b_percentage"], summary["c_percentage"]) == (
        19.8,
        74.7,
        5.5,
    )
    assert summary["a_and_b_percentage"] == 94.5


def test_table_matches_the_source_row_for_row(api) -> None:
    table = api.get(REPORT).json()["table"]

    rows = [
        (
            pillar["name"],
            area["number"],
            item["number"],
            item["title"],
            item["previous_rating"],
            item["rating"],
        )
        for pillar in table
        for area in pillar["policy_areas"]
        for item in area["initiatives"]
    ]
    assert rows == shipped_table()
    assert [row[2] for row in rows] == list(range(1, 92))
    assert rows[2] == ("行政", 1, 3, "キャッシュレス納付の推進", "C", "A")
    assert rows[35] == ("産業", 2, 36, "スマート農業を支える基盤整備の実証", None, "B")
    assert rows[42][4:] == ("-", "B")


def test_details_of_the_24_major_initiatives(api) -> None:
    details = api.get(REPORT).json()["details"]

    assert len(details) == 24
    first = details[0]
    assert (first["number"], first["departments"], first["rating"]) == (1, ["企画振興部"], "B")
    assert first["kpis"][0]["target_value"] == "90"
    assert first["kpis"][0]["actual_value"] == "80.9"
    assert first["kpis"][0]["as_of_label"] == "R7.3時点"
    no_3 = next(item for item in details if item["number"] == 3)
    assert no_3["departments"] == ["出納局", "企画振興部"]
    no_45 = next(item for item in details if item["number"] == 45)
    assert [(k["target_value"], k["actual_value"]) for k in no_45["kpis"]] == [
        ("75", "92"),
        ("174", "300"),
        ("3700", "2999"),
    ]


def test_html_is_the_printable_report_with_a_chart(api) -> None:
    response = api.get(REPORT + "&format=html")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assert "約9割（下記A及びB）が順調に進んでいる" in html
    assert "A：計画を上回る 18件（19.8%）" in html
    assert "C：計画を下回る 5件（5.5%）" in html
    assert html.count("<svg") == 1
    assert html.count('class="bar"') == 8  # 4 pillars, R5 and R6
    assert "89 スマートフォン操作体験会等の実施" in html
    assert "【今後の取組等】" in html
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)  # nothing from elsewhere


def test_csv_is_utf8_with_bom_for_excel(api) -> None:
    response = api.get(REPORT + "&format=csv")

    assert response.status_code == 200
    assert response.content.startswith("\ufeff".encode())
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0] == ["分類", "施策番号", "施策", "取組番号", "取組事項", "R5", "R6"]
    assert len(rows) == 92
    assert rows[3] == [
        "行政",
        "1",
        "行政手続のオンライン化",
        "3",
        "キャッシュレス納付の推進",
        "C",
        "A",
    ]


def test_xlsx_holds_the_table(api) -> None:
    response = api.get(REPORT + "&format=xlsx")

    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.content)).active
    assert sheet.title == "R6"
    values = list(sheet.iter_rows(values_only=True))
    assert len(values) == 92
    assert values[89][3:] == (89, "スマートフォン操作体験会等の実施", "C", "C")


def test_unpublished_rounds_are_for_the_secretariat_only(api, r7, secretariat) -> None:
    url = f"/api/v1/reports/yearly/?plan=akita-dx&fiscal_year={R7}"

    assert api.get(url).status_code == 404
    preview = secretariat.get(url)
    assert preview.status_code == 200
    assert preview.json()["round_status"] == "open"
    assert "未公表" in secretariat.get(url + "&format=html").content.decode()


def test_errors_stay_json_whatever_the_format(api) -> None:
    response = api.get("/api/v1/reports/yearly/?plan=akita-dx&fiscal_year=R99x&format=csv")

    assert response.status_code == 400
    assert response.json()["errors"][0]["attr"] == "fiscal_year"


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed")
def test_html_renders_in_headless_chromium(api, tmp_path) -> None:
    page = tmp_path / "report.html"
    page.write_bytes(api.get(REPORT + "&format=html").content)
    screenshot = tmp_path / "report.png"
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
    ]
    dom = subprocess.run(
        [CHROMIUM, *flags, "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    subprocess.run(
        [CHROMIUM, *flags, "--window-size=1100,1400", f"--screenshot={screenshot}", page.as_uri()],
        capture_output=True,
        timeout=120,
        check=True,
    )

    assert "秋田県DX推進計画の進捗状況について（令和6年度）" in dom
    assert dom.count("<rect") >= 8
    assert screenshot.stat().st_size > 20_000  # a rendered page, not a blank one
