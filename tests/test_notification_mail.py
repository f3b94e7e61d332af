"""Notifications reach people by e-mail when an SMTP host is configured, each exactly once."""

from __future__ import annotations

import socket

import pytest
from aiosmtpd.controller import Controller

from abs_registry import create_app
from abs_registry.notifications import outbox


class Inbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        self.messages.append(envelope)
        return "250 OK"


@pytest.fixture
def smtp():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


def test_unsent_notifications_are_mailed_once_in_the_readers_language(settings, world,
                                                                       session, smtp):
    inbox, port = smtp
    english = world.member()
    chinese = world.member()
    chinese.locale = "zh_Hans_CN"
    session.commit()
    outbox.notify(session, [english, chinese], "application_approve",
                  "/applications/CN-APP-2026-000001", reference="CN-APP-2026-000001")
    session.commit()

    settings.smtp_host, settings.smtp_port, settings.smtp_starttls = "127.0.0.1", port, False
    settings.public_url = "https://abs.example.cn"
    app = create_app(settings)
    runner = app.test_cli_runner()
    first = runner.invoke(args=["notifications", "send"])
    assert first.exit_code == 0, first.output
    assert "sent 2" in first.output
    by_rcpt = {m.rcpt_tos[0]: m.content.decode() for m in inbox.messages}
    assert set(by_rcpt) == {english.email, chinese.email}
    assert "Application CN-APP-2026-000001 was approved." in by_rcpt[english.email]
    assert "https://abs.example.cn/applications/CN-APP-2026-000001" in by_rcpt[english.email]
    assert "Subject: =?utf-8?" in by_rcpt[chinese.email]  # a Chinese subject, MIME-encoded
    assert "申请 CN-APP-2026-000001 已获批准。" in by_rcpt[chinese.email]

    again = runner.invoke(args=["notifications", "send"])
    assert "sent 0" in again.output
    assert len(inbox.messages) == 2


def test_without_an_smtp_host_nothing_is_sent_and_the_command_says_so(app, world, session):
    outbox.notify(session, [world.member()], "application_approve", "/x", reference="R")
    session.commit()
    result = app.test_cli_runner().invoke(args=["notifications", "send"])
    assert result.exit_code == 0
    assert "e-mail is off" in result.output
