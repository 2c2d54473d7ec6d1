import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { UsageError } from '../cli/args.js';

/** Reads a bearer token file (first line, trimmed); refuses empty or short tokens. */
export async function readAdminToken(path: string): Promise<string> {
  const text = await readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => {
    throw new UsageError(`cannot read the admin token file ${path}: ${error.code ?? error.message}`);
  });
  const token = text.split('\n')[0]!.trim();
  if (token.length < 16) throw new UsageError(`the admin token in ${path} must be at least 16 characters`);
  return token;
}

/** Returns the token in `path`, creating the file (mode 0600) with a random token first if needed. */
export async function ensureAdminToken(path: string): Promise<string> {
  try {
    return await readAdminToken(path);
  } catch {
    const token = randomBytes(24).toString('base64url');
    await writeFile(path, token + '\n', { mode: 0o600 });
    return token;
  }
}
