"""The parent side of sandboxed execution: starts the zygote, hands out workers, enforces
deadlines, collects logs and turns whatever a worker does into one Outcome."""
