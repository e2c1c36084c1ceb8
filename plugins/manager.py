"""Builds a plugin manager from the built-in connectors and the installed entry points.

There is no module-level manager: every process (the server, each sandbox child, each
test) builds its own with :func:`load_connectors`, which reports a connector that cannot
be loaded instead of failing, so one broken package never hides the others.
"""

from __future__ import annotations

import functools
import importlib
import os
import stat
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import msgspec
import pluggy

from connectord.plugins import hookspecs
from connectord.plugins.descriptor import DescriptorError, check_descriptor
from connectord.plugins.markers import PROJECT
from connectord.plugins.server_errors import Internal, Invalid
from connectord.plugins.types import ConnectorInfo, JobType

if TYPE_CHECKING:
    from importlib.metadata import Distribution, PackagePath

T = TypeVar("T")
ENTRY_POINT_GROUP = "connectord.connectors"
BUILTIN_CONNECTORS: tuple[str, ...] = (
    "connectord.connectors.sql",
    "connectord.connectors.webservice",
    "connectord.connectors.shop",
)


@dataclass(frozen=True)
class PluginSource:
    """Where a connector comes from: ``name`` is the id it must describe itself with."""

    name: str
    origin: str
    load: Callable[[], object]
    #: What ``load`` imports, as "module" or "module:attribute" ("" where it cannot be
    #: said): a connector's own zygote imports it directly, without reading every installed
    #: distribution's entry points itself (importlib.metadata would weigh on every fork).
    target: str = ""
    #: Why it must not be loaded at all, found before anything of it runs ("": nothing).
    refused: str = ""
    #: The directory it was found in, when that is none of the server's import path.
    home: str = ""


class LoadError(msgspec.Struct, frozen=True):
    """A connector that could not be loaded, and why (shown by the CLI and the API)."""

    name: str
    origin: str
    reason: str


@dataclass(frozen=True)
class Connector:
    info: ConnectorInfo
    plugin: object
    origin: str


class CatalogEntry(msgspec.Struct, frozen=True):
    """What is known of a loaded connector without its code: description, origin, hooks."""

    info: ConnectorInfo
    origin: str
    hooks: frozenset[str]


class Catalog(msgspec.Struct, frozen=True):
    """The loaded connectors as data. The sandbox's zygote sends it to the server, which
    thus answers questions about connectors without importing any of them."""

    connectors: dict[str, CatalogEntry]
    errors: list[LoadError]

    def get(self, connector_id: str) -> CatalogEntry:
        return _lookup(self.connectors, self.errors, connector_id)

    def implements(self, connector_id: str, hook: str) -> bool:
        return hook in self.get(connector_id).hooks

    def job_type(self, code: str) -> tuple[str, JobType] | None:
        """The connector id and job type of ``code``, if a loaded connector offers it."""
        return _find_job_type(self.connectors, code)

    def job_types(self) -> list[tuple[str, JobType]]:
        """Every job type of the loaded connectors, as (connector id, job type), by code."""
        return _all_job_types(self.connectors)


@dataclass(frozen=True)
class Selection:
    """Which connectors to load: ``allow`` (``None`` = all) and ``block`` hold connector ids."""

    allow: frozenset[str] | None = None
    block: frozenset[str] = frozenset()
    builtins: bool = True
    entry_points: bool = True
    #: Directories connectors are installed in (``pip install --target DIR``): their entry
    #: points are read, but they are never on the server's import path; a connector's
    #: zygote imports from them once it is confined.
    paths: tuple[str, ...] = ()

    def admits(self, name: str) -> bool:
        return name not in self.block and (self.allow is None or name in self.allow)


class UnknownConnectorError(Invalid, LookupError):
    """No connector of that id is loaded; the field at fault is the call's ``connector``."""

    def __init__(self, connector_id: str, known: Iterable[str], failure: LoadError | None = None) -> None:
        self.connector_id = connector_id
        self.known = sorted(known)
        self.failure = failure
        if failure is not None:
            message = f"connector '{connector_id}' failed to load: {failure.reason}"
        else:
            message = f"unknown connector '{connector_id}' (installed: {', '.join(self.known) or 'none'})"
        super().__init__(message, "connector")


class HookNotImplementedError(Invalid, LookupError):
    """The connector lacks the hook; the field at fault is the call's ``method``."""

    def __init__(self, connector_id: str, hook: str) -> None:
        super().__init__(f"connector '{connector_id}' does not implement {hook}", "method")


