"""A benchmark's progress and log as one ordered timeline of lines, for the notebook (pure Python).

The benchmark reports two things: progress ticks (fraction, "what is happening now") and log lines
("what just finished"). Printed as they come, a step's result could be followed by a tick naming that
same step, and percentages could seem to jump about. Here every line is `[ NN%] message`:

- log lines always print, with the progress reached so far;
- a tick prints when a new step starts, or when the bar moved 10 % since the last line; a tick that
  names the step the last log line just reported (its "done" tick) is left out;
- the percentage never goes backwards.
"""

from __future__ import annotations

from collections.abc import Callable


class ProgressPrinter:
    def __init__(self, emit: Callable[[str], None]) -> None:
        self.emit = emit
        self.fraction = 0.0
        self.printed_fraction = -1.0
        self.last_step = ""
        self.last_log = ""

    def _line(self, message: str) -> None:
        self.emit(f"[{self.fraction:4.0%}] {message}")
        self.printed_fraction = self.fraction

    def progress(self, fraction: float, message: str) -> None:
        self.fraction = max(self.fraction, min(1.0, float(fraction)))
        step = message.split(", token ")[0]  # a tick inside a run carries its token count
        if self.last_log and self.last_log.startswith(step):
            return  # the step the last log line reported: already said
        if step != self.last_step or self.fraction - self.printed_fraction >= 0.1:
            self.last_step = step
            self.last_log = ""
            self._line(message)

    def log(self, message: str) -> None:
        self.last_log = message
        self._line(message)
