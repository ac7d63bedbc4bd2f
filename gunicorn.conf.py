"""gunicorn settings for SEAL. gunicorn reads ./gunicorn.conf.py from the folder it starts in, so
every `gunicorn seal.wsgi` run from the project folder uses them: `make serve-gunicorn`, the
docker image (WORKDIR /app), the tests and the benches.
"""

import os

# The access log names the method, path, status, size, agent and duration: never the query
# string (a staff search, /admin/seal/prompt/?q=..., carries private prompt text) and never the
# referrer (the URL, query string included, of the page a request came from).
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s "%(a)s" %(M)sms'

# Only the TLS proxy in front may say that a request came over https (X-Forwarded-Proto): name
# its addresses, as this server sees them, in FORWARDED_ALLOW_IPS (gunicorn's own variable). From
# anyone else the header does not count. Unset: this host only; empty: nobody.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
if "*" in forwarded_allow_ips:
    raise ValueError(
        "FORWARDED_ALLOW_IPS='*' would let any client claim https; name the TLS proxy's addresses"
    )

# Threads per worker process (gthread). A login waits its turn for a password check
# (annotation/views.py LoginView, SEAL_LOGIN_CONCURRENCY per process) holding one thread and no
# CPU, while the worker's other threads serve pages. In a gthread worker the main loop keeps
# telling the arbiter it is alive however long a request takes, so `timeout` restarts only a
# worker that stopped answering altogether, never one whose logins are queued. `--workers` is
# given on the command line (Makefile, docker/Dockerfile): about one per core, since each
# password check keeps a core busy.
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))

# How long an idle kept-alive connection stays open. It must outlast the idle timeout of whatever
# reuses connections to this server (an HTTP client's pool, the TLS proxy: nginx keeps upstream
# connections 60 s, httpx 5 s), so that the client, not the server, closes an idle connection.
# When the server closes first (gunicorn's default is 2 s) a request the client sends on the
# connection at that moment is dropped unanswered: 3 of 200 logins at once (RemoteProtocolError).
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "65"))
