"""The agent desktop and supervisor wallboard (FastAPI + Jinja2, server-rendered)."""
