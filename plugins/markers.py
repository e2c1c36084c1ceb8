"""The pluggy markers of the ``connectord`` project (connector authors use ``connectord.hookimpl``)."""

import pluggy

PROJECT = "connectord"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)
