"""Scheduled executions (seed 001): accept a design-time call, run it in the sandbox, keep
its result until it is fetched once or expires."""
