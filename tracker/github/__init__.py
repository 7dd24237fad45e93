"""GitHub webhooks as tracker data: signatures, events, workflow runs and
jobs, phase rules, ingestion and the PR report.

Pure and typed; no HTTP and no GitHub API calls here (those live in the
receiver). :mod:`signature`, :mod:`events`, :mod:`workflows`,
:mod:`stages`, :mod:`rules` and :mod:`render` do no I/O at all;
:mod:`ingest` and :mod:`pr_report` talk to storage only.
"""
