"""gunicorn's command line, minus its habit of putting the working directory
first on ``sys.path``.

``gunicorn`` (and ``python -m gunicorn``) insert the directory it runs from
(its ``chdir`` setting) at the head of ``sys.path`` before loading the app.
Started from a project that has a ``tracker/`` or ``receiver/`` folder of
its own, the workers would import that folder instead of the installed
package: a crash at start, or someone else's code answering requests.

``serve`` runs this file by path with ``python -P``, so that neither the
interpreter nor gunicorn adds a directory: the app and everything it
imports come from the installed packages (and ``PYTHONPATH``, if set).
Run by path, not as ``-m receiver...``, because importing the ``receiver``
package here, in the master, would import ``ssl`` before gevent's worker
patches it. Nothing but gunicorn is imported.
"""

from __future__ import annotations

import os

from gunicorn.app.wsgiapp import WSGIApplication


class ReceiverApplication(WSGIApplication):  # type: ignore[misc]  # gunicorn has no types
    """gunicorn's own WSGI application, which changes directory as told but
    leaves ``sys.path`` alone."""

    def chdir(self) -> None:
        os.chdir(self.cfg.chdir)


def main() -> None:
    """Parse gunicorn's arguments from ``sys.argv`` and run the server."""
    ReceiverApplication("%(prog)s [OPTIONS] [APP_MODULE]", prog="gunicorn").run()


if __name__ == "__main__":
    main()
