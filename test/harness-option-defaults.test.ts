import { describe, expect, it } from 'vitest';
import { OPTION_SPECS, resolveOptions, type ExperimentInput } from '../harness/options.ts';

// --help shows spec.defaultText; resolveOptions applies the default. They are one promise to the user,
// so each default that --help states as a value must be the value applied when the option is absent.
const NOW = new Date('2026-12-01T00:00:00Z');

/** The literal part of a default text: '0 (off; bare flag = 0.1)' → '0', '10s' → '10s'; null when descriptive. */
function literalOf(text: string): string | null {
  const head = text.split(/[ (]/)[0]!;
  if (head === '' || /^(none|random|auto|min|\$|data\/)/.test(head) || head.endsWith(':')) return null;
  return head;
}

describe('option defaults: --help says what resolveOptions applies', () => {
  const defaults = resolveOptions({}, NOW) as unknown as Record<string, unknown>;
  const literal = OPTION_SPECS.filter((s) => literalOf(s.defaultText) !== null);
  it('most options state their default as a value', () => {
    expect(literal.length).toBeGreaterThan(OPTION_SPECS.length / 2);
  });
  it.each(literal.map((s) => [s.flag, s] as const))('--%s', (_flag, spec) => {
    const given = resolveOptions(
      { [spec.key]: literalOf(spec.defaultText)! } as ExperimentInput,
      NOW,
    ) as unknown as Record<string, unknown>;
    const differing = Object.keys(defaults).filter(
      (k) => JSON.stringify(given[k]) !== JSON.stringify(defaults[k]) && k !== 'seed',
    );
    expect(differing).toEqual([]);
  });
});
