"""Without users the dashboard is one local user with every role: it serves only the machine it runs on."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from dashboard import auth


@pytest.mark.parametrize(("address", "local"), [(None, True), ("", True), ("127.0.0.1", True),
                                                 ("::1", True), ("127.0.1.1", True), ("10.0.0.5", False),
                                                 ("192.168.1.20", False)])
def test_only_a_browser_on_this_machine_is_the_local_user(monkeypatch, address, local):
    monkeypatch.setattr(auth.st, "context", SimpleNamespace(ip_address=address))
    assert auth.from_this_machine() is local


def test_the_message_says_how_to_open_it_elsewhere():
    assert "users add" in auth.REMOTE_WITHOUT_USERS and "machine it runs on" in auth.REMOTE_WITHOUT_USERS
