"""The OpenAPI schema is generated from the code, valid, and the API behaves as it says.

The schemathesis run is what `st run <server>/api/schema/ --checks all` does against a live
server, in process: every check; per operation, the coverage phase as one test item and the
examples and fuzzing phases as another (so pytest-xdist spreads them over its workers: as one item,
a segment operation took minutes, most of it coverage), and the stateful phase, which follows the
schema's links from create operations to the ones that read, change and delete, as one more.
"""

import copy
import json
import tomllib
from io import StringIO
from pathlib import Path

import pytest
import schemathesis
from django.conf import settings as settings_module
from django.core.management import call_command
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, connection, transaction
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, Phase, settings
from schemathesis.config import SchemathesisConfig

from tests.factories import CompanyFactory, make_api_key

pytestmark = pytest.mark.django_db


def test_schema_is_valid_openapi_3_without_warnings(tmp_path):
    target = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target), stdout=StringIO())
    text = target.read_text()
    assert text.startswith("openapi: 3.")
    assert "/api/api-keys/{id}" in text and "bearerAuth" in text and "X-Company-ID" in text


def test_schema_and_docs_are_served_without_a_key(client):
    assert client.get("/api/schema/").status_code == 200
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    # Swagger UI is vendored (drf-spectacular-sidecar): nothing loads from a CDN.
    assert "cdn" not in docs.content.decode().lower()


