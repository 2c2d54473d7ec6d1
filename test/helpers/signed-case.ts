import { createHash } from 'node:crypto';
import { signTx } from '../../src/client/tx.js';
import { signMessage, type KeyPair } from '../../src/ledger/keys.js';
import type { CraftedArgs, CraftedBody, SignedSpec } from './fuzz-envelopes.js';
import { KEYS } from './fuzz-keys.js';

/** A submission ready to send, and what the test knows about how it was signed. */
export interface SignedCase {
  urlLane: string;
  /** The HTTP body. */
  wire: string;
  /** The transaction body the envelope carries; its id is the SHA-256 of its UTF-8 bytes. */
  body: string;
  id: string;
  /** Signed by the signer's key over exactly `body`. */
  signatureOk: boolean;
  repeat: boolean;
}

function decodedOr(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

function argsText(args: CraftedArgs, kind: string): string {
  const shape = args.shape === 'matching' ? (kind === '"transfer"' ? 'transfer' : 'faucet') : args.shape;
  switch (shape) {
    case 'faucet':
      return `{"amount":${args.amount}}`;
    case 'transfer':
      return args.toFirst
        ? `{"to":${args.to},"amount":${args.amount}}`
        : `{"amount":${args.amount},"to":${args.to}}`;
    case 'extra':
      return `{"amount":${args.amount},"memo":"x"}`;
    case 'duplicate':
      return `{"amount":1001,"amount":${args.amount}}`;
    case 'odd':
      return args.odd;
  }
}

/** Escapes the first character of a JSON key as \uXXXX: the same key once parsed. */
function escapedKey(key: string): string {
  return `"\\u${key.charCodeAt(0).toString(16).padStart(4, '0')}${key.slice(1)}"`;
}

function craftedText(b: CraftedBody, key: KeyPair, other: KeyPair, urlLane: string): string {
  const from = {
    self: JSON.stringify(key.publicKey),
    upper: JSON.stringify(key.publicKey.toUpperCase()),
    other: JSON.stringify(other.publicKey),
    garbage: '"xyz"',
  }[b.from];
  const fields: Array<[string, string]> = [
    ['lane', b.lane === 'url' ? JSON.stringify(urlLane) : b.lane],
    ['from', from],
    ['kind', b.kind],
    ['args', argsText(b.args, b.kind)],
    ['nonce', b.nonce],
  ];
  const entries = b.shuffle.map((i) => fields[i]!).map(([k, v]): [string, string] => [JSON.stringify(k), v]);
  if (b.mutation === 'escapedKey') entries[0]![0] = escapedKey(JSON.parse(entries[0]![0]) as string);
  // A duplicate key comes first, so the real field (parsed last) wins.
  if (b.mutation === 'duplicate') entries.unshift([entries[entries.length - 1]![0], '"garbage"']);
  if (b.mutation === 'extra') entries.push(['"memo"', '1']);
  if (b.mutation === 'missing') entries.pop();
  const s = b.space;
  return `{${s}${entries.map(([k, v]) => `${k}${s}:${s}${v}`).join(`${s},${s}`)}${s}}${b.trailer}`;
}

function flipBit(hex: string): string {
  const bytes = Buffer.from(hex, 'hex');
  bytes[17] = bytes[17]! ^ 0x04;
  return bytes.toString('hex');
}

function envelopeWire(spec: SignedSpec, body: string, signer: string, signature: string): string {
  switch (spec.envelope) {
    case 'canonical':
      return JSON.stringify({ body, signer, signature });
    case 'spaced':
      return JSON.stringify({ signature, body, signer }, null, 2);
    case 'escapedKeys':
      return `{${escapedKey('body')}:${JSON.stringify(body)},${escapedKey('signer')}:"${signer}","signature":"${signature}"}`;
    case 'asciiOnly':
      return JSON.stringify({ body, signer, signature }).replace(
        /[\u0080-\uffff]/g,
        (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
      );
    case 'duplicate':
      return `{"signature":"${'0'.repeat(128)}","body":${JSON.stringify(body)},"signer":"${signer}","signature":"${signature}"}`;
    case 'extra':
      return JSON.stringify({ body, signer, signature, extra: 1 });
    case 'missing':
      return JSON.stringify({ body, signer });
    case 'bodyObject':
      return JSON.stringify({ body: { text: body }, signer, signature });
  }
}

/** Whether the signature is by the key the envelope names, over exactly its body. */
function signedBySigner(spec: SignedSpec): boolean {
  const signerIsKey = spec.signer !== 'other';
  if (spec.signature === 'valid' || spec.signature === 'upper') return signerIsKey;
  return spec.signature === 'otherKey' && !signerIsKey;
}

/** Builds, signs (with the project's own signing helpers) and possibly tampers with `spec`. */
export async function buildSigned(spec: SignedSpec): Promise<SignedCase> {
  const key = KEYS[spec.key]!;
  const other = KEYS[(spec.key + 1) % KEYS.length]!;
  const urlLane = decodedOr(spec.urlLane);
  let body: string;
  let valid: string;
  if (spec.body.flavour === 'plain') {
    const b = spec.body;
    const signed = await signTx(
      b.lane === 'url' ? urlLane : b.lane,
      { kind: b.kind, args: b.args, nonce: b.nonce },
      key,
    );
    body = signed.envelope.body;
    valid = signed.envelope.signature;
  } else {
    body = craftedText(spec.body, key, other, urlLane);
    valid = signMessage(key.secretKey, body);
  }
  const signature = {
    valid,
    upper: valid.toUpperCase(),
    flip: flipBit(valid),
    otherKey: signMessage(other.secretKey, body),
    otherBody: signMessage(key.secretKey, `${body} `),
    zeros: '0'.repeat(128),
    short: valid.slice(0, 126),
  }[spec.signature];
  const signer = { self: key.publicKey, upper: key.publicKey.toUpperCase(), other: other.publicKey }[
    spec.signer
  ];
  return {
    urlLane: spec.urlLane,
    wire: envelopeWire(spec, body, signer, signature),
    body,
    id: createHash('sha256').update(Buffer.from(body, 'utf8')).digest('hex'),
    signatureOk: signedBySigner(spec),
    repeat: spec.repeat,
  };
}
