// What the tests of a run's results share, for the model's run and a kernel's alike: the step with a
// label, and the pin counters that step itself moved.

interface CountedStep {
  index: number;
  label?: string;
  vmstat: { nr_foll_pin_acquired: number; nr_foll_pin_released: number };
}

/** The step labelled label (a test error when there is none). */
export function step<S extends CountedStep>(r: { steps: S[] }, label: string): S {
  const s = r.steps.find((x) => x.label === label);
  if (!s) throw new Error(`no step ${label}`);
  return s;
}

/** A step's own increments of nr_foll_pin_acquired and nr_foll_pin_released. */
export function delta(r: { steps: CountedStep[] }, label: string): [number, number] {
  const s = step(r, label);
  const prev = r.steps[s.index - 1]?.vmstat ?? { nr_foll_pin_acquired: 0, nr_foll_pin_released: 0 };
  return [
    s.vmstat.nr_foll_pin_acquired - prev.nr_foll_pin_acquired,
    s.vmstat.nr_foll_pin_released - prev.nr_foll_pin_released,
  ];
}
