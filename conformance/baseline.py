"""Known findings: a baseline file lets a run fail only on findings it does not list.

A baseline entry names a finding by a stable signature, never by hypothesis example: the
behaviour it was found in, the check that failed, the kind of step it failed at, the
op(s) and a message class (the answers with tensor names and numbers masked, or for
value differences the kind of tensor that differed). A finding is *known* when an entry
has the same check, step and message class (in any behaviour: a bug is filed under the
first behaviour that shows it, which another seed may change), and

- for checks whose answer names the bug (status, error type or message, grad_fn, dtype):
  whatever its ops, as `Finding.explained_by` counts such findings as one bug;
- otherwise: the entry's ops all occur in the finding's, so a finding shrunk to a bigger
  program (another seed, another profile) is still known.

The search (check.py) passes over programs showing only known findings, counting them
per entry, and goes on looking for new ones: known bugs never use up a behaviour's
findings. An entry of a behaviour the run checked that no program showed is *stale*: the
bug is fixed, or shows differently now. Stale entries are warned about, never fatal.

The file is JSON, written by `--write-baseline` and meant to be edited: every entry has a
free-text "comment" (kept when the baseline is written again).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from conformance.compare import SAME_ANSWER_SAME_BUG, Finding, normalise_message

BASELINE_VERSION = 1

_FILE_COMMENT = ("Known findings for refgrad-conformance: a run exits 1 only on findings "
                 "not listed here. Written by --write-baseline; edit the comments freely. "
                 "Matching rules: conformance/README.md (Baselines).")


class BaselineError(Exception):
    """A baseline file that cannot be read (reported in one line, exit status 2)."""


@dataclass(frozen=True)
class KnownFinding:
    """One baseline entry: the stable signature of a finding, and why it is known."""

    behaviour: str
    check: str
    step: str  # the kind of step: "op", "gradient" (backward / autograd.grad), "end", ...
    ops: tuple[str, ...]
    message: str  # the message class (see `message_class`)
    comment: str = ""

    @staticmethod
    def of(finding: Finding, comment: str = "") -> KnownFinding:
        _, step, op = finding.signature
        return KnownFinding(finding.behaviour, finding.check, step,
                            (op,) if op else finding.ops, message_class(finding), comment)

    @property
    def key(self) -> tuple[str, str, str]:
        """What a finding must share with the entry (besides ops) to match it."""
        return self.check, self.step, self.message

    def matches(self, finding: Finding) -> bool:
        """Whether this entry lists `finding` (module docstring)."""
        return self.lists(KnownFinding.of(finding))

    def lists(self, seen: KnownFinding) -> bool:
        """Whether this entry lists a finding whose signature is `seen`."""
        if seen.key != self.key:
            return False
        return self.check in SAME_ANSWER_SAME_BUG or set(self.ops) <= set(seen.ops)

    def __str__(self) -> str:
        ops = ", ".join(self.ops) or "no op"
        return f"{self.behaviour} · {self.check} · {self.step} step ({ops}) · {self.message}"

    def to_data(self) -> dict[str, Any]:
        data = asdict(self)
        return {"comment": data.pop("comment"), **data, "ops": list(self.ops)}

    @staticmethod
    def from_data(data: Any, where: str) -> KnownFinding:
        if not isinstance(data, dict):
            raise BaselineError(f"{where}: expected an object, got {type(data).__name__}")
        names = [f.name for f in fields(KnownFinding)]
        missing = [name for name in names if name != "comment" and name not in data]
        unknown = sorted(set(data) - set(names))
        if missing or unknown:
            problem = f"missing {', '.join(missing)}" if missing else \
                f"unknown field {', '.join(unknown)}"
            raise BaselineError(f"{where}: {problem}")
        ops = data["ops"]
        text_fields = [data.get(name, "") for name in names if name != "ops"]
        if not (all(isinstance(v, str) for v in text_fields) and isinstance(ops, list)
                and all(isinstance(op, str) for op in ops)):
            raise BaselineError(f"{where}: fields must be strings (ops: a list of strings)")
        return KnownFinding(data["behaviour"], data["check"], data["step"], tuple(ops),
                            data["message"], data.get("comment", ""))


# --------------------------------------------------------------------------- message class

_TENSOR_NAME = re.compile(r"\bt\d+\b")
_NUMBER = re.compile(r"(?<![A-Za-z_])-?\d+(\.\d+)?(e[-+]?\d+)?")
_NUMBERS = re.compile(r"#(, #)+")  # a shape or list: its length varies too
_MESSAGE_LIMIT = 160


def message_class(finding: Finding) -> str:
    """What a finding says, without what varies between examples of the same bug.

    Names (grad_fn, dtype, flags) and messages are kept, with tensor names and numbers
    masked; a value, shape or presence difference is classed by the kind of tensor that
    differed.
    """
    check = finding.check
    if check in ("value", "shape", "presence", "missing"):
        return _subject_class(finding)
    if check == "hook_calls":
        return "order of hook calls"
    return f"{_mask(finding.expected)} -> {_mask(finding.actual)}"


def _mask(text: str) -> str:
    text = _NUMBER.sub("#", _TENSOR_NAME.sub("t#", normalise_message(text)))
    text = _NUMBERS.sub("#", text)
    text = " ".join(text.split())
    return text if len(text) <= _MESSAGE_LIMIT else text[: _MESSAGE_LIMIT - 3] + "..."


def _subject_class(finding: Finding) -> str:
    subject = finding.subject
    if subject.startswith("gradient seen by hook"):
        return "gradient seen by a hook"
    if subject.endswith(".grad"):
        return ".grad of a non-leaf" if finding.about_non_leaf_grad() else ".grad of a leaf"
    return "a tensor's value" if finding.check == "value" else f"a tensor's {finding.check}"


# --------------------------------------------------------------------------- files


@dataclass(frozen=True)
class Baseline:
    """The known findings of a baseline file."""

    entries: tuple[KnownFinding, ...]
    comment: str = _FILE_COMMENT

    def to_json(self) -> str:
        data = {"comment": self.comment, "baseline_version": BASELINE_VERSION,
                "known_findings": [entry.to_data() for entry in self.entries]}
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"

    @staticmethod
    def from_json(text: str, where: str = "baseline") -> Baseline:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise BaselineError(f"{where}: not JSON ({error})") from None
        if not isinstance(data, dict):
            raise BaselineError(f"{where}: expected a JSON object")
        version = data.get("baseline_version")
        if version != BASELINE_VERSION:
            raise BaselineError(f"{where}: baseline_version {version!r}, expected "
                                f"{BASELINE_VERSION}")
        entries = data.get("known_findings")
        if not isinstance(entries, list):
            raise BaselineError(f"{where}: known_findings must be a list")
        comment = data.get("comment", _FILE_COMMENT)
        return Baseline(tuple(KnownFinding.from_data(entry, f"{where}: known_findings[{i}]")
                              for i, entry in enumerate(entries)),
                        comment if isinstance(comment, str) else _FILE_COMMENT)


def load_baseline(path: Path) -> Baseline:
    """The baseline in `path`; `BaselineError` (one line) if it cannot be read."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise BaselineError(f"cannot read baseline {str(path)!r}: "
                            f"{error.strerror or error}") from None
    return Baseline.from_json(text, f"baseline {str(path)!r}")


