/** Reading benchmark knobs from the environment: an unset or empty variable takes the default. */

/** A yes/no knob: anything but 0, false or no is yes. */
export const flag = (value: string | undefined, fallback: boolean) => (value === undefined || value === '' ? fallback : !['0', 'false', 'no'].includes(value));

/** A positive number, or a clear error naming the variable. */
export const positive = (name: string, value: string | undefined, fallback: number) => {
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!(n > 0)) throw new Error(`${name} must be a positive number, got "${value}"`);
  return n;
};
