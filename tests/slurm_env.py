"""A throw-away one-node SLURM on this host, for the ``slurm``-marked tests.

``SlurmTestCluster(base).start()`` writes a ``slurm.conf`` for this host under ``base``
(cons_tres, proctrack/linuxproc, task/none, no accounting, MinJobAge 300 s, spool and state
directories under ``base``, ``SlurmUser=root``), creates a munge key, and starts munged,
slurmctld and slurmd in the background, each with its own pid file and socket/ports, so it
neither needs nor touches a system SLURM or munge. ``stop()`` cancels the jobs of this
cluster and stops exactly the daemons it started (by their pid files).

Client tools find the cluster through ``SLURM_CONF`` and, because
snakemake-executor-plugin-slurm-jobstep strips every ``SLURM_*`` variable before its nested
``srun`` (snakemake-executor-plugin-slurm issue #164), through small wrappers of the client
tools in ``<base>/bin`` that export it; ``env`` puts that directory first on ``PATH``.

Install the packages with ``bash .ci/install-slurm.sh``; run as root. For debugging by hand:

    python tests/slurm_env.py /tmp/slurm-dev   # starts it, prints `export SLURM_CONF=...`, Ctrl-C stops
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from contextlib import closing
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "squeue", "sinfo", "scancel", "scontrol", "srun")
PARTITION = "agcflowtest"
MIN_JOB_AGE_S = 300  # >= 120 s, so that `squeue` still lists finished jobs to Snakemake's plugin


class SlurmUnavailable(RuntimeError):
    """SLURM cannot be run here (not installed, not root); the message says why."""


def _find(tool: str) -> str | None:
    found = shutil.which(tool)
    if found:
        return found
    for directory in ("/usr/sbin", "/usr/local/sbin", "/sbin"):
        candidate = Path(directory) / tool
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def unavailable_reason() -> str | None:
    """Why a test SLURM cannot be started here, or None when it can."""
    missing = [tool for tool in (*DAEMONS, *CLIENTS) if _find(tool) is None]
    if missing:
        return f"SLURM/munge not installed (missing {', '.join(missing)}); run `bash .ci/install-slurm.sh`"
    if os.geteuid() != 0:
        return "the test SLURM runs slurmd with SlurmUser=root: needs root"
    return None


def _free_port() -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _mem_total_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    return 4096


class SlurmTestCluster:
    """One node, one partition, on this host; see the module docstring."""

    def __init__(self, base: Path, partition: str = PARTITION, default_partition: bool = False) -> None:
        self.base = Path(base).resolve()
        self.partition = partition
        # Not the default partition unless asked: a job then runs only when the partition name
        # reached sbatch, which is what the tests check.
        self.default_partition = default_partition
        self.node = socket.gethostname().split(".")[0]
        self.cpus = len(os.sched_getaffinity(0))
        # Leave the host some memory; DefMemPerCPU lets several jobs share the node.
        self.real_memory_mb = max(1024, int(_mem_total_mb() * 0.75))
        self.def_mem_per_cpu_mb = max(256, min(2048, self.real_memory_mb // (2 * self.cpus)))
        self.conf = self.base / "etc" / "slurm.conf"
        self.munge_dir = self.base / "munge"
        self.munge_socket = self.munge_dir / "munge.socket"
        self.logs = self.base / "log"
        self.bin_dir = self.base / "bin"
        self.pid_files = {
            "munged": self.base / "run" / "munged.pid",
            "slurmctld": self.base / "run" / "slurmctld.pid",
            "slurmd": self.base / "run" / "slurmd.pid",
        }
        self._procs: dict[str, subprocess.Popen] = {}
        self.startup_s: float | None = None

    # -- environment -----------------------------------------------------------------------
    @property
    def env(self) -> dict[str, str]:
        """Environment variables that point SLURM's client tools at this cluster."""
        return {"SLURM_CONF": str(self.conf), "PATH": f"{self.bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}

    def _run(self, *args: str, timeout: float = 20, check: bool = False) -> subprocess.CompletedProcess:
        return subprocess.run(
            [_find(args[0]) or args[0], *args[1:]], env={**os.environ, **self.env}, capture_output=True,
            text=True, timeout=timeout, check=check,
        )

    # -- start -----------------------------------------------------------------------------
    def start(self, timeout: float = 90.0) -> SlurmTestCluster:
        reason = unavailable_reason()
        if reason:
            raise SlurmUnavailable(reason)
        started = time.monotonic()
        for sub in ("etc", "run", "log", "spool", "state", "tmp", "bin"):
            (self.base / sub).mkdir(parents=True, exist_ok=True)
        try:
            self._start_munge()
            self._write_conf()
            self._write_wrappers()
            self._spawn("slurmctld", [_find("slurmctld"), "-D", "-i", "-f", str(self.conf)])
            self._spawn("slurmd", [_find("slurmd"), "-D", "-f", str(self.conf), "-N", self.node])
            self._wait_idle(started + timeout)
        except BaseException:
            self.stop()
            raise
        self.startup_s = time.monotonic() - started
        return self

    def _start_munge(self) -> None:
        self.munge_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.munge_dir, 0o700)
        key = self.munge_dir / "munge.key"
        if not key.exists():
            fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(os.urandom(1024))
        self._spawn("munged", [
            _find("munged"), "--foreground", "--force", f"--key-file={key}", f"--socket={self.munge_socket}",
            f"--pid-file={self.pid_files['munged']}", f"--log-file={self.logs / 'munged.log'}",
            f"--seed-file={self.munge_dir / 'munged.seed'}", "--num-threads=2",
        ])
        deadline = time.monotonic() + 20
        while not self.munge_socket.exists():
            self._check_alive("munged")
            if time.monotonic() > deadline:
                raise RuntimeError(f"munged did not create {self.munge_socket}:\n{self._tail('munged')}")
            time.sleep(0.1)

    def _write_conf(self) -> None:
        b = self.base
        text = f"""\
# Written by tests/slurm_env.py for a throw-away one-node test cluster.
ClusterName=agcflowtest
SlurmctldHost={self.node}(127.0.0.1)
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={self.munge_socket}
StateSaveLocation={b / 'state'}
SlurmdSpoolDir={b / 'spool'}
SlurmctldPidFile={self.pid_files['slurmctld']}
SlurmdPidFile={self.pid_files['slurmd']}
SlurmctldLogFile={self.logs / 'slurmctld.log'}
SlurmdLogFile={self.logs / 'slurmd.log'}
SlurmctldDebug=info
SlurmdDebug=info
TmpFS={b / 'tmp'}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
DefMemPerCPU={self.def_mem_per_cpu_mb}
SlurmdParameters=config_overrides
ReturnToService=2
MinJobAge={MIN_JOB_AGE_S}
KillWait=5
InactiveLimit=0
MessageTimeout=20
SlurmdTimeout=300
NodeName={self.node} NodeAddr=127.0.0.1 CPUs={self.cpus} RealMemory={self.real_memory_mb} State=UNKNOWN
PartitionName={self.partition} Nodes={self.node} Default={"YES" if self.default_partition else "NO"} MaxTime=INFINITE State=UP
"""
        self.conf.write_text(text)

    def _write_wrappers(self) -> None:
        for tool in (*CLIENTS, "sacct"):
            real = _find(tool)
            if real is None:
                continue
            wrapper = self.bin_dir / tool
            wrapper.write_text(f'#!/bin/sh\nSLURM_CONF="{self.conf}" exec "{real}" "$@"\n')
            wrapper.chmod(0o755)

    def _spawn(self, name: str, argv: list) -> None:
        log = open(self.logs / f"{name}.stdout", "ab")  # noqa: SIM115 - closed with the process
        self._procs[name] = subprocess.Popen(
            [str(a) for a in argv], stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            env={**os.environ, **self.env}, start_new_session=True,
        )
        log.close()

    def _check_alive(self, name: str) -> None:
        proc = self._procs.get(name)
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{name} exited with status {proc.returncode}:\n{self._tail(name)}")

    def _tail(self, name: str, lines: int = 25) -> str:
        out = []
        for path in (self.logs / f"{name}.stdout", self.logs / f"{name}.log"):
            if path.exists():
                out += path.read_text(errors="replace").splitlines()[-lines:]
        return "\n".join(out)

    def _wait_idle(self, deadline: float) -> None:
        state = ""
        while time.monotonic() < deadline:
            for name in ("slurmctld", "slurmd"):
                self._check_alive(name)
            try:
                result = self._run("sinfo", "-h", "-N", "-n", self.node, "-o", "%T", timeout=10)
                state = (result.stdout or result.stderr).strip()
            except subprocess.TimeoutExpired:
                state = "sinfo timed out"
            if state == "idle":
                return
            time.sleep(0.5)
        raise RuntimeError(
            f"node {self.node} not idle before the deadline (sinfo: {state!r})\n"
            f"--- slurmctld\n{self._tail('slurmctld')}\n--- slurmd\n{self._tail('slurmd')}"
        )

    # -- stop ------------------------------------------------------------------------------
    def stop(self) -> None:
        """Cancel this cluster's jobs; stop the daemons this object started (by pid file)."""
        if "slurmctld" in self._procs and self._procs["slurmctld"].poll() is None:
            try:
                self._run("scancel", "--partition", self.partition, timeout=15)
                deadline = time.monotonic() + 20
                while time.monotonic() < deadline:
                    queue = self._run("squeue", "-h", "-t", "PD,R,CG", "-o", "%i", timeout=10).stdout.strip()
                    if not queue:
                        break
                    time.sleep(0.5)
            except (subprocess.SubprocessError, OSError):
                pass
        for name in ("slurmd", "slurmctld", "munged"):
            self._stop_one(name)

    def _stop_one(self, name: str) -> None:
        proc = self._procs.pop(name, None)
        if proc is None:
            return
        pid = proc.pid
        pid_file = self.pid_files[name]
        if pid_file.exists():
            try:
                recorded = int(pid_file.read_text().split()[0])
            except (ValueError, IndexError):
                recorded = pid
            if recorded != pid:  # should not happen with -D/--foreground; trust only our own child
                pid = proc.pid
        if proc.poll() is None:
            os.kill(pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.kill(pid, signal.SIGKILL)
                proc.wait(timeout=10)
        pid_file.unlink(missing_ok=True)


if __name__ == "__main__":  # pragma: no cover - a manual helper
    import sys

    def _interrupt(*_):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _interrupt)
    base = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/agcflow-slurm")
    cluster = SlurmTestCluster(base, default_partition=True).start()
    print(f"SLURM up in {cluster.startup_s:.1f} s\nexport SLURM_CONF={cluster.conf} PATH={cluster.bin_dir}:$PATH",
          flush=True)
    try:
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        cluster.stop()
