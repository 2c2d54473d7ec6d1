import type { IncomingMessage, ServerResponse } from 'node:http';
import { BatonError } from '../errors.js';
import { balanceKey } from '../apps/token.js';
import { publicBlock } from '../ledger/block.js';
import { verifySubmission } from '../ledger/envelope.js';
import { HEX32 } from '../ledger/keys.js';
import type { ApiContext, LaneRuntime } from './context.js';
import { findLane, intParam, pathSegment, readJson, sendJson } from './http.js';
import { authorize } from './admin.js';

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

const livez: Handler = (_ctx, _req, res) => Promise.resolve(sendJson(res, 200, { status: 'ok' }));

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
  if (parts[0] !== 'v1') throw new BatonError('not_found');
  if (parts.length === 2 && parts[1] === 'cluster') return pick({ GET: cluster });
  if (parts.length === 3 && parts[1] === 'admin' && parts[2] === 'drain') return pick({ POST: drain });
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
