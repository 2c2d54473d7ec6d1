/** What the workload sends on a lane of another app than token: an intent with object arguments. */
export interface AppIntent {
  kind: string;
  args: Record<string, unknown>;
}

const N = '{n}';
const CLIENT = '{client}';

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Parses an intent template (`--app-tx`): JSON with a string `kind` and object `args`, e.g.
 * `{"kind":"put","args":{"key":"k{n}","text":"{client}-{n}"}}`. Throws with the reason.
 */
export function parseAppIntent(text: string): AppIntent {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new Error(`is not JSON (${(error as Error).message})`, { cause: error });
  }
  if (!isObject(value) || typeof value['kind'] !== 'string' || value['kind'] === '')
    throw new Error('needs a "kind" (a string)');
  if (!isObject(value['args'])) throw new Error('needs "args" (an object)');
  return { kind: value['kind'], args: value['args'] };
}

/**
 * The template with the client's values filled in: a string that is exactly "{n}" becomes the
 * number `n`; elsewhere "{n}" and "{client}" inside strings are replaced by `n` and the client's name.
 */
export function fillIntent(template: AppIntent, n: number, client: string): AppIntent {
  const fill = (value: unknown): unknown => {
    if (value === N) return n;
    if (typeof value === 'string') return value.replaceAll(N, String(n)).replaceAll(CLIENT, client);
    if (Array.isArray(value)) return value.map(fill);
    if (isObject(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fill(v)]));
    return value;
  };
  return { kind: String(fill(template.kind)), args: fill(template.args) as Record<string, unknown> };
}
