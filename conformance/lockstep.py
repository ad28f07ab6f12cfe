"""Drive the engine and the oracle in lockstep with a hypothesis state machine.

Where state evolves (gradients accumulating, grad modes opening and closing, `.data`
changing under a graph) a `RuleBasedStateMachine` is the natural generator: each rule
appends a few steps (the same actions the program strategies use), both engines run
them at once, and their traces must agree after every rule. Shrinking then finds the
shortest sequence of actions that makes the engines diverge.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule

from conformance.compare import compare_traces
from conformance.engines import Engine
from conformance.run import Session
from conformance.strategies import Action, ProgramBuilder
from conformance.testing import failure_message


def _no_draw(strategy: st.SearchStrategy[Any]) -> Any:
    raise RuntimeError("the builder draws only inside a rule")


class LockstepMachine(RuleBasedStateMachine):
    """Base machine; `lockstep_machine` adds one rule per action."""

    engine: ClassVar[Engine]
    oracle: ClassVar[Engine]
    engine_spec: ClassVar[str] = "refgrad"
    behaviour: ClassVar[str] = "lockstep"

    def __init__(self) -> None:
        super().__init__()
        self.builder = ProgramBuilder(_no_draw)
        self.sessions = (Session(self.engine), Session(self.oracle))
        self.executed = 0

    def perform(self, data: st.DataObject, action: Action) -> None:
        """Let `action` append steps (drawing from `data`), run them on both, compare."""
        self.builder.use_draw(data.draw)
        action(self.builder)
        for step in self.builder.steps[self.executed:]:
            for session in self.sessions:
                session.execute(step)
        self.executed = len(self.builder.steps)
        self.check(final=False)

    def check(self, *, final: bool) -> None:
        __tracebackhide__ = True
        engine_trace, oracle_trace = (s.trace(final=final) for s in self.sessions)
        findings = compare_traces(self.builder.program(), engine_trace, oracle_trace,
                                  behaviour=self.behaviour).findings
        if findings:
            raise AssertionError(failure_message(findings, self.engine_spec))

    @initialize(data=st.data())
    def first_leaf(self, data: st.DataObject) -> None:
        self.perform(data, lambda builder: builder.leaf())

    def teardown(self) -> None:
        if self.executed:
            self.check(final=True)


def lockstep_machine(engine: Engine, oracle: Engine, actions: Mapping[str, Action], *,
                     engine_spec: str = "refgrad",
                     behaviour: str = "lockstep") -> type[LockstepMachine]:
    """A machine class whose rules are `actions` (rule name -> action)."""

    def rule_for(action: Action) -> Callable[[LockstepMachine, st.DataObject], None]:
        def perform(self: LockstepMachine, data: st.DataObject) -> None:
            self.perform(data, action)

        return rule(data=st.data())(perform)

    namespace: dict[str, Any] = {name: rule_for(action) for name, action in actions.items()}
    namespace.update(engine=engine, oracle=oracle, engine_spec=engine_spec,
                     behaviour=behaviour)
    return type(f"Lockstep_{behaviour}", (LockstepMachine,), namespace)