@dataclass
class ConnectorRegistry:
    """The loaded connectors by id, and the hook callers that address exactly one of them."""

    pm: pluggy.PluginManager
    connectors: dict[str, Connector] = field(default_factory=dict)
    errors: list[LoadError] = field(default_factory=list)

    def get(self, connector_id: str) -> Connector:
        return _lookup(self.connectors, self.errors, connector_id)

    def implements(self, connector_id: str, hook: str) -> bool:
        return _has_impl(self.pm, self.get(connector_id).plugin, hook)

    def job_type(self, code: str) -> tuple[str, JobType] | None:
        """The connector id and job type of ``code``, if a loaded connector offers it."""
        return _find_job_type(self.connectors, code)

    def job_types(self) -> list[tuple[str, JobType]]:
        """Every job type of the loaded connectors, as (connector id, job type), by code."""
        return _all_job_types(self.connectors)

    def catalog(self) -> Catalog:
        hooks = [n for n in _spec_names() if n != "describe_connector"]
        return Catalog(
            connectors={
                cid: CatalogEntry(c.info, c.origin, frozenset(h for h in hooks if self.implements(cid, h)))
                for cid, c in sorted(self.connectors.items())
            },
            errors=list(self.errors),
        )

    def only(self, connector_id: str) -> ConnectorRegistry:
        """A registry with a plugin manager of its own holding just this connector, so
        nothing else can be reached from it (what a sandbox worker runs with)."""
        connector = self.get(connector_id)
        pm = new_plugin_manager()
        pm.register(connector.plugin, name=f"connector:{connector_id}")
        return ConnectorRegistry(pm=pm, connectors={connector_id: connector})

    def call(self, connector_id: str, hook: str, **kwargs: Any) -> Any:
        """Call ``hook`` of one connector only; never the other connectors' implementations."""
        plugin = self.get(connector_id).plugin
        if not _has_impl(self.pm, plugin, hook):
            raise HookNotImplementedError(connector_id, hook)
        if len(self.pm.get_plugins()) == 1:
            return getattr(self.pm.hook, hook)(**kwargs)  # a registry of one (a worker's)
        return _single_plugin_caller(self.pm, hook, plugin)(**kwargs)


class _Described(Protocol):
    @property
    def info(self) -> ConnectorInfo: ...


def _find_job_type(connectors: Mapping[str, _Described], code: str) -> tuple[str, JobType] | None:
    for connector_id, connector in connectors.items():
        job = connector.info.job_type(code)
        if job is not None:
            return connector_id, job
    return None


def _all_job_types(connectors: Mapping[str, _Described]) -> list[tuple[str, JobType]]:
    found = [(cid, job) for cid, connector in connectors.items() for job in connector.info.job_types]
    return sorted(found, key=lambda pair: pair[1].code)


def _lookup(connectors: Mapping[str, T], errors: list[LoadError], connector_id: str) -> T:
    try:
        return connectors[connector_id]
    except KeyError:
        failure = next((e for e in errors if e.name == connector_id), None)
        raise UnknownConnectorError(connector_id, connectors, failure) from None


def new_plugin_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(hookspecs)
    return pm


def builtin_sources() -> list[PluginSource]:
    return [
        PluginSource(module.rsplit(".", 1)[1], f"built-in {module}", _importer(module), module)
        for module in BUILTIN_CONNECTORS
    ]


def entry_point_sources(paths: Iterable[str] = ()) -> list[PluginSource]:
    """The environment's connectors, then those installed in ``paths`` (read, not imported)."""
    sources = _environment_sources()
    for path in paths:
        sources += directory_sources(path)
    return sources


def directory_sources(path: str) -> list[PluginSource]:
    """The connectors installed in directory ``path`` (their entry points; none imported)."""
    from importlib.metadata import distributions

    sources = []
    for dist in distributions(path=[path]):
        for ep in dist.entry_points.select(group=ENTRY_POINT_GROUP):
            target = f"{ep.module}:{ep.attr}" if ep.attr else ep.module
            origin = f"entry point {ep.name} = {ep.value} from {dist.name} {dist.version} in {path}"
            load = functools.partial(_sandboxed_only, ep.name, path)
            sources.append(PluginSource(ep.name, origin, load, target, home=path))
    return sources


def _sandboxed_only(name: str, path: str) -> object:
    raise ImportError(f"connector '{name}' is installed in {path}: only its sandbox imports from there")


