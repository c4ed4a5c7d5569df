"""Typed access to the aicity database: other packages read and write only through here.

One import for callers (`from aicity.db import store`); the functions live with their tables:

- `connection`: opening the database (SQLite or PostgreSQL), errors and what they mean;
- `lookups`: creating the database; regions and keywords (terms, aliases, taxonomy groups);
- `runs`: runs and the `touched` notes incremental analysis reads;
- `observations`: the stored series, their coverage, empty days still waiting;
- `crawl_state`: what the crawl keeps (accounts, salt, budgets, unindexed keywords);
- `answers`: the site's other answers (region distributions, related-word graphs);
- `results`: what analysis stores (components, anomalies); `status`: checks and sizes;
- `writer`: the crawl's unit of work (BatchWriter: batches, pipeline mode, storing again).
"""
from __future__ import annotations

from aicity.db.answers import (distribution_answered, distribution_means, distribution_windows,
                               save_region_distribution, save_word_graph, word_graph_frame)
from aicity.db.connection import (BUSY_TIMEOUT, DEFAULT_DB, AicityDatabase, DatabaseProblem,
                                  NotInitialised, connect, db_path, frame, integrity_problem,
                                  is_server, now_iso, open_files_problem, reconnect_if_lost,
                                  require_schema,
                                  server_errors, shown,
                                  size_bytes, storage_errors, storage_problem)
from aicity.db.crawl_state import (account_states, add_budget_used, budget_used, clear_unindexed,
                                   crawl_salt, crawl_state, mark_unindexed, note_published_through,
                                   published_through, save_account_states, set_crawl_state,
                                   unindexed, unindexed_rows)
from aicity.db.lookups import (UnknownKeyword, first_dates, init_db, keyword_aliases,
                               keyword_groups_frame, keyword_ids, keyword_spelling, keyword_strata,
                               keyword_terms,
                               load_regions,
                               load_taxonomy, region_rows, regions_frame, registry, resolve_keyword,
                               taxonomy_terms)
from aicity.db.observations import (DEVICE_CODE, GRANULARITIES, REGION_LIMIT, STATE_BELOW_FLOOR,
                                    STATE_REPORTED, STATE_WAITING, below_floor_before, blank_series,
                                    count_covered, count_observations, coverage_frame, day_number,
                                    iso_day, keyword_series_range, save_series, series,
                                    series_id, unconfirmed_frame, unconfirmed_state,
                                    upsert_obs, upsert_obs_sorted, upsert_observations,
                                    waiting_days)
from aicity.db.populations import with_period_population
from aicity.db.writer import BatchWriter
from aicity.db.regions import default_registry, read_registry
from aicity.db.results import anomalies_frame
from aicity.db.runs import (Run, close_abandoned_runs, close_run, finish_run,
                            last_run_start, open_run, record_touched, run_detail,
                            runs_frame, runs_version, set_run_source, source_label, sources,
                            start_run)
from aicity.vocabulary import DEVICES

__all__ = [
    "DEFAULT_DB", "NotInitialised", "DatabaseProblem", "db_path", "is_server", "shown", "now_iso",
    "AicityDatabase", "BUSY_TIMEOUT", "connect", "server_errors",
    "storage_errors", "storage_problem", "open_files_problem", "reconnect_if_lost",
    "integrity_problem",
    "require_schema", "frame",
    "size_bytes", "UnknownKeyword", "init_db", "load_regions", "registry", "region_rows",
    "regions_frame", "keyword_ids", "keyword_spelling", "keyword_aliases", "resolve_keyword",
    "load_taxonomy",
    "first_dates", "keyword_groups_frame", "taxonomy_terms", "keyword_strata", "keyword_terms",
    "Run", "start_run",
    "run_detail", "last_run_start", "set_run_source", "close_abandoned_runs", "open_run",
    "close_run", "finish_run", "runs_frame", "runs_version", "record_touched",
    "sources", "source_label", "GRANULARITIES", "REGION_LIMIT", "series_id",
    "keyword_series_range", "DEVICE_CODE", "day_number", "iso_day", "upsert_obs",
    "upsert_obs_sorted", "upsert_observations", "coverage_frame", "save_series",
    "unconfirmed_state", "waiting_days", "blank_series", "below_floor_before", "unconfirmed_frame",
    "count_observations", "count_covered", "series", "STATE_REPORTED", "STATE_BELOW_FLOOR",
    "STATE_WAITING", "crawl_state", "set_crawl_state", "published_through",
    "note_published_through", "account_states", "save_account_states",
    "crawl_salt", "budget_used", "add_budget_used", "unindexed", "unindexed_rows",
    "clear_unindexed", "mark_unindexed", "save_region_distribution", "distribution_answered",
    "distribution_means", "distribution_windows", "save_word_graph", "word_graph_frame",
    "anomalies_frame", "default_registry", "read_registry", "DEVICES", "with_period_population",
    "BatchWriter",
]
