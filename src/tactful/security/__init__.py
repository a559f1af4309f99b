"""Trust: API keys and scopes, end-user tokens, rate limits, audit log, HTTP hardening.

Kept import-light: ``tactful.config.settings`` imports :mod:`tactful.config.security` from here.
"""
