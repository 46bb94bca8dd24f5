"""Named tokens: hashed at rest, revocable at once, last use recorded; and their commands."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from app.api.state import state_of
from app.auth.named_tokens import ApiTokenRow, TokenError, digest, list_tokens, revoke_token
from tests.auth.conftest import Api
from tests.serve_process import command_env, greenpulse

SITES = "/api/v1/sites"


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
async def test_only_digests_are_stored_and_revocation_applies_within_a_second(api: Api) -> None:
    with api.backend.factory() as session:
        stored = set(session.scalars(select(ApiTokenRow.token_sha256)))
    assert digest(api.viewer) in stored and api.viewer not in stored
    assert (await api.http.get(SITES, headers=api.bearer(api.viewer))).status_code == 200

    with api.backend.factory() as session, session.begin():
        revoke_token(session, "dashboard", now=datetime.now(UTC))
    revoked_at = time.monotonic()
    while (await api.http.get(SITES, headers=api.bearer(api.viewer))).status_code != 401:
        assert time.monotonic() - revoked_at < 1.0, "a revoked token still opened the API"
    assert (await api.http.get(SITES, headers=api.bearer(api.admin))).status_code == 200
    with api.backend.factory() as session, session.begin(), pytest.raises(TokenError):
        revoke_token(session, "dashboard", now=datetime.now(UTC))


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_last_use_is_recorded(api: Api) -> None:
    before = datetime.now(UTC)
    assert (await api.http.get(SITES, headers=api.bearer(api.admin))).status_code == 200
    state_of(api.app).token_store.flush_last_use(api.backend.factory, force=True)
    with api.backend.factory() as session:
        used = {t.name: t.last_used_at for t in list_tokens(session)}
    assert used["ops"] is not None and used["ops"] >= before.replace(microsecond=0)
    assert used["hall wall"] is None


def test_token_commands(tmp_path: Path) -> None:
    env = command_env(f"sqlite:///{tmp_path / 'tokens.db'}")
    refused = greenpulse(env, "token", "list", cwd=tmp_path)
    assert refused.returncode == 1 and "greenpulse migrate" in refused.stderr
    assert greenpulse(env, "migrate", cwd=tmp_path).returncode == 0
    made = greenpulse(env, "token", "create", "--role", "kiosk", "--name", "hall 2", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip().splitlines()[-1]
    assert token.startswith("gp_") and len(token) > 40
    twice = greenpulse(env, "token", "create", "--role", "admin", "--name", "hall 2", cwd=tmp_path)
    assert twice.returncode == 1 and "exists" in twice.stderr
    bad_role = greenpulse(env, "token", "create", "--role", "root", "--name", "x", cwd=tmp_path)
    assert bad_role.returncode != 0
    listed = greenpulse(env, "token", "list", cwd=tmp_path)
    assert "hall 2" in listed.stdout and "kiosk" in listed.stdout
    assert token not in listed.stdout
    gone = greenpulse(env, "token", "revoke", "hall 2", cwd=tmp_path)
    assert gone.returncode == 0 and "revoked" in gone.stdout
    again = greenpulse(env, "token", "revoke", "hall 2", cwd=tmp_path)
    assert again.returncode == 1 and "already" in again.stderr
