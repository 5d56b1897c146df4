"""Scheduled jobs: each area declares its jobs in a module of this package (``JOBS``); the
runner (locks, run records, APScheduler wiring) collects them."""