def _environment_sources() -> list[PluginSource]:
    # Imported here: it brings zipfile, email, csv and their compression libraries, which a
    # connector's own zygote (it never reads entry points) would otherwise hold, and fork.
    from importlib.metadata import entry_points

    sources = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        dist = f" from {ep.dist.name} {ep.dist.version}" if ep.dist else ""
        target = f"{ep.module}:{ep.attr}" if ep.attr else ep.module
        refused = startup_refusal(ep.dist) if ep.dist else ""
        origin = f"entry point {ep.name} = {ep.value}{dist}"
        sources.append(PluginSource(ep.name, origin, ep.load, target, refused))
    return sources


def startup_refusal(dist: Distribution) -> str:
    """Why a connector of ``dist`` is refused for what its package installed, or "": files
    in the server's own site-packages that every interpreter of this environment runs at
    its start, before any line of the program (a ``.pth`` file with an ``import`` line, a
    ``sitecustomize``). Such a file ran already, in the server, unconfined; refusing the
    connector says so, and keeps its code from running anywhere else."""
    import site  # here: a connector's zygote starts without it

    base = os.path.realpath(str(dist.locate_file("")))
    site_dirs = {os.path.realpath(p) for p in [*site.getsitepackages(), site.getusersitepackages()]}
    if base not in site_dirs:
        return ""  # a directory on the path: site reads no .pth file there
    found = [str(file) for file in dist.files or () if _runs_at_start(file)]
    if not found:
        return ""
    return (
        f"its distribution {dist.name} installed {', '.join(found)} into the server's environment, which "
        "every interpreter of it runs at its start, unconfined, the server's included: remove "
        "the distribution, and install connectors with connectord connectors install SPEC --into DIR, "
        "DIR named in CONNECTORD_CONNECTOR_PATH"
    )


def _runs_at_start(file: PackagePath) -> bool:
    if file.parts[0] in ("sitecustomize.py", "usercustomize.py", "sitecustomize", "usercustomize"):
        return True
    if len(file.parts) != 1 or not file.name.endswith(".pth"):
        return False
    try:
        text = _head(str(file.locate()))
    except OSError:
        return True  # cannot be read here: site may read it all the same
    return any(line.startswith((b"import ", b"import\t")) for line in text.splitlines())


