import { createRequire } from 'node:module';
import { PerceptionError } from '../../core/errors.js';
import { HEADS } from '../../model/manifest.js';
import {
  decodeFeatures,
  decodeLabels,
  encodeFeatures,
  encodeLabels,
  rowChecksum,
  unitHash,
  type FeatureEncoding,
  type FeatureShapes,
} from './store-codec.js';
import type { Domain, FlaggedSample, SampleLabels, Split, StoredSample } from './store-types.js';

/**
 * The durable sample store: one SQLite file (better-sqlite3 12, synchronous API), one row per
 * flagged frame with its cached tail inputs, optional JPEG, prediction summary and, later,
 * labels. Every row carries a sha256 over all its fields, checked on every read.
 *
 * Durability: WAL journal with synchronous=FULL. With WAL, NORMAL already survives a killed
 * process, but may lose the last commits on power loss; FULL fsyncs the WAL at each commit.
 * Flags arrive at most a few per second, each row ~1 MB, so the fsync is noise next to the
 * write itself, and "a crash loses nothing" should include the robot's power being cut.
 *
 * Features are float16 by default: half the disk and I/O (about 1.2 MB instead of 2.4 MB a frame
 * at 192×384), and the ~1e-3 relative rounding is far below what the tails' training noise and
 * the features' own frame-to-frame variation are.
 */

export interface SampleStoreOptions {
  /** New-domain rows kept at most (default 2000); beyond it the oldest unlabeled go first. */
  readonly maxSamples?: number;
  /** Old-domain reservoir size (default 200), filled by reservoir sampling. */
  readonly reservoirSize?: number;
  /** Fraction of frames held out for validation (default 0.2), chosen by hash of camera and stamp. */
  readonly valFraction?: number;
  readonly featureEncoding?: FeatureEncoding;
  /** Writes the image JPEG if the sample has one (default true). */
  readonly keepImages?: boolean;
}

export interface SampleInfo {
  readonly id: number;
  readonly camera: string;
  readonly stampNs: bigint;
  readonly domain: Domain;
  readonly split: Split;
  readonly labeled: boolean;
  readonly seq: number;
}

export interface InsertResult {
  /** Row id, or null when the reservoir declined an old-domain sample or the frame was already stored. */
  readonly id: number | null;
  readonly evicted: readonly number[];
}

export interface SampleFilter {
  readonly domain?: Domain;
  readonly split?: Split;
  readonly labeled?: boolean;
}

// The slice of better-sqlite3's API this file uses (the package ships no types here).
interface Statement {
  run(...params: unknown[]): { changes: number; lastInsertRowid: number | bigint };
  get(...params: unknown[]): Record<string, unknown> | undefined;
  all(...params: unknown[]): Record<string, unknown>[];
  safeIntegers(on?: boolean): Statement;
}
interface Database {
  pragma(source: string, options?: { simple?: boolean }): unknown;
  exec(source: string): void;
  prepare(source: string): Statement;
  transaction<F extends (...args: never[]) => unknown>(fn: F): F;
  close(): void;
}
type DatabaseCtor = new (file: string, options?: Record<string, unknown>) => Database;
const require = createRequire(import.meta.url);

const SCHEMA = `
CREATE TABLE IF NOT EXISTS samples (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  camera TEXT NOT NULL,
  stamp_ns INTEGER NOT NULL,
  domain TEXT NOT NULL CHECK (domain IN ('new', 'old')),
  split TEXT NOT NULL CHECK (split IN ('train', 'val')),
  meta TEXT NOT NULL,
  features BLOB NOT NULL,
  image BLOB,
  labels_meta TEXT,
  labels BLOB,
  checksum TEXT NOT NULL,
  UNIQUE (camera, stamp_ns)
);
CREATE INDEX IF NOT EXISTS samples_domain ON samples (domain, labels_meta, id);
CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS decisions (id INTEGER PRIMARY KEY AUTOINCREMENT, json TEXT NOT NULL);
`;

interface Meta {
  reasons: FlaggedSample['reasons'];
  scores: FlaggedSample['scores'];
  inputSize: FlaggedSample['inputSize'];
  cameraSize: FlaggedSample['cameraSize'];
  predictions?: FlaggedSample['predictions'];
  shapes: FeatureShapes;
  encoding: FeatureEncoding;
}

export class SampleStore {
  private readonly o: Required<SampleStoreOptions>;
  private closed = false;
  private changes: Statement | undefined;
  private idsAt = NaN;
  private readonly idsMemo = new Map<string, readonly number[]>();

