/**
 * A public state computed from an SDK object's internals (connection phase,
 * session, transport): refresh() after anything changed, and `onChange` hears
 * only real moves, with the state it left.
 */
export class DerivedState<S> {
  #value: S;
  readonly #compute: () => S;
  readonly #onChange: (state: S, previous: S) => void;

  constructor(initial: S, compute: () => S, onChange: (state: S, previous: S) => void) {
    this.#value = initial;
    this.#compute = compute;
    this.#onChange = onChange;
  }

  get value(): S {
    return this.#value;
  }

  refresh(): void {
    const next = this.#compute();
    if (next === this.#value) return;
    const previous = this.#value;
    this.#value = next;
    this.#onChange(next, previous);
  }
}
