import type { IncomingMessage, ServerResponse } from 'node:http';
import { BatonError } from '../errors.js';
import { balanceKey } from '../apps/token.js';
import { publicBlock } from '../ledger/block.js';
import { verifySubmission } from '../ledger/envelope.js';
import { HEX32 } from '../ledger/keys.js';
import type { ApiContext, LaneRuntime } from './context.js';
import { findLane, intParam, pathSegment, readBody, readJson, sendJson } from './http.js';
import { authorize } from './admin.js';
import { LANE_NAME } from '../ledger/envelope.js';
import { REPLICA_ID } from '../node/config.js';

const MAX_BLOCKS_PER_PAGE = 1000;
const HEX_ID = /^[0-9a-f]{64}$/;

type Handler = (
  ctx: ApiContext,
  req: IncomingMessage,
  res: ServerResponse,
  params: RouteParams,
) => Promise<void>;

interface RouteParams {
  lane?: LaneRuntime;
  laneName?: string;
  arg?: string;
  query: URLSearchParams;
}

const livez: Handler = (ctx, _req, res) => {
  const liveness = ctx.liveness();
  sendJson(
    res,
    liveness.live ? 200 : 503,
    liveness.live ? { status: 'ok' } : { status: 'unhealthy', ...liveness },
  );
  return Promise.resolve();
};

