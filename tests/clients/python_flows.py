"""The main flows of Dango driven through a Python client generated from the committed
openapi/openapi.json by openapi-python-client (run by .ci/run against a live server).

A generated client trusts the document completely: every response must parse into the
declared models, with `raise_on_unexpected_status=True` every status must be documented.

Usage: python_flows.py BASE_URL EMAIL PASSWORD KEY_FILE
(the project has a `csv` source `sales`; the API key created here, and the ids of a user
and a key the fuzzer may change, are written to KEY_FILE as JSON for the fuzzing step).
"""

import io
import json
import sys
import time
from typing import TypeVar

from dango_client import AuthenticatedClient, Client
from dango_client.api.authentication import (
    create_api_key,
    list_api_keys,
    list_sessions,
    login,
    me,
)
from dango_client.api.csv_operations import list_files, upload_file
from dango_client.api.data_catalog import catalog_model, catalog_models
from dango_client.api.dbt_operations import list_dbt_models, run_dbt
from dango_client.api.health_status import platform_health, status, watcher_status
from dango_client.api.sources import list_sources, source_details
from dango_client.api.sync import sync_source, sync_status
from dango_client.api.user_management import create_user, list_users
from dango_client.models import (
    CreateApiKeyRequest,
    CreatedApiKey,
    CreatedUserResponse,
    CreateUserRequest,
    CreateUserRequestRole,
    DbtModelList,
    DbtRunRequest,
    DbtRunResponse,
    ErrorBody,
    FileList,
    LoginRequest,
    LoginResponse,
    MeResponse,
    ModelDetail,
    RunStatus,
    SourceDetails,
    SourceSyncRequest,
    SourceSyncResponse,
    StatusResponse,
    UploadFileBody,
    UploadResponse,
    UserList,
)
from dango_client.types import File

T = TypeVar("T")


def ok(answer: object, expected: type[T]) -> T:
    """The parsed success answer (a documented error parses into ErrorBody instead)."""
    if isinstance(answer, ErrorBody):
        raise AssertionError(f"{expected.__name__} expected, got error {answer.code}: {answer.detail}")
    assert isinstance(answer, expected), f"{expected.__name__} expected, got {answer!r}"
    return answer


def wait_for(client: AuthenticatedClient, run_id: str) -> str:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        run = ok(sync_status.sync(run_id, client=client), RunStatus)
        if str(run.status) in ("success", "failed", "cancelled"):
            return str(run.status)
        time.sleep(0.2)
    raise AssertionError(f"run {run_id} did not finish")


def main(url: str, email: str, password: str, key_file: str) -> None:
    anonymous = Client(base_url=url, raise_on_unexpected_status=True)
    health = ok(status.sync(client=anonymous), StatusResponse)
    assert str(health.status) == "healthy", health
    nobody = ok(me.sync(client=anonymous), MeResponse)
    assert nobody.authenticated is False, nobody

    # A browser-like session: the cookie is kept by the client, changes carry the CSRF header.
    browser = Client(
        base_url=url,
        headers={"X-Requested-With": "python-client"},
        raise_on_unexpected_status=True,
    )
    answer = ok(login.sync(client=browser, body=LoginRequest(email=email, password=password)), LoginResponse)
    assert str(answer.status) == "ok", answer
    myself = ok(me.sync(client=browser), MeResponse)
    assert myself.email == email and myself.user is not None and myself.user.email == email
    key = ok(create_api_key.sync(client=browser, body=CreateApiKeyRequest(name="python client")), CreatedApiKey)
    assert key.key.startswith("dango_ak_")
    keys = list_api_keys.sync(client=browser)
    assert isinstance(keys, list) and any(k.id == key.id for k in keys)
    sessions = list_sessions.sync(client=browser)
    assert isinstance(sessions, list) and any(s.is_current for s in sessions)

    api = AuthenticatedClient(base_url=url, token=key.key, raise_on_unexpected_status=True)
    sources = list_sources.sync(client=api)
    assert isinstance(sources, list) and [s.name for s in sources] == ["sales"], sources
    assert str(ok(source_details.sync("sales", client=api), SourceDetails).status) == "not_synced"

    csv = b"id,amount\n1,10\n2,20\n3,30\n"
    uploaded = ok(
        upload_file.sync(
            "sales",
            client=api,
            body=UploadFileBody(file=File(payload=io.BytesIO(csv), file_name="orders.csv", mime_type="text/csv")),
        ),
        UploadResponse,
    )
    assert uploaded.success and uploaded.size == len(csv), uploaded
    started = ok(sync_source.sync("sales", client=api, body=SourceSyncRequest()), SourceSyncResponse)
    assert wait_for(api, started.run_id) == "success"
    after = list_sources.sync(client=api)
    assert isinstance(after, list)
    synced = after[0]
    assert synced.row_count == 3 and str(synced.status) == "synced", synced
    listing = ok(list_files.sync("sales", client=api), FileList)
    assert listing.files[0].filename == "orders.csv" and listing.files[0].loaded

    assert watcher_status.sync(client=api) is not None
    assert platform_health.sync(client=api) is not None

    models = ok(list_dbt_models.sync(client=api), DbtModelList)
    assert any(m.name == "stg_sales__sales" for m in models.models), models
    run = ok(run_dbt.sync(client=api, body=DbtRunRequest()), DbtRunResponse)
    assert wait_for(api, run.run_id) == "success"
    assert catalog_models.sync(client=api) is not None
    detail = ok(catalog_model.sync("stg_sales__sales", client=api), ModelDetail)
    assert detail.row_count == 3, detail

    users = ok(list_users.sync(client=api), UserList)
    assert any(u.email == email for u in users.users)
    created = ok(
        create_user.sync(
            client=api,
            body=CreateUserRequest(email="invited@example.com", role=CreateUserRequestRole.VIEWER),
        ),
        CreatedUserResponse,
    )
    assert created.invite_url, created

    # What the fuzzer may change or delete without locking itself out: another user and
    # another key (its own account and key stay usable for the whole run).
    decoy_key = ok(create_api_key.sync(client=browser, body=CreateApiKeyRequest(name="decoy")), CreatedApiKey)
    with open(key_file, "w") as out:
        json.dump({"key": key.key, "decoy_key_id": decoy_key.id, "decoy_user_id": created.user.id}, out)
    print("python client flows passed")


if __name__ == "__main__":
    main(*sys.argv[1:5])