def baseline_of(findings: Iterable[Finding], checked: Iterable[str],
                previous: Baseline | None = None,
                seen: Mapping[KnownFinding, int] | None = None) -> Baseline:
    """A baseline listing `findings`, once per signature.

    Comments of `previous` entries that match a finding are kept (other entries get the
    finding's one-line summary), and so are its entries the search saw (`seen`, see
    `judge`) or of behaviours not `checked`.
    """
    earlier = previous.entries if previous else ()
    checked_behaviours = set(checked)
    entries = {_identity(e): e for e in earlier
               if e.behaviour not in checked_behaviours or (seen or {}).get(e)}
    for finding in findings:
        entry = KnownFinding.of(finding)
        match = next((e for e in earlier if e.matches(finding)), None)
        comment = match.comment if match else _summary(finding)
        entries.setdefault(_identity(entry), replace(entry, comment=comment))
    return Baseline(tuple(entries.values()), previous.comment if previous else _FILE_COMMENT)


def _identity(entry: KnownFinding) -> tuple[tuple[str, str, str], tuple[str, ...]]:
    # (Where ops do not matter for matching, one entry per answer is enough.)
    return entry.key, () if entry.check in SAME_ANSWER_SAME_BUG else entry.ops


def _summary(finding: Finding) -> str:
    return (f"{finding.check} of {finding.subject} at {finding.step}: expected "
            f"{_mask(finding.expected)}, got {_mask(finding.actual)}")


def write_baseline(path: Path, baseline: Baseline) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(baseline.to_json(), encoding="utf-8")
    except OSError as error:
        raise BaselineError(f"cannot write baseline {str(path)!r}: "
                            f"{error.strerror or error}") from None


# --------------------------------------------------------------------------- judging


@dataclass(frozen=True)
class BaselineVerdict:
    """A run against a baseline: which findings are known and which new, which entries
    programs showed (and how many programs), and which none did (stale)."""

    file: str
    known: tuple[int, ...]  # indices into the run's findings
    new: tuple[int, ...]
    seen: tuple[tuple[KnownFinding, int], ...]  # entries the search passed over, programs
    stale: tuple[KnownFinding, ...]

    @property
    def passed(self) -> bool:
        return not self.new


def judge(baseline: Baseline, findings: Sequence[Finding], checked: Iterable[str],
          file: str, seen: Mapping[KnownFinding, int] | None = None) -> BaselineVerdict:
    """Sort `findings` into known and new. `seen` counts, per entry, the programs the
    search passed over because they showed only findings the entry lists. Entries of
    `checked` behaviours neither seen nor matching a finding are stale (entries of
    behaviours not checked are neither)."""
    seen = seen or {}
    known = tuple(i for i, f in enumerate(findings)
                  if any(entry.matches(f) for entry in baseline.entries))
    new = tuple(i for i in range(len(findings)) if i not in known)
    checked_behaviours = set(checked)
    stale = tuple(entry for entry in baseline.entries
                  if entry.behaviour in checked_behaviours and not seen.get(entry)
                  and not any(entry.matches(f) for f in findings))
    sightings = tuple((entry, seen[entry]) for entry in baseline.entries if seen.get(entry))
    return BaselineVerdict(file, known, new, sightings, stale)


def listed(entries: Sequence[KnownFinding], finding: Finding) -> list[int]:
    """The indices of the entries that list `finding`."""
    seen = KnownFinding.of(finding)
    return [index for index, entry in enumerate(entries) if entry.lists(seen)]
