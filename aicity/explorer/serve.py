"""Run the explorer with uvicorn (what `aicity serve` calls)."""
from __future__ import annotations

from aicity.db import store


def serve(db_path, host: str = "127.0.0.1", port: int = 8000, lang: str = "zh",
          said=print) -> None:
    import uvicorn
    from aicity.explorer.app import create_app
    app = create_app(db_path, lang)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning",
                            access_log=False, server_header=False)
    server = uvicorn.Server(config)
    shown = f"[{host}]" if ":" in host else host
    # a PostgreSQL URL's password never reaches the screen or a log
    said(f"http://{shown}:{port}/explore  (database {store.shown(db_path)})")
    server.run()

