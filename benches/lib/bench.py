#!/usr/bin/env python3
"""The push benchmark: push, Ansible, pyinfra and plain parallel `ssh true`
on N sshd-only Debian hosts in Docker on this machine.

Started by `benches/run` (see benches/README.md); standard library only, so
it runs with the system's python3. Asserts no times: it measures, checks
that every tool leaves the hosts in the same state, and prints a table.
"""

import argparse
import concurrent.futures
import ctypes
import datetime
import json
import os
import platform
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

BENCHES = Path(__file__).resolve().parent.parent
REPO = BENCHES.parent
WORKLOAD = BENCHES / "workload"
IMAGE = "push-bench/sshd:12"
VENV = Path(os.environ.get("PUSH_BENCH_VENV", "/opt/push-bench-venv"))
STATE_ROOT = Path(os.environ.get("PUSH_BENCH_STATE", "/tmp/push-bench"))
# The peers, pinned to a release series so a rerun measures the same code.
PEER_SPECS = [
    os.environ.get("PUSH_BENCH_ANSIBLE", "ansible-core~=2.19.0"),
    os.environ.get("PUSH_BENCH_PYINFRA", "pyinfra~=3.10.0"),
]
TOOLS = ("push", "ansible", "pyinfra")
LABEL = "push-bench.fleet"


def say(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def die(msg):
    say(f"error: {msg}")
    sys.exit(1)


def run(argv, check=True, **kw):
    """Run a command, capturing its output; fail loudly on error."""
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)
    if check and p.returncode != 0:
        die(f"`{' '.join(map(str, argv))}` exited {p.returncode}: {p.stderr.strip()[-2000:]}")
    return p


def parallel(fn, items, workers=8):
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(fn, items))


# --------------------------------------------------------------------------
# The fleet: N containers with sshd as PID 1 on a docker network of its own.


