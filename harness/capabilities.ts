/**
 * What an external cluster offers beyond the seed's endpoints (/write, /read, /data, /health,
 * /replicate). Ours adds GET/PUT /config, GET /stats and POST /stats/reset; a seed-API cluster
 * answers them 404 (or 405). The harness uses what is there and says which figures are missing.
 */
import { ControlError, type Control } from './control.ts';

export interface Capabilities {
  /** GET /config answers: the delay bounds and W in effect can be read back. */
  config: boolean;
  /** GET /stats answers: quiescence, delay fidelity and the leader's own statistics. */
  stats: boolean;
  /** The leader's GET /config, when it answers. */
  leaderConfig: Record<string, unknown> | null;
}

/** An answer meaning "no such endpoint here" rather than a failure. */
export function isAbsent(err: unknown): boolean {
  return err instanceof ControlError && (err.status === 404 || err.status === 405 || err.status === 501);
}

async function optionalGet(control: Control, url: string, path: string): Promise<Record<string, unknown> | null> {
  try {
    const body = await control.getJson<unknown>(url, path);
    return body !== null && typeof body === 'object' && !Array.isArray(body) ? (body as Record<string, unknown>) : null;
  } catch (err) {
    if (isAbsent(err)) return null;
    throw err;
  }
}

export async function probeCapabilities(control: Control, leaderUrl: string): Promise<Capabilities> {
  const [leaderConfig, stats] = await Promise.all([
    optionalGet(control, leaderUrl, '/config'),
    optionalGet(control, leaderUrl, '/stats'),
  ]);
  return { config: leaderConfig !== null, stats: stats !== null, leaderConfig };
}

/** The figures a run against a cluster with these capabilities cannot give, in words for the log and meta.json. */
export function missingFigures(caps: Capabilities): string[] {
  const missing: string[] = [];
  if (!caps.stats) {
    missing.push("delay fidelity and the leader's statistics (no GET /stats)");
    missing.push(
      'replication-pending wait (no GET /stats): convergence is judged by polling /data until the replicas agree',
    );
  }
  if (!caps.config)
    missing.push(
      "W and delay bounds read back from the leader (no GET /config); W is what --cluster-cmd or the cluster's start set",
    );
  return missing;
}

/** W as the leader reports it (/config or /health: quorum, writeQuorum or write_quorum); null when it says nothing. */
export function reportedQuorum(...bodies: (Record<string, unknown> | null)[]): number | null {
  for (const b of bodies) {
    for (const field of ['quorum', 'writeQuorum', 'write_quorum']) {
      const v = b?.[field];
      if (typeof v === 'number' && Number.isInteger(v)) return v;
    }
  }
  return null;
}
