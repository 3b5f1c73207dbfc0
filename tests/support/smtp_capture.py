"""A loopback SMTP server for tests (README, "The two commands"): aiosmtpd's Controller
on 127.0.0.1:PORT that appends each message it receives to FILE as one JSON
line {"to": [...], "subject": ..., "body": ...} (the body decoded), prints
"ready" once it listens, and stops when its stdin closes or on SIGTERM.

    python3 tests/support/smtp_capture.py PORT FILE
"""

import email
import email.policy
import json
import signal
import sys
import threading

from aiosmtpd.controller import Controller


class Capture:
    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        part = message.get_body(preferencelist=("plain",))
        record = {
            "to": list(envelope.rcpt_tos),
            "from": envelope.mail_from,
            "subject": str(message["subject"] or ""),
            "body": part.get_content() if part is not None else "",
        }
        with self.lock, open(self.path, "a", encoding="utf-8") as out:
            out.write(json.dumps(record) + "\n")
        return "250 Message accepted"


def main():
    port, path = int(sys.argv[1]), sys.argv[2]
    open(path, "a").close()
    controller = Controller(Capture(path), hostname="127.0.0.1", port=port)
    controller.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print("ready", flush=True)
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    stop.wait()
    controller.stop()


if __name__ == "__main__":
    main()