class Fleet:
    def __init__(self, name):
        self.name = name
        self.dir = STATE_ROOT / name
        self.key = self.dir / "id_ed25519"
        self.known_hosts = self.dir / "known_hosts"
        self.ssh_config = self.dir / "ssh_config"
        self.hosts_yml = self.dir / "inventory" / "hosts.yml"
        self.pyinfra_inventory = self.dir / "pyinfra_inventory.py"
        self.ansible_cfg = self.dir / "ansible.cfg"
        self.ansible_cp = self.dir / "ansible-cp"
        self.floor_sh = self.dir / "floor.sh"
        self.logs = self.dir / "logs"
        self.hosts = []  # [(inventory name, container, address)]

    def container(self, i):
        return f"{self.name}-{i}"

    def existing(self):
        out = run(["docker", "ps", "-a", "--filter", f"label={LABEL}={self.name}", "--format", "{{.Names}} {{.State}}"]).stdout
        return dict(line.split() for line in out.splitlines() if line.strip())

    def up(self, n):
        p = subprocess.run([str(BENCHES / "lib" / "image.sh"), IMAGE])
        if p.returncode != 0:
            die("could not build the host image")
        existing = self.existing()
        wanted = {self.container(i) for i in range(1, n + 1)}
        if existing and (set(existing) != wanted or any(s != "running" for s in existing.values()) or not self.load()):
            say(f"replacing the {len(existing)} hosts of fleet {self.name}")
            self.down(keep_dir=False)
            existing = {}
        if existing:
            say(f"{n} hosts of fleet {self.name} already up")
            return
        if self.dir.exists():
            shutil.rmtree(self.dir)
        self.logs.mkdir(parents=True)
        (self.dir / "inventory").mkdir()
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"push-bench-{self.name}", "-f", str(self.key)])
        pubkey = (self.dir / "id_ed25519.pub").read_text().strip()
        if run(["docker", "network", "inspect", self.name], check=False).returncode != 0:
            run(["docker", "network", "create", "--label", f"{LABEL}={self.name}", self.name])
        say(f"starting {n} hosts ({IMAGE}, sshd as PID 1) on docker network {self.name}")
        t0 = time.monotonic()

        def start(i):
            c = self.container(i)
            log_dir = self.logs / c
            log_dir.mkdir()
            run(["docker", "run", "-d", "--name", c, "--hostname", f"bench-{i}", "--network", self.name,
                 "--label", f"{LABEL}={self.name}", "-e", f"BENCH_PUBKEY={pubkey}",
                 "-v", f"{log_dir}:/var/log/bench", IMAGE])

        parallel(start, range(1, n + 1), workers=4)
        names = [self.container(i) for i in range(1, n + 1)]
        fmt = "{{.Name}} {{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}"
        addresses = dict(line.lstrip("/").split() for line in run(["docker", "inspect", "-f", fmt, *names]).stdout.splitlines())
        self.hosts = [(f"bench-{i}", self.container(i), addresses[self.container(i)]) for i in range(1, n + 1)]
        deadline = time.monotonic() + 120
        keys = {}
        for _, c, _ in self.hosts:
            pub = self.logs / c / "host_key.pub"
            while not (pub.exists() and "Server listening" in (self.logs / c / "sshd.log").read_text()):
                if time.monotonic() > deadline:
                    die(f"host {c} did not start sshd: {run(['docker', 'logs', c], check=False).stderr[-500:]}")
                time.sleep(0.1)
            keys[c] = " ".join(pub.read_text().split()[:2])
        say(f"{n} hosts up in {time.monotonic() - t0:.1f} s")
        (self.dir / "hosts.json").write_text(json.dumps(self.hosts))
        self.write_files(keys)

    def load(self):
        try:
            self.hosts = [tuple(h) for h in json.loads((self.dir / "hosts.json").read_text())]
        except (OSError, ValueError):
            return False
        return True

    def down(self, keep_dir=False):
        names = list(self.existing())
        if names:
            run(["docker", "rm", "-f", *names])
        if run(["docker", "network", "inspect", self.name], check=False).returncode == 0:
            # Endpoints of just-removed containers may linger a moment.
            for _ in range(50):
                if run(["docker", "network", "rm", self.name], check=False).returncode == 0:
                    break
                time.sleep(0.2)
            else:
                # Seen after dockerd restarted under running hosts: stale
                # endpoints keep the (empty) network until dockerd restarts.
                # Harmless: `up` reuses it.
                say(f"warning: could not remove docker network {self.name}: "
                    f"{run(['docker', 'network', 'rm', self.name], check=False).stderr.strip()}")
        if not keep_dir and self.dir.exists():
            shutil.rmtree(self.dir)

    def write_files(self, keys):
        """One ssh_config, key and known_hosts for every tool, and each
        tool's inventory and settings."""
        self.known_hosts.write_text("".join(f"{n},{a} {keys[c]}\n" for n, c, a in self.hosts))
        cfg = ["# The push benchmark's ssh settings, the same for every tool.\n"]
        for n, _, a in self.hosts:
            cfg.append(f"Host {n} {a}\n  HostName {a}\n")
        cfg.append(
            "Host *\n"
            "  User root\n"
            f"  IdentityFile {self.key}\n"
            "  IdentitiesOnly yes\n"
            f"  UserKnownHostsFile {self.known_hosts}\n"
            "  GlobalKnownHostsFile /dev/null\n"
            "  StrictHostKeyChecking yes\n"
            "  UpdateHostKeys no\n"
            # OpenSSH 9's default (sntrup761x25519) costs ~10x the client CPU.
            "  KexAlgorithms curve25519-sha256\n"
            "  BatchMode yes\n"
            "  ConnectTimeout 30\n"
            "  LogLevel ERROR\n"
        )
        self.ssh_config.write_text("".join(cfg))
        n = len(self.hosts)
        # push and Ansible read the same inventory.
        inv = ["bench:\n  hosts:\n"]
        for name, _, a in self.hosts:
            inv.append(f"    {name}:\n      ansible_host: {a}\n")
        inv.append("  vars:\n    ansible_user: root\n    ansible_python_interpreter: /usr/bin/python3\n")
        self.hosts_yml.write_text("".join(inv))
        # Ansible as its docs recommend for speed: pipelining, ControlPersist
        # (its default ssh_args), forks = N, no fact gathering (the workload
        # needs none), no interpreter discovery (a round trip per host).
        self.ansible_cfg.write_text(
            "[defaults]\n"
            f"inventory = {self.hosts_yml}\n"
            f"forks = {n}\n"
            "gathering = explicit\n"
            "host_key_checking = True\n"
            "interpreter_python = /usr/bin/python3\n"
            "retry_files_enabled = False\n"
            "nocolor = True\n"
            "[ssh_connection]\n"
            "pipelining = True\n"
            f"ssh_args = -F {self.ssh_config} -C -o ControlMaster=auto -o ControlPersist=60s\n"
            f"control_path_dir = {self.ansible_cp}\n"
        )
        # pyinfra (paramiko) with its defaults; same key, known_hosts and
        # ssh_config. Paramiko has no KexAlgorithms setting: it prefers
        # curve25519-sha256 itself.
        data = {
            "ssh_user": "root",
            "ssh_key": str(self.key),
            "ssh_known_hosts_file": str(self.known_hosts),
            "ssh_strict_host_key_checking": "yes",
            "ssh_config_file": str(self.ssh_config),
            "ssh_allow_agent": False,
            "ssh_look_for_keys": False,
        }
        hosts = ",\n".join(f"    ({name!r}, {{'ssh_hostname': {a!r}, **_data}})" for name, _, a in self.hosts)
        self.pyinfra_inventory.write_text(
            "# Written by benches/run: the benchmark hosts for pyinfra.\n"
            f"_data = {data!r}\n"
            f"bench = [\n{hosts},\n]\n"
        )
        # The floor: one `ssh HOST true` per host, all at once, no
        # connection reuse: what connection setup alone costs.
        lines = ["#!/bin/sh\n", "# The floor: one `ssh HOST true` per host, all at once, no connection reuse.\n",
                 'failed="$(mktemp)"\n']
        for name, _, _ in self.hosts:
            lines.append(f"(ssh -F {self.ssh_config} -o ControlMaster=no -o ControlPath=none {name} true || echo {name} >>\"$failed\") &\n")
        lines.append('wait\nif [ -s "$failed" ]; then echo "failed: $(cat "$failed")" >&2; rm -f "$failed"; exit 1; fi\nrm -f "$failed"\n')
        self.floor_sh.write_text("".join(lines))
        self.floor_sh.chmod(0o755)

    def exec_all(self, script):
        """Run a script in every host with `docker exec` (out of band: it
        is not an SSH session and is not counted)."""
        text = (WORKLOAD / script).read_text()

        def one(h):
            p = subprocess.run(["docker", "exec", "-i", h[1], "sh", "-s"], input=text, capture_output=True, text=True)
            if p.returncode != 0:
                die(f"{script} on {h[1]} exited {p.returncode}: {p.stderr.strip()}")
            return h[0], p.stdout

        return dict(parallel(one, self.hosts, workers=6))

    def reset(self):
        self.exec_all("reset.sh")

    def states(self):
        return self.exec_all("state.sh")

    def clear_logs(self):
        for _, c, _ in self.hosts:
            # sshd appends (O_APPEND): truncating from outside is safe.
            with open(self.logs / c / "sshd.log", "w"):
                pass

    def cpu_files(self):
        """Each host's cgroup CPU counter (ns, cgroup v1; µs, v2)."""
        if getattr(self, "_cpu_files", None) is None:
            ids = run(["docker", "inspect", "-f", "{{.Id}}", *[c for _, c, _ in self.hosts]]).stdout.split()
            files = []
            for i in ids:
                v1 = Path(f"/sys/fs/cgroup/cpuacct/docker/{i}/cpuacct.usage")
                v2 = Path(f"/sys/fs/cgroup/system.slice/docker-{i}.scope/cpu.stat")
                files.append((v1, 1e-9) if v1.exists() else (v2, 1e-6) if v2.exists() else None)
            self._cpu_files = files if all(files) else []
        return self._cpu_files

    def host_cpu(self):
        """CPU seconds all hosts have used so far (None if unknown): sshd,
        the remote shells and Python, on this machine's cores."""
        files = self.cpu_files()
        if not files:
            return None
        total = 0.0
        for path, unit in files:
            text = path.read_text()
            if path.name == "cpu.stat":
                text = next(l.split()[1] for l in text.splitlines() if l.startswith("usage_usec"))
            total += int(text) * unit
        return total

    def sessions(self):
        """Per host: (sessions, connections) sshd logged since clear_logs."""
        out = {}
        for name, c, _ in self.hosts:
            text = (self.logs / c / "sshd.log").read_text(errors="replace")
            out[name] = (text.count("Starting session:"), text.count("Accepted publickey"))
        return out


