"""The SMTP client of campaign sending (campaigns.smtp.SmtpSender) against a real server on
loopback that follows a script: each refusal at MAIL, RCPT, DATA and after the message, with and
without PIPELINING (RFC 2920) offered; what goes on the wire after DATA is what smtplib.data sends."""

import smtplib
import socket
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from campaigns import smtp
from campaigns.mime import RenderedMessage
from tests.campaigns.conftest import free_port, send_mail_to

MESSAGE = b"Subject: hi\r\n\r\n.a line that begins with a dot\r\nand one that does not\r\n"
# As it goes after DATA (without the ending dot).
STUFFED = MESSAGE.replace(b"\n.", b"\n..")


class ScriptedServer:
    """A line-by-line SMTP server in a thread. `script[command]` lists the replies to give to that
    command ("MAIL", "RCPT", "DATA", and "END" for the end of a message), one per use; once it runs
    out the server answers as Postfix does (DATA refused when no recipient was accepted). A 421
    reply closes the connection. It notes the commands of each read, so a test sees which ones
    arrived in one write, and every message it received."""

    def __init__(self, *, pipelining: bool, script: dict[str, list[str]] | None = None):
        self.pipelining = pipelining
        self.script = {command: list(replies) for command, replies in (script or {}).items()}
        self.reads: list[list[str]] = []
        self.messages: list[bytes] = []
        self.listener = socket.create_server(("127.0.0.1", free_port()))
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _reply(self, command: str, default: str) -> str:
        replies = self.script.get(command)
        return replies.pop(0) if replies else default

    def _serve(self) -> None:
        with self.listener:
            connection, _ = self.listener.accept()
        with connection:
            connection.sendall(b"220 scripted ESMTP\r\n")
            buffer, message, sender, recipient = b"", None, False, False
            while True:
                data = connection.recv(65536)
                if not data:
                    return
                buffer += data
                commands, out = [], []
                while True:
                    if message is not None:  # inside a message: up to the line with a single dot
                        end = (b"\r\n" + buffer).find(b"\r\n.\r\n")
                        if end < 0:
                            break
                        self.messages.append(buffer[:end])
                        buffer, message = buffer[end + 3 :], None
                        commands.append("END")
                        out.append(self._reply("END", "250 2.0.0 queued" if recipient else "554 5.5.1 no recipients"))
                        sender = recipient = False
                    else:
                        line, found, rest = buffer.partition(b"\r\n")
                        if not found:
                            break
                        buffer = rest
                        command = line[:4].decode().upper()
                        commands.append(command)
                        if command == "EHLO":
                            offered = "250-PIPELINING\r\n" if self.pipelining else ""
                            out.append(f"250-scripted\r\n{offered}250 8BITMIME")
                        elif command == "MAIL":
                            out.append(self._reply("MAIL", "250 2.1.0 OK"))
                            sender = out[-1].startswith("250")
                        elif command == "RCPT":
                            out.append(self._reply("RCPT", "250 2.1.5 OK" if sender else "503 5.5.1 need MAIL"))
                            recipient = sender and out[-1].startswith("25")
                        elif command == "DATA":
                            out.append(self._reply("DATA", "354 go ahead" if recipient else "554 5.5.1 no recipients"))
                            message = b"" if out[-1].startswith("354") else None
                        elif command == "RSET":
                            out.append("250 2.0.0 OK")
                            sender = recipient = False
                        elif command == "QUIT":
                            out.append("221 bye")
                        else:
                            out.append("502 5.5.2 unknown")
                    if out and out[-1].startswith(("421", "221")):
                        break
                self.reads.append(commands)
                connection.sendall("".join(f"{reply}\r\n" for reply in out).encode())
                if out and out[-1].startswith(("421", "221")):
                    return

    def commands(self) -> list[str]:
        return [command for read in self.reads for command in read]


def message(to: str = "ada@example.com") -> RenderedMessage:
    return RenderedMessage(1, to, "news@shop.example", "1.x@shop.example", MESSAGE)


@pytest.fixture(params=[False, True], ids=["one-command-a-time", "pipelining"])
def pipelining(request):
    return request.param


def sender_for(settings, server: ScriptedServer) -> smtp.SmtpSender:
    send_mail_to(settings, server.port)
    sender = smtp.SmtpSender()
    sender.open()
    return sender


