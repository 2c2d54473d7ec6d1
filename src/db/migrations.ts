import type pg from 'pg';

export const GENESIS_PARENT = '0'.repeat(64);

/**
 * Ordered schema migrations. Never edit a shipped migration: append a new one.
 * The database enforces the invariants itself: one block per (lane, height), a hash chain
 * by foreign key, blocks immutable once written, and every block insert fenced by the
 * lane's current term (a trigger, so no code path can skip it).
 */
const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE baton_lanes (
    lane        text PRIMARY KEY,
    app         text NOT NULL,
    term        bigint NOT NULL DEFAULT 0,
    height      bigint NOT NULL DEFAULT 0,
    tip_hash    text NOT NULL DEFAULT '${GENESIS_PARENT}',
    tip_time    bigint NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL DEFAULT now()
  );

  CREATE TABLE baton_blocks (
    lane          text NOT NULL REFERENCES baton_lanes (lane),
    height        bigint NOT NULL CHECK (height >= 1),
    hash          text NOT NULL UNIQUE,
    parent_hash   text NOT NULL,
    parent_height bigint,
    term          bigint NOT NULL CHECK (term >= 1),
    producer      text NOT NULL,
    time_ms       bigint NOT NULL,
    tx_ids        text[] NOT NULL,
    results       jsonb NOT NULL,
    changes       jsonb NOT NULL,
    PRIMARY KEY (lane, height),
    UNIQUE (lane, height, hash),
    CHECK ((height = 1 AND parent_height IS NULL AND parent_hash = '${GENESIS_PARENT}')
        OR (height > 1 AND parent_height = height - 1)),
    FOREIGN KEY (lane, parent_height, parent_hash) REFERENCES baton_blocks (lane, height, hash)
  );

  CREATE FUNCTION baton_fence_block() RETURNS trigger LANGUAGE plpgsql AS $$
  DECLARE cur baton_lanes%ROWTYPE;
  BEGIN
    SELECT * INTO cur FROM baton_lanes WHERE lane = NEW.lane FOR NO KEY UPDATE;
    IF NOT FOUND THEN
      RAISE EXCEPTION 'lane % does not exist', NEW.lane USING ERRCODE = 'BT004';
    END IF;
    IF cur.term <> NEW.term THEN
      RAISE EXCEPTION 'block % of lane % has term % but the current term is %',
        NEW.height, NEW.lane, NEW.term, cur.term USING ERRCODE = 'BT001';
    END IF;
    IF cur.height <> NEW.height - 1 OR cur.tip_hash <> NEW.parent_hash THEN
      RAISE EXCEPTION 'block % of lane % does not extend the tip (height %)',
        NEW.height, NEW.lane, cur.height USING ERRCODE = 'BT002';
    END IF;
    UPDATE baton_lanes SET height = NEW.height, tip_hash = NEW.hash, tip_time = NEW.time_ms
      WHERE lane = NEW.lane;
    RETURN NEW;
  END $$;

  CREATE TRIGGER baton_blocks_fence BEFORE INSERT ON baton_blocks
    FOR EACH ROW EXECUTE FUNCTION baton_fence_block();

  CREATE FUNCTION baton_blocks_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    RAISE EXCEPTION 'blocks are immutable' USING ERRCODE = 'BT005';
  END $$;

  CREATE TRIGGER baton_blocks_no_change BEFORE UPDATE OR DELETE ON baton_blocks
    FOR EACH ROW EXECUTE FUNCTION baton_blocks_immutable();

  CREATE TABLE baton_txs (
    id          text PRIMARY KEY,
    lane        text NOT NULL,
    seq         bigint GENERATED ALWAYS AS IDENTITY,
    body        text NOT NULL,
    signer      text NOT NULL,
    signature   text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    height      bigint,
    idx         integer,
    ok          boolean,
    error       text
  );
  CREATE INDEX baton_txs_pending ON baton_txs (lane, seq) WHERE height IS NULL;

  CREATE TABLE baton_state (
    lane   text NOT NULL,
    key    text NOT NULL,
    value  jsonb NOT NULL,
    height bigint NOT NULL,
    PRIMARY KEY (lane, key)
  );

  CREATE TABLE baton_replicas (
    id              text PRIMARY KEY,
    instance        text NOT NULL,
    url             text NOT NULL,
    pid             integer NOT NULL,
    version         text NOT NULL,
    ready           boolean NOT NULL DEFAULT false,
    session_pid     integer,
    session_started timestamptz,
    started_at      timestamptz NOT NULL DEFAULT now(),
    seen_at         timestamptz NOT NULL DEFAULT now()
  );

  CREATE TABLE baton_leases (
    lane           text PRIMARY KEY REFERENCES baton_lanes (lane),
    holder         text,
    holder_pid     integer,
    holder_started timestamptz,
    term           bigint NOT NULL DEFAULT 0,
    expires_at     timestamptz
  );

  CREATE FUNCTION baton_intake(p_ids text[], p_lanes text[], p_bodies text[], p_signers text[], p_sigs text[])
  RETURNS SETOF text LANGUAGE plpgsql AS $$
  DECLARE l text;
  BEGIN
    RETURN QUERY
      INSERT INTO baton_txs (id, lane, body, signer, signature)
      SELECT * FROM unnest(p_ids, p_lanes, p_bodies, p_signers, p_sigs)
      ON CONFLICT (id) DO NOTHING
      RETURNING baton_txs.id;
    FOR l IN SELECT DISTINCT x FROM unnest(p_lanes) AS x LOOP
      PERFORM pg_notify('baton_txs', l);
    END LOOP;
  END $$;

  CREATE FUNCTION baton_commit_block(
    p_lane text, p_height bigint, p_hash text, p_parent text, p_term bigint, p_producer text,
    p_time bigint, p_txids text[], p_oks boolean[], p_errors text[], p_results jsonb, p_changes jsonb)
  RETURNS void LANGUAGE plpgsql AS $$
  DECLARE n bigint;
  BEGIN
    INSERT INTO baton_blocks (lane, height, hash, parent_hash, parent_height, term, producer, time_ms,
                              tx_ids, results, changes)
    VALUES (p_lane, p_height, p_hash, p_parent, CASE WHEN p_height > 1 THEN p_height - 1 END, p_term,
            p_producer, p_time, p_txids, p_results, p_changes);

    UPDATE baton_txs t SET height = p_height, idx = u.ord - 1, ok = u.ok, error = u.err
      FROM unnest(p_txids, p_oks, p_errors) WITH ORDINALITY AS u(id, ok, err, ord)
      WHERE t.id = u.id AND t.lane = p_lane AND t.height IS NULL;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n <> cardinality(p_txids) THEN
      RAISE EXCEPTION 'block % of lane % names % transactions but only % are pending',
        p_height, p_lane, cardinality(p_txids), n USING ERRCODE = 'BT003';
    END IF;

    INSERT INTO baton_state (lane, key, value, height)
      SELECT p_lane, c->>0, c->1, p_height FROM jsonb_array_elements(p_changes) AS c
      ON CONFLICT (lane, key) DO UPDATE SET value = EXCLUDED.value, height = EXCLUDED.height;

    PERFORM pg_notify('baton_blocks', p_lane || ':' || p_height);
  END $$;
  `,
  // 2: stream subscriber counts, so replicas can rebalance long-lived connections.
  'ALTER TABLE baton_replicas ADD COLUMN streams integer NOT NULL DEFAULT 0',
  // 3: every commit leaves a dead row version per transaction and the pending scan walks
  // them; vacuum baton_txs after a small fraction of change instead of the default 20%.
  `ALTER TABLE baton_txs SET (autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_threshold = 1000,
     autovacuum_vacuum_insert_scale_factor = 0.05, autovacuum_analyze_scale_factor = 0.02)`,
  // 4: placement. A lease given up by planned handover may be reserved for its chosen successor
  // (while that replica lives); replicas carry a leadership priority and the time they became ready.
  `ALTER TABLE baton_leases ADD COLUMN reserved_for text, ADD COLUMN reserved_until timestamptz;
   ALTER TABLE baton_replicas ADD COLUMN priority integer NOT NULL DEFAULT 0,
     ADD COLUMN mode text NOT NULL DEFAULT 'active-active', ADD COLUMN ready_since timestamptz`,
  // 5: a small block travels to the followers in its commit notification (channel
  // baton_block_data, before the usual baton_blocks 'lane:height'), sparing each follower the
  // fetch. An overload, so replicas of the previous version keep calling the 12-argument form.
  `CREATE FUNCTION baton_commit_block(
    p_lane text, p_height bigint, p_hash text, p_parent text, p_term bigint, p_producer text,
    p_time bigint, p_txids text[], p_oks boolean[], p_errors text[], p_results jsonb, p_changes jsonb,
    p_notice text)
  RETURNS void LANGUAGE plpgsql AS $$
  BEGIN
    IF p_notice IS NOT NULL THEN
      PERFORM pg_notify('baton_block_data', p_notice);
    END IF;
    PERFORM baton_commit_block(p_lane, p_height, p_hash, p_parent, p_term, p_producer, p_time,
                               p_txids, p_oks, p_errors, p_results, p_changes);
  END $$`,
  // 6: app versions. A lane has one active version; every block records the version that
  // produced it, and the fence refuses a block of another version. A block may switch its lane
  // to the version an operator proposed (upgrade), from the next block on. Lanes and blocks from
  // before keep version NULL: such a lane takes blocks without a version (replicas of the
  // previous build) until the first block with one, which sets it. A replica of the previous
  // build is then fenced like a stale leader (BT001). Receipts gain the app's result.
  // The tables are locked first in the order a commit of the previous build takes them, so the
  // migration waits for commits in flight instead of deadlocking with them.
  `LOCK TABLE baton_blocks, baton_lanes, baton_txs, baton_state, baton_replicas IN ACCESS EXCLUSIVE MODE;
   ALTER TABLE baton_lanes ADD COLUMN version text, ADD COLUMN proposed_version text,
     ADD COLUMN approvers text[] NOT NULL DEFAULT '{}', ADD COLUMN quorum integer NOT NULL DEFAULT 0;
   ALTER TABLE baton_blocks ADD COLUMN version text, ADD COLUMN upgrade text;
   CREATE INDEX baton_blocks_upgrades ON baton_blocks (lane, height) WHERE upgrade IS NOT NULL;
   ALTER TABLE baton_txs ADD COLUMN result jsonb;
   ALTER TABLE baton_replicas ADD COLUMN apps jsonb NOT NULL DEFAULT '{}', ADD COLUMN reason text,
     ADD COLUMN mismatches integer;

   CREATE OR REPLACE FUNCTION baton_fence_block() RETURNS trigger LANGUAGE plpgsql AS $$
   DECLARE cur baton_lanes%ROWTYPE;
   BEGIN
     SELECT * INTO cur FROM baton_lanes WHERE lane = NEW.lane FOR NO KEY UPDATE;
     IF NOT FOUND THEN
       RAISE EXCEPTION 'lane % does not exist', NEW.lane USING ERRCODE = 'BT004';
     END IF;
     IF cur.term <> NEW.term THEN
       RAISE EXCEPTION 'block % of lane % has term % but the current term is %',
         NEW.height, NEW.lane, NEW.term, cur.term USING ERRCODE = 'BT001';
     END IF;
     IF NEW.version IS NULL AND cur.version IS NOT NULL THEN
       RAISE EXCEPTION 'block % of lane % has no app version; the lane runs %',
         NEW.height, NEW.lane, cur.version USING ERRCODE = 'BT001';
     END IF;
     IF cur.version IS NOT NULL AND NEW.version <> cur.version THEN
       RAISE EXCEPTION 'block % of lane % was produced by app version % but the lane runs %',
         NEW.height, NEW.lane, NEW.version, cur.version USING ERRCODE = 'BT006';
     END IF;
     IF NEW.upgrade IS NOT NULL AND NEW.upgrade IS DISTINCT FROM cur.proposed_version THEN
       RAISE EXCEPTION 'block % of lane % switches to version %, which is not the proposed one (%)',
         NEW.height, NEW.lane, NEW.upgrade, coalesce(cur.proposed_version, 'none') USING ERRCODE = 'BT007';
     END IF;
     IF cur.height <> NEW.height - 1 OR cur.tip_hash <> NEW.parent_hash THEN
       RAISE EXCEPTION 'block % of lane % does not extend the tip (height %)',
         NEW.height, NEW.lane, cur.height USING ERRCODE = 'BT002';
     END IF;
     UPDATE baton_lanes SET height = NEW.height, tip_hash = NEW.hash, tip_time = NEW.time_ms,
       version = coalesce(NEW.upgrade, NEW.version, cur.version),
       proposed_version = CASE WHEN NEW.upgrade IS NOT NULL THEN NULL ELSE proposed_version END
       WHERE lane = NEW.lane;
     RETURN NEW;
   END $$;

   CREATE FUNCTION baton_commit_versioned_block(
     p_lane text, p_height bigint, p_hash text, p_parent text, p_term bigint, p_producer text,
     p_time bigint, p_version text, p_upgrade text, p_txids text[], p_oks boolean[], p_errors text[],
     p_tx_results jsonb, p_results jsonb, p_changes jsonb, p_notice text)
   RETURNS void LANGUAGE plpgsql AS $$
   DECLARE n bigint;
   BEGIN
     IF p_notice IS NOT NULL THEN
       PERFORM pg_notify('baton_block_data', p_notice);
     END IF;
     INSERT INTO baton_blocks (lane, height, hash, parent_hash, parent_height, term, producer, time_ms,
                               tx_ids, results, changes, version, upgrade)
     VALUES (p_lane, p_height, p_hash, p_parent, CASE WHEN p_height > 1 THEN p_height - 1 END, p_term,
             p_producer, p_time, p_txids, p_results, p_changes, p_version, p_upgrade);

     UPDATE baton_txs t SET height = p_height, idx = u.ord - 1, ok = u.ok, error = u.err,
         result = p_tx_results -> (u.ord::int - 1)
       FROM unnest(p_txids, p_oks, p_errors) WITH ORDINALITY AS u(id, ok, err, ord)
       WHERE t.id = u.id AND t.lane = p_lane AND t.height IS NULL;
     GET DIAGNOSTICS n = ROW_COUNT;
     IF n <> cardinality(p_txids) THEN
       RAISE EXCEPTION 'block % of lane % names % transactions but only % are pending',
         p_height, p_lane, cardinality(p_txids), n USING ERRCODE = 'BT003';
     END IF;

     INSERT INTO baton_state (lane, key, value, height)
       SELECT p_lane, c->>0, c->1, p_height FROM jsonb_array_elements(p_changes) AS c
       ON CONFLICT (lane, key) DO UPDATE SET value = EXCLUDED.value, height = EXCLUDED.height;

     PERFORM pg_notify('baton_blocks', p_lane || ':' || p_height);
   END $$`,
];

const MIGRATION_LOCK = 0x6261746f; // 'bato'

/** Applies pending migrations. Safe when several replicas start at once: one transaction-scoped lock. */
export async function migrate(client: pg.ClientBase): Promise<number> {
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    await client.query(
      'CREATE TABLE IF NOT EXISTS baton_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())',
    );
    const { rows } = await client.query<{ v: number | null }>(
      'SELECT max(version) AS v FROM baton_migrations',
    );
    const current = rows[0]?.v ?? 0;
    if (current > MIGRATIONS.length) {
      throw new Error(
        `the database schema is version ${current}, newer than this build supports (${MIGRATIONS.length}); upgrade baton`,
      );
    }
    for (let version = current + 1; version <= MIGRATIONS.length; version++) {
      await client.query(MIGRATIONS[version - 1]!);
      await client.query('INSERT INTO baton_migrations (version) VALUES ($1)', [version]);
    }
    await client.query('COMMIT');
    return MIGRATIONS.length - current;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}
