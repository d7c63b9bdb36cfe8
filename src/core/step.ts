/**
 * The shape of a pure transition, shared by src/core (which writes them) and src/actors/actor.ts (which
 * runs them): `(state, message) → { state, effects, events }`. Effects are data the runtime performs (send
 * a frame, write a block); events are facts for observers. Lives in core so pure logic never imports the
 * runtime.
 */

/** What a pure transition returns: the next state, effects for the runtime, events for observers. */
export interface Step<S, Eff, Out> {
  state: S;
  effects?: readonly Eff[];
  events?: readonly Out[];
}

export type Transition<S, In, Eff, Out> = (state: S, message: In) => Step<S, Eff, Out>;
