"""Test harness helpers: where the infrastructure comes from, isolation, and fault tools.

Order (issue 2): endpoints from ``DRIVERHOME_TEST_KAFKA`` / ``DRIVERHOME_TEST_MONGO_URL`` if set;
testcontainers if a Docker engine answers; otherwise the project's local infrastructure
(``deploy/local/infra.sh``), started once per test run and stopped afterwards if we started it.

A secured broker (issue 12) comes with its development credentials file
(``DRIVERHOME_TEST_KAFKA_CREDENTIALS``, or the local infrastructure's
``<infra dir>/kafka/credentials.json``): services built by the harness authenticate as their own
principal of ``deploy/access.yaml``, whose grants each test run receives under its own topic
prefix; the harness's own tools (topic cleanup, the DLQ watchdog, test producers and readers)
authenticate as the admin.
"""

from common.testing.faults import TcpProxy, UpdateConflictWatch
from common.testing.grants import grant_run, grants_in_force, revoke_run, run_grants
from common.testing.infra import (
    INFRA_SCRIPT,
    REPO_ROOT,
    Infra,
    access_table,
    drop_run,
    kafka_options,
    provide_infra,
)
from common.testing.processes import ServiceProcess
from common.testing.synthetic import (
    id_check_digit,
    synthetic_national_id,
    synthetic_phone,
    unique_name,
    with_wrong_check_digit,
)
from common.testing.topics import dead_letters, headers_of, read_topic, unexpected_dead_letters
from common.testing.waiting import wait_until

__all__ = [
    "INFRA_SCRIPT",
    "REPO_ROOT",
    "Infra",
    "ServiceProcess",
    "TcpProxy",
    "UpdateConflictWatch",
    "access_table",
    "dead_letters",
    "drop_run",
    "grant_run",
    "grants_in_force",
    "headers_of",
    "id_check_digit",
    "kafka_options",
    "provide_infra",
    "read_topic",
    "revoke_run",
    "run_grants",
    "synthetic_national_id",
    "synthetic_phone",
    "unexpected_dead_letters",
    "unique_name",
    "wait_until",
    "with_wrong_check_digit",
]
