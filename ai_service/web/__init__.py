"""The web console of the on-call engineer, served by the API's own process (``ai_service.api.app`` includes
``ai_service.web.console.router``): the incident queue, an incident with its triage, evidence and plan, the
knowledge browser and MTTR insights, rendered on the server from Jinja2 templates with one small stylesheet and
one small script (no build step, nothing fetched from elsewhere).

Modules: ``session`` (the cookie, CSRF tokens, flash messages), ``access`` (who is asking, and may they),
``routing`` (failures become pages), ``render`` (templates and their filters), ``views`` and ``charts`` (what the
pages show), ``pages`` / ``knowledge`` (what they read) and ``actions`` (what their forms do, through the same core
functions as the API).

What this package must never do: hold SQL (the stores do), trust alert or runbook text as markup, or change
anything on a request that does not carry its session's CSRF token.
"""
