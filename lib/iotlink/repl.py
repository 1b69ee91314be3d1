"""A REPL for one line at a time, with its output captured: what a remote
console (the IoTDA secure tunnel) runs on the board.

    r = Repl(check=poll_for_ctrl_c)
    r.run("1+1")                    # -> "2\n"
    r.run("def f(x):\n    return x * 2")
    r.run("f(21)")                  # -> "42\n"

An expression shows its repr, a statement runs (exec) in one namespace kept
from line to line; ``print`` inside the line (and in functions it defines)
writes to the captured output, at most ``max_output`` characters.  ``names``
(a dict) starts the namespace: what the app lends the console.

Interrupting a line on a single-threaded board: ``check()`` is called from
that ``print`` and from ``sleep(s)`` (also in the namespace), at most every
``every_ms``; it raises KeyboardInterrupt when the user asked (Ctrl-C over the
tunnel) and may keep other links alive meanwhile.  A scheduled callback
cannot raise into the running code (MicroPython prints and drops it), and
sys.settrace is not built into board firmware, so a line that neither
prints nor sleeps runs to its end (the board's serial Ctrl-C still works).
"""

import time

_CUT = "\n[output cut]\n"


def _compile(line, mode):
    """compile() where the firmware has it; else the text itself, which
    eval/exec compile when they run (then a statement is told from an
    expression by eval's SyntaxError, raised before anything runs)."""
    try:
        return compile(line, "<tunnel>", mode)
    except NameError:
        return line


class Repl:
    def __init__(self, check=None, max_output=4096, every_ms=50, names=None):
        self.check = check
        self.max_output = max_output
        self.every_ms = every_ms
        self._out = []
        self._size = 0
        self._cut = False
        self._last = 0
        self.g = g = {"__name__": "__repl__"}
        if names:
            g.update(names)   # what the app lends the console (dev, its functions)
        g["print"] = self._print
        g["sleep"] = self._sleep

    def _checkpoint(self):
        if self.check is None:
            return
        now = time.ticks_ms()
        if time.ticks_diff(now, self._last) >= self.every_ms:
            self._last = now
            self.check()

    def _write(self, s):
        if self._cut:
            return
        left = self.max_output - self._size
        if len(s) > left:
            s = s[:max(0, left)]
            self._cut = True
        self._out.append(s)
        self._size += len(s)

    def _print(self, *args, sep=" ", end="\n"):
        self._write(sep.join(str(a) for a in args) + end)
        self._checkpoint()

    def _sleep(self, s):
        """time.sleep for REPL lines: in slices, interruptible."""
        end = time.ticks_add(time.ticks_ms(), int(s * 1000))
        while True:
            left = time.ticks_diff(end, time.ticks_ms())
            if left <= 0:
                break
            time.sleep_ms(min(left, self.every_ms))
            self._last = 0
            self._checkpoint()

    def run(self, line):
        """Run ``line``; return its output (an error as "Type: text")."""
        self._out = []
        self._size = 0
        self._cut = False
        try:
            try:
                code = _compile(line, "eval")
                expr = True
            except SyntaxError:
                code = _compile(line, "exec")
                expr = False
            self._checkpoint()
            if expr:
                try:
                    r = eval(code, self.g)
                except SyntaxError:
                    if code is not line:
                        raise
                    r = exec(line, self.g)   # no compile(): it was a statement
                if r is not None:
                    self._write(repr(r) + "\n")
            else:
                exec(code, self.g)
        except KeyboardInterrupt:
            self._cut = False
            self._write("KeyboardInterrupt\n")
        except Exception as e:
            from .log import err, mask
            self._cut = False
            self._write(mask(err(e)) + "\n")
        out = "".join(self._out)
        self._out = []
        return out + _CUT if self._cut else out