def _served(client) -> dict:
    return json.loads(client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").content)


def test_every_operation_documents_the_error_shape(client):
    spec = _served(client)
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for code in ("401", "403", "429"):
                assert code in operation["responses"], f"{method.upper()} {path} lacks {code}"
            success = next(code for code in operation["responses"] if code.startswith("2"))
            assert "X-RateLimit-Limit" in operation["responses"][success]["headers"], f"{method.upper()} {path}"


def test_create_operations_link_to_the_operations_on_what_they_created(client):
    responses = {
        operation["operationId"]: operation["responses"]
        for operations in _served(client)["paths"].values()
        for operation in operations.values()
    }

    def links(operation_id: str, code: str) -> dict:
        return {name: link["parameters"] for name, link in responses[operation_id][code].get("links", {}).items()}

    created_contact = links("contacts_create", "201")
    for target in ("contacts_retrieve", "contacts_update", "contacts_partial_update", "contacts_destroy"):
        assert created_contact[target] == {"path.id": "$response.body#/contact_id"}
    assert links("contacts_create", "200")["contacts_export_retrieve"] == {"path.id": "$response.body#/contact_id"}
    created_list = links("lists_create", "201")
    assert created_list["lists_members_create"] == {"path.id": "$response.body#/list_id"}
    assert created_list["contacts_list"] == {"query.list_id": "$response.body#/list_id"}
    assert "lists_members_destroy" not in created_list  # its contact_id does not come from a list
    # Its per-item results carry the ids of failed items too: no link promises those exist.
    assert links("lists_members_create", "200") == {}
    assert links("segments_create", "201")["segments_preview_retrieve"] == {"path.id": "$response.body#/segment_id"}
    assert links("blacklist_add", "201")["blacklist_remove"] == {"path.email": "$request.path.email"}
    assert links("fields_create", "201") == {}  # a field has no operations of its own


# --- Schemathesis -----------------------------------------------------------------------------------

# The schema as /api/schema/ serves it, built at collection so each operation is its own test item
# (test_the_tested_schema_is_the_served_one checks they are the same).
RAW_SCHEMA = json.loads(json.dumps(SchemaGenerator().get_schema(public=True), default=str))

# The run's rules are schemathesis.toml's, the file `st run` reads from the repository root (bin/fuzz-schema),
# so the live run and this one cannot drift apart: every rule, with its reason, is there. Only volume is
# set here (max-examples, and which phases each test item runs).
TOML_RULES = tomllib.loads((Path(settings_module.BASE_DIR) / "schemathesis.toml").read_text())
SETTINGS = {**TOML_RULES, "generation": {**TOML_RULES.get("generation", {}), "max-examples": 25}}
APP = get_wsgi_application()
PHASES = ("examples", "coverage", "fuzzing", "stateful")


def _schema(*phases: str):
    """The schema as served, tested with `phases` of schemathesis on and every check.

    A copy: schemathesis writes the links it infers (x-schemathesis) into the dict it is given when it
    builds the state machine, and RAW_SCHEMA must stay the schema as served."""
    config = {**SETTINGS, "phases": {phase: {"enabled": phase in phases} for phase in PHASES}}
    tested = schemathesis.openapi.from_dict(copy.deepcopy(RAW_SCHEMA), config=SchemathesisConfig.from_dict(config))
    tested.app = APP
    tested.auth(refresh_interval=None, retry_on=[])(TestKeyAuth)
    return tested


# The credentials of the running test: its own company and key, made by the `credentials` fixture.
CREDENTIALS: dict[str, str] = {}


class TestKeyAuth:
    """The Salloq Marketing API's two headers; schemathesis leaves them out itself where it tests missing
    credentials."""

    def get(self, case, context):
        return dict(CREDENTIALS)

    def set(self, case, data, context):
        case.headers = {**(case.headers or {}), **data}


@pytest.fixture
def credentials(db, settings):
    company = CompanyFactory(name="Fuzz Co")
    _, plain = make_api_key(company, hourly_limit=1_000_000)
    # Decoys to list, fetch and revoke; the fuzzer may well revoke its own key too, which is fine:
    # the stateful phase rolls every scenario back (StatefulFromTheSameDatabase).
    for n in range(3):
        make_api_key(company, name=f"fuzz target {n}")
    # The checks for missing credentials send thousands of keyless requests from one address.
    settings.API_ANONYMOUS_HOURLY_LIMIT = 1_000_000
    CREDENTIALS.update({"Authorization": f"Bearer {plain}", "X-Company-ID": str(company.pk)})
    # Like django.test.Client: a WSGI request must not close the test's database connection.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield CREDENTIALS
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
        CREDENTIALS.clear()


def test_the_tested_schema_is_the_served_one(client):
    assert _served(client) == RAW_SCHEMA


# Per operation, the coverage phase (the slow one) is one test item and the examples (few; many
# operations have none) and fuzzing are another. Both check the same: no 500s, answers as
# documented, valid input accepted, invalid input refused.
COVERAGE, EXAMPLES_AND_FUZZING = _schema("coverage"), _schema("examples", "fuzzing")
HYPOTHESIS_SETTINGS = settings(deadline=None, suppress_health_check=list(HealthCheck))


@COVERAGE.parametrize()
@HYPOTHESIS_SETTINGS
def test_coverage_cases_conform(case, credentials):
    """Each operation's boundary values and each way to break its constraints, one at a time."""
    case.call_and_validate()


@EXAMPLES_AND_FUZZING.parametrize()
@HYPOTHESIS_SETTINGS
def test_examples_and_fuzzed_cases_conform(case, credentials):
    """The schema's examples, then random valid and invalid input (Hypothesis, max-examples per operation)."""
    case.call_and_validate()


def _sequence_positions() -> list[tuple[str, int, bool]]:
    """Where each PostgreSQL sequence stands (rolling back a savepoint does not move them back)."""
    if connection.vendor != "postgresql":
        return []  # SQLite's AUTOINCREMENT counters are rows of sqlite_sequence: the rollback restores them
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT format('%I.%I', schemaname, sequencename), coalesce(last_value, start_value),"
            " last_value IS NOT NULL FROM pg_sequences"
        )
        return cursor.fetchall()


class StatefulFromTheSameDatabase(_schema(*PHASES).as_state_machine()):
    """Each scenario starts from the database the `credentials` fixture made, down to the next ids.

    Hypothesis needs a scenario to unfold the same way whenever it replays the same choices: the
    answers decide which links can be followed next. Left to pile up, one scenario's writes change
    the next one's answers (the same contact upserted again is a 200 where it was a 201, an id
    guessed as 1 exists or not, the test's own key revoked through GET /api/api-keys/ -> DELETE
    turns everything after into 401s), and Hypothesis stops with "Inconsistent data generation"
    instead of reporting anything. So every scenario runs in a savepoint rolled back after it, and
    the sequences are put back where they were.
    """

    def setup(self):
        self._savepoint = transaction.savepoint()
        self._sequences = _sequence_positions()

    def teardown(self):
        super().teardown()
        transaction.savepoint_rollback(self._savepoint)
        with connection.cursor() as cursor:
            for name, value, is_called in self._sequences:
                cursor.execute("SELECT setval(%s::regclass, %s, %s)", [name, value, is_called])


def test_stateful_sequences_through_the_links_conform(credentials):
    """Create, then read, change and delete what was created, following the schema's links."""
    StatefulFromTheSameDatabase.run(
        settings=settings(
            max_examples=40,
            stateful_step_count=8,
            deadline=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
    )
