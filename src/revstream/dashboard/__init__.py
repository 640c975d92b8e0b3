"""The revenue-streams dashboard, served by `revstream serve` at /dashboard: a page per
viewer (host, licensor, customer, chosen by the token) over a JSON API, with charts
drawn by the vendored Chart.js. Errors: `DashboardError` and its kinds (see `_errors`).

Statement files (CSV, Markdown) are rendered here for the dashboard's downloads and
`revstream statements show` alike."""

from ._api import dashboard_routes
from ._errors import DashboardError
from ._statement_files import STATEMENT_COLUMNS, statement_csv, statement_markdown, statement_rows

__all__ = ["STATEMENT_COLUMNS", "DashboardError", "dashboard_routes", "statement_csv", "statement_markdown",
           "statement_rows"]
