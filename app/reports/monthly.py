"""The monthly energy and carbon report of a site: figures, factor ids, method; HTML and PDF."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date
from html import escape
from typing import Any

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from sqlalchemy.orm import Session

from app.domain.periods import month_bounds
from app.domain.tariffs import PriceSchedule
from app.history.service import UNITS, HistoryScope, HistoryService
from app.history.zoom import shift_back
from app.reports import instruments

METHOD_NOTE = (
    "Energy is the sum of GreenPulse's rollups over site-local days: each meter interval is "
    "spread over the buckets it covers in proportion to time. CO2 (location) values grid "
    "import (site) with the grid-average factor and gas with its fuel factor, each bucket "
    "with the factor valid at its start, so a month across two factor vintages lists both. "
    "CO2 (market) uses the residual-mix factor (falling back to location where none is "
    "published) before green certificates; certificates and offsets are listed beside the "
    "inventory and never netted into it. Cost prices each fine rollup bucket at the ToU "
    "period of its local start under the tariff in force, in exact decimals, rounded for "
    "display only; demand charges are not included."
)


@dataclass(frozen=True)
class MonthlyReport:
    site: str
    site_name: str
    month: str
    table: dict[str, Any]
    previous: dict[str, Any]
    year_before: dict[str, Any]
    certificates: list[dict[str, Any]]
    offsets: list[dict[str, Any]]


def build_report(
    session: Session,
    service: HistoryService,
    scope: HistoryScope,
    year: int,
    month: int,
    schedules: tuple[PriceSchedule, ...],
) -> MonthlyReport:
    zone = scope.site.zone
    start, end = month_bounds(year, month, zone)
    table = service.table(session, scope, "day", start, end, schedules)
    prev = service.table(
        session, scope, "month", *shift_back("previous", start, end, zone), schedules
    )
    before = service.table(
        session, scope, "month", *shift_back("year_before", start, end, zone), schedules
    )
    first, last = (
        date(year, month, 1),
        date(end.astimezone(zone).year, end.astimezone(zone).month, 1),
    )
    certs = instruments.in_month(
        instruments.certificates(session, scope.site.id, zone), first, last
    )
    offsets = instruments.in_month(instruments.offsets(session, scope.site.id, zone), first, last)
    return MonthlyReport(
        site=scope.site.id,
        site_name=scope.site.name,
        month=f"{year:04d}-{month:02d}",
        table=table,
        previous=prev,
        year_before=before,
        certificates=[{**c, "period": f"{c['first']} – {c['after_last']}"} for c in certs],
        offsets=[{**o, "retired_on": str(o["retired_on"])} for o in offsets],
    )


def _n(value: Any, digits: int = 1) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    return f"{value:,.{digits}f}"


def summary_rows(report: MonthlyReport) -> list[list[str]]:
    """Figure, this month, previous month, same month last year, factor / schedule ids."""
    t, p, y = (x["totals"] for x in (report.table, report.previous, report.year_before))
    ids = report.table["factor_ids"]
    rows = [["Figure", report.month, "previous month", "same month last year", "factors / tariffs"]]
    for resource in sorted(t["energy"]):
        unit = UNITS[resource]
        rows.append(
            [
                f"{resource} ({unit})",
                _n(t["energy"][resource]),
                _n(p["energy"].get(resource)),
                _n(y["energy"].get(resource)),
                "",
            ]
        )
    rows.append(
        [
            "CO2 location (kg)",
            _n(t["co2_location_kg"]),
            _n(p["co2_location_kg"]),
            _n(y["co2_location_kg"]),
            ", ".join(ids["co2_location_kg"]),
        ]
    )
    rows.append(
        [
            "CO2 market (kg)",
            _n(t["co2_market_kg"]),
            _n(p["co2_market_kg"]),
            _n(y["co2_market_kg"]),
            ", ".join(ids["co2_market_kg"]),
        ]
    )
    currency = report.table["cost_info"]["currency"] or ""
    rows.append(
        [
            f"Cost ({currency})",
            _n(t["cost"]),
            _n(p["cost"]),
            _n(y["cost"]),
            ", ".join(report.table["cost_info"]["schedule_ids"]),
        ]
    )
    return rows


def factor_rows(report: MonthlyReport) -> list[list[str]]:
    rows = [["column", "factor id", "kg per unit", "quantity", "kg"]]
    for column, uses in report.table["factors"].items():
        for u in uses:
            rows.append(
                [
                    column,
                    str(u["factor_id"]),
                    str(u["kg_per_unit"]) + f" /{u['unit']}",
                    _n(u["quantity"]),
                    _n(u["kg"], 3),
                ]
            )
    return rows


def daily_rows(report: MonthlyReport) -> list[list[str]]:
    resources = sorted(report.table["totals"]["energy"])
    rows = [["day (local start)", *resources, "CO2 loc kg", "CO2 mkt kg", "cost"]]
    for b in report.table["buckets"]:
        rows.append(
            [
                b["start"],
                *(_n(b["energy"][r]) for r in resources),
                _n(b["co2_location_kg"]),
                _n(b["co2_market_kg"]),
                _n(b["cost"]),
            ]
        )
    return rows


def _html_table(rows: list[list[str]], figure: str) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in rows[0])
    body = "".join(
        "<tr>" + "".join(f'<td data-{figure}="{escape(c)}">{escape(c)}</td>' for c in r) + "</tr>"
        for r in rows[1:]
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def certificate_rows(report: MonthlyReport) -> list[list[str]]:
    return [["certificates: claimed for", "MWh", "type", "reference"]] + [
        [c["period"], _n(c["mwh"], 3), c["instrument_type"], c["reference"]]
        for c in report.certificates
    ]


def offset_rows(report: MonthlyReport) -> list[list[str]]:
    return [["offsets: retired on", "t CO2e", "standard", "reference"]] + [
        [o["retired_on"], _n(o["tonnes_co2e"], 3), o["standard"], o["reference"]]
        for o in report.offsets
    ]


def render_html(report: MonthlyReport) -> str:
    t = report.table["totals"]
    illustrative = report.table["cost_info"]["illustrative"]
    certs, offs = certificate_rows(report), offset_rows(report)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{escape(report.site_name)} — energy and carbon {report.month}</title>
<style>
body {{ font: 11pt system-ui, sans-serif; margin: 2em; color: #111; }}
table {{ border-collapse: collapse; margin: 0.5em 0 1.5em; }}
th, td {{ border: 1px solid #bbb; padding: 2px 8px; text-align: right; }}
th:first-child, td:first-child {{ text-align: left; }}
.note {{ max-width: 60em; font-size: 9.5pt; }}
@media print {{ body {{ margin: 0; }} a {{ display: none; }} }}
</style></head>
<body data-site="{escape(report.site)}" data-month="{report.month}"
 data-co2-location-kg="{t["co2_location_kg"]}" data-co2-market-kg="{t["co2_market_kg"]}"
 data-cost="{t["cost"]}">
<h1>{escape(report.site_name)}: energy and carbon, {report.month}</h1>
<p>Site-local month {escape(report.table["start"])} to {escape(report.table["end"])} (UTC).
{"Prices are illustrative, not a published tariff." if illustrative else ""}</p>
<h2>Summary</h2>{_html_table(summary_rows(report), "value")}
<h2>Factors used</h2>{_html_table(factor_rows(report), "factor")}
<h2>Green certificates and offsets (beside the inventory)</h2>
{_html_table(certs, "certificate")}{_html_table(offs, "offset")}
<h2>Day by day</h2>{_html_table(daily_rows(report), "day")}
<h2>Method</h2><p class="note">{escape(METHOD_NOTE)}</p>
</body></html>
"""


