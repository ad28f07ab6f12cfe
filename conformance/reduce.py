"""Reducing a finding's program below what hypothesis's shrinking reaches.

Hypothesis shrinks the choice sequence, not the program, and some smaller programs are
out of its reach: a leaf is made inside the op step that first needs it, so deleting
that step deletes the leaf later steps use; and a tensor feeding the backward's root (a
result added into it) cannot be taken out without deleting the steps that consume it.
`reduce_program` works on the program itself, greedily, keeping a change when the
program still shows the finding (the caller's `shows` decides):

- delete a step whose names no later step uses (an `EnterGradMode` with its exit);
- bypass an op: `out = op(..., a, ...)` deleted, later steps using `a` instead of `out`
  (`t6 = t4 + t5; t6.backward()` becomes `t5.backward()`, and t4 is then dead);
- finally, name the tensors `t0, t1, ...` again in order.

A candidate may be a program generation would not make (an op outside its domain, a
shape that no longer fits): it runs on both engines like any other, and is kept only if
it shows the same finding.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import fields, replace
from typing import Any

from conformance.program import ApplyOp, EnterGradMode, ExitGradMode, MakeLeaf, Program, Ref, Step


def reduce_program(program: Program, shows: Callable[[Program], bool], *,
                   budget: int = 400) -> Program:
    """The smallest program found from `program` by the changes of the module docstring
    for which `shows` holds (`program` itself if none does); at most `budget` calls."""
    current, calls = program, 0
    improved = True
    while improved and calls < budget:
        improved = False
        for candidate in _smaller(current):
            calls += 1
            if shows(candidate):
                current, improved = candidate, True
                break
            if calls >= budget:
                break
    renumbered = _renumber(current)
    if renumbered != current and calls < budget and shows(renumbered):
        return renumbered
    return current


def _smaller(program: Program) -> Iterator[Program]:
    """Candidates with one step fewer (or a pair of grad-mode steps), later steps first:
    the plumbing of a root (means added up, a backward) comes last."""
    steps = program.steps
    for index in reversed(range(len(steps))):
        step = steps[index]
        later = steps[index + 1:]
        used_later = {name for s in later for name in s.uses()}
        if isinstance(step, EnterGradMode):
            yield Program(_without_block(steps, index))
        elif not set(step.binds()) & used_later:
            yield Program(steps[:index] + later)
        elif isinstance(step, ApplyOp) and len(step.outs) == 1:
            out = step.outs[0]
            for operand in dict.fromkeys(step.uses()):  # (in order, once each)
                yield Program(steps[:index] + tuple(_renamed(s, {out: operand}, uses_only=True)
                                                    for s in later))


def _without_block(steps: tuple[Step, ...], enter: int) -> tuple[Step, ...]:
    """`steps` without the grad-mode block opened at `enter` (its body kept)."""
    depth = 0
    for index in range(enter + 1, len(steps)):
        if isinstance(steps[index], EnterGradMode):
            depth += 1
        elif isinstance(steps[index], ExitGradMode):
            if depth == 0:
                return steps[:enter] + steps[enter + 1:index] + steps[index + 1:]
            depth -= 1
    return steps[:enter] + steps[enter + 1:]  # (open to the end)


def _renumber(program: Program) -> Program:
    """The tensors named t0, t1, ... in the order steps bind them."""
    names: dict[str, str] = {}
    for step in program.steps:
        for name in step.binds():
            names[name] = f"t{len(names)}"
    return Program(tuple(_renamed(step, names, uses_only=False) for step in program.steps))


def _renamed(step: Step, names: dict[str, str], *, uses_only: bool) -> Step:
    """`step` with tensor names replaced per `names`: the names it uses (and, unless
    `uses_only`, those it binds)."""
    changes = {}
    for field in fields(step):
        if uses_only and _binding(step, field.name):
            continue
        value = getattr(step, field.name)
        new = _rename_value(value, names)
        if new is not value:
            changes[field.name] = new
    return replace(step, **changes) if changes else step


def _binding(step: Step, field: str) -> bool:
    """Whether `field` of `step` holds the names it binds."""
    return field in ("outs", "out") or (isinstance(step, MakeLeaf) and field == "name")


def _rename_value(value: Any, names: dict[str, str]) -> Any:
    """Tensor names replaced in a field's value: a name, a `Ref`, or tuples of them (args,
    kwargs pairs, indices). Other strings (op names, methods, kwargs' keys) never look
    like a tensor name (`t<number>`)."""
    if isinstance(value, Ref):
        return Ref(names[value.name]) if value.name in names else value
    if isinstance(value, str):
        return names.get(value, value)
    if isinstance(value, tuple):
        items = tuple(_rename_value(item, names) for item in value)
        return items if any(a is not b for a, b in zip(items, value, strict=True)) else value
    return value
