"""A collect's result in the user's terms: the lines `aicity collect` prints and the nightly
job keeps as its stages' summaries."""
from __future__ import annotations


def describe(result) -> str:
    """What a collect did (or plans, for a dry run), its last line the summary."""
    notes = "".join(f"note: {note}\n" for note in getattr(result, "notes", ()))
    if result.kind == "snapshot":
        return notes + describe_snapshot(result)
    if result.dry_run or result.pieces == 0:
        return notes + describe_plan(result)
    return notes + describe_run(result)


def failure(result) -> str:
    """Why a collect failed, in one line; '' when it did not (a dry run plans, so it cannot
    leave pieces missing)."""
    if result.stopped:
        return (f"stopped early: {result.stopped}; {result.rows_written} rows kept"
                + (f"; {result.remaining_pieces} pieces still missing"
                   if result.remaining_pieces else ""))
    if result.interrupted and result.status == "partial":
        return (f"interrupted by {result.interrupted}: {result.remaining_pieces} pieces still "
                f"missing ({result.rows_written} rows kept); run again to fetch them")
    if result.status == "partial" and not result.dry_run:
        return (f"{result.remaining_pieces} pieces still missing after this run "
                f"({result.failures or 'see the log'}); run again to fetch them")
    return ""


def describe_run(result) -> str:
    """A collect run in one line: what it stored, what it asked, what is left."""
    return (f"run {result.run_id} ({result.source}): {result.status}"
            + (f" (interrupted by {result.interrupted})" if result.interrupted else "") + "; "
            f"{result.series_stored} series, {result.rows_written} rows written; "
            f"{result.requests} requests in {result.seconds:.1f} s; "
            f"{result.remaining_pieces} pieces still missing"
            + (f"; {result.deferred_pieces} deferred to later nights by the budget"
               if result.deferred_pieces else "")
            + (f"; {result.waiting_days} empty days to ask again later"
               if result.waiting_days else "")
            + (f"; {result.blank_reasks} blank series asked again"
               if result.blank_reasks else "")
            + (f"; {result.checksum_mismatches} series failed their answer's "
               f"average check (not stored)" if result.checksum_mismatches else "")
            + (f"; throttled {result.throttled} times (HTTP 403/429)"
               if result.throttled else "")
            + (f"; not indexed: {', '.join(result.unindexed)}" if result.unindexed else "")
            + (f"; failures: {result.failures}" if result.failures else "")
            + (f"; queue: {result.queue}" if result.queue else ""))


def describe_snapshot(result) -> str:
    """A snapshot run (or its plan) in the user's terms."""
    snap = result.snapshot
    head = f"snapshot {snap['start']}..{snap['end']}: "
    if not result.pieces and snap.get("reason"):
        head += snap["reason"]
    elif result.dry_run:
        head += (f"{result.pieces} calls tonight (one keyword for one province each), about "
                 f"{result.estimated_seconds:,.0f} s with {result.accounts} account(s)")
    else:
        head += (f"run {result.run_id} ({result.source}): {result.status}; {result.requests} "
                 f"requests, {result.rows_written} rows in {result.seconds:.1f} s")
    lines = []
    if result.budget_left is not None:
        lines.append(f"budget: {result.budget_left} of {result.daily_budget * result.accounts} "
                     f"requests left today")
    # the summary line last: the nightly job keeps a stage's last line
    lines.append(head + f"; {snap['keywords_done']} of {snap['keywords']} keywords answered "
                        f"for all {snap['provinces']} provinces"
                 + (f"; {snap['deferred']} calls deferred to later nights by the budget"
                    if snap["deferred"] else ""))
    return "\n".join(lines)


def describe_plan(result) -> str:
    """A dry run (or a run with nothing to do) in the user's terms."""
    hours = result.estimated_seconds / 3600
    lines = [f"{result.pieces} pieces to fetch: {result.requests_planned} requests, about "
             f"{result.estimated_seconds:,.0f} s ({hours:.1f} h) with {result.accounts} "
             f"account(s) at the configured pacing"
             + ("" if result.pieces or result.deferred_pieces else "; nothing to do")]
    if result.budget_left is not None:
        lines.append(f"budget: {result.budget_left} of {result.daily_budget * result.accounts} "
                     f"requests left today ({result.accounts} account(s) × "
                     f"{result.daily_budget} a day)")
    if result.deferred_pieces:
        lines.append(f"{result.deferred_pieces} pieces deferred to later nights by the budget")
    view = result.outlook
    if view:
        behind = view.get("days_behind") or {}
        names = {"country": "national", "province": "provinces", "city": "cities"}
        per_night = view.get("budget_per_night")
        lines.append("every night: " + (f"up to {per_night} requests" if per_night
                                        else "no request budget"))
        snap = view.get("snapshot")
        if snap:
            lines.append(f"  first a city snapshot (regional distribution, last 30 days): "
                         f"{snap['first_night_keywords']} of {snap['keywords']} keywords for "
                         f"every city the first night, complete after "
                         + (f"{snap['nights']} night(s)" if snap["nights"] else
                            "more than a month")
                         + "; the nights below count from when it is complete")
        if view.get("nights_until_all_collected") is None:
            lines.append("  the budget never reaches every region; add accounts or narrow "
                         "--regions/--keywords")
        else:
            lines.append(f"  every region collected (recent days) after "
                         f"{view['nights_until_all_collected']} night(s)")
        if behind:
            lines.append("  then at most " + ", ".join(
                f"{names.get(level, level)} {days} day(s)" for level, days in
                sorted(behind.items(), key=lambda kv: list(names).index(kv[0])))
                + " behind the latest published day")
        lines.append("  history complete after " + (
            f"{view['nights_until_history']} night(s)" if view.get("nights_until_history")
            else "more than two years at this budget"))
    return "\n".join(lines)
