#!/usr/bin/env python3
"""A real SMTP server for the tests (aiosmtpd), on 127.0.0.1 only.

Usage: smtp_sink.py PORT DIR [starttls|tls CERT KEY]

Every accepted message is written to DIR as one JSON file (written to a
temporary name, then renamed, so a reader never sees half a file) with the
envelope, the Subject and To headers, and the decoded text and HTML parts.
Recipients listed one per line in DIR/reject are refused with a temporary
451 at RCPT, those in DIR/reject_permanent with 550. Prints READY once it
accepts connections; stops on SIGTERM.
"""

import email
import email.policy
import json
import os
import signal
import ssl
import sys
import threading
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def authenticate(server, session, envelope, mechanism, auth_data):
    """TLS sinks accept exactly uphill/secret, so the client's AUTH is tested."""
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == b"uphill"
        and auth_data.password == b"secret"
    )
    return AuthResult(success=ok)


def listed(directory, name, address):
    try:
        with open(os.path.join(directory, name)) as f:
            return address.lower() in {line.strip().lower() for line in f}
    except FileNotFoundError:
        return False


class Sink:
    def __init__(self, directory):
        self.directory = directory
        self.count = 0
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if listed(self.directory, "reject_permanent", address):
            return "550 5.1.1 mailbox unavailable (test sink)"
        if listed(self.directory, "reject", address):
            return "451 4.3.0 try again later (test sink)"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        text = msg.get_body(preferencelist=("plain",))
        html = msg.get_body(preferencelist=("html",))
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "from": str(msg["From"]),
            "to": str(msg["To"]),
            "subject": str(msg["Subject"]),
            "text": text.get_content() if text is not None else "",
            "html": html.get_content() if html is not None else "",
        }
        with self.lock:
            self.count += 1
            name = "%06d-%d" % (self.count, time.time_ns())
        tmp = os.path.join(self.directory, "." + name + ".tmp")
        with open(tmp, "w") as f:
            json.dump(record, f)
        os.rename(tmp, os.path.join(self.directory, name + ".json"))
        return "250 Message accepted for delivery"


def main():
    port, directory = int(sys.argv[1]), sys.argv[2]
    os.makedirs(directory, exist_ok=True)
    options = {}
    if len(sys.argv) > 3:
        mode, cert, key = sys.argv[3], sys.argv[4], sys.argv[5]
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        if mode == "starttls":
            options = {"tls_context": context, "require_starttls": True}
        else:
            # aiosmtpd does not count implicit TLS as TLS for AUTH; the
            # whole connection is encrypted, so allow it.
            options = {"ssl_context": context, "auth_require_tls": False}
        options.update(authenticator=authenticate, auth_required=True)
    controller = Controller(Sink(directory), hostname="127.0.0.1", port=port, **options)
    controller.start()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    print("READY", flush=True)
    # Bounded: a sink left behind by a crashed test ends by itself.
    done.wait(timeout=600)
    controller.stop()


if __name__ == "__main__":
    main()
