"""Which cluster profiles a command sees: the search order for ``cluster.yaml`` and the built-in ``local``.

The search order (first match wins):

1. ``--cluster PATH`` on the command line,
2. ``$S1SLURM_CLUSTER``,
3. ``./cluster.yaml`` in the current folder,
4. ``cluster.yaml`` in the user's config folder (``$XDG_CONFIG_HOME/s1slurm``, else ``~/.config/s1slurm``),
5. none: only the built-in ``local`` profile (tasks run here, in the foreground).

A file named by 1 or 2 must exist (the user asked for it); 3 and 4 are used when they exist. Whatever
file is used, a ``local`` profile is always available: the file's own if it has one, else the built-in.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from s1slurm.config.cluster import ClusterFile, Profile, load_cluster

ENV_VAR = "S1SLURM_CLUSTER"
FILE_NAME = "cluster.yaml"
BUILTIN = "built-in"
LOCAL = "local"


@dataclass(frozen=True)
class ClusterSource:
    """The cluster file chosen by the search (``path`` None: none, the built-in profile only)."""

    path: Path | None
    reason: str  # how it was found, for `s1slurm profiles`: "--cluster", "$S1SLURM_CLUSTER", ...

    @property
    def label(self) -> str:
        """The name errors and listings use for it."""
        return str(self.path) if self.path is not None else f"<{BUILTIN}>"


@dataclass
class Profiles:
    """The profiles a command can use, and where each one came from."""

    cluster: ClusterFile
    source: ClusterSource
    origins: dict[str, str] = field(default_factory=dict)  # profile name -> file path or "built-in"


def user_config_dir(env: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CONFIG_HOME/s1slurm``, else ``~/.config/s1slurm`` (a relative XDG_CONFIG_HOME is ignored, as the
    XDG base directory specification asks)."""
    env = os.environ if env is None else env
    xdg = env.get("XDG_CONFIG_HOME", "")
    if xdg and Path(xdg).is_absolute():
        return Path(xdg) / "s1slurm"
    home = Path(env["HOME"]) if env.get("HOME") else Path.home()
    return home / ".config" / "s1slurm"


def search_order(env: Mapping[str, str] | None = None) -> list[tuple[str, Path | None]]:
    """The places looked at when no ``--cluster`` is given, in order (for messages and ``profiles``)."""
    env = os.environ if env is None else env
    return [
        (f"${ENV_VAR}", Path(env[ENV_VAR]) if env.get(ENV_VAR) else None),
        ("current folder", Path(FILE_NAME)),
        ("user config folder", user_config_dir(env) / FILE_NAME),
    ]


def find_cluster_file(explicit: Path | None = None, env: Mapping[str, str] | None = None) -> ClusterSource:
    """The cluster file to use, following the search order in this module's docstring."""
    if explicit is not None:
        return ClusterSource(explicit, "--cluster")
    env = os.environ if env is None else env
    if env.get(ENV_VAR):
        return ClusterSource(Path(env[ENV_VAR]), f"${ENV_VAR}")
    for reason, path in search_order(env)[1:]:
        if path is not None and path.is_file():
            return ClusterSource(path, reason)
    return ClusterSource(None, BUILTIN)


def builtin_local() -> Profile:
    """The profile used when nothing else is configured: run the tasks here, one after the other."""
    return Profile(executor="local")


def load_profiles(source: ClusterSource) -> Profiles:
    """Read the chosen file (errors name it) and add the built-in ``local`` profile when it has none."""
    if source.path is None:
        cluster = ClusterFile(default=LOCAL, profiles={LOCAL: builtin_local()})
        return Profiles(cluster, source, {LOCAL: BUILTIN})
    found = load_cluster(source.path)
    origins = {name: str(source.path) for name in found.profiles}
    if LOCAL in found.profiles:
        return Profiles(found, source, origins)
    cluster = ClusterFile(default=found.default, profiles={**found.profiles, LOCAL: builtin_local()})
    return Profiles(cluster, source, {**origins, LOCAL: BUILTIN})


def discover(explicit: Path | None = None, env: Mapping[str, str] | None = None) -> Profiles:
    """Find and load the profiles a command sees (``explicit``: the ``--cluster`` option, if any)."""
    return load_profiles(find_cluster_file(explicit, env))


def recorded_cluster_file(cluster_path: Path | None) -> str | None:
    """What a manifest records as the profiles file: an absolute path, or None for the built-in
    profiles (named ``<built-in>``, ``<embedded>``: no file to find again)."""
    if cluster_path is None or cluster_path.name.startswith("<"):
        return None
    return str(cluster_path.resolve())


def profiles_for_run(manifest: Mapping) -> Profiles:
    """The profiles a run was submitted with, for the submissions it makes itself (an evaluation
    after training, the next curation step, a pipeline's next stage): its recorded file, else
    the built-in ones. Never the search order again: a task runs in another folder and
    environment than the command that submitted it."""
    recorded = manifest.get("cluster_file")
    if recorded:
        return discover(Path(recorded))
    return load_profiles(ClusterSource(None, BUILTIN))