def render_pdf(report: MonthlyReport) -> bytes:
    """The same report as a PDF (reportlab: pure Python, no system libraries)."""
    styles = getSampleStyleSheet()
    out = io.BytesIO()
    doc = SimpleDocTemplate(out, pagesize=A4, title=f"{report.site_name} {report.month}")
    grid = TableStyle(
        [
            ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
            ("BACKGROUND", (0, 0), (-1, 0), colors.whitesmoke),
            ("FONTSIZE", (0, 0), (-1, -1), 7),
            ("ALIGN", (1, 1), (-1, -1), "RIGHT"),
        ]
    )

    def table(rows: list[list[str]]) -> Table:
        t = Table(rows, repeatRows=1)
        t.setStyle(grid)
        return t

    story: list[Any] = [
        Paragraph(
            f"{escape(report.site_name)}: energy and carbon, {report.month}", styles["Title"]
        ),
        Paragraph("Summary", styles["Heading2"]),
        table(summary_rows(report)),
        Paragraph("Factors used", styles["Heading2"]),
        table(factor_rows(report)),
        Paragraph("Green certificates and offsets (beside the inventory)", styles["Heading2"]),
        table(certificate_rows(report)),
        Spacer(1, 4),
        table(offset_rows(report)),
        Paragraph("Day by day", styles["Heading2"]),
        table(daily_rows(report)),
        Spacer(1, 8),
        Paragraph("Method", styles["Heading2"]),
        Paragraph(escape(METHOD_NOTE), styles["BodyText"]),
    ]
    doc.build(story)
    return out.getvalue()