def _head(path: str, size: int = 1 << 20) -> bytes:
    """The first ``size`` bytes of the regular file ``path``: a fifo or a device in its
    place would hold the server's start (OSError for what is no regular file)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{path} is no regular file")
        return os.read(fd, size)
    finally:
        os.close(fd)


def target_source(name: str, origin: str, target: str) -> PluginSource:
    """A source that imports ``target`` ("module" or "module:attribute") directly."""
    return PluginSource(name, origin, functools.partial(_load_target, target), target)


def selected_sources(
    selection: Selection = Selection(), extra: Iterable[PluginSource] = ()
) -> list[PluginSource]:
    """Built-ins, then entry points, then ``extra`` (tests, embedding), as ``selection``
    admits them; nothing is imported yet."""
    sources: list[PluginSource] = []
    if selection.builtins:
        sources += builtin_sources()
    if selection.entry_points:
        sources += entry_point_sources(selection.paths)
    sources += list(extra)
    return [source for source in sources if selection.admits(source.name)]


def load_connectors(
    selection: Selection = Selection(),
    extra: Iterable[PluginSource] = (),
) -> ConnectorRegistry:
    """Load built-ins, then entry points, then ``extra``; skip what ``selection`` excludes
    without importing it, and report every failure."""
    return load_sources(selected_sources(selection, extra))


def load_sources(
    sources: Iterable[PluginSource], failed: Iterable[LoadError] = (), check_schemas: bool = True
) -> ConnectorRegistry:
    """Load ``sources`` into a new registry; ``failed`` are failures found beforehand.
    ``check_schemas``: see ``check_descriptor``."""
    registry = ConnectorRegistry(pm=new_plugin_manager(), errors=list(failed))
    for source in sources:
        if source.name in registry.connectors:
            taken = registry.connectors[source.name].origin
            registry.errors.append(
                LoadError(source.name, source.origin, f"id '{source.name}' is already taken by {taken}")
            )
            continue
        try:
            connector = _load_one(registry.pm, source, check_schemas)
        except _LoadFailure as failure:
            registry.errors.append(LoadError(source.name, source.origin, str(failure)))
            continue
        clash = job_type_clash(registry.connectors, connector.info)
        if clash is not None:
            registry.pm.unregister(connector.plugin)
            registry.errors.append(LoadError(source.name, source.origin, clash))
            continue
        registry.connectors[source.name] = connector
    return registry


def job_type_clash(
    connectors: Mapping[str, Connector] | Mapping[str, CatalogEntry], info: ConnectorInfo
) -> str | None:
    """Why a connector described by ``info`` cannot join ``connectors``: a job type code
    another connector already offers (codes name job types across all connectors, so the
    one loaded first keeps it)."""
    for job in info.job_types:
        owner = _find_job_type(connectors, job.code)
        if owner is not None:
            taken = connectors[owner[0]]
            return (
                f"job type '{job.code}' is already offered by connector '{owner[0]}' ({taken.origin}); "
                "job type codes must be unique across installed connectors"
            )
    return None


class _LoadFailure(Internal):
    pass


def _load_one(pm: pluggy.PluginManager, source: PluginSource, check_schemas: bool) -> Connector:
    try:
        plugin = source.load()
    except BaseException as exc:  # a hostile or broken package may raise anything at import
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise _LoadFailure(f"import failed: {type(exc).__name__}: {exc}") from exc
    try:
        pm.register(plugin, name=f"connector:{source.name}")
    except (pluggy.PluginValidationError, ValueError) as exc:
        raise _LoadFailure(f"invalid hook implementation: {exc}") from exc
    try:
        _check_hook_names(pm, plugin)
        info = _describe(pm, plugin, source.name, check_schemas)
        _check_hooks_present(pm, plugin, info)
    except _LoadFailure:
        pm.unregister(plugin)
        raise
    return Connector(info=info, plugin=plugin, origin=source.origin)


def _describe(pm: pluggy.PluginManager, plugin: object, name: str, check_schemas: bool) -> ConnectorInfo:
    if not _has_impl(pm, plugin, "describe_connector"):
        raise _LoadFailure("it implements no describe_connector hook")
    try:
        raw = _single_plugin_caller(pm, "describe_connector", plugin)()
    except Exception as exc:
        raise _LoadFailure(f"describe_connector raised {type(exc).__name__}: {exc}") from exc
    try:
        info = check_descriptor(raw, schemas=check_schemas)
    except DescriptorError as exc:
        raise _LoadFailure(f"invalid description: {exc}") from exc
    if info.id != name:
        raise _LoadFailure(f"it describes itself as '{info.id}' but is installed as '{name}'")
    return info


def _check_hook_names(pm: pluggy.PluginManager, plugin: object) -> None:
    unknown = sorted(hc.name for hc in pm.get_hookcallers(plugin) or () if not hc.has_spec())
    if unknown:
        known = ", ".join(sorted(_spec_names()))
        raise _LoadFailure(f"unknown hook(s) {', '.join(unknown)} (known hooks: {known})")


def _check_hooks_present(pm: pluggy.PluginManager, plugin: object, info: ConnectorInfo) -> None:
    ops = (*info.actions, *info.triggers)
    needs: Mapping[str, tuple[bool, str]] = {
        "select_model": (any(op.model_methods for op in ops), "operations"),
        "get_meta_model": (any(op.dynamic_metadata for op in ops), "operations"),
        "run_job": (bool(info.job_types), "job types"),
    }
    for hook, (needed, what) in needs.items():
        if needed and not _has_impl(pm, plugin, hook):
            raise _LoadFailure(f"its {what} need {hook} but it implements none")


def _has_impl(pm: pluggy.PluginManager, plugin: object, hook: str) -> bool:
    return any(impl.plugin is plugin for impl in getattr(pm.hook, hook).get_hookimpls())


def _single_plugin_caller(pm: pluggy.PluginManager, hook: str, plugin: object) -> Any:
    others = [p for p in pm.get_plugins() if p is not plugin]
    return pm.subset_hook_caller(hook, remove_plugins=others)


def _spec_names() -> list[str]:
    return [n for n in dir(hookspecs) if hasattr(getattr(hookspecs, n), f"{PROJECT}_spec")]


def _importer(module: str) -> Callable[[], object]:
    return lambda: importlib.import_module(module)


def _load_target(target: str) -> object:
    module, _, attribute = target.partition(":")
    found: object = importlib.import_module(module)
    for name in filter(None, attribute.split(".")):
        found = getattr(found, name)
    return found
