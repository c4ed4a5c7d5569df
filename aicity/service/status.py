"""How fresh the data is, in words: the rows `aicity status` prints and the explorer's status
page shows (db.status finds the facts; the accounts and the integrity check are the CLI's)."""
from __future__ import annotations

from aicity.db import store
from aicity.db.status import database_status, last_briefings
from aicity.lock import lock_state


def freshness_rows(db, path) -> list[tuple[str, str]]:
    """(item, value): the database and its size, the data per level, the last analysis, runs
    and briefings, who holds the run lock, the last collect's re-asks. A URL's password never
    appears (store.shown)."""
    st = database_status(db)
    rows = [("database", f"{store.shown(path)} ({store.size_bytes(db) / 1e6:,.1f} MB)"),
            ("data", ", ".join(st.sources) + (" (SIMULATED)" if "emulator" in st.sources else "")
             if st.sources else "none yet")]
    for lv in st.levels:
        if lv.with_data:
            stale = f"; stalest region through {lv.oldest_through}" \
                if lv.oldest_through != lv.data_through else ""
            rows.append((f"{lv.level} data through", f"{lv.data_through} ({lv.with_data} of "
                                                     f"{lv.regions} regions{stale})"))
        else:
            rows.append((f"{lv.level} data through", f"no data (0 of {lv.regions} regions)"))
    rows.append(("analysed through", st.analysed_through or "not analysed yet (aicity analyze)"))
    if st.waiting_days:
        rows.append(("empty days to ask again", str(st.waiting_days)))
    for name, run in (("last collect", st.last_collect), ("last analyze", st.last_analyze),
                      ("last nightly job", st.last_job)):
        if run is None:
            rows.append((name, "never"))
            continue
        text = f"{run['status']} (run {run['id']}, started {run['started_at']})"
        if run["error"]:
            text += f": {run['error']}"
        rows.append((name, text))
    rows.append(("run lock", lock_state(path).describe()))
    if st.last_job:
        rows.append(("last briefings", last_briefings(db) or "none written yet"))
    if st.last_collect:
        d = st.last_collect["detail"]
        rows.append(("last collect's re-asks", (
            f"{d.get('blank_reasks', 0)} blank series asked again at once, "
            f"{d.get('checksum_mismatches', 0)} answers failing their average asked again, "
            f"{d.get('throttled', 0)} throttled (HTTP 403/429) requests asked again")))
    return rows
