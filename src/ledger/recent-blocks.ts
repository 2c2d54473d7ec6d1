import { publicBlock, type BlockRecord } from './block.js';

export interface RecentBlock {
  record: BlockRecord;
  /** The stream message for this block, serialized once for every subscriber. */
  message: string;
}

/** The last `capacity` blocks of a lane, contiguous by height, so live subscribers never hit the database. */
export class RecentBlocks {
  private readonly ring: Array<RecentBlock | undefined>;
  private first = 0;
  private last = 0; // 0 = empty

  constructor(private readonly capacity = 1024) {
    this.ring = new Array<RecentBlock | undefined>(capacity);
  }

  push(record: BlockRecord): void {
    if (this.last !== 0 && record.height !== this.last + 1) this.clear();
    const entry = { record, message: JSON.stringify({ type: 'block', block: publicBlock(record) }) };
    this.ring[record.height % this.capacity] = entry;
    this.last = record.height;
    if (this.first === 0) this.first = record.height;
    if (this.last - this.first + 1 > this.capacity) this.first = this.last - this.capacity + 1;
  }

  /** The block at `height` if it is still held. */
  get(height: number): RecentBlock | undefined {
    if (this.last === 0 || height < this.first || height > this.last) return undefined;
    return this.ring[height % this.capacity];
  }

  clear(): void {
    this.ring.fill(undefined);
    this.first = 0;
    this.last = 0;
  }
}
