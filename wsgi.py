"""WSGI entry point: `gunicorn wsgi:app` or `flask --app wsgi run`."""

import gc

from abs_registry import create_app

app = create_app()

# What the app loaded lives as long as the process: keep it out of the garbage collector's
# full passes, which otherwise rescan it on large API pages (see `abs-registry serve`).
gc.collect()
gc.freeze()