  private constructor(
    private readonly db: Database,
    readonly file: string,
    options: SampleStoreOptions,
  ) {
    this.o = {
      maxSamples: options.maxSamples ?? 2000,
      reservoirSize: options.reservoirSize ?? 200,
      valFraction: options.valFraction ?? 0.2,
      featureEncoding: options.featureEncoding ?? 'f16',
      keepImages: options.keepImages ?? true,
    };
    const bad = (field: string, msg: string) => new PerceptionError('INVALID_CONFIG', `sample store ${field} ${msg}`, { field });
    if (!(Number.isInteger(this.o.maxSamples) && this.o.maxSamples >= 1)) throw bad('maxSamples', `must be an integer ≥ 1, got ${this.o.maxSamples}`);
    if (!(Number.isInteger(this.o.reservoirSize) && this.o.reservoirSize >= 0)) throw bad('reservoirSize', `must be an integer ≥ 0, got ${this.o.reservoirSize}`);
    if (!(this.o.valFraction >= 0 && this.o.valFraction < 1)) throw bad('valFraction', `must be in [0, 1), got ${this.o.valFraction}`);
  }

  /** Opens (creating if needed) the store file. */
  static open(file: string, options: SampleStoreOptions = {}): SampleStore {
    let db: Database;
    try {
      const Ctor = require('better-sqlite3') as DatabaseCtor;
      db = new Ctor(file);
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      db.exec(SCHEMA);
    } catch (cause) {
      throw new PerceptionError('IO', `cannot open sample store: ${(cause as Error).message}`, { file }, { cause });
    }
    return new SampleStore(db, file, options);
  }

  /** The split a frame falls in: a pure function of camera and stamp, so it never changes. */
  splitOf(camera: string, stampNs: bigint): Split {
    return unitHash(`${camera}@${stampNs}`) < this.o.valFraction ? 'val' : 'train';
  }

  has(camera: string, stampNs: bigint): boolean {
    return this.db.prepare('SELECT 1 FROM samples WHERE camera = ? AND stamp_ns = ?').get(camera, stampNs) !== undefined;
  }

  /**
   * Stores a flagged frame in one transaction. New-domain rows beyond maxSamples evict the
   * oldest unlabeled row first (then the oldest labeled one); old-domain rows go through
   * reservoir sampling, so the reservoir stays a uniform sample of every old frame offered.
   */
  insert(s: FlaggedSample, labels?: SampleLabels): InsertResult {
    this.check();
    if (this.has(s.camera, s.stampNs)) return { id: null, evicted: [] };
    const { blob, shapes } = encodeFeatures(s.features, this.o.featureEncoding);
    const meta: Meta = { reasons: s.reasons, scores: s.scores, inputSize: s.inputSize, cameraSize: s.cameraSize, predictions: s.predictions, shapes, encoding: this.o.featureEncoding };
    const metaJson = JSON.stringify(meta);
    const image = this.o.keepImages && s.image ? Buffer.from(s.image.buffer, s.image.byteOffset, s.image.byteLength) : null;
    const lab = labels ? encodeLabels(labels) : null;
    const split = this.splitOf(s.camera, s.stampNs);
    const tx = this.db.transaction((): InsertResult => {
      const evicted: number[] = [];
      if (s.domain === 'old') {
        const seen = Number(this.kv('old_seen') ?? '0') + 1;
        this.setKv('old_seen', String(seen));
        const n = this.count({ domain: 'old' });
        if (n >= this.o.reservoirSize) {
          const j = Math.floor(unitHash(`reservoir:${s.camera}@${s.stampNs}:${seen}`) * seen);
          if (j >= this.o.reservoirSize) return { id: null, evicted };
          const victim = this.db.prepare("SELECT id FROM samples WHERE domain = 'old' ORDER BY id LIMIT 1 OFFSET ?").get(j % n);
          if (victim) evicted.push(this.remove(Number(victim.id)));
        }
      } else {
        while (this.count({ domain: 'new' }) >= this.o.maxSamples) {
          const v = this.db.prepare("SELECT id FROM samples WHERE domain = 'new' ORDER BY (labels_meta IS NOT NULL), id LIMIT 1").get();
          if (!v) break;
          evicted.push(this.remove(Number(v.id)));
        }
      }
      const sum = rowChecksum([s.camera, String(s.stampNs), s.domain, split, metaJson, blob, image, lab?.meta ?? null, lab?.blob ?? null]);
      const r = this.db
        .prepare('INSERT INTO samples (camera, stamp_ns, domain, split, meta, features, image, labels_meta, labels, checksum) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)')
        .run(s.camera, s.stampNs, s.domain, split, metaJson, blob, image, lab?.meta ?? null, lab?.blob ?? null, sum);
      return { id: Number(r.lastInsertRowid), evicted };
    });
    return tx();
  }

