"""gunicorn's configuration file for ``session-buddy-ci serve``: server
hooks only.

``serve`` passes every setting on the command line. Naming this file keeps
gunicorn from reading a ``gunicorn.conf.py`` that happens to lie in the
directory ``serve`` was started from. Nothing is imported at the top: the
master reads this file before gevent patches the standard library.
"""


def post_worker_init(worker: object) -> None:
    """In each worker, once gevent has patched it and the app is loaded:
    responses leave in one write (see ``receiver/one_write.py``), and the
    stage-result write path is warmed up (``receiver/fast_ingest.py``)."""
    import logging

    from receiver.fast_ingest import warm_up
    from receiver.one_write import install

    warm_up(getattr(worker, "wsgi", None))

    if not install():
        logging.getLogger("gunicorn.error").warning(
            "this gunicorn release is not one receiver/one_write.py was checked against: "
            "responses go out as gunicorn sends them (headers and body apart)"
        )
