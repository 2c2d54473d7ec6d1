import type { LeaderEvents } from '../ledger/leader.js';
import type { LostReason } from '../coordination/elector.js';
import type { VerifierEvents } from '../ledger/verifier.js';

/** Events a replica emits; tests await these instead of sleeping. */
export interface ReplicaEvents extends LeaderEvents, VerifierEvents {
  'lane:elected': { lane: string; term: number };
  'lane:lost': { lane: string; term: number; reason: LostReason };
  'lease:renew:error': { error: unknown };
  'replica:ready': { ready: boolean; reason?: string };
  'replica:stopped': { drainMs: number };
}
