/**
 * A throwaway CA and server certificate for the TLS scenarios, made with the openssl command
 * in the benchmark's work dir (ECDSA P-256, valid one day, CN localhost). The generator does
 * not verify them; brokers only need a certificate to serve.
 */
import { execFile } from 'node:child_process';
import { chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export interface CertificateFiles {
  readonly cafile: string;
  readonly certfile: string;
  readonly keyfile: string;
}

/** Null when openssl is missing or fails (the TLS scenarios are then left out). */
export async function makeTestCertificates(dir: string): Promise<CertificateFiles | null> {
  const file = (name: string): string => join(dir, name);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  try {
    await execFileAsync('openssl', [
      'req',
      '-x509',
      ...ec,
      '-keyout',
      file('ca.key'),
      '-out',
      file('ca.crt'),
      '-days',
      '1',
      '-subj',
      '/CN=mosquitto-ts bench CA',
    ]);
    await execFileAsync('openssl', [
      'req',
      ...ec,
      '-keyout',
      file('server.key'),
      '-out',
      file('server.csr'),
      '-subj',
      '/CN=localhost',
    ]);
    await execFileAsync('openssl', [
      'x509',
      '-req',
      '-in',
      file('server.csr'),
      '-CA',
      file('ca.crt'),
      '-CAkey',
      file('ca.key'),
      '-CAcreateserial',
      '-out',
      file('server.crt'),
      '-days',
      '1',
    ]);
    // Mosquitto started as root runs as user mosquitto and then reads these: the work dir
    // (mkdtemp: 0700) must let it through and the files must be readable
    await chmod(dir, 0o711);
    for (const name of ['ca.crt', 'server.crt', 'server.key']) await chmod(file(name), 0o644);
    return { cafile: file('ca.crt'), certfile: file('server.crt'), keyfile: file('server.key') };
  } catch (error) {
    process.stderr.write(`bench: cannot make test certificates with openssl: ${String(error)}\n`);
    return null;
  }
}
