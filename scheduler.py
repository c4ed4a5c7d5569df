"""Nightly job (collect, analyse, export) on an APScheduler cron trigger. Built in issue 6."""
