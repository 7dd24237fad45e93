"""gunicorn's configuration file for ``session-buddy-ci serve``: empty on
purpose.

``serve`` passes every setting on the command line. Naming this file keeps
gunicorn from reading a ``gunicorn.conf.py`` that happens to lie in the
directory ``serve`` was started from.
"""
