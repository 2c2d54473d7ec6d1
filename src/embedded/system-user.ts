import { execFile } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface RunAs {
  uid: number;
  gid: number;
}

/**
 * PostgreSQL refuses to run as root. As root we run it as the system user `postgres`,
 * creating that user if the machine lacks it. As anyone else we run it as ourselves.
 */
export async function postgresRunAs(): Promise<RunAs | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const lookup = async (): Promise<RunAs> => {
    const [uid, gid] = await Promise.all([run('id', ['-u', 'postgres']), run('id', ['-g', 'postgres'])]);
    return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
  };
  try {
    return await lookup();
  } catch {
    await run('groupadd', ['--system', 'postgres']).catch(() => undefined);
    await run('useradd', [
      '--system',
      '--gid',
      'postgres',
      '--no-create-home',
      '--shell',
      '/usr/sbin/nologin',
      'postgres',
    ]);
    return lookup();
  }
}

/** Fails with a clear message when `runAs` cannot reach `dir` (e.g. a data directory under /root). */
export async function assertReachable(dir: string, runAs: RunAs | undefined): Promise<void> {
  if (!runAs) return;
  let current = resolve(dir);
  for (;;) {
    const parent = dirname(current);
    if (parent === current) return;
    try {
      await access(parent, constants.F_OK);
      const check = await run('setpriv', [
        `--reuid=${runAs.uid}`,
        `--regid=${runAs.gid}`,
        '--clear-groups',
        'test',
        '-x',
        parent,
      ]).then(
        () => true,
        () => false,
      );
      if (!check) {
        throw new Error(
          `the embedded PostgreSQL runs as the "postgres" user, which cannot enter ${parent}; ` +
            `choose a --data-dir it can reach (for example under /tmp or /var/lib) or run "chmod o+x ${parent}"`,
        );
      }
    } catch (error) {
      if (error instanceof Error && error.message.startsWith('the embedded')) throw error;
    }
    current = parent;
  }
}