  /** Merges label parts into a stored frame (verifying the row first). False if the frame is not stored. */
  setLabels(camera: string, stampNs: bigint, labels: SampleLabels): boolean {
    this.check();
    const tx = this.db.transaction((): boolean => {
      const row = this.db.prepare('SELECT * FROM samples WHERE camera = ? AND stamp_ns = ?').safeIntegers(true).get(camera, stampNs);
      if (!row) return false;
      // The row's checksum, not its features: a label part arrives for most flagged frames, and
      // decoding ~1 M float16 values to merge a few boxes made a merge 9–11 ms instead of 7 (a
      // rain run's store, 2026-12-08).
      this.checkRow(row);
      const lm = (row.labels_meta as string | null) ?? null;
      const lb = (row.labels as Uint8Array | null) ?? null;
      const merged: SampleLabels = mergeLabels(lm && lb ? decodeLabels(lm, lb) : {}, labels);
      const lab = encodeLabels(merged);
      const sum = rowChecksum([camera, String(stampNs), row.domain as string, row.split as string, row.meta as string, row.features as Uint8Array, (row.image as Uint8Array | null) ?? null, lab.meta, lab.blob]);
      this.db.prepare('UPDATE samples SET labels_meta = ?, labels = ?, checksum = ? WHERE id = ?').run(lab.meta, lab.blob, sum, Number(row.id));
      return true;
    });
    return tx();
  }

  /**
   * Reads one sample and verifies its checksum (IO error naming the row if it does not match).
   * `keepHalf`: each feature map also carries the float16 bits it was decoded from (FeatureMap.half),
   * where the store keeps float16.
   */
  get(id: number, options: { keepHalf?: boolean } = {}): StoredSample {
    this.check();
    const row = this.db.prepare('SELECT * FROM samples WHERE id = ?').safeIntegers(true).get(id);
    if (!row) throw new PerceptionError('INVALID_ARGUMENT', `no sample with id ${id}`, { file: this.file, field: 'id' });
    return this.verify(row, options.keepHalf === true);
  }

  list(filter: SampleFilter = {}): SampleInfo[] {
    this.check();
    const { where, params } = whereOf(filter);
    return this.db
      .prepare(`SELECT id, camera, stamp_ns, domain, split, labels_meta IS NOT NULL AS labeled FROM samples ${where} ORDER BY id`)
      .safeIntegers(true)
      .all(...params)
      .map((r) => ({ id: Number(r.id), camera: r.camera as string, stampNs: r.stamp_ns as bigint, domain: r.domain as Domain, split: r.split as Split, labeled: Number(r.labeled) === 1, seq: Number(r.id) }));
  }

  /**
   * The ids `list` gives for `filter`, ascending, from memory until the store next changes
   * (SQLite's `total_changes()` on this connection: every insert, label, split move and
   * eviction counts). A training step asks for its two pools every step, ~1 ms of SQL and
   * row objects a step otherwise. The array is shared: read it, do not change it.
   */
  ids(filter: SampleFilter = {}): readonly number[] {
    this.check();
    this.changes ??= this.db.prepare('SELECT total_changes() AS n');
    const now = Number(this.changes.get()?.n);
    if (now !== this.idsAt) {
      this.idsMemo.clear();
      this.idsAt = now;
    }
    const key = `${filter.domain ?? ''}|${filter.split ?? ''}|${filter.labeled ?? ''}`;
    let hit = this.idsMemo.get(key);
    if (!hit) {
      hit = Object.freeze(this.list(filter).map((r) => r.id));
      this.idsMemo.set(key, hit);
    }
    return hit;
  }

  count(filter: SampleFilter = {}): number {
    const { where, params } = whereOf(filter);
    return Number(this.db.prepare(`SELECT COUNT(*) AS n FROM samples ${where}`).get(...params)?.n ?? 0);
  }

  /** Appends a gate decision (JSON) to the store's history. */
  recordDecision(decision: object): void {
    this.check();
    this.db.prepare('INSERT INTO decisions (json) VALUES (?)').run(JSON.stringify(decision));
  }

  decisions(): unknown[] {
    return this.db.prepare('SELECT json FROM decisions ORDER BY id').all().map((r) => JSON.parse(r.json as string));
  }

