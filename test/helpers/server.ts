/** Starts the local server (`npm start`'s script) in a child process for end-to-end tests. */
import { type ChildProcess, spawn } from 'node:child_process';

const root = new URL('../../', import.meta.url).pathname;

export interface LocalServer {
  /** e.g. http://127.0.0.1:40123 */
  base: string;
  /** Everything the server printed on stderr while starting. */
  banner: string;
  child: ChildProcess;
  stop(): void;
}

/**
 * Starts `scripts/serve.ts` on a free port with local defaults (any bucket, the development key,
 * no log) overridden by `env`, and resolves once its whole banner (up to the notices) is printed.
 */
export async function startLocalServer(env: Record<string, string | undefined> = {}): Promise<LocalServer> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/serve.ts'], {
    cwd: root,
    // The local OSS endpoint is off unless a test asks for it (OSS_EMULATOR_PORT): port 9001 may be taken.
    env: { ...process.env, PORT: '0', OSS_EMULATOR_PORT: '0', OSS_ALLOWED_BUCKETS: '', OSS_PUBLIC_KEYS_FILE: undefined, OSS_CALLBACK_LOG: 'off', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let banner = '';
  const base = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start: ${banner}`)), 20_000);
    child.stderr!.on('data', (chunk: Buffer) => {
      banner += chunk.toString();
      const match = /listening on (http:\/\/\S+)/.exec(banner);
      // The notices come last: then the whole banner has arrived.
      if (match && /notice: [^\n]*\n(?![\s\S]*notice)/.test(banner) && /GET /.test(banner)) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}: ${banner}`));
    });
  });
  return { base, banner, child, stop: () => child.kill('SIGTERM') };
}
