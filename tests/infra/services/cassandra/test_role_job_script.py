"""The role Job's shell (infra/services/cassandra/roles.py) run with a stand-in `cqlsh` that records its calls:
the credentials files cqlsh reads (cqlshlib/authproviderhandling.py, section [PlainTextAuthProvider]), the password
substituted from the environment only into files under the writable HOME, and ALTER ROLE only when the role
cannot log in with the Secret's password. The statements themselves run against a real Cassandra in
tests/integration/test_cassandra.py."""

from __future__ import annotations

import subprocess
from pathlib import Path

from infra.config.cassandra import CassandraConfig
from infra.services.cassandra import roles

STUB = """#!/bin/bash
echo "HOME=$HOME $*" >> "$CALLS"
[ "$HOME" = "$ROLE_HOME" ] && exit "$ROLE_LOGIN_RC"
exit 0
"""


def run(tmp_path: Path, role_can_log_in: bool) -> tuple[list[str], Path]:
    bin_dir, etc, home = tmp_path / "bin", tmp_path / "etc", tmp_path / "home"
    for d in (bin_dir, etc, home):
        d.mkdir()
    (bin_dir / "cqlsh").write_text(STUB)
    (bin_dir / "cqlsh").chmod(0o755)
    (etc / "role.cql").write_text(roles.role_cql(CassandraConfig(), "app", "app"))
    (etc / "rotate.cql").write_text(roles.password_cql("app"))
    script = roles._SCRIPT.replace("/etc/role/", f"{etc}/").replace("sleep 6", "sleep 0")
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(home), "CQL_HOST": "dc1-service", "CQL_PORT": "9042",
           "SUPERUSER": "su", "SUPERUSER_PASSWORD": "suPass1", "ROLE_NAME": "app", "ROLE_PASSWORD": "Rp4ss",
           "CALLS": str(tmp_path / "calls"), "ROLE_HOME": str(home / "role"),
           "ROLE_LOGIN_RC": "0" if role_can_log_in else "1"}
    done = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return (tmp_path / "calls").read_text().splitlines(), home


def test_new_role_gets_credentials_files_and_substituted_statements(tmp_path):
    calls, home = run(tmp_path, role_can_log_in=True)
    assert (home / ".cassandra" / "credentials").read_text() == \
        "[PlainTextAuthProvider]\nusername = su\npassword = suPass1\n"
    assert "username = app\npassword = Rp4ss" in (home / "role" / ".cassandra" / "credentials").read_text()
    assert "PASSWORD = 'Rp4ss'" in (home / "role.cql").read_text()
    assert oct((home / ".cassandra" / "credentials").stat().st_mode & 0o777) == "0o600"
    assert [c.split(" ", 1)[1] for c in calls] == [
        "dc1-service 9042 -e SELECT release_version FROM system.local",
        f"dc1-service 9042 -f {home}/role.cql",
        "dc1-service 9042 -e SELECT release_version FROM system.local"]  # the role logs in: no ALTER


def test_a_role_that_cannot_log_in_gets_its_password_reset(tmp_path):
    calls, home = run(tmp_path, role_can_log_in=False)
    assert calls[-1].endswith(f"-f {home}/rotate.cql") and calls[-1].startswith(f"HOME={home} ")
    assert (home / "rotate.cql").read_text() == "ALTER ROLE app WITH PASSWORD = 'Rp4ss';"
