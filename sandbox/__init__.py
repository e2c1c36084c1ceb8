"""The child side of sandboxed execution: the zygote that forks workers, and the worker
that runs one connector's hook and answers over its own socket."""
