"""gunicorn settings for the Flask peer of bench/run.

bench/run starts `gunicorn -c bench/peers/flask/gunicorn.conf.py --bind 127.0.0.1:PORT
--worker-class K --workers W [--threads T] app:app` for each candidate worker setting, keeps the
best in a short pre-trial (`/protected`, header token), and runs every Flask scenario with it.
Without flags (by hand) this file's defaults apply: gthread, 2 workers x 4 threads (2 cores).
"""

import multiprocessing

bind = "127.0.0.1:5000"
worker_class = "gthread"
workers = max(2, multiprocessing.cpu_count())
threads = 4
# Keep-alive for the gthread worker (sync workers close the connection after every response,
# by design: they are meant to sit behind a buffering proxy).
keepalive = 5
# The benchmark's connection count is higher than a worker's default backlog share.
backlog = 2048
# No access log (gunicorn's default): per-request logging is not what is measured.
accesslog = None
errorlog = "-"
loglevel = "warning"
# Workers are not recycled during a run.
max_requests = 0
timeout = 60
