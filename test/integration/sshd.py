# SPDX-License-Identifier: GPL-2.0-or-later
"""An sshd of our own on 127.0.0.1, for streams through real ssh
(test_live.py, bench/bench_live.py): a generated host key and client key,
a private config (no PAM, StrictModes no, the client key authorized for
root), a free port; stop() tears it down."""
import os
import shutil
import socket
import subprocess
import time


class Sshd:
    def __init__(self, workdir, env_names=()):
        sshd = shutil.which("sshd") or "/usr/sbin/sshd"
        if not os.path.exists(sshd):
            raise RuntimeError("sshd is missing: tools/install-deps.sh installs openssh-server")
        self.dir = d = os.path.join(workdir, "ssh")
        os.makedirs(d)
        for name in ("host", "client"):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f",
                            os.path.join(d, name)], check=True)
        shutil.copy(os.path.join(d, "client.pub"), os.path.join(d, "authorized_keys"))
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        with open(os.path.join(d, "sshd_config"), "w") as f:
            f.write(f"ListenAddress 127.0.0.1\nPort {self.port}\n"
                    f"HostKey {d}/host\nAuthorizedKeysFile {d}/authorized_keys\n"
                    "PermitRootLogin prohibit-password\nPasswordAuthentication no\n"
                    "KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n"
                    f"PidFile {d}/sshd.pid\nAcceptEnv PGCLONE_*\n")
        os.makedirs("/run/sshd", exist_ok=True)     # its privilege separation dir
        self.log = open(os.path.join(d, "sshd.log"), "w")
        self.p = subprocess.Popen([sshd, "-D", "-e", "-f", os.path.join(d, "sshd_config")],
                                  stderr=self.log)
        deadline = time.time() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if time.time() > deadline or self.p.poll() is not None:
                    self.stop()
                    raise RuntimeError("sshd did not start: see " + self.log.name)
                time.sleep(0.1)
        self.env_names = env_names
        self.ssh = self.command()

    def command(self, *options):
        """The ssh command line to run a command as root through it, with
        more -o @options (e.g. "Compression=no") before the host."""
        d = self.dir
        return (f"ssh -p {self.port} -i {d}/client -o UserKnownHostsFile=/dev/null "
                "-o StrictHostKeyChecking=no -o BatchMode=yes -o LogLevel=ERROR "
                + " ".join(f"-o SendEnv={k}" for k in self.env_names)
                + "".join(f" -o {o}" for o in options) + " root@127.0.0.1")

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
            self.p.wait(timeout=30)
        self.log.close()

    def running(self):
        return self.p.poll() is None
