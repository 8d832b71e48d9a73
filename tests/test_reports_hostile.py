"""Reports of hostile text: spreadsheets never run a formula from a chat name (issue 10)."""

import csv
import io

from jikimi.reports import render


def csv_rows(report):
    return list(csv.reader(io.StringIO(render.render(report, "csv"), newline="")))


def report_with(**locator):
    item = {"id": 1, "sha256": "ab" * 32, "kind": "image", "matches": [], "error": None,
            "locators": [{"path": "photos/a.jpg", **locator}]}
    return {"scan": {}, "items": [item]}


def test_csv_cells_that_a_spreadsheet_would_run_as_formulas_are_neutralized():
    hostile = {"chat": '=HYPERLINK("http://evil.example","open")', "sender": "+1+cmd|' /C calc'!A0",
               "link": "@SUM(1+1)", "path": "-2+3.jpg", "message_id": 7}
    [header, row] = csv_rows(report_with(**hostile))
    cells = dict(zip(header, row))
    assert cells["chat"] == "'" + hostile["chat"]
    assert cells["sender"] == "'" + hostile["sender"]
    assert cells["link"] == "'@SUM(1+1)" and cells["path"] == "'-2+3.jpg"
    assert cells["message_id"] == "7"
    for lead in ("\t", "\r"):
        [_, row] = csv_rows(report_with(chat=lead + "=1+1"))
        assert row[4] == "'" + lead + "=1+1"


def test_a_time_no_calendar_holds_is_left_empty_instead_of_crashing_the_report():
    for moment in (99999999999999999999, -10**30, 2**63):
        [_, row] = csv_rows(report_with(date_unixtime=moment))
        assert row[7] == ""
