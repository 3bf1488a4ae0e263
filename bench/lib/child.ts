/** Child processes of the benchmarks: servers that announce "listening on <url>" on stderr. */
import { type ChildProcess, spawn } from 'node:child_process';
import { ROOT } from './common.js';

export interface RunningServer {
  url: string;
  pid: number;
  /** SIGTERM (the servers close cleanly), then waits for the exit. */
  stop(): Promise<void>;
}

/** Starts `node [nodeArgs] --import tsx <script>` in the repository root. */
export function startServer(script: string, env: Record<string, string>, nodeArgs: string[] = []): Promise<RunningServer> {
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', script], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    // stdout carries the one-line-per-callback log: discarded (a file write per callback, like a log pipe).
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`${script} did not start within 30 s:\n${stderr}`)), 30_000);
    const fail = (error: Error) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(error);
    };
    const early = (code: number | null) => fail(new Error(`${script} exited (${code}) before listening:\n${stderr}`));
    child.once('exit', early);
    let listening = false;
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      if (listening) return; // keep draining the pipe
      stderr += chunk;
      const match = /listening on (http:\/\/\S+)/.exec(stderr);
      if (match) {
        listening = true;
        clearTimeout(timer);
        child.off('exit', early);
        resolve({ url: match[1]!, pid: child.pid!, stop: () => stop(child, exited) });
      }
    });
  });
}

async function stop(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}
