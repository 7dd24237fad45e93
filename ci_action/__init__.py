"""The GitHub Action's parts, beside ``entrypoint.py``: running the command
as GitHub runs ``run:`` steps (:mod:`ci_action.command`), delivering the
result with retries and a spool (:mod:`ci_action.delivery`), and workflow
commands, outputs and the job summary (:mod:`ci_action.workflow`).

Standard library only, like the entrypoint: the Action runs them on every CI
step, with whatever ``python3`` the runner has.
"""
