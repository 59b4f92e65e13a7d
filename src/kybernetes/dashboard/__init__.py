"""The web dashboard: a single-page app (built from `dashboard/` at the repository's root
into `static/`) that the API server serves at `/dashboard/`. The app is an API client like
any other: it speaks the public API with the user's own bearer token, so RBAC applies.
"""
