"""What a run costs: Spark jobs per job group, wall time, and the driver's peak memory.

Every published table runs its Spark work under a job group of its own (``stage/table``), and
a stage's remaining work under the stage's group, so a day's jobs can be told apart by table
without a JVM listener: Spark's status tracker lists the jobs of a group.
"""

from __future__ import annotations

import contextlib
import os
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from pyspark.sql import SparkSession

JOB_GROUP_PROPERTY = "spark.jobGroup.id"
JOB_DESCRIPTION_PROPERTY = "spark.job.description"


@contextlib.contextmanager
def job_group(spark: SparkSession, label: str) -> Iterator["JobCount"]:
    """Runs the block's Spark jobs under a fresh group named after ``label``; the yielded
    counter holds how many jobs the block started once it ends. The thread's previous group
    is restored, so groups nest (a table inside its stage)."""
    context = spark.sparkContext
    previous = context.getLocalProperty(JOB_GROUP_PROPERTY)
    previous_description = context.getLocalProperty(JOB_DESCRIPTION_PROPERTY)
    group = f"{label}#{uuid.uuid4().hex[:8]}"
    counter = JobCount()
    context.setJobGroup(group, label, interruptOnCancel=False)
    try:
        yield counter
    finally:
        counter.jobs = len(context.statusTracker().getJobIdsForGroup(group))
        context.setLocalProperty(JOB_GROUP_PROPERTY, previous)  # type: ignore[arg-type]
        context.setLocalProperty(JOB_DESCRIPTION_PROPERTY, previous_description)  # type: ignore[arg-type]


@dataclass
class JobCount:
    jobs: int = 0


def jobs_started(spark: SparkSession) -> int:
    """Spark jobs this application has started so far: the scheduler numbers them in order,
    so the difference over a block counts every job in it, whichever thread started it."""
    return int(spark.sparkContext._jsc.sc().dagScheduler().nextJobId())  # type: ignore[union-attr]


class PeakMemory:
    """The driver's peak resident memory (Python process plus its JVM child) over a block.

    Linux keeps a high-water mark per process (``VmHWM``) that writing 5 to ``clear_refs``
    resets; elsewhere, or without the right to reset, the figure is the peak since start.
    """

    def __init__(self, spark: SparkSession):
        self._pids = [os.getpid()]
        jvm_pid = _jvm_pid(spark)
        if jvm_pid is not None and jvm_pid != os.getpid():
            self._pids.append(jvm_pid)

    def reset(self) -> None:
        for pid in self._pids:
            with contextlib.suppress(OSError):
                Path(f"/proc/{pid}/clear_refs").write_text("5")

    def peak_mib(self) -> int | None:
        total = 0
        for pid in self._pids:
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                return None
            kib = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")), 0)
            total += kib
        return total // 1024


def _jvm_pid(spark: SparkSession) -> int | None:
    try:
        return int(spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid())  # type: ignore[union-attr]
    except Exception:  # noqa: BLE001 - a figure, never a reason to fail a run
        return None


# Great Expectations' ephemeral context is not documented as thread-safe; suites run one at a
# time even when tables are published concurrently.
VALIDATION_LOCK = threading.Lock()
