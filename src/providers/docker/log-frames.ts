import { Transform, type TransformCallback } from "node:stream";

const HEADER_BYTES = 8;

/**
 * The engine's log stream of a container without a TTY: frames of an 8-byte header (stream type,
 * then the payload's length) and the payload. Passes the payloads on as they arrive, stdout and
 * stderr alike, without holding a whole frame: a frame may announce up to 4 GiB.
 */
export class FrameDemuxer extends Transform {
  private header = Buffer.alloc(0);
  private left = 0;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    let at = 0;
    while (at < chunk.length) {
      if (this.left > 0) {
        const take = Math.min(this.left, chunk.length - at);
        this.push(chunk.subarray(at, at + take));
        this.left -= take;
        at += take;
        continue;
      }
      const need = HEADER_BYTES - this.header.length;
      this.header = Buffer.concat([this.header, chunk.subarray(at, at + need)]);
      at += Math.min(need, chunk.length - at);
      if (this.header.length === HEADER_BYTES) {
        this.left = this.header.readUInt32BE(4);
        this.header = Buffer.alloc(0);
      }
    }
    done();
  }
}
