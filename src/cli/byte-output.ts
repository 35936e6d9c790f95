/**
 * Output assembled as bytes (payloads are binary and printf-style padding counts bytes),
 * then written with one call per message, as the tools fflush(stdout) after each one.
 */
import { Buffer } from 'node:buffer';

export class ByteOutput {
  private readonly parts: Buffer[] = [];

  text(value: string): void {
    if (value !== '') this.parts.push(Buffer.from(value, 'utf8'));
  }

  bytes(value: Buffer): void {
    if (value.length > 0) this.parts.push(value);
  }

  /** `count` copies of one character. */
  repeat(char: string, count: number): void {
    if (count > 0) this.parts.push(Buffer.from(char.repeat(count), 'latin1'));
  }

  get empty(): boolean {
    return this.parts.length === 0;
  }

  /** Everything so far, and the buffer emptied. */
  take(): Buffer {
    const out = this.parts.length === 1 ? (this.parts[0] as Buffer) : Buffer.concat(this.parts);
    this.parts.length = 0;
    return out;
  }
}
