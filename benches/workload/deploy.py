# The benchmark workload for pyinfra: the same 10 tasks as push.yml, in
# pyinfra's words (the bench checks all three tools leave every host in the
# same state). Run as: pyinfra -y INVENTORY.py deploy.py
from io import StringIO
from pathlib import Path

from pyinfra import host
from pyinfra.facts.files import File
from pyinfra.operations import apt, files, server

HERE = Path(__file__).resolve().parent
BENCH_PORT = 8080
BENCH_WORKERS = 4

UNIT = """[Unit]
Description=push benchmark app
After=network.target

[Service]
ExecStart=/bin/sleep infinity
Restart=always

[Install]
WantedBy=multi-user.target
"""

files.directory(name="app folder", path="/opt/bench", mode="755")
files.directory(name="config folder", path="/opt/bench/conf.d", mode="750")
files.put(
    name="motd",
    src=StringIO("This host is part of the push benchmark.\n"),
    dest="/opt/bench/motd",
    mode="644",
)
files.template(
    name="app config from a template",
    src=str(HERE / "templates" / "app.conf.j2"),
    dest="/opt/bench/app.conf",
    mode="640",
    inventory_hostname=host.name,
    bench_port=BENCH_PORT,
    bench_workers=BENCH_WORKERS,
)
# A unit file only: the hosts run sshd alone, no systemd to start it.
files.put(name="systemd unit file", src=StringIO(UNIT), dest="/etc/systemd/system/bench-app.service", mode="644")
files.line(name="mode line in the env file", path="/opt/bench/app.env", line="^BENCH_MODE=", replace="BENCH_MODE=fast")
files.link(name="current config link", path="/opt/bench/current", target="/opt/bench/app.conf")
server.group(name="bench group", group="bench")
apt.packages(name="openssh-server installed (it is)", packages=["openssh-server"])
# pyinfra has no `creates`: a fact decides, as its docs suggest.
if not host.get_fact(File, path="/opt/bench/initialized"):
    server.shell(name="one-time initialisation", commands=["cp /opt/bench/motd /opt/bench/initialized"])
