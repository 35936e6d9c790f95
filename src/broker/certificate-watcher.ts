/**
 * `tls_reload_on_change true` (a mosquitto-ts extension): watches a listener's
 * certificate, key, CA and CRL files and reloads them once they have changed and then
 * stayed unchanged for a moment, so a renewal (certbot, acme.sh, a cron job copying
 * files) reaches new connections without SIGHUP or a restart.
 *
 * Files are polled with stat() (fs.watchFile), which follows symlinks and sees a file
 * replaced by rename, a symlink pointed elsewhere (certbot's live/ directory) and a file
 * rewritten in place alike. The settle delay lets a renewal that writes the certificate
 * and the key one after the other finish before anything is reloaded; a reload that
 * still fails (say, a key that does not match yet) keeps the old settings and is retried
 * on the next change.
 */
import { unwatchFile, watchFile } from 'node:fs';
import type { Stats } from 'node:fs';

export interface WatchTiming {
  /** How often each file is stat()ed. */
  intervalMs: number;
  /** How long the files must stay unchanged before the reload. */
  settleMs: number;
}

/** The timing every new watcher uses (tests shorten it). */
export const certificateWatchTiming: WatchTiming = { intervalMs: 1000, settleMs: 300 };

export class CertificateWatcher {
  readonly files: readonly string[];
  readonly #onChange: () => void;
  readonly #settleMs: number;
  readonly #listener: (current: Stats, previous: Stats) => void;
  #timer: NodeJS.Timeout | null = null;
  #closed = false;

  constructor(files: readonly string[], onChange: () => void, timing = certificateWatchTiming) {
    this.files = [...new Set(files)];
    this.#onChange = onChange;
    this.#settleMs = timing.settleMs;
    this.#listener = (current, previous) => {
      if (current.mtimeMs === previous.mtimeMs && current.ino === previous.ino) {
        if (current.size === previous.size && current.ctimeMs === previous.ctimeMs) return;
      }
      this.#changed();
    };
    for (const file of this.files) {
      watchFile(file, { interval: timing.intervalMs, persistent: false }, this.#listener);
    }
  }

  close(): void {
    this.#closed = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    for (const file of this.files) unwatchFile(file, this.#listener);
  }

  #changed(): void {
    if (this.#closed) return;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = null;
      if (!this.#closed) this.#onChange();
    }, this.#settleMs);
    this.#timer.unref();
  }
}
