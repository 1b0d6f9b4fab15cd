"""Registry submission checks: load, lint, build and test ``servers/<name>/server.yaml``."""
