"""Answer extraction and grading: math-verify for math, integers for AIME, letters for MCQ.

Timeouts. math-verify (0.9) bounds its own parsing and comparisons with ``signal.alarm``, which
only works in the main thread of a process and silently cancels any other ``SIGALRM`` timer. We
therefore always call it with ``parsing_timeout=None`` / ``timeout_seconds=None`` and enforce one
timeout over the whole grading of an answer ourselves:

* in the main thread of any process (the eval stage, ``ProcessPoolExecutor`` workers, SLURM
  tasks) with a ``setitimer`` alarm whose exception derives from ``BaseException``, so
  math-verify's ``except Exception`` handlers cannot swallow it; any timer already set (e.g. by
  pytest-timeout) is put back afterwards;
* in any other thread, in a helper process (started once per process with the ``spawn`` method,
  safe next to engine threads), killed and restarted if it does not answer in time. Calls from
  threads are serialised through it.

``grade_many`` grades in a pool of ``spawn`` processes (each worker grades in its main thread);
as always with ``spawn``, a calling script needs an ``if __name__ == "__main__":`` guard.

A timeout or any other failure yields ``Grade(correct=None, error=...)``: never an exception,
never a dropped record. An answer with nothing to extract is wrong (``correct=False``).

Answers written in other forms are kept correct: scientific notation (``4.5e33`` is
``4.5 \\times 10^{33}``), units and words after a number (``1.6~\\mathrm{cm}``, ``18 dollars``),
choice markup before a value (``\\textbf{(B) }27``), and gold answers in the GSM8K form
(``... #### 18``). Those forms are tried only after the answer as written failed, and they only
remove decoration around one value, so a wrong value stays wrong. Each grade records how the
answer was found (:attr:`Grade.method`): ``boxed``, ``answer_line``, and, as a last resort,
``answer_is`` ("the answer is X"); for multiple choice also ``answer_phrase``, ``parenthesized``,
``last_line`` and ``choice_text``.
"""

from __future__ import annotations

import functools
import re
import signal
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from s1slurm.core.errors import MissingDependencyError

if TYPE_CHECKING:
    from s1slurm.eval.benchmarks import Question

DEFAULT_TIMEOUT_S = 10.0


@dataclass
class Grade:
    """The extracted answer, whether it is correct (None: grading failed) and why it failed."""

    extracted: str | None
    correct: bool | None
    error: str | None = None
    # how the answer was extracted (see the module docstring); metadata, not part of equality
    method: str | None = field(default=None, compare=False)


# ---------------------------------------------------------------- extraction