const metrics: Handler = (ctx, _req, res) => {
  const body = ctx.metrics();
  res.writeHead(200, {
    'content-type': 'text/plain; version=0.0.4; charset=utf-8',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
  return Promise.resolve();
};

const readyz: Handler = (ctx, _req, res) => {
  const readiness = ctx.readiness();
  sendJson(res, readiness.ready ? 200 : 503, readiness);
  return Promise.resolve();
};

const cluster: Handler = async (ctx, _req, res) => sendJson(res, 200, await ctx.cluster());

const submit: Handler = async (ctx, req, res, { lane, laneName }) => {
  const envelope = await readJson(req);
  const tx = verifySubmission(envelope, laneName!, lane!.app, ctx.verifier);
  const inserted = await ctx.intake.submit(tx);
  if (inserted) {
    sendJson(res, 202, { id: tx.id, status: 'pending' });
    return;
  }
  const known = (await ctx.store.txStatuses(tx.lane, [tx.id])).get(tx.id);
  sendJson(res, 200, known ?? { id: tx.id, status: 'pending' });
};

const txStatus: Handler = async (ctx, _req, res, { laneName, arg }) => {
  const id = arg!.toLowerCase();
  if (!HEX_ID.test(id)) throw new BatonError('bad_request', 'a transaction id is 64 hex characters');
  const status = (await ctx.store.txStatuses(laneName!, [id])).get(id);
  if (!status) throw new BatonError('not_found', 'no such transaction');
  sendJson(res, 200, status);
};

const blocks: Handler = async (ctx, _req, res, { laneName, query }) => {
  const from = intParam(query.get('from'), 'from', 1, 1, Number.MAX_SAFE_INTEGER);
  const limit = intParam(query.get('limit'), 'limit', 100, 1, MAX_BLOCKS_PER_PAGE);
  const records = await ctx.store.blocksAfter(laneName!, from - 1, limit);
  sendJson(res, 200, { blocks: records.map(publicBlock) });
};

const account: Handler = async (ctx, _req, res, { lane, laneName, arg }) => {
  if (!HEX32.test(arg!)) throw new BatonError('bad_request', 'an account is 32 bytes of hex');
  if (lane!.app.name !== 'token') throw new BatonError('not_found', 'this lane does not run the token app');
  const value = await ctx.store.stateValue(laneName!, balanceKey(arg!));
  sendJson(res, 200, { balance: typeof value === 'number' ? value : 0 });
};

const drain: Handler = (ctx, req, res) => {
  const admin = authorize(req, ctx.admin);
  sendJson(res, 202, { replica: ctx.replicaId, status: 'draining' });
  res.once('finish', () => admin.drain());
  return Promise.resolve();
};

const drainReplica: Handler = async (ctx, req, res, { arg }) => {
  const admin = authorize(req, ctx.admin);
  const id = replicaParam(arg!);
  if (id === ctx.replicaId) return drain(ctx, req, res, { query: new URLSearchParams() });
  await admin.drainReplica(id);
  sendJson(res, 202, { replica: id, status: 'draining' });
};

const adminStatus: Handler = async (ctx, req, res) => {
  const admin = authorize(req, ctx.admin);
  sendJson(res, 200, await admin.status());
};

const setPriority: Handler = async (ctx, req, res, { arg }) => {
  const admin = authorize(req, ctx.admin);
  const id = replicaParam(arg!);
  const { priority } = await readObject(req);
  if (typeof priority !== 'number' || !Number.isInteger(priority) || Math.abs(priority) > 1_000_000)
    throw new BatonError('bad_request', 'priority must be an integer between -1000000 and 1000000');
  await admin.setPriority(id, priority);
  sendJson(res, 200, { replica: id, priority });
};

const createLane: Handler = async (ctx, req, res) => {
  const admin = authorize(req, ctx.admin);
  const { lane, app } = await readObject(req);
  if (typeof lane !== 'string' || !LANE_NAME.test(lane))
    throw new BatonError('bad_request', 'lane must be a lane name (a-z, 0-9, _ -, at most 63)');
  if (app !== undefined && typeof app !== 'string')
    throw new BatonError('bad_request', 'app must be a string');
  const created = await admin.createLane(lane, app ?? 'token');
  sendJson(res, created.created ? 201 : 200, created);
};

const handover: Handler = async (ctx, req, res, { laneName }) => {
  const admin = authorize(req, ctx.admin);
  const { to } = await readObject(req);
  if (to !== undefined && to !== null && (typeof to !== 'string' || !REPLICA_ID.test(to)))
    throw new BatonError('bad_request', 'to must be a replica id');
  sendJson(res, 200, await admin.handover(laneName!, to ?? null));
};

function replicaParam(raw: string): string {
  const id = pathSegment(raw);
  if (!REPLICA_ID.test(id)) throw new BatonError('bad_request', 'not a replica id');
  return id;
}

/** A JSON object body; an empty body counts as {}. */
async function readObject(req: IncomingMessage): Promise<Record<string, unknown>> {
  const raw = await readBody(req);
  if (raw.length === 0) return {};
  let value: unknown;
  try {
    value = JSON.parse(raw.toString('utf8'));
  } catch {
    throw new BatonError('bad_json');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new BatonError('bad_request', 'the body must be a JSON object');
  return value as Record<string, unknown>;
}

type Pick = (handlers: Partial<Record<string, Handler>>) => { handler: Handler; params: RouteParams };

/** /v1/admin/… */
function adminRoute(
  ctx: ApiContext,
  parts: string[],
  params: RouteParams,
  pick: Pick,
): { handler: Handler; params: RouteParams } {
  const [first, second, third] = parts;
  if (parts.length === 1 && first === 'drain') return pick({ POST: drain });
  if (parts.length === 1 && first === 'status') return pick({ GET: adminStatus });
  if (parts.length === 1 && first === 'lanes') return pick({ POST: createLane });
  if (parts.length === 3 && first === 'lanes' && third === 'handover') {
    params.laneName = pathSegment(second!);
    findLane(ctx.lanes, params.laneName);
    return pick({ POST: handover });
  }
  if (parts.length === 3 && first === 'replicas') {
    params.arg = second;
    if (third === 'drain') return pick({ POST: drainReplica });
    if (third === 'priority') return pick({ PUT: setPriority });
  }
  throw new BatonError('not_found');
}

/** Finds the handler for a request; throws not_found / method_not_allowed. */
export function route(ctx: ApiContext, method: string, url: URL): { handler: Handler; params: RouteParams } {
  const parts = url.pathname.split('/').filter((p) => p !== '');
  const params: RouteParams = { query: url.searchParams };
  const pick = (handlers: Partial<Record<string, Handler>>): { handler: Handler; params: RouteParams } => {
    const handler = handlers[method] ?? (method === 'HEAD' ? handlers['GET'] : undefined);
    if (!handler) throw new BatonError('method_not_allowed');
    return { handler, params };
  };
  if (parts.length === 1 && parts[0] === 'livez') return pick({ GET: livez });
  if (parts.length === 1 && parts[0] === 'readyz') return pick({ GET: readyz });
  if (parts.length === 1 && parts[0] === 'metrics') return pick({ GET: metrics });
  if (parts[0] !== 'v1') throw new BatonError('not_found');
  if (parts.length === 2 && parts[1] === 'cluster') return pick({ GET: cluster });
  if (parts[1] === 'admin') return adminRoute(ctx, parts.slice(2), params, pick);
  if (parts[1] === 'lanes' && parts.length >= 4) {
    params.laneName = pathSegment(parts[2]!);
    params.lane = findLane(ctx.lanes, params.laneName);
    const resource = parts[3];
    if (parts.length === 4 && resource === 'txs') return pick({ POST: submit });
    if (parts.length === 4 && resource === 'blocks') return pick({ GET: blocks });
    if (parts.length === 5 && resource === 'txs') return ((params.arg = parts[4]), pick({ GET: txStatus }));
    if (parts.length === 5 && resource === 'accounts')
      return ((params.arg = parts[4]), pick({ GET: account }));
  }
  throw new BatonError('not_found');
}