  /** Closes the file. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }

  /** Throws IO naming the row where its stored fields do not match its checksum. */
  private checkRow(row: Record<string, unknown>): void {
    const id = Number(row.id);
    const camera = row.camera as string;
    const sum = rowChecksum([camera, String(BigInt(row.stamp_ns as bigint)), row.domain as string, row.split as string, row.meta as string, row.features as Uint8Array, (row.image as Uint8Array | null) ?? null, (row.labels_meta as string | null) ?? null, (row.labels as Uint8Array | null) ?? null]);
    if (sum !== row.checksum) {
      throw new PerceptionError('IO', `sample row ${id} fails its checksum: expected ${String(row.checksum)}, found ${sum}`, { file: this.file, camera, index: id });
    }
  }

  private verify(row: Record<string, unknown>, keepHalf = false): StoredSample {
    this.checkRow(row);
    const id = Number(row.id);
    const camera = row.camera as string;
    const stampNs = BigInt(row.stamp_ns as bigint);
    const features = row.features as Uint8Array;
    const image = (row.image as Uint8Array | null) ?? null;
    const lm = (row.labels_meta as string | null) ?? null;
    const lb = (row.labels as Uint8Array | null) ?? null;
    const meta = JSON.parse(row.meta as string) as Meta;
    const feats = decodeFeatures(features, meta.shapes, meta.encoding, keepHalf);
    for (const h of HEADS) if (!feats[h]) throw new PerceptionError('IO', `sample row ${id} lacks feature '${h}'`, { file: this.file, index: id });
    return {
      id,
      seq: id,
      camera,
      stampNs,
      domain: row.domain as Domain,
      split: row.split as Split,
      reasons: meta.reasons,
      scores: meta.scores,
      inputSize: meta.inputSize,
      cameraSize: meta.cameraSize,
      predictions: meta.predictions,
      features: feats,
      image: image ? new Uint8Array(image) : undefined,
      labels: lm && lb ? decodeLabels(lm, lb) : {},
    };
  }

  private remove(id: number): number {
    this.db.prepare('DELETE FROM samples WHERE id = ?').run(id);
    return id;
  }

  private kv(k: string): string | undefined {
    return this.db.prepare('SELECT v FROM kv WHERE k = ?').get(k)?.v as string | undefined;
  }

  private setKv(k: string, v: string): void {
    this.db.prepare('INSERT INTO kv (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v').run(k, v);
  }

  private check(): void {
    if (this.closed) throw new PerceptionError('IO', 'sample store used after close()', { file: this.file });
  }
}

function whereOf(f: SampleFilter): { where: string; params: unknown[] } {
  const c: string[] = [];
  const params: unknown[] = [];
  if (f.domain) {
    c.push('domain = ?');
    params.push(f.domain);
  }
  if (f.split) {
    c.push('split = ?');
    params.push(f.split);
  }
  if (f.labeled !== undefined) c.push(f.labeled ? 'labels_meta IS NOT NULL' : 'labels_meta IS NULL');
  return { where: c.length ? `WHERE ${c.join(' AND ')}` : '', params };
}

/**
 * A frame's labels arrive in parts and from two sources: later parts replace earlier ones, except
 * that a teacher's part (boxes, lane mask, depth) never replaces an annotator's (a person's
 * labels override a model's).
 */
export function mergeLabels(cur: SampleLabels, next: SampleLabels): SampleLabels {
  const merged: { -readonly [K in keyof SampleLabels]: SampleLabels[K] } = { ...cur };
  mergePart(merged, cur, next, 'boxes', 'boxSource');
  mergePart(merged, cur, next, 'lane', 'laneSource');
  mergePart(merged, cur, next, 'depth', 'depthSource');
  return merged;
}

function mergePart<P extends 'boxes' | 'lane' | 'depth', S extends 'boxSource' | 'laneSource' | 'depthSource'>(
  merged: { -readonly [K in keyof SampleLabels]: SampleLabels[K] },
  cur: SampleLabels,
  next: SampleLabels,
  part: P,
  source: S,
): void {
  if (next[part] === undefined) return;
  const fromTeacher = next[source] === 'teacher';
  if (fromTeacher && cur[part] !== undefined && (cur[source] ?? 'annotator') === 'annotator') return;
  (merged as Record<string, unknown>)[part] = next[part];
  if (fromTeacher) (merged as Record<string, unknown>)[source] = 'teacher';
  else delete merged[source]; // an annotator's (the default)
}
