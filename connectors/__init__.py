"""Connectors that ship with connectord; each is an ordinary plugin, loaded like any other."""
