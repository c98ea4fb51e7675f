"""A creator's dashboard numbers for a time range, computed from the ledger (money), the
purchases (sales counts) and the downloads (counts); nothing is kept in a second place that
could disagree with them.

In range [since, until]: `sales` = purchases of the creator's listings paid in the range and
not refunded (free grants count: they are acquisitions); `revenue_cents` = the gross of
the ledger's sale and refund rows for their listings (what buyers paid, less refunds);
`earned_cents` = the creator's own share of those rows (80 %, less what refunds took back
from them); `downloads` = downloads of their listings. Balance, paid out and pending
payouts are all-time (`payouts`). Times compare as the store's ISO text; `since` and
`until` accept a date ("2026-12-01", the whole day included) or an ISO time.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from webapi.errors import Invalid
from webapi.market import ledger, listings, payouts

TOP = 5
_GROSS_ACCOUNTS = ("creator:%", ledger.TAX_RESERVE, ledger.PLATFORM)


def _bound(value: str | None, name: str, *, end: bool) -> str | None:
    """An ISO bound as the store's text form; a bare date as `until` means through its
    end (the next midnight, exclusive)."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > 40:
        raise Invalid(f"{name}: a date (YYYY-MM-DD) or an ISO 8601 time", field=name)
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        raise Invalid(f"{name}: a date (YYYY-MM-DD) or an ISO 8601 time", field=name) from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    t = t.astimezone(UTC)
    if end and "T" not in value and " " not in value:  # a date: include the whole day
        t += timedelta(days=1)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def dashboard(db: Any, creator_id: str, since: str | None, until: str | None) -> dict:
    """{"sales", "revenue_cents", "earned_cents", "downloads", "top_assets": [{"id", "name",
    "sales", "earned_cents"}], "balance_cents", "paid_out_cents", "pending_payout_cents",
    "listings": [public listing...], "by_day": [{"day", "sales", "earned_cents"}],
    "since", "until"}. Invalid for a malformed bound or since after until."""
    lo = _bound(since, "since", end=False) or ""
    hi = _bound(until, "until", end=True) or "9999"
    if lo and hi != "9999" and lo > hi:
        raise Invalid("since: must not be after until", field="since")
    me = ledger.creator_account(creator_id)
    mine = "SELECT id FROM listings WHERE creator_id = ?"

    # sales per listing and per day (purchases paid in range and still paid)
    sales_rows = db.execute(
        f"SELECT listing_id, substr(paid_at, 1, 10), COUNT(*) FROM purchases "
        f"WHERE kind = 'asset' AND status = 'paid' AND listing_id IN ({mine}) "
        f"AND paid_at >= ? AND paid_at < ? GROUP BY 1, 2",
        [creator_id, lo, hi],
    ).fetchall()
    # money per listing and per day, from the ledger
    money_rows = db.execute(
        f"SELECT listing_id, substr(created_at, 1, 10), "
        f"SUM(amount), SUM(CASE WHEN account = ? THEN amount ELSE 0 END) FROM ledger "
        f"WHERE kind IN ('sale', 'refund') AND currency = 'usd' AND listing_id IN ({mine}) "
        f"AND (account LIKE ? OR account IN (?, ?)) "
        f"AND created_at >= ? AND created_at < ? GROUP BY 1, 2",
        [me, creator_id, *_GROSS_ACCOUNTS, lo, hi],
    ).fetchall()
    downloads = db.execute(
        f"SELECT COUNT(*) FROM downloads WHERE listing_id IN ({mine}) "
        f"AND created_at >= ? AND created_at < ?",
        [creator_id, lo, hi],
    ).fetchone()[0]

    per_listing: dict[str, dict[str, int]] = {}
    per_day: dict[str, dict[str, int]] = {}
    for listing_id, day, n in sales_rows:
        per_listing.setdefault(listing_id, {"sales": 0, "earned_cents": 0})["sales"] += n
        per_day.setdefault(day, {"sales": 0, "earned_cents": 0})["sales"] += n
    revenue = earned = 0
    for listing_id, day, gross, share in money_rows:
        revenue += gross
        earned += share
        per_listing.setdefault(listing_id, {"sales": 0, "earned_cents": 0})["earned_cents"] += share
        per_day.setdefault(day, {"sales": 0, "earned_cents": 0})["earned_cents"] += share

    names = dict(db.execute("SELECT id, name FROM listings WHERE creator_id = ?", [creator_id]))
    top = sorted(
        (
            {"id": lid, "name": names.get(lid, ""), **v}
            for lid, v in per_listing.items()
            if v["sales"] or v["earned_cents"]
        ),
        key=lambda a: (-a["earned_cents"], -a["sales"], a["id"]),
    )[:TOP]

    return {
        "since": since or None,
        "until": until or None,
        "sales": sum(v["sales"] for v in per_listing.values()),
        "revenue_cents": revenue,
        "earned_cents": earned,
        "downloads": int(downloads),
        "top_assets": top,
        "balance_cents": payouts.available(db, creator_id),
        **payouts.totals(db, creator_id),
        "listings": listings.by_creator(db, creator_id),
        "by_day": [{"day": d, **v} for d, v in sorted(per_day.items())],
    }
