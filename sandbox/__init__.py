"""The child side of sandboxed execution (see issue: sandbox)."""
