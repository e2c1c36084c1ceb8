"""Scheduled jobs: definitions, their schedules (cron expressions and calendar intervals) and
the scheduler that fires them. ``schedules`` is pure: no store, no clock of its own."""
