"""The revenue-streams dashboard, served by `revstream serve` at /dashboard: a page per
viewer (host, licensor, customer, chosen by the token) over a JSON API, with charts
drawn by the vendored Chart.js. Errors: `DashboardError` and its kinds (see `_errors`).

Statement files (CSV, Markdown) are rendered here for the dashboard's downloads and
`revstream statements show` alike.

Where things are: `_api` (the routes, each reading the store in a worker thread),
`_views` (pure: store rows to JSON values), `_money` (amounts for people, exact, and the
integers charts plot), `_viewer` (the token decides the view), `static/` (the page:
`index.html`, `app.js`, `style.css`). Money leaves the server formatted: build every amount
with `_money.money_json` (exact text, `display` with the currency) and every money chart
with `_money.money_chart`, so the browser never computes money and nothing under a cent
is rounded away.

Adding a view or a panel (a new stream's dashboard):
1. routes: a module `_<feature>.py` with its handlers and a `<feature>_routes()` list,
   added with one line to `dashboard_routes()` (before the catch-all `{rest:path}` route);
2. page: a `<section id="<view>" class="view" hidden>` (a new token kind) or a `<div
   class="panel">` inside an existing view in `index.html`, and a `static/<feature>.js`
   loaded with a `<script ... defer>` line after `app.js`, which fills it with the helpers
   of `app.js` (`api`, `fillTable`, `drawMoneyChart`, `money`, `moneyList`, `count`,
   `when`) and, for a new token kind, sets `VIEWS["<view>"] = showFeature`;
3. `fillTable` puts every table in a box that scrolls sideways on a phone: use it, and a
   view stays usable at 375 px without more work."""

from ._api import dashboard_routes
from ._errors import DashboardError
from ._statement_files import STATEMENT_COLUMNS, statement_csv, statement_markdown, statement_rows

__all__ = ["STATEMENT_COLUMNS", "DashboardError", "dashboard_routes", "statement_csv", "statement_markdown",
           "statement_rows"]
