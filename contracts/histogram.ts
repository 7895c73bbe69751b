/**
 * The HDR histogram settings every part shares: the nodes record their /stats latencies with them,
 * the harness its client latencies, and the analysis decodes both (hdr-histogram-js).
 */

/** 1 µs .. 60 s at 3 significant digits (0.1 % value resolution). */
export const HISTOGRAM_SETTINGS = {
  lowestDiscernibleValue: 1,
  highestTrackableValue: 60_000_000,
  numberOfSignificantValueDigits: 3,
} as const;
