"""gunicorn's configuration file for ``session-buddy-ci serve``: server
hooks only.

``serve`` passes every setting on the command line. Naming this file keeps
gunicorn from reading a ``gunicorn.conf.py`` that happens to lie in the
directory ``serve`` was started from. Nothing is imported at the top: the
master reads this file before gevent patches the standard library.
"""

from typing import Any


def post_worker_init(worker: Any) -> None:
    """In each worker, once gevent has patched it and the app is loaded:
    responses leave in one write (see ``receiver/one_write.py``)."""
    from receiver.one_write import install

    install()