# --------------------------------------------------------------------------
# The tools.


def ensure_venv():
    marker = VENV / ".push-bench-specs"
    specs = "\n".join(PEER_SPECS)
    if (VENV / "bin" / "ansible-playbook").exists() and (VENV / "bin" / "pyinfra").exists() \
            and marker.exists() and marker.read_text() == specs:
        return
    python = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else sys.executable
    say(f"installing {', '.join(PEER_SPECS)} into {VENV} (from PyPI)")
    if not (VENV / "bin" / "pip").exists():
        run([python, "-m", "venv", str(VENV)])
    run([str(VENV / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check", *PEER_SPECS])
    marker.write_text(specs)


def ensure_push(path):
    if path:
        p = Path(path).resolve()
        if not os.access(p, os.X_OK):
            die(f"{p} is not an executable")
        return p
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    say(f"cargo build --release (CARGO_TARGET_DIR={target})")
    p = subprocess.run(["cargo", "build", "--release", "--quiet", "-p", "push-cli"], cwd=REPO)
    if p.returncode != 0:
        die("cargo build --release failed")
    return target / "release" / "push"


class Tools:
    def __init__(self, fleet, push_bin):
        self.fleet = fleet
        self.push_bin = push_bin
        self.env = dict(os.environ, PATH=f"{VENV / 'bin'}:{os.environ.get('PATH', '/usr/bin:/bin')}",
                        ANSIBLE_CONFIG=str(fleet.ansible_cfg), ANSIBLE_NOCOLOR="1", PYTHONUNBUFFERED="1")
        self.env.pop("SSH_AUTH_SOCK", None)

    def argv(self, tool):
        f = self.fleet
        n = str(len(f.hosts))
        if tool == "push":
            return [str(self.push_bin), "run", str(WORKLOAD / "push.yml"), "-i", str(f.hosts_yml),
                    "--ssh-config", str(f.ssh_config), "-f", n, "--format", "json"]
        if tool == "ansible":
            return [str(VENV / "bin" / "ansible-playbook"), str(WORKLOAD / "ansible.yml")]
        if tool == "pyinfra":
            return [str(VENV / "bin" / "pyinfra"), "-y", str(f.pyinfra_inventory), str(WORKLOAD / "deploy.py")]
        if tool == "floor":
            return ["sh", str(f.floor_sh)]
        raise ValueError(tool)

    def after(self, tool):
        """Untimed cleanup so every run starts with no connection: Ansible's
        ControlPersist masters outlive the run (by design, 60 s)."""
        if tool != "ansible" or not self.fleet.ansible_cp.exists():
            return
        for sock in self.fleet.ansible_cp.iterdir():
            subprocess.run(["ssh", "-F", "/dev/null", "-o", f"ControlPath={sock}", "-O", "exit", "bench"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while any(self.fleet.ansible_cp.iterdir()) and time.monotonic() < deadline:
            time.sleep(0.05)


def changed_count(tool, output):
    """How many task results a tool reported as changed, from its output."""
    if tool == "push":
        for line in output.splitlines():
            if line.startswith("{") and '"recap"' in line:
                rec = json.loads(line)
                if rec.get("event") == "recap":
                    return sum(h["changed"] for h in rec["hosts"].values())
        return None
    if tool == "ansible":
        counts = re.findall(r"^\S+\s+:\s+ok=\d+\s+changed=(\d+)", output, re.M)
        return sum(map(int, counts)) if counts else None
    if tool == "pyinfra":
        # The last line of pyinfra 3's results table:
        # "Grand total  HOSTS*OPS  SUCCESS  ERROR  NO-CHANGE", "-" for none;
        # SUCCESS counts operations that changed something.
        m = re.search(r"^\s*Grand total\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s*$", output, re.M)
        return None if not m else (0 if m.group(2) == "-" else int(m.group(2)))
    return 0


def push_remote_execs(output):
    for line in output.splitlines():
        if line.startswith("{") and '"recap"' in line:
            rec = json.loads(line)
            if rec.get("event") == "recap":
                return {h: s["remote_execs"] for h, s in rec["hosts"].items()}
    return {}


# --------------------------------------------------------------------------
# Measuring.

libc = ctypes.CDLL(None, use_errno=True)
PR_SET_CHILD_SUBREAPER = 36


def reap_orphans(wait_secs=5.0):
    """As a subreaper we inherit daemonized ssh masters: wait (a little)
    for them to exit and reap them, so their CPU counts for the run that
    started them."""
    deadline = time.monotonic() + wait_secs
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            if time.monotonic() > deadline:
                return
            time.sleep(0.02)


class TreeSampler(threading.Thread):
    """Peak proportional set size (PSS) of every process descending from us
    (with us as subreaper, daemonized ssh masters included), sampled every
    100 ms. PSS counts shared pages once, split among their users, so a
    hundred forked workers are not counted a hundred times."""

    def __init__(self):
        super().__init__(daemon=True)
        self.stop = threading.Event()
        self.peak_kb = 0
        self.peak_procs = 0

    def descendants(self):
        me = os.getpid()
        parent = {}
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    with open(f"/proc/{d}/stat") as f:
                        stat = f.read()
                    parent[int(d)] = int(stat.rsplit(")", 1)[1].split()[1])
                except (OSError, ValueError, IndexError):
                    pass
        children = {}
        for pid, pp in parent.items():
            children.setdefault(pp, []).append(pid)
        out, todo = [], list(children.get(me, []))
        while todo:
            pid = todo.pop()
            out.append(pid)
            todo.extend(children.get(pid, []))
        return out

    def run(self):
        while not self.stop.is_set():
            total = 0
            procs = self.descendants()
            for pid in procs:
                try:
                    with open(f"/proc/{pid}/smaps_rollup") as f:
                        for line in f:
                            if line.startswith("Pss:"):
                                total += int(line.split()[1])
                                break
                except OSError:
                    pass
            if total > self.peak_kb:
                self.peak_kb, self.peak_procs = total, len(procs)
            self.stop.wait(0.1)


def timed(tools, tool, log_path, sample=False):
    """Run one tool once: wall time, exit code, max RSS (/usr/bin/time),
    controller CPU (every process it started, daemonized ssh included:
    we are their subreaper), the hosts' CPU (their cgroups)."""
    argv = tools.argv(tool)
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    h0 = tools.fleet.host_cpu()
    with tempfile.NamedTemporaryFile(prefix="push-bench-time.", delete=False) as tf:
        time_file = tf.name
    sampler = TreeSampler() if sample else None
    with open(log_path, "w") as out:
        t0 = time.perf_counter()
        wrapper = ["/usr/bin/time", "-v", "-o", time_file] if Path("/usr/bin/time").exists() else []
        p = subprocess.Popen([*wrapper, *argv], stdout=out, stderr=subprocess.STDOUT,
                             env=tools.env, cwd=str(tools.fleet.dir))
        if sampler:
            sampler.start()
        rc = p.wait()
        wall = time.perf_counter() - t0
    if sampler:
        sampler.stop.set()
        sampler.join()
    tools.after(tool)
    reap_orphans()
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    h1 = tools.fleet.host_cpu()
    text = Path(time_file).read_text()
    os.unlink(time_file)
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
    cpu = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
    result = {"wall": wall, "rc": rc, "max_rss_kb": int(m.group(1)) if m else None, "cpu": cpu,
              "host_cpu": None if h0 is None else h1 - h0}
    if sampler:
        result["tree_pss_kb"] = sampler.peak_kb
        result["tree_procs"] = sampler.peak_procs
    return result


def one_run(fleet, tools, tool, mode, rnd, logdir, sample=False):
    """One measured run: reset first if `first`, clear sshd logs, run,
    count sessions."""
    if mode == "first":
        fleet.reset()
    fleet.clear_logs()
    log = logdir / f"{rnd:02d}-{tool}-{mode}{'-mem' if sample else ''}.log"
    r = timed(tools, tool, log, sample=sample)
    output = log.read_text(errors="replace")
    if r["rc"] != 0:
        die(f"{tool} ({mode}, round {rnd}) exited {r['rc']}; see {log}:\n{output[-3000:]}")
    sess = fleet.sessions()
    r.update(tool=tool, mode=mode, round=rnd, log=str(log),
             sessions={h: s for h, (s, _) in sess.items()},
             connections={h: c for h, (_, c) in sess.items()})
    if tool == "push":
        r["remote_execs"] = push_remote_execs(output)
    if tool != "floor":
        r["changed"] = changed_count(tool, output)
    return r


def verify(fleet, tools, logdir, tool_list):
    """Every tool: fresh hosts, converge, state; converge again: nothing
    may change. All states must be equal, host by host."""
    report = {"tools": {}, "equal": True, "idempotent": True}
    reference = None
    for tool in tool_list:
        first = one_run(fleet, tools, tool, "first", 0, logdir)
        state = fleet.states()
        noop = one_run(fleet, tools, tool, "noop", 0, logdir)
        again = fleet.states()
        entry = {
            "first_changed": first.get("changed"),
            "noop_changed": noop.get("changed"),
            "state_unchanged_by_noop": state == again,
            "states": state,
        }
        if reference is None:
            reference = (tool, state)
        else:
            diffs = {h: (reference[1][h], s) for h, s in state.items() if s != reference[1][h]}
            if diffs:
                report["equal"] = False
                h, (a, b) = next(iter(diffs.items()))
                say(f"state after {tool} differs from {reference[0]} on {len(diffs)} host(s), e.g. {h}:")
                for la, lb in zip(a.splitlines(), b.splitlines()):
                    if la != lb:
                        say(f"  {reference[0]}: {la}\n         {tool}: {lb}")
        if entry["noop_changed"] != 0 or not entry["state_unchanged_by_noop"]:
            report["idempotent"] = False
            say(f"{tool}: the second run was not a no-op (changed: {entry['noop_changed']}, state unchanged: {entry['state_unchanged_by_noop']})")
        sample_host = fleet.hosts[0][0]
        say(f"{tool}: converged ({first.get('changed')} changed), then no-op ({entry['noop_changed']} changed); "
            f"state of {sample_host} hashes to {short_hash(state[sample_host])}")
        report["tools"][tool] = entry
    return report


def short_hash(text):
    import hashlib
    return hashlib.sha256(text.encode()).hexdigest()[:12]


# --------------------------------------------------------------------------
# Reporting.


def machine_info():
    cpu = ""
    try:
        cpu = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    mem_kb = int(next(l.split()[1] for l in open("/proc/meminfo") if l.startswith("MemTotal")))
    return {"nproc": os.cpu_count(), "cpu": cpu, "mem_gib": round(mem_kb / 1024 / 1024, 1),
            "kernel": platform.release(), "date": datetime.date.today().isoformat()}


def versions(push_bin):
    def first_line(argv):
        # A tool left out with --tools may not be installed at all.
        try:
            p = subprocess.run(argv, capture_output=True, text=True)
        except FileNotFoundError:
            return "not installed"
        return (p.stdout.strip() or p.stderr.strip()).splitlines()[0] if (p.stdout or p.stderr) else "?"
    push = first_line([str(push_bin), "--version"])
    rev = subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty"], capture_output=True, text=True).stdout.strip()
    return {
        "push": f"{push} ({rev})" if rev else push,
        "ansible": first_line([str(VENV / "bin" / "ansible"), "--version"]),
        "pyinfra": first_line([str(VENV / "bin" / "pyinfra"), "--version"]),
        "openssh": first_line(["ssh", "-V"]),
        "docker": first_line(["docker", "version", "--format", "{{.Server.Version}}"]),
    }


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def summarize(results, n):
    rows = {}
    for r in results:
        rows.setdefault((r["tool"], r["mode"]), []).append(r)
    summary = {}
    for (tool, mode), rs in rows.items():
        walls = [r["wall"] for r in rs]
        per_host = [s for r in rs for s in r["sessions"].values()]
        conns = [c for r in rs for c in r["connections"].values()]
        host_cpu = [r["host_cpu"] for r in rs if r.get("host_cpu") is not None]
        entry = {
            "median": med(walls), "min": min(walls), "max": max(walls), "runs": len(walls),
            "cpu": med([r["cpu"] for r in rs]),
            "host_cpu_ms_per_host": med(host_cpu) * 1000 / n if host_cpu else None,
            "max_rss_mb": max(r["max_rss_kb"] for r in rs) / 1024,
            "sessions_per_host": med(per_host), "sessions_per_host_max": max(per_host),
            "connections_per_host": med(conns),
        }
        if tool == "push":
            entry["remote_execs"] = med([e for r in rs for e in r.get("remote_execs", {}).values()])
        summary.setdefault(tool, {})[mode] = entry
    return summary


def fmt_range(e):
    return f"{e['median']:.2f} ({e['min']:.2f}-{e['max']:.2f})"


def render(summary, mem, n, runs, info, vers, load):
    floor = summary.get("floor", {}).get("floor")
    push = summary.get("push")
    out = [f"{n} hosts; {runs} runs of each, the tools alternated run by run; wall-clock seconds, median (min-max).", ""]
    out.append("| | first converge | no-op converge | remote execs per host (first / no-op) | SSH connections per host "
               "| controller CPU s (first / no-op) | hosts' CPU ms per host (first / no-op) | max RSS MB |")
    out.append("|---|---|---|---|---|---|---|---|")
    ms = lambda v: "?" if v is None else f"{v:.0f}"
    for tool in TOOLS:
        if tool not in summary:
            continue
        f, o = summary[tool]["first"], summary[tool]["noop"]
        execs = f"{f['sessions_per_host']:g} / {o['sessions_per_host']:g}"
        if tool == "push" and (f.get("remote_execs"), o.get("remote_execs")) != (f["sessions_per_host"], o["sessions_per_host"]):
            execs += f" (recap says {f.get('remote_execs')} / {o.get('remote_execs')})"
        out.append(f"| {tool} | {fmt_range(f)} | {fmt_range(o)} | {execs} | {o['connections_per_host']:g} "
                   f"| {f['cpu']:.1f} / {o['cpu']:.1f} | {ms(f['host_cpu_ms_per_host'])} / {ms(o['host_cpu_ms_per_host'])} "
                   f"| {max(f['max_rss_mb'], o['max_rss_mb']):.0f} |")
    if floor:
        out.append(f"| floor: `ssh HOST true`, all hosts at once | {fmt_range(floor)} | | 1 | 1 | {floor['cpu']:.1f} "
                   f"| {ms(floor['host_cpu_ms_per_host'])} | {floor['max_rss_mb']:.0f} |")
    out.append("")
    if push:
        out.append("| median wall time, ratio | first converge | no-op converge |")
        out.append("|---|---|---|")
        for tool in ("ansible", "pyinfra"):
            if tool in summary:
                t = summary[tool]
                out.append(f"| {tool} / push | {t['first']['median'] / push['first']['median']:.1f}x "
                           f"| {t['noop']['median'] / push['noop']['median']:.1f}x |")
        if floor:
            out.append(f"| push / floor | {push['first']['median'] / floor['median']:.2f}x | {push['noop']['median'] / floor['median']:.2f}x |")
        out.append("")
    if mem:
        out.append("Controller memory, from one more run of each tool and mode: max RSS of its largest process "
                   "(`/usr/bin/time -v`), and the peak sum of PSS over all its processes, ssh included (sampled every 100 ms).")
        out.append("")
        out.append("| | max RSS MB (first / no-op) | all processes, PSS MB (first / no-op) | processes at the peak |")
        out.append("|---|---|---|---|")
        for tool in [t for t in TOOLS if t in mem]:
            f, o = mem[tool]["first"], mem[tool]["noop"]
            out.append(f"| {tool} | {f['max_rss_kb'] / 1024:.0f} / {o['max_rss_kb'] / 1024:.0f} "
                       f"| {f['tree_pss_kb'] / 1024:.0f} / {o['tree_pss_kb'] / 1024:.0f} | {max(f['tree_procs'], o['tree_procs'])} |")
        out.append("")
    out.append(f"Machine: {info['nproc']} cores ({info['cpu']}), {info['mem_gib']} GiB, Linux {info['kernel']}, "
               f"{info['date']}; load average {load[0]:.1f} before, {load[1]:.1f} after. "
               "The hosts run on the same cores as the controller.  ")
    out.append(f"Versions: {vers['push']}; {vers['ansible']}; pyinfra {vers['pyinfra'].split()[-1]}; {vers['openssh'].split(',')[0]}; "
               f"Docker {vers['docker']}.")
    return "\n".join(out)


# --------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(prog="benches/run", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("action", nargs="?", default="bench", choices=["bench", "verify", "up", "down"],
                    help="bench (default): up, verify, measure, table, down; verify: up, equivalence check, down; "
                         "up / down: just the hosts")
    ap.add_argument("--hosts", type=int, default=30, help="number of hosts (default 30)")
    ap.add_argument("--runs", type=int, default=5, help="measured runs per tool and mode (default 5)")
    ap.add_argument("--tools", default=",".join(TOOLS), help="comma-separated subset of push,ansible,pyinfra")
    ap.add_argument("--name", default="push-bench", help="fleet name: containers NAME-1.., network NAME (default push-bench)")
    ap.add_argument("--push", help="push binary to measure (default: cargo build --release)")
    ap.add_argument("--keep", action="store_true", help="leave the hosts up afterwards")
    ap.add_argument("--no-memory", action="store_true", help="skip the extra runs that sample the process tree's memory")
    ap.add_argument("--json", help="also write the results as JSON to this file")
    args = ap.parse_args()

    tool_list = [t for t in args.tools.split(",") if t]
    for t in tool_list:
        if t not in TOOLS:
            die(f"unknown tool {t!r} (push, ansible, pyinfra)")
    if not 1 <= args.hosts <= 250:
        die("--hosts must be between 1 and 250")
    if run(["docker", "info"], check=False).returncode != 0:
        die("no Docker engine answers `docker info` (start one: dockerd >/var/log/dockerd.log 2>&1 &)")
    if args.action == "bench" and not Path("/usr/bin/time").exists():
        die("/usr/bin/time is missing (apt-get install time)")

    fleet = Fleet(args.name)
    if args.action == "down":
        fleet.down()
        say(f"fleet {args.name} removed")
        return
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    fleet.up(args.hosts)
    if args.action == "up":
        say(f"ssh -F {fleet.ssh_config} bench-1")
        return
    try:
        push_bin = ensure_push(args.push) if "push" in tool_list else None
        if "ansible" in tool_list or "pyinfra" in tool_list:
            ensure_venv()
        tools = Tools(fleet, push_bin)
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        logdir = STATE_ROOT / "results" / f"{stamp}-{args.name}-{args.hosts}"
        logdir.mkdir(parents=True)
        say(f"logs in {logdir}")

        # Round 0, not timed: warms caches, and checks equivalence.
        report = verify(fleet, tools, logdir, tool_list)
        if args.action == "verify":
            print(json.dumps({"hosts": args.hosts, **report}, indent=1))
            if args.json:
                Path(args.json).write_text(json.dumps({"hosts": args.hosts, **report}, indent=1))
            if not (report["equal"] and report["idempotent"]):
                sys.exit(1)
            return
        if not (report["equal"] and report["idempotent"]):
            die("the workloads are not equivalent (see above): not measuring")

        results = []
        load_before = os.getloadavg()[0]
        for rnd in range(1, args.runs + 1):
            r = one_run(fleet, tools, "floor", "floor", rnd, logdir)
            results.append(r)
            line = [f"round {rnd}/{args.runs}: floor {r['wall']:.2f}"]
            for tool in tool_list:
                for mode in ("first", "noop"):
                    r = one_run(fleet, tools, tool, mode, rnd, logdir)
                    if mode == "noop" and r.get("changed") != 0:
                        die(f"{tool}: a no-op run changed {r['changed']} task results (see {r['log']})")
                    results.append(r)
                    line.append(f"{tool} {mode} {r['wall']:.2f}")
            say(", ".join(line))

        mem = {}
        if not args.no_memory:
            for tool in tool_list:
                mem[tool] = {mode: one_run(fleet, tools, tool, mode, 99, logdir, sample=True) for mode in ("first", "noop")}
            say("memory: " + ", ".join(f"{t} {m['noop']['tree_pss_kb'] / 1024:.0f} MB" for t, m in mem.items()))

        summary = summarize(results, args.hosts)
        info, vers = machine_info(), versions(push_bin or "push")
        load = (load_before, os.getloadavg()[0])
        table = render(summary, mem, args.hosts, args.runs, info, vers, load)
        print(table)
        (logdir / "table.md").write_text(table + "\n")
        data = {"hosts": args.hosts, "runs": args.runs, "machine": info, "versions": vers, "load": load, "summary": summary,
                "memory": mem, "results": results, "verify": {k: v for k, v in report.items() if k != "tools"}}
        (logdir / "results.json").write_text(json.dumps(data, indent=1))
        if args.json:
            Path(args.json).write_text(json.dumps(data, indent=1))
        say(f"table and raw results in {logdir}")
    finally:
        if not args.keep:
            fleet.down()


if __name__ == "__main__":
    main()
