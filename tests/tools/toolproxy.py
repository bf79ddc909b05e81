"""A loopback TCP relay between a tool and imapd that can act at an exact
point of the conversation: before it passes on a line that matches a
pattern, it runs an action (deliver a message, say), so a test can put an
event between two given commands without sleeping.  It can also rewrite
the server's lines (to hide a capability).  Plain text only: the tool
talks to it with --plain, and imapd allows that login on loopback tests.
"""

import re
import socket
import threading


class Proxy:
    def __init__(self, port, timeout=30):
        self.target = ("127.0.0.1", port)
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(4)
        self.listener.settimeout(timeout)
        self.port = self.listener.getsockname()[1]
        self.timeout = timeout
        # (direction, compiled pattern, action, once); direction is
        # "client" (lines the tool sends) or "server"
        self.triggers = []
        self.rewrites = []
        self.log = []
        self.errors = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def on(self, direction, pattern, action, after=False):
        """Run action() once, before (or after) passing on the first line
        from direction that matches pattern."""
        self.triggers.append([direction, re.compile(pattern.encode()),
                              action, after, False])

    def rewrite(self, pattern, repl):
        """Change server lines matching pattern (bytes regex sub)."""
        self.rewrites.append((re.compile(pattern.encode()), repl.encode()))

    def fired(self):
        return [t[1].pattern.decode() for t in self.triggers if t[4]]

    def _serve(self):
        try:
            cl, _ = self.listener.accept()
        except OSError as e:
            self.errors.append(f"accept: {e}")
            return
        sv = socket.create_connection(self.target, self.timeout)
        cl.settimeout(self.timeout)
        sv.settimeout(self.timeout)
        a = threading.Thread(target=self._pump,
                             args=(cl, sv, "client"), daemon=True)
        b = threading.Thread(target=self._pump,
                             args=(sv, cl, "server"), daemon=True)
        a.start()
        b.start()
        a.join(self.timeout * 4)
        b.join(self.timeout * 4)
        for s in (cl, sv):
            try:
                s.close()
            except OSError:
                pass

    def _line(self, direction, line):
        if direction == "server":
            for rx, repl in self.rewrites:
                line = rx.sub(repl, line)
        before, after = [], []
        for t in self.triggers:
            if t[0] == direction and not t[4] and t[1].search(line):
                t[4] = True
                (after if t[3] else before).append(t[2])
        return line, before, after

    def _pump(self, src, dst, direction):
        buf = b""
        try:
            while True:
                chunk = src.recv(65536)
                if not chunk:
                    break
                buf += chunk
                while b"\n" in buf:
                    line, _, buf = buf.partition(b"\n")
                    line, before, after = self._line(direction,
                                                     line + b"\n")
                    self.log.append((direction, line))
                    for act in before:
                        act()
                    dst.sendall(line)
                    for act in after:
                        act()
        except (OSError, socket.timeout) as e:
            self.errors.append(f"{direction}: {e}")
        finally:
            try:
                dst.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def close(self):
        self.listener.close()
