"""`aicity serve`: the explorer, a read-only web face over the same service functions the
command line calls (one query, two faces). Pages are server-rendered (Jinja2); charts are plotly
figures built here and drawn by plotly.js served from the installed `plotly` package; nothing is
fetched from any other host."""
