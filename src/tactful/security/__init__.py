"""Trust: API keys and scopes, end-user tokens, rate limits, audit log, HTTP hardening.

Kept import-light: ``tactful.settings`` imports :mod:`tactful.security.config` from here.
"""
