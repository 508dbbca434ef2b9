/** The three parts of an event-sourced aggregate: pure functions plus a starting point. */
export interface Decider<Command, Event, State> {
  decide(state: State, command: Command): Event[];
  evolve(state: State, event: Event): State;
  initialState(): State;
}

export const foldEvents = <C, E, S>(decider: Decider<C, E, S>, events: E[], from = decider.initialState()): S => events.reduce(decider.evolve, from);

/**
 * given(past events).when(command) → the new events, or the error `decide` threw.
 * Used by decider tests in given/when/then form.
 */
export function given<C, E, S>(decider: Decider<C, E, S>, past: E[]) {
  return {
    when(command: C): { events: E[]; error?: undefined } | { events?: undefined; error: unknown } {
      try {
        return { events: decider.decide(foldEvents(decider, past), command) };
      } catch (error) {
        return { error };
      }
    },
  };
}
