"""gunicorn settings for labbook (README "Production"):

    gunicorn -c deploy/gunicorn.conf.py

Run from the checkout (the working directory goes on sys.path) with the settings in the environment
(deploy/labbook.env.example). WhiteNoise serves the collected static files from the same processes.
"""

import os

wsgi_app = "labbook.wsgi:application"
bind = os.environ.get("LABBOOK_BIND", "127.0.0.1:8000").split(",")
# Threads, so a long upload or a slow client does not hold a whole process (or trip the timeout,
# which gthread applies to the process' main loop, not to a request).
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "120"))
graceful_timeout = 30
keepalive = 5
# Recycle processes now and then (long-lived numpy/bokeh processes grow).
max_requests = 2000
max_requests_jitter = 200
# Trust X-Forwarded-* only from the reverse proxy in front (same machine by default).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
