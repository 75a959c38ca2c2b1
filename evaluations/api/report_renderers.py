"""Renderers of the yearly report: printable HTML, and the table as CSV and XLSX.

The CSV and XLSX tables are safe to open in a spreadsheet: text that would be run as a
formula is neutralised (``sheets.inert``, OWASP's leading apostrophe), and in XLSX every text
cell is a string cell, never a formula; numbers stay numbers.
"""

import io

from django.template.loader import render_to_string
from drf_orjson_renderer.renderers import ORJSONRenderer
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from rest_framework import renderers

from evaluations.exchange.sheets import csv_bytes, inert
from evaluations.report_chart import pillar_chart

TABLE_HEADER = ["分類", "施策番号", "施策", "取組番号", "取組事項"]


def table_rows(report: dict) -> list[list]:
    """The report's table flattened: one row per initiative, last year's rating beside."""
    header = [*TABLE_HEADER, report["previous_fiscal_year_label"], report["fiscal_year_label"]]
    rows = [header]
    for pillar in report["table"]:
        for area in pillar["policy_areas"]:
            for item in area["initiatives"]:
                rows.append(
                    [
                        pillar["name"],
                        area["number"],
                        area["name"],
                        item["number"],
                        item["title"],
                        item["previous_rating"] or "",
                        item["rating"] or "",
                    ]
                )
    return rows


def _put(cell, value: object) -> None:
    """Text as an inert string cell (never a formula, without the characters XML cannot
    hold), anything else as it is."""
    if isinstance(value, str):
        cell.value = ILLEGAL_CHARACTERS_RE.sub("", inert(value))
        cell.data_type = "s"  # openpyxl would make a text beginning with "=" a formula
    else:
        cell.value = value


class _ReportRenderer(renderers.BaseRenderer):
    """Error bodies (and anything but a report, e.g. OPTIONS metadata) are rendered as JSON
    whatever format was asked for."""

    def render(self, data, accepted_media_type=None, renderer_context=None):
        response = (renderer_context or {}).get("response")
        is_report = isinstance(data, dict) and "table" in data
        if not is_report or (response is not None and response.status_code >= 400):
            response["Content-Type"] = "application/json"
            return ORJSONRenderer().render(data)
        return self.render_report(data)

    def render_report(self, report: dict) -> bytes:
        raise NotImplementedError


class ReportHTMLRenderer(_ReportRenderer):
    media_type = "text/html"
    format = "html"
    charset = "utf-8"

    def render_report(self, report: dict) -> bytes:
        summary = report["summary"]
        share = summary["a_and_b_percentage"]
        context = {
            "report": report,
            "on_track_tenths": round(share / 10) if share is not None else "-",
            "chart": pillar_chart(
                report["by_pillar"],
                report["previous_by_pillar"],
                year_label=report["fiscal_year_label"],
                previous_year_label=report["previous_fiscal_year_label"],
            ),
        }
        return render_to_string("evaluations/report.html", context).encode("utf-8")


class ReportCSVRenderer(_ReportRenderer):
    """UTF-8 with a byte-order mark, so that Excel opens it as UTF-8."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render_report(self, report: dict) -> bytes:
        return csv_bytes(table_rows(report))  # with a BOM; text neutralised


class ReportXLSXRenderer(_ReportRenderer):
    media_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    format = "xlsx"
    charset = None
    render_style = "binary"

    def render_report(self, report: dict) -> bytes:
        workbook = Workbook()
        sheet = workbook.active
        sheet.title = report["fiscal_year_label"]
        for number, row in enumerate(table_rows(report), start=1):
            for column, value in enumerate(row, start=1):
                _put(sheet.cell(row=number, column=column), value)
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        sheet.freeze_panes = "A2"
        for column, width in zip("ABCDEFG", (10, 8, 36, 8, 70, 6, 6), strict=True):
            sheet.column_dimensions[column].width = width
        output = io.BytesIO()
        workbook.save(output)
        return output.getvalue()
