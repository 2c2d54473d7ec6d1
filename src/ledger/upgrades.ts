import type { AppReadState, JsonValue } from '../apps/app.js';
import type { ScratchState, TxOutcome } from '../apps/runner.js';
import { RESERVED_KEY_PREFIX } from '../apps/values.js';
import { VERSION_PATTERN } from '../apps/versions.js';
import { BatonError } from '../errors.js';

/** Transaction kinds under this prefix are Baton's own, handled without the app. */
export const RESERVED_KIND_PREFIX = 'baton.';
/** An approver's signed approval of an upgrade: `{kind: "baton.approve", args: {version}}`. */
export const APPROVE_KIND = 'baton.approve';

/** What an upgrade of a lane needs: the proposed version, and approvals when the lane has approvers. */
export interface UpgradePolicy {
  approvers: readonly string[];
  quorum: number;
  proposedVersion: string | null;
}

export function isReservedKind(kind: string): boolean {
  return kind.startsWith(RESERVED_KIND_PREFIX);
}

/** The state key that lists the approvers who approved `version`. */
export function approvalsKey(version: string): string {
  return `${RESERVED_KEY_PREFIX}approvals/${version}`;
}

export function approvalsOf(state: AppReadState, version: string): string[] {
  const value = state.get(approvalsKey(version));
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

/** Intake's stateless check of a reserved kind (the app never sees these). */
export function validateReserved(kind: string, args: unknown, policy: UpgradePolicy): void {
  if (kind !== APPROVE_KIND) throw new BatonError('unknown_kind', `no reserved kind ${JSON.stringify(kind)}`);
  if (policy.quorum === 0)
    throw new BatonError('bad_args', 'this lane has no approvers: it upgrades on the admin\u2019s word');
  const ok =
    typeof args === 'object' &&
    args !== null &&
    !Array.isArray(args) &&
    Object.keys(args).length === 1 &&
    typeof (args as { version?: unknown }).version === 'string' &&
    VERSION_PATTERN.test((args as { version: string }).version);
  if (!ok) throw new BatonError('bad_args', `${APPROVE_KIND} takes {"version": "1.2.3"}`);
}

/**
 * Applies an approval: counted once per approver key and version. Approvals from keys that are
 * not the lane's approvers, and repeated ones, are committed as refused and count nothing.
 */
export function applyApproval(
  state: ScratchState,
  from: string,
  args: unknown,
  policy: UpgradePolicy,
): TxOutcome {
  const version = (args as { version?: unknown } | null)?.version;
  if (typeof version !== 'string' || !VERSION_PATTERN.test(version)) return { ok: false, error: 'bad_args' };
  const signer = from.toLowerCase();
  if (!policy.approvers.includes(signer)) return { ok: false, error: 'not_an_approver' };
  const approvals = approvalsOf(state, version);
  if (approvals.includes(signer)) return { ok: false, error: 'duplicate_approval' };
  const next = [...approvals, signer].sort();
  state.set(approvalsKey(version), next);
  const result: JsonValue = { version, approvals: next.length, quorum: policy.quorum };
  return { ok: true, result };
}

/**
 * The version the next block switches the lane to, if any: the proposed version once it differs
 * from the active one and, on a lane with approvers, once a quorum of them approved it.
 */
export function dueUpgrade(state: AppReadState, active: string | null, policy: UpgradePolicy): string | null {
  const target = policy.proposedVersion;
  if (target === null || target === active) return null;
  if (policy.quorum > 0 && approvalsOf(state, target).length < policy.quorum) return null;
  return target;
}
