"""python-load: a gomon probe written in Python, built with componentize-py.

It implements the world `measure` of gomon:probe@0.2.0 (probes-wit/wit) and
emits one family:

    gomon_python_load_per_cpu{window="1m"|"5m"|"15m"}  gauge
        The load average divided by the number of logical CPUs: around 1 and
        above, the run queue is as long as the machine is wide.

componentize-py generates the `wit_world` package from the WIT at build time
(see build.sh); the app defines one class per exported interface, named after
it (`Probe` for `probe`, `Metrics` for `metrics`). Raising
`componentize_py_types.Err(message)` returns the contract's `err(message)`.
Module-level variables are where a Python probe keeps state between calls:
the host keeps the instance until a call fails.
"""

from typing import List, Tuple

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import host
from wit_world.imports.types import (
    Capability,
    MetricFamily,
    MetricKind,
    ProbeInfo,
    Series,
    Snapshot,
)

NAME = "python-load"
VERSION = "0.1.0"


class Probe(exports.Probe):
    def describe(self) -> ProbeInfo:
        return ProbeInfo(
            name=NAME,
            version=VERSION,
            description="Load average per logical CPU (an example probe in Python).",
            needs=[Capability.SYSTEM],
        )

    def configure(self, settings: List[Tuple[str, str]]) -> None:
        # Like the Rust SDK's default: no settings, and a typo is an error.
        if settings:
            raise Err(f"unknown setting `{settings[0][0]}`: this probe takes none")
        host.log(host.LogLevel.DEBUG, "configured")


class Metrics(exports.Metrics):
    def measure(self, now: Snapshot) -> List[MetricFamily]:
        system = now.system
        if system is None:
            raise Err("the snapshot has no `system` part: is the `system` capability granted?")
        cpus = len(system.cpus)
        if cpus == 0:
            raise Err("the snapshot lists no CPUs")
        load = system.load
        if load is None:
            # The host could not read /proc/loadavg this time: no series.
            return []
        windows = [
            ("1m", load.one_minute),
            ("5m", load.five_minutes),
            ("15m", load.fifteen_minutes),
        ]
        return [
            MetricFamily(
                name="gomon_python_load_per_cpu",
                help="Load average divided by the number of logical CPUs.",
                kind=MetricKind.GAUGE,
                unit="",
                label_names=["window"],
                series=[Series(labels=[w], value=v / cpus) for w, v in windows],
            )
        ]