def test_a_message_goes_dot_stuffed_in_one_transaction(settings, pipelining):
    server = ScriptedServer(pipelining=pipelining)
    sender = sender_for(settings, server)
    sender.send(message())
    sender.send(message("bob@example.com"))
    sender.close()
    server.thread.join(5)
    assert sender.pipelining is pipelining
    assert server.messages == [STUFFED] * 2
    envelope = ["MAIL", "RCPT", "DATA"]
    if pipelining:  # the three commands in one write, the message in the next
        assert server.reads == [["EHLO"], envelope, ["END"], envelope, ["END"], ["QUIT"]]
    else:
        assert server.reads == [
            ["EHLO"],
            *[[c] for c in envelope],
            ["END"],
            *[[c] for c in envelope],
            ["END"],
            ["QUIT"],
        ]


@pytest.mark.parametrize(
    ("script", "error", "code", "received"),
    [
        ({"MAIL": ["451 4.3.0 try later"]}, smtplib.SMTPSenderRefused, 451, []),
        ({"RCPT": ["550 5.1.1 no such user"]}, smtplib.SMTPRecipientsRefused, 550, []),
        ({"RCPT": ["452 4.2.2 mailbox full"]}, smtplib.SMTPRecipientsRefused, 452, []),
        ({"DATA": ["451 4.3.0 not now"]}, smtplib.SMTPDataError, 451, []),
        ({"END": ["552 5.3.4 too big"]}, smtplib.SMTPDataError, 552, [STUFFED]),
        # A server that answers DATA with 354 although it refused the recipient: the message is
        # ended at once, empty, so nothing is delivered.
        ({"RCPT": ["550 5.1.1 no such user"], "DATA": ["354 go ahead"]}, smtplib.SMTPRecipientsRefused, 550, [b""]),
    ],
)
def test_a_refusal_at_any_step_raises_its_code_and_resets_for_the_next_message(
    settings, pipelining, script, error, code, received
):
    server = ScriptedServer(pipelining=pipelining, script=script)
    sender = sender_for(settings, server)
    with pytest.raises(error) as raised:
        sender.send(message())
    assert smtp.refusal(raised.value)[1].startswith(f"{code} ")
    sender.send(message("bob@example.com"))  # the same connection takes the next message
    sender.close()
    server.thread.join(5)
    if not pipelining:  # one command at a time, DATA never follows a refused MAIL or RCPT
        received = [item for item in received if item]
    assert server.messages == [*received, STUFFED]
    commands = server.commands()
    assert commands.count("RSET") == 1 and commands[commands.index("RSET") + 1] == "MAIL"
    assert commands.count("EHLO") == 1


@pytest.mark.parametrize("step", ["MAIL", "RCPT", "DATA", "END"])
def test_a_421_at_any_step_closes_the_connection_without_reading_on(settings, pipelining, step):
    server = ScriptedServer(pipelining=pipelining, script={step: ["421 4.3.2 shutting down"]})
    sender = sender_for(settings, server)
    with pytest.raises(smtplib.SMTPException) as raised:
        sender.send(message())
    assert smtp.refusal(raised.value) == (smtp.CONNECTION, "421 4.3.2 shutting down")
    assert sender.smtp.sock is None  # closed; delivery then opens a new connection
    server.thread.join(5)
    assert "RSET" not in server.commands() and server.messages == ([STUFFED] if step == "END" else [])


@settings(max_examples=200, deadline=None)
@given(
    st.binary(max_size=300)
    | st.lists(st.sampled_from([b".", b"..", b"\r\n", b"\n", b"\r", b"a", b"\r\n."])).map(b"".join)
)
def test_what_follows_data_is_what_smtplib_data_sends(body):
    """The oracle: smtplib.SMTP.data itself, writing into a socket pair."""
    ours, theirs = socket.socketpair()
    with ours, theirs:
        client = smtplib.SMTP()
        client.sock = ours
        theirs.sendall(b"354 go ahead\r\n250 OK\r\n")
        assert client.data(body) == (250, b"OK")
        ours.shutdown(socket.SHUT_WR)
        sent = b""
        while chunk := theirs.recv(65536):
            sent += chunk
        client.file.close()
    assert sent == b"data\r\n" + smtp.wire_data(body)