_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{")
_BOXED_BARE = re.compile(r"\\boxed +([^\s$]+)")
_TEXT_CMD = re.compile(r"\\(?:text|textbf|mathrm|mathbf|mbox|textit)\s*\{([^{}]*)\}")


def _last_boxed(text: str) -> str | None:
    """Contents of the last ``\\boxed{...}`` / ``\\fbox{...}`` with balanced braces."""
    for match in reversed(list(_BOXED.finditer(text))):
        depth, start = 1, match.end()
        for i in range(start, len(text)):
            if text[i] == "{" and text[i - 1] != "\\":
                depth += 1
            elif text[i] == "}" and text[i - 1] != "\\":
                depth -= 1
                if depth == 0:
                    return text[start:i].strip()
    bare = list(_BOXED_BARE.finditer(text))  # \boxed 5
    return bare[-1].group(1) if bare else None


def _after_last_answer(text: str) -> str | None:
    """The rest of the line after the last ``Answer:`` (e.g. ``Final Answer: 42``)."""
    matches = list(re.finditer(r"answer\s*:", text, re.IGNORECASE))
    if not matches:
        return None
    rest = text[matches[-1].end() :].strip().split("\n", 1)[0].strip().strip("*").strip()
    math = re.match(r"\$\$?((?:\\.|[^$\\])+)\$", rest) or re.match(r"\\[(\[](.+?)\\[)\]]", rest)
    if math:
        rest = math.group(1)
    rest = rest.strip().rstrip(".").strip()
    return rest or None


def _unwrap(s: str) -> str:
    """Strip ``$``, ``\\text{}``-style wrappers, markdown bold and brackets around a short answer."""
    prev = None
    while prev != s:
        prev = s
        s = _TEXT_CMD.sub(r"\1", s).strip().strip("$*").strip()
        if len(s) >= 2 and s[0] + s[-1] in ("()", "[]"):
            s = s[1:-1].strip()
    return s


def _letter(s: str, letters: str) -> str | None:
    """A choice letter when ``s`` is just one (``C``, ``(C)``, ``C)``, ``C.``, ``**C**``, ``C) text``).

    A letter that starts a sentence (``A careful check...``, ``A. Since...``) is not a choice."""
    s = _unwrap(s)
    m = re.fullmatch(rf"([{letters}])(?:\s*\)(?:\s+\S.*)?|\s*[.:])?", s, re.DOTALL)
    return m.group(1) if m else None


@functools.lru_cache(maxsize=32)
def _answer_phrase(letters: str) -> re.Pattern[str]:
    """``Answer: C``, ``the answer is (C)``, ``answer is $\\textbf{C}$`` (an upper-case letter)."""
    # the letter must stand alone: closed by markup, or last on its line (after . , ; or :)
    return re.compile(
        rf"""(?i:answer)(?:\s+(?i:is))?\s*:?\s*
                           [*$({{\[\s]*(?:\\(?:text|textbf|mathrm|mathbf)\{{)?\s*
                           ([{letters}])(?=\s*[)*$}}\]]|[.,;:]?[ \t]*(?:\n|\Z))""",
        re.VERBOSE,
    )


_ANSWER_IS = re.compile(r"answer\s+is\s*:?\s*(.+?)\s*(?:\.\s|\.?$|\n)", re.IGNORECASE | re.MULTILINE)


def _answer_is(text: str) -> str | None:
    """The last resort: ``the (final) answer is X`` (the rest of that sentence, unwrapped)."""
    found = _ANSWER_IS.findall(text)
    if not found:
        return None
    value = found[-1].strip().strip("*").strip()
    math = re.fullmatch(r"\$\$?(.+?)\$\$?", value) or re.fullmatch(r"\\[(\[](.+?)\\[)\]]", value)
    value = (math.group(1) if math else value).strip().rstrip(".").strip()
    return value or None


def extract_answer(
    text: str, kind: str, *, n_choices: int = 4, choices: list[str] | None = None
) -> str | None:
    """The final answer in ``text``, or None (see :func:`extract_with_method`)."""
    return extract_with_method(text, kind, n_choices=n_choices, choices=choices)[0]


def extract_with_method(
    text: str, kind: str, *, n_choices: int = 4, choices: list[str] | None = None
) -> tuple[str | None, str | None]:
    """The final answer in ``text``, or None when nothing readable is found.

    math/aime: the last ``\\boxed{}`` (or ``\\fbox{}``), else the rest of the line after the last
    ``Answer:``. mcq: a letter (A-D for 4 choices) from, in order, a boxed letter, ``Answer: C`` /
    ``the answer is (C)``, the last ``(C)``, a last line that is only a letter, or (when
    ``choices`` is given) a boxed answer or ``Answer:`` line equal to one choice's text. An
    unreadable MCQ answer is None, never a default letter. Returns (answer, extraction method)."""
    if not text:
        return None, None
    if kind != "mcq":
        for method, find in (
            ("boxed", _last_boxed),
            ("answer_line", _after_last_answer),
            ("answer_is", _answer_is),
        ):
            value = find(text)
            if value:
                return value, method
        return None, None
    if choices is not None:
        n_choices = len(choices)
    letters = "".join(chr(ord("A") + i) for i in range(max(1, min(n_choices, 26))))
    boxed = _last_boxed(text)
    if boxed is not None and (found := _letter(boxed, letters)):
        return found, "boxed"
    phrase = _answer_phrase(letters)
    if found_phrases := phrase.findall(text):
        return found_phrases[-1], "answer_phrase"
    if parens := re.findall(rf"\(([{letters}])\)", text):
        return parens[-1], "parenthesized"
    lines = text.strip().splitlines()
    if lines and (found := _letter(lines[-1], letters)):
        return found, "last_line"
    if choices:
        said = boxed if boxed is not None else _after_last_answer(text)
        if said is not None:
            norm = [" ".join(_unwrap(c).lower().split()) for c in choices]
            target = " ".join(_unwrap(said).lower().split())
            if norm.count(target) == 1:
                return letters[norm.index(target)], "choice_text"
    return None, None


# ---------------------------------------------------------------- grading


def grade(question: Question, answer_text: str, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> Grade:
    """Grade ``answer_text`` against ``question.gold``; never raises."""
    extracted: str | None = None
    method: str | None = None
    try:
        kind = question.kind
        if kind == "mcq":
            n = len(question.choices) if question.choices else 4
            letter, method = extract_with_method(answer_text, "mcq", n_choices=n, choices=question.choices)
            return Grade(letter, letter is not None and letter == question.gold.strip().upper(), None, method)
        extracted, method = extract_with_method(answer_text, kind)
        if extracted is None:
            return Grade(None, False)
        gold_text = gold_value(question.gold)
        if kind == "aime":
            mine, gold = _as_int(extracted), _as_int(gold_text)
            if mine is None:
                mine = _as_int(_strip_decoration(extracted))
            if mine is not None and gold is not None:
                return Grade(extracted, mine == gold, None, method)
        g = _math_with_timeout(gold_text, extracted, timeout_s)
        if g.correct is False:
            # the same value written with units, words, choice markup or an exponent
            alt = _strip_decoration(extracted)
            if alt and alt != extracted:
                second = _math_with_timeout(gold_text, alt, timeout_s)
                if second.correct:
                    g = Grade(extracted, True)
        return Grade(g.extracted, g.correct, g.error, method)
    except Exception as e:  # a bug or odd input must not lose the record
        return Grade(extracted, None, f"{type(e).__name__}: {e}"[:300], method)


def gold_value(gold: str) -> str:
    """The gold answer itself: the part after the last ``####`` (GSM8K-style solutions), without
    thousands separators there; any other gold as given."""
    if "####" in gold:
        gold = gold.rsplit("####", 1)[1].replace(",", "")
    return _scientific(gold.strip())


_CHOICE_MARKUP = re.compile(r"^\s*(?:\\text(?:bf|it)?\s*\{\s*)?\(?[A-Z]\)\s*\}?\s*(?=\S)")
_UNIT_CMD = re.compile(r"(?:~|\\[,;! ]|\s)*\\(?:mathrm|text|textrm|operatorname|mbox)\s*\{[^{}]*\}\s*$")
_TRAILING_WORDS = re.compile(r"^\s*([-+]?\$?\d[\d,]*(?:\.\d+)?(?:\s*\\%|%)?)\s+[A-Za-z][A-Za-z .]*$")
_SCI = re.compile(r"(?<![\w.])([-+]?\d+(?:\.\d+)?)\s*[eE]\s*([-+]?\d+)(?![\w.])")


def _strip_decoration(value: str) -> str:
    """One value without what surrounds it: choice markup before it (``\\textbf{(B) }27``), units
    or words after it (``1.6~\\mathrm{cm}``, ``18 dollars``), and e-notation written as a power of
    ten (``4.5e33`` -> ``4.5\\times 10^{33}``)."""
    s = value.strip()
    s = _CHOICE_MARKUP.sub("", s, count=1)
    prev = None
    while prev != s:
        prev = s
        s = _UNIT_CMD.sub("", s).strip()
    words = _TRAILING_WORDS.match(s)
    if words:
        s = words.group(1)
    s = s.replace("~", " ").strip()
    return _scientific(s)


_TIMES_TEN = re.compile(
    r"(?<![\w.])([-+]?\d+(?:\.\d+)?)\s*(?:\\times|\\cdot|\*)\s*10\s*\^\s*\{?\s*([-+]?\d+)\s*\}?"
)


def _scientific(s: str) -> str:
    """Numbers in scientific notation (``4.5e33``, ``1.13 \\times 10^{2}``) written one way: as a
    plain decimal when the exponent is small (``113``: no float rounding), else as
    ``4.5\\times 10^{33}``."""
    from decimal import Decimal

    def one(m: re.Match[str]) -> str:
        mantissa, exponent = m.group(1), int(m.group(2))
        if abs(exponent) <= 20:
            return format(Decimal(mantissa).scaleb(exponent).normalize(), "f")
        return f"{mantissa}\\times 10^{{{exponent}}}"

    return _TIMES_TEN.sub(one, _SCI.sub(one, s))


def grade_many(
    items: Iterable[tuple[Question, str]], *, max_workers: int = 1, timeout_s: float = DEFAULT_TIMEOUT_S
) -> list[Grade]:
    """Grade (question, answer) pairs in order, in a pool of ``max_workers`` spawned processes
    when more than one (math-verify is CPU-bound, so threads would not help)."""
    items = list(items)
    if max_workers <= 1 or len(items) < 2:
        return [grade(q, a, timeout_s=timeout_s) for q, a in items]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    ctx = multiprocessing.get_context("spawn")
    chunk = max(1, len(items) // (max_workers * 4))
    with ProcessPoolExecutor(max_workers, mp_context=ctx) as pool:
        return list(pool.map(functools.partial(_grade_pair, timeout_s=timeout_s), items, chunksize=chunk))


def _grade_pair(item: tuple[Question, str], timeout_s: float) -> Grade:
    return grade(item[0], item[1], timeout_s=timeout_s)


def _as_int(s: str) -> int | None:
    """``33``, ``033``, ``$33$``, ``\\text{33}``, ``33.`` -> 33; anything else -> None."""
    s = _unwrap(s).replace("\\,", "").replace("\\!", "").replace(" ", "").rstrip(".")
    return int(s) if re.fullmatch(r"[+-]?\d+", s) else None


class _GradeTimeout(BaseException):
    """Raised by our alarm; a BaseException so math-verify's ``except Exception`` lets it through."""


@functools.lru_cache(maxsize=1)
def _math_verify() -> Any:
    """Import math-verify once, silencing its one-time 'timeout is disabled' warning: we
    enforce the timeout ourselves."""
    try:
        import math_verify
        import math_verify.grader
        import math_verify.parser
    except ImportError:
        raise MissingDependencyError("math_verify", "eval") from None
    for module in (math_verify.grader, math_verify.parser):
        if hasattr(module, "TIMEOUT_WARNING_SHOWN"):
            module.TIMEOUT_WARNING_SHOWN = True
    return math_verify


@functools.lru_cache(maxsize=4096)
def _parse_gold(gold: str) -> list[Any]:
    return _math_verify().parse(_wrap(gold), parsing_timeout=None)


def _wrap(s: str) -> str:
    s = s.strip()
    return s if s.startswith("\\boxed") else "\\boxed{" + s + "}"


def _verify(gold: str, extracted: str) -> Grade:
    """math-verify without its own signal timeouts (see the module docstring)."""
    mv = _math_verify()
    gold_parsed = _parse_gold(gold)
    if not gold_parsed:
        return Grade(extracted, None, "could not parse the gold answer")
    pred = mv.parse(_wrap(extracted), parsing_timeout=None)
    if not pred:
        return Grade(extracted, False)
    return Grade(extracted, bool(mv.verify(gold_parsed, pred, timeout_seconds=None)))


def _math_with_timeout(gold: str, extracted: str, timeout_s: float) -> Grade:
    # getsignal is None when a non-Python SIGALRM handler is installed: we could not put it back.
    if (
        threading.current_thread() is threading.main_thread()
        and hasattr(signal, "setitimer")
        and signal.getsignal(signal.SIGALRM) is not None
    ):
        return _verify_with_alarm(gold, extracted, timeout_s)
    return _HELPER.verify(gold, extracted, timeout_s)


def _verify_with_alarm(gold: str, extracted: str, timeout_s: float) -> Grade:
    armed = True

    def on_alarm(signum: int, frame: Any) -> None:
        if armed:  # a late alarm, after _verify returned, must not raise
            raise _GradeTimeout()

    started = time.monotonic()
    old_handler = signal.signal(signal.SIGALRM, on_alarm)
    old_delay, old_interval = signal.setitimer(signal.ITIMER_REAL, timeout_s)
    try:
        try:
            return _verify(gold, extracted)
        finally:
            armed = False
    except _GradeTimeout:
        return Grade(extracted, None, f"timeout: grading took over {timeout_s:g} s")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old_handler)
        if old_delay > 0:  # put back a timer someone else had set, minus the time spent here
            signal.setitimer(
                signal.ITIMER_REAL, max(old_delay - (time.monotonic() - started), 1e-3), old_interval
            )


class _Helper:
    """A helper process that grades for non-main threads; killed and restarted on a timeout.

    Started as ``python -c`` with pipes rather than with ``multiprocessing``: no fork next to
    engine threads, and no re-import of the caller's ``__main__`` (which ``spawn`` would do)."""

    START_TIMEOUT_S = 120.0
    MARGIN_S = 5.0  # beyond timeout_s, before the process is killed
    CODE = "from s1slurm.eval.grading import _helper_main; _helper_main()"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: Any = None
        self._send: Any = None
        self._recv: Any = None

    def verify(self, gold: str, extracted: str, timeout_s: float) -> Grade:
        with self._lock:
            try:
                self._ensure_started()
                self._send.send((gold, extracted, timeout_s))
                # The helper applies timeout_s itself (main thread there); the margin covers work
                # stuck in C code, where only killing the process helps.
                if self._recv.poll(timeout_s + self.MARGIN_S):
                    status, value = self._recv.recv()
                    return value if status == "ok" else Grade(extracted, None, value)
            except Exception as e:
                self._stop()
                return Grade(extracted, None, f"grading helper process failed: {type(e).__name__}: {e}"[:300])
            self._stop()
            return Grade(extracted, None, f"timeout: grading took over {timeout_s:g} s (helper killed)")

    def _ensure_started(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            return
        import os
        import subprocess
        import sys
        from multiprocessing.connection import Connection

        self._stop()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        proc = subprocess.Popen(
            [sys.executable, "-c", self.CODE],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            close_fds=True,
        )
        self._proc = proc
        assert proc.stdin is not None and proc.stdout is not None  # both are PIPE
        self._send = Connection(os.dup(proc.stdin.fileno()), readable=False)
        self._recv = Connection(os.dup(proc.stdout.fileno()), writable=False)
        proc.stdin.close()
        proc.stdout.close()
        if not self._recv.poll(self.START_TIMEOUT_S) or self._recv.recv() != "ready":
            raise RuntimeError("no answer within the start timeout")

    def _stop(self) -> None:
        for conn in (self._send, self._recv):
            if conn is not None:
                conn.close()
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait(5)
        self._proc = self._send = self._recv = None


def _helper_main() -> None:
    """The helper's loop: requests on stdin, answers on the original stdout (fd 1 then points at
    stderr so that stray prints cannot corrupt the framing)."""
    import os
    from multiprocessing.connection import Connection

    recv = Connection(os.dup(0), writable=False)
    send = Connection(os.dup(1), readable=False)
    os.dup2(2, 1)
    _math_verify()  # import before reporting ready
    send.send("ready")
    while True:
        try:
            gold, extracted, timeout_s = recv.recv()
        except (EOFError, OSError):
            return
        try:
            send.send(("ok", _verify_with_alarm(gold, extracted, timeout_s)))
        except Exception as e:
            send.send(("error", f"{type(e).__name__}: {e}"[:300]))


_HELPER = _Helper()


# ---------------------------------------------------------------- answers that are the same


def answer_key(answer: str, *, integers: bool = False) -> str:
    """A cheap canonical form: equal keys are the same answer (``033`` and ``33`` when
    ``integers``; spacing, ``$``, ``\\text{}``, units and choice markup never matter)."""
    s = _unwrap(_strip_decoration(answer))
    if integers:
        n = _as_int(s)
        if n is not None:
            return str(n)
    flat = "".join(s.split()).rstrip(".").replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    number = _plain_number(flat)
    return f"={number}" if number is not None else flat


def _plain_number(s: str) -> Any:
    """``0.5``, ``1/2``, ``\\frac{1}{2}``, ``-\\frac12`` as an exact Fraction; None otherwise."""
    from fractions import Fraction

    m = (
        re.fullmatch(r"([-+]?)\\frac\{(\d+)\}\{(\d+)\}", s)
        or re.fullmatch(r"([-+]?)\\frac(\d)(\d)", s)
        or re.fullmatch(r"([-+]?)(\d+)/(\d+)", s)
    )
    if m:
        return (
            None
            if int(m.group(3)) == 0
            else Fraction(int(m.group(2)), int(m.group(3))) * (-1 if m.group(1) == "-" else 1)
        )
    if re.fullmatch(r"[-+]?\d+(?:\.\d+)?", s.replace(",", "")):
        return Fraction(s.replace(",", ""))
    return None


def answer_classes(
    answers: Sequence[str],
    *,
    integers: bool = False,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    max_compared: int = 24,
) -> list[int]:
    """Group answers by mathematical equivalence: the class index of each answer (classes are
    numbered in order of first appearance). ``\\frac{1}{2}``, ``0.5`` and ``1/2`` share a class;
    with ``integers`` (AIME) ``033`` and ``33`` do too. Answers are first grouped by
    :func:`answer_key`; when at most ``max_compared`` keys remain, math-verify then merges keys
    that verify as equal (each against the first answer of every earlier class)."""
    keys = [answer_key(a, integers=integers) for a in answers]
    firsts: dict[str, int] = {}
    for i, k in enumerate(keys):
        firsts.setdefault(k, i)
    key_class: dict[str, int] = {}
    reps: list[str] = []  # one answer per class
    for k, i in firsts.items():
        found = None
        # plain numbers are exact keys already: math-verify only for the other forms
        if len(firsts) <= max_compared and not integers and not k.startswith("="):
            for c, rep in enumerate(reps):
                if _math_with_timeout(rep, answers[i], timeout_s).correct:
                    found = c
                    break
        if found is None:
            found = len(reps)
            reps.append(answers[i])
        key_class[k] = found
    return [key_class[k] for k in keys]
